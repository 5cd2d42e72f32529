"""UT Multiview, SynthesEyes, LPW, image-folder and npz loaders on small files in the published
formats (and the real unlabelled MPIIGaze patches in ../shared/data when present)."""

from __future__ import annotations

import io
import math
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from gazebench.geometry import vector_to_pitchyaw
from gazebench.testing import check_dataset
from gazebench.types import EyeBatch
from gazebench_plugins.datasets.folder import ImageFolder
from gazebench_plugins.datasets.lpw import LPW
from gazebench_plugins.datasets.npz import NpzDataset, write_npz
from gazebench_plugins.datasets.syntheseyes import SynthesEyes
from gazebench_plugins.datasets.utview import UTMultiview

SHARED_EYES = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mpiigaze-unlabelled", "eyes.npz")

# ---------------------------------------------------------------------------------------------
# UT Multiview: sXX/{synth,test}/NNN_{left,right}.csv + .zip of %08d.bmp
# ---------------------------------------------------------------------------------------------


def write_utview(root, subjects=(0, 1), samples=2, views=3, part="synth", extract=()):
    rng = np.random.default_rng(1)
    truth = {}
    for s in subjects:
        folder = root / f"s{s:02d}" / part
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(samples):
            for side in ("left", "right"):
                g = rng.normal(size=(views, 3)) * [0.3, 0.2, 0.1] + [0, 0, -1]
                rows = np.concatenate([g, rng.normal(size=(views, 3)) * 0.2, rng.normal(size=(views, 3)) * 50], 1)
                imgs = rng.integers(0, 256, size=(views, 36, 60), dtype=np.uint8)
                stem = folder / f"{n:03d}_{side}"
                stem.with_suffix(".csv").write_text("\n".join(",".join(f"{v:.8f}" for v in r) for r in rows) + "\n")
                if (s, n, side) in extract:
                    stem.mkdir()
                    for j, im in enumerate(imgs):
                        Image.fromarray(im).save(stem / f"{j:08d}.bmp")
                else:
                    with zipfile.ZipFile(stem.with_suffix(".zip"), "w") as z:
                        for j, im in enumerate(imgs):
                            buf = io.BytesIO()
                            Image.fromarray(im).save(buf, format="BMP")
                            z.writestr(f"{j:08d}.bmp", buf.getvalue())
                truth[(s, n, side)] = (rows, imgs)
    return truth


def test_utview_reads_csv_rows_with_their_images_and_mirrors_right_eyes(tmp_path):
    truth = write_utview(tmp_path, extract={(1, 1, "left")})
    data = UTMultiview().load("train", root=tmp_path)
    assert len(data) == 2 * 2 * 2 * 3 and data.info["n_available"] == 24
    b = data.take()
    order = [(s, n, side, j) for s in (0, 1) for n in (0, 1) for side in ("left", "right") for j in range(3)]
    for r, (s, n, side, j) in enumerate(order):
        rows, imgs = truth[(s, n, side)]
        img, g = imgs[j], rows[j, :3] / np.linalg.norm(rows[j, :3])
        if side == "right":
            img, g = img[:, ::-1], g * [-1, 1, 1]
        np.testing.assert_array_equal(b.images[r, 0].numpy(), img)
        np.testing.assert_allclose(b.gaze[r].numpy(), g, atol=1e-6)
        assert b.subject[r] == s
    assert check_dataset(UTMultiview(eyes="left"), root=tmp_path, n=4)[-1] == "deterministic"


def test_utview_folds_and_bad_files(tmp_path):
    truth = write_utview(tmp_path, subjects=(0, 1, 2), samples=1, views=2)
    ds = UTMultiview(test_subject=2)
    assert set(ds.load("test", root=tmp_path).take().subject.tolist()) == {2}
    assert set(ds.load("train", root=tmp_path).take().subject.tolist()) == {0, 1}
    rows, _ = truth[(0, 0, "left")]
    csv = tmp_path / "s00/synth/000_left.csv"
    csv.write_text(csv.read_text() + ",".join(["0.1"] * 9) + "\n")  # 3 rows for 2 images
    with pytest.raises(ValueError, match=r"000_left\.zip: 2 images for 3 rows"):
        UTMultiview(subjects=[0]).load("train", root=tmp_path).take()
    data = UTMultiview(subjects=[0], skip_bad=True).load("train", root=tmp_path)
    assert len(data) == 2 and data.info["skipped"] == 3
    with pytest.raises(FileNotFoundError, match=r"no NNN_\{left,right\}\.csv"):
        UTMultiview(part="test").load("train", root=tmp_path)


# ---------------------------------------------------------------------------------------------
# SynthesEyes: SynthEyes_data/fNN/<name>.png + <name>.pkl (Python 2 pickles)
# ---------------------------------------------------------------------------------------------


def write_syntheseyes(root, looks, subject="f03"):
    folder = root / "SynthEyes_data" / subject
    folder.mkdir(parents=True, exist_ok=True)
    centres = []
    for k, look in enumerate(looks):
        g = np.asarray(look, float) * [1, -1, -1]  # OpenGL camera -> normalised frame
        c = np.array([60 + 25 * g[0], 40 + 25 * g[1]])
        centres.append(c)
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        lids = np.stack([60 + 50 * np.cos(t), 40 + 22 * np.sin(t)], 1)
        iris = np.stack([c[0] + 12 * np.cos(t), c[1] + 12 * np.sin(t)], 1)
        pupil = np.stack([c[0] + 5 * np.cos(t), c[1] + 5 * np.sin(t)], 1)
        im = Image.new("RGBA", (120, 80), (160, 130, 120, 255))
        d = ImageDraw.Draw(im)
        d.ellipse([10, 18, 110, 62], fill=(235, 235, 235, 255))
        d.ellipse([c[0] - 12, c[1] - 12, c[0] + 12, c[1] + 12], fill=(80, 50, 30, 255))
        d.ellipse([c[0] - 5, c[1] - 5, c[0] + 5, c[1] + 5], fill=(5, 5, 5, 255))
        im.save(folder / f"{subject}_{k}.png")
        meta = {"look_vec": np.array(look, dtype=np.float64), "head_pose": np.eye(3),
                "ldmks": {"ldmks_lids_2d": [tuple(p) for p in lids], "ldmks_iris_2d": iris,
                          "ldmks_pupil_2d": pupil}}
        with open(folder / f"{subject}_{k}.pkl", "wb") as f:
            pickle.dump(meta, f, protocol=2)
    return centres


def test_syntheseyes_gaze_convention_pupil_and_masks(tmp_path):
    s = math.sqrt(0.75)
    looks = [(0, 0, 1), (0.5, 0, s), (0, 0.5, s)]
    centres = write_syntheseyes(tmp_path, looks)
    b = SynthesEyes(test_every=0, head_forward="+z").load("train", root=tmp_path).take()
    py = np.degrees(vector_to_pitchyaw(b.gaze.double().numpy()))
    np.testing.assert_allclose(py, [[0, 0], [0, -30], [30, 0]], atol=1e-6)  # GL +y is up: pitch +30
    np.testing.assert_allclose(b.head_pose.numpy(), 0, atol=1e-7)
    # 120x80 -> 36x60: the centred 120x72 box, scale 0.5
    for k, c in enumerate(centres):
        want = (c - [0, 4]) * 0.5 - 0.5
        np.testing.assert_allclose(b.pupil[k].numpy(), want, atol=1e-4)
        got = (b.masks[k] == 3).nonzero().float().mean(0).flip(0).numpy()
        np.testing.assert_allclose(got, want, atol=0.6)
    assert b.subject.tolist() == [3, 3, 3] and b.images.shape == (3, 3, 36, 60)
    assert check_dataset(SynthesEyes(test_every=0), root=tmp_path / "SynthEyes_data", n=3)[-1] == "deterministic"


def test_syntheseyes_refuses_pickles_that_run_code(tmp_path):
    write_syntheseyes(tmp_path, [(0, 0, 1)] * 2)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / "SynthEyes_data/f03/f03_1.pkl").write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(ValueError, match=r"f03_1\.pkl: corrupt or unsupported pickle .*refusing to load"):
        SynthesEyes(test_every=0).load("train", root=tmp_path).take()
    data = SynthesEyes(test_every=0, skip_bad=True).load("train", root=tmp_path)
    assert len(data) == 1 and data.info["skipped"] == 1


# ---------------------------------------------------------------------------------------------
# LPW: <participant>/<video>.avi + <video>.txt ("x y" per frame)
# ---------------------------------------------------------------------------------------------


def write_lpw(root, participant, video, centres, size=(128, 96)):
    import av

    folder = root / str(participant)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    c = av.open(str(folder / f"{video}.avi"), "w")
    s = c.add_stream("ffv1", rate=95)
    s.width, s.height, s.pix_fmt = w, h, "gray"
    for k, (x, y) in enumerate(centres):
        im = Image.new("L", (w, h), 100 + 10 * k)  # the brightness tells the frame apart
        if np.isfinite(x):
            ImageDraw.Draw(im).ellipse([x - 6, y - 6, x + 6, y + 6], fill=5)
        for p in s.encode(av.VideoFrame.from_ndarray(np.asarray(im), format="gray")):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()
    (folder / f"{video}.txt").write_text("".join(f"{x} {y}\n" for x, y in centres))


def test_lpw_decodes_the_annotated_frames_on_demand(tmp_path):
    write_lpw(tmp_path, 1, 1, [(40.0, 50.0), (64.0, 48.0), (90.5, 30.0), (20.0, 70.0)])
    write_lpw(tmp_path, 2, 1, [(64.0, 48.0), (70.0, 40.0)])
    data = LPW().load("unlabelled", root=tmp_path, size=(48, 64))
    assert len(data) == 6 and data.info["n_available"] == 6
    b = data.batch([3, 0, 2, 1])  # out of order: the decoder rewinds
    np.testing.assert_allclose(b.images[:, 0, 0, 0].numpy(), [130, 100, 120, 110], atol=1)
    # 128x96 -> 64x48 keeps the aspect: scale 0.5, pixel centres
    np.testing.assert_allclose(b.pupil.numpy(), (np.array([[20, 70], [40, 50], [90.5, 30], [64, 48]]) + 0.5) * 0.5 - 0.5)
    for k in range(4):
        dark = (b.images[k, 0] < 40).nonzero().float().mean(0).flip(0)
        assert torch.allclose(dark, b.pupil[k], atol=0.6)
    assert b.subject.tolist() == [1, 1, 1, 1] and b.gaze is None
    crop = LPW(crop="pupil", crop_width=60).load("unlabelled", root=tmp_path, size=(36, 60)).take()
    assert torch.allclose(crop.pupil[1], torch.tensor([29.5, 17.5]), atol=1e-5)  # centred when it can be
    assert check_dataset(LPW(), root=tmp_path, n=4)[-1] == "deterministic"


def test_lpw_bad_frames(tmp_path):
    write_lpw(tmp_path, 1, 1, [(40.0, 50.0), (float("nan"), float("nan")), (60.0, 40.0)])
    with pytest.raises(ValueError, match=r"1\.txt line 2: no valid pupil centre"):
        LPW().load("unlabelled", root=tmp_path).take()
    data = LPW(skip_bad=True).load("unlabelled", root=tmp_path)
    assert len(data) == 2 and data.info["skipped"] == 1
    (tmp_path / "1/1.txt").write_text("40 50\n40 50\n40 50\n40 50\n")  # 4 lines for 3 frames
    with pytest.raises(ValueError, match=r"1\.avi: has 3 frames, annotation asks for frame 4"):
        LPW().load("unlabelled", root=tmp_path).take()


# ---------------------------------------------------------------------------------------------
# folder and npz
# ---------------------------------------------------------------------------------------------


def test_folder_crops_to_aspect_and_reports_bad_images(tmp_path):
    (tmp_path / "sub").mkdir()
    im = Image.new("RGB", (200, 100), (255, 0, 0))
    ImageDraw.Draw(im).rectangle([50, 0, 149, 99], fill=(0, 0, 255))  # blue centre 100x100
    im.save(tmp_path / "a.png")
    Image.new("L", (64, 64), 77).save(tmp_path / "sub" / "b.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    b = ImageFolder().load("unlabelled", root=tmp_path, size=(32, 32)).take()
    assert b.images.shape == (2, 3, 32, 32) and b.gaze is None
    assert (b.images[0, 2] > 250).all() and (b.images[0, 0] < 5).all()  # the square crop is all blue
    g = ImageFolder(color="gray").load("unlabelled", root=tmp_path, size=(16, 16)).take()
    assert g.images.shape == (2, 1, 16, 16) and abs(int(g.images[1].float().mean()) - 77) <= 1
    (tmp_path / "c.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ValueError, match=r"c\.jpg: corrupt or unreadable image"):
        ImageFolder().load("unlabelled", root=tmp_path).take()
    data = ImageFolder(skip_bad=True).load("unlabelled", root=tmp_path, size=(8, 8))
    assert len(data) == 2 and data.info["skipped"] == 1
    assert check_dataset(ImageFolder(), root=tmp_path / "sub", size=(20, 24), n=2)


def test_npz_round_trip_and_checks(tmp_path):
    g = torch.tensor([[0.0, 0.0, -2.0], [0.3, 0.1, -1.0], [0.0, 0.0, -1.0]])
    batch = EyeBatch(images=torch.randint(0, 256, (3, 1, 36, 60), dtype=torch.uint8), gaze=g,
                     head_pose=torch.zeros(3, 2), masks=torch.randint(0, 4, (3, 36, 60), dtype=torch.uint8),
                     pupil=torch.tensor([[30.0, 18.0]] * 3), subject=torch.tensor([4, 5, 6]))
    path = write_npz(tmp_path / "x.npz", batch, {"name": "toy"})
    ds = NpzDataset()
    back = ds.load("train", root=path, size=(36, 60)).take()
    assert torch.equal(back.images, batch.images) and torch.equal(back.masks, batch.masks)
    assert torch.allclose(back.gaze[0], torch.tensor([0.0, 0.0, -1.0])) and ds.labelled and ds.has_masks
    small = NpzDataset().load("test", root=tmp_path, size=(18, 30)).take()  # a folder with one .npz
    assert small.images.shape == (3, 1, 18, 30) and torch.allclose(small.pupil[0], torch.tensor([14.75, 8.75]))
    assert check_dataset(NpzDataset(), root=path, n=3)[-1] == "deterministic"
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 36, 60), np.uint8), gaze=np.array([[0, 0, 0], [0, 0, -1.0]]))
    with pytest.raises(ValueError, match=r"gaze row\(s\) \[0\] are NaN or zero-length"):
        NpzDataset().load("train", root=tmp_path / "bad.npz")
    assert NpzDataset(skip_bad=True).load("train", root=tmp_path / "bad.npz").info["skipped"] == 1
    np.savez(tmp_path / "shape.npz", images=np.zeros((2, 5, 36, 60), np.uint8))
    with pytest.raises(ValueError, match=r"shape\.npz: 'images' must be"):
        NpzDataset().load("train", root=tmp_path / "shape.npz")


def test_npz_reads_the_real_unlabelled_mpiigaze_patches():
    if not os.path.isfile(SHARED_EYES):
        pytest.skip(f"real MPIIGaze patches not present at {SHARED_EYES} (they are not part of the repository)")
    raw = np.load(SHARED_EYES)["images"]
    ds = NpzDataset()
    data = ds.load("unlabelled", root=SHARED_EYES, size=(36, 60))
    b = data.take()
    assert len(data) == 600 and b.images.shape == (600, 1, 36, 60) and b.gaze is None and not ds.labelled
    assert np.array_equal(b.images[:, 0].numpy(), raw)
    assert abs(float(b.images.float().mean()) - float(raw.mean())) < 1e-3
    assert check_dataset(NpzDataset(), split="unlabelled", root=SHARED_EYES, n=8)[-1] == "deterministic"
