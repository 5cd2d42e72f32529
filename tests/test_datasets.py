"""MPIIGaze and UnityEyes loaders on small files written in the published formats, and the
`gazebench run` / `gazebench data prepare` paths through them."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from click.testing import CliRunner
from PIL import Image, ImageDraw

from gazebench.geometry import vector_to_pitchyaw
from gazebench.testing import check_dataset
from gazebench_plugins.datasets.mpiigaze import MPIIGaze, read_day
from gazebench_plugins.datasets.unityeyes import UnityEyes, head_pose_from_euler, look_vec_to_gaze

# ---------------------------------------------------------------------------------------------
# writers: the exact published layouts
# ---------------------------------------------------------------------------------------------


def _write_mat73(path, eyes, filenames):
    """A MATLAB v7.3 file as MATLAB writes one: HDF5 with a 512-byte header block, structs as
    groups, arrays transposed (column-major), a cell of chars as object references."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        data = f.create_group("data")
        data.attrs["MATLAB_class"] = np.bytes_("struct")
        for side, fields in eyes.items():
            g = data.create_group(side)
            g.attrs["MATLAB_class"] = np.bytes_("struct")
            for key, arr in fields.items():
                ds = g.create_dataset(key, data=np.asarray(arr).T)
                ds.attrs["MATLAB_class"] = np.bytes_("uint8" if key == "image" else "double")
        cell = f.create_dataset("filenames", shape=(1, len(filenames)), dtype=h5py.ref_dtype)
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
        for i, name in enumerate(filenames):
            s = refs.create_dataset(f"s{i}", data=np.array([[ord(c)] for c in name], dtype=np.uint16))
            s.attrs["MATLAB_class"] = np.bytes_("char")
            s.attrs["MATLAB_int_decode"] = np.int32(2)
            cell[0, i] = s.ref
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by gazebench tests HDF5 schema 1.00 .".ljust(116)
                 + b"\x00" * 8 + b"\x00\x02" + b"IM")


def write_mpiigaze(root, days, *, v73=(), seed=0, levels=None):
    """``days``: {subject: {"day01": n, ...}}. Writes Data/Normalized and the evaluation lists
    (every sample, alternating left/right); returns the ground truth per (subject, day).
    ``levels``: {subject: (low, high)} pixel range of that subject's images (default 0-255)."""
    rng = np.random.default_rng(seed)
    truth = {}
    for s, per_day in days.items():
        folder = root / "Data" / "Normalized" / f"p{s:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for day, n in per_day.items():
            names = [f"{i + 1:04d}.jpg" for i in range(n)]
            eyes = {}
            for side in ("left", "right"):
                g = rng.normal(size=(n, 3)) * [0.3, 0.2, 0.1] + [0, 0, -1]
                eyes[side] = {"gaze": g / np.linalg.norm(g, axis=1, keepdims=True),
                              "image": rng.integers(*(levels or {}).get(s, (0, 256)), size=(n, 36, 60),
                                                    dtype=np.uint8),
                              "pose": rng.normal(size=(n, 3)) * 0.2}
            if day in v73:
                _write_mat73(folder / f"{day}.mat", eyes, names)
            else:
                cell = np.empty((n, 1), dtype=object)
                for i, name in enumerate(names):
                    cell[i, 0] = name
                scipy.io.savemat(folder / f"{day}.mat", {"data": eyes, "filenames": cell})
            truth[(s, day)] = eyes
            lines += [f"{day}/{name} {('left', 'right')[i % 2]}" for i, name in enumerate(names)]
        ev = root / "Evaluation Subset" / "sample list for eye image"
        ev.mkdir(parents=True, exist_ok=True)
        (ev / f"p{s:02d}.txt").write_text("\n".join(lines) + "\n")
    return truth


def write_unityeyes(folder, looks, *, heads=None, size=(200, 150), start=1):
    """UnityEyes renders consistent with their look vectors: eyeball centre at the image centre,
    iris centre at centre + 30 px * (g_x, g_y) (y down); landmarks written as UnityEyes does,
    strings "(x, y, z)" with y from the bottom. Returns the iris centres (edge coords, y down)."""
    folder.mkdir(parents=True, exist_ok=True)
    iw, ih = size
    cx, cy = iw / 2, ih / 2
    centres = []
    for k, look in enumerate(looks):
        look = np.asarray(look, dtype=float)
        g = look[:3] * [1, -1, 1]
        g = g / np.linalg.norm(g) if np.linalg.norm(g) > 0 else g
        ic = np.array([cx + 30 * g[0], cy + 30 * g[1]])
        centres.append(ic)
        ang = np.pi + 2 * np.pi * np.arange(16) / 16
        interior = np.stack([cx + 45 * np.cos(ang), cy + 20 * np.sin(ang)], 1)
        caruncle = np.array([[cx - 50, cy - 2], [cx - 50, cy + 2], [cx - 48, cy]])
        t = 2 * np.pi * np.arange(32) / 32
        iris = np.stack([ic[0] + 15 * np.cos(t), ic[1] + 15 * np.sin(t)], 1)
        im = Image.new("RGB", (iw, ih), (150, 120, 110))
        d = ImageDraw.Draw(im)
        d.ellipse([cx - 45, cy - 20, cx + 45, cy + 20], fill=(230, 230, 230))
        d.ellipse([ic[0] - 15, ic[1] - 15, ic[0] + 15, ic[1] + 15], fill=(90, 60, 40))
        d.ellipse([ic[0] - 6, ic[1] - 6, ic[0] + 6, ic[1] + 6], fill=(10, 10, 10))
        im.save(folder / f"{start + k}.jpg", quality=95)

        def fmt(p):
            return [f"({x:.4f}, {ih - y:.4f}, 9.5000)" for x, y in p]

        head = heads[k] if heads is not None else (0.0, 180.0, 0.0)
        js = {"interior_margin_2d": fmt(interior), "caruncle_2d": fmt(caruncle), "iris_2d": fmt(iris),
              "eye_details": {"look_vec": "(" + ", ".join(f"{v:.4f}" for v in (*look[:3], 0.0)) + ")",
                              "pupil_size": "0.0", "iris_size": "1.0", "iris_texture": "eyeball_brown"},
              "lighting_details": {}, "eye_region_details": {},
              "head_pose": "(" + ", ".join(f"{v:.4f}" for v in head) + ")"}
        (folder / f"{start + k}.json").write_text(json.dumps(js))
    return centres


# ---------------------------------------------------------------------------------------------
# MPIIGaze
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mpii(tmp_path_factory):
    root = tmp_path_factory.mktemp("MPIIGaze")
    truth = write_mpiigaze(root, {0: {"day01": 4, "day02": 3}, 1: {"day01": 5}, 2: {"day03": 4}}, v73={"day02"})
    return root, truth


def test_v5_and_v73_files_read_the_same_arrays(mpii):
    root, truth = mpii
    for day in ("day01", "day02"):  # day02 is v7.3
        got = read_day(root / "Data" / "Normalized" / "p00" / f"{day}.mat")
        assert got["filenames"] == [f"{i + 1:04d}.jpg" for i in range(len(got["filenames"]))]
        for side in ("left", "right"):
            np.testing.assert_array_equal(got[side]["image"], truth[(0, day)][side]["image"])
            np.testing.assert_allclose(got[side]["gaze"], truth[(0, day)][side]["gaze"])
            np.testing.assert_allclose(got[side]["pose"], truth[(0, day)][side]["pose"])
    assert h5py.is_hdf5(root / "Data/Normalized/p00/day02.mat") and not h5py.is_hdf5(root / "Data/Normalized/p00/day01.mat")


def test_right_eyes_are_flipped_and_mirrored(mpii):
    root, truth = mpii
    data = MPIIGaze(subjects=[0]).load("test", root=root)
    assert len(data) == 7  # the evaluation list of p00: 4 + 3 samples
    b = data.take()
    rows = [(day, i) for day, n in (("day01", 4), ("day02", 3)) for i in range(n)]
    for r, (day, i) in enumerate(rows):
        side = ("left", "right")[i % 2]
        t = truth[(0, day)][side]
        img, gaze = t["image"][i], t["gaze"][i]
        if side == "right":
            img, gaze = img[:, ::-1], gaze * [-1, 1, 1]
        np.testing.assert_array_equal(b.images[r, 0].numpy(), img)
        np.testing.assert_allclose(b.gaze[r].numpy(), gaze / np.linalg.norm(gaze), atol=1e-6)
    assert b.subject.tolist() == [0] * 7 and b.images.shape == (7, 1, 36, 60)


def test_known_answer_gaze_and_head_pose(tmp_path):
    """Gaze (0.5, 0, -0.866) is yaw -30 deg in the project convention; a head turned 0.2 rad about
    y has yaw +0.2 (pytorch_mpiigaze's convert_pose); the right eye mirrors both."""
    root = tmp_path / "m"
    write_mpiigaze(root, {0: {"day01": 2}})
    path = root / "Data/Normalized/p00/day01.mat"
    eye = {"gaze": np.array([[0.5, 0.0, -math.sqrt(0.75)], [0.0, -0.5, -math.sqrt(0.75)]]),
           "image": np.zeros((2, 36, 60), np.uint8), "pose": np.array([[0.0, 0.2, 0.0], [0.1, 0.0, 0.0]])}
    cell = np.empty((2, 1), dtype=object)
    cell[0, 0], cell[1, 0] = "0001.jpg", "0002.jpg"
    scipy.io.savemat(path, {"data": {"left": eye, "right": eye}, "filenames": cell})
    (root / "Evaluation Subset/sample list for eye image/p00.txt").write_text(
        "day01/0001.jpg left\nday01/0001.jpg right\nday01/0002.jpg left\nday01/0002.jpg right\n")
    b = MPIIGaze().load("test", root=root).take()
    py = np.degrees(vector_to_pitchyaw(b.gaze.double().numpy()))
    np.testing.assert_allclose(py, [[0, -30], [0, 30], [30, 0], [30, 0]], atol=1e-4)
    np.testing.assert_allclose(b.head_pose.numpy(), [[0, 0.2], [0, -0.2], [-0.1, 0], [-0.1, 0]], atol=1e-6)


def test_leave_one_subject_out_folds(mpii):
    root, _ = mpii
    ds = MPIIGaze(test_subject=1)
    test, train, unl = (ds.load(s, root=root) for s in ("test", "train", "unlabelled"))
    assert (len(test), len(train), len(unl)) == (5, 11, 11)
    assert set(test.take().subject.tolist()) == {1}
    assert set(train.take().subject.tolist()) == {0, 2}
    assert test.info["subjects"] == [1] and train.info["subjects"] == [0, 2]
    assert len(MPIIGaze().load("test", root=root)) == 16
    with pytest.raises(ValueError, match="test_subject=7"):
        MPIIGaze(test_subject=7).load("test", root=root)


def test_limit_samples_every_subject_and_is_deterministic(mpii):
    root, _ = mpii
    a = MPIIGaze().load("test", root=root, limit=9, seed=3).take()
    b = MPIIGaze().load("test", root=root, limit=9, seed=3).take()
    assert len(a) == 9 and torch.equal(a.images, b.images)
    assert set(a.subject.tolist()) == {0, 1, 2}


def test_protocol_all_reads_both_eyes_of_every_day(mpii):
    root, _ = mpii
    assert len(MPIIGaze(protocol="all", subjects=[0]).load("train", root=root)) == 2 * (4 + 3)


def test_conformance_v5_and_v73(mpii):
    root, _ = mpii
    assert "deterministic" in check_dataset(MPIIGaze(subjects=[0]), split="test", root=root, n=7)
    check_dataset(MPIIGaze(subjects=[0]), split="test", root=root, size=(18, 30), n=3)


def test_bad_input_is_one_clear_line_or_skipped_and_counted(tmp_path, monkeypatch):
    root = tmp_path / "m"
    write_mpiigaze(root, {0: {"day01": 3, "day02": 2}})
    with pytest.raises(FileNotFoundError, match=r"root .*nowhere does not exist; expected ROOT/Data/Normalized"):
        MPIIGaze().load("test", root=tmp_path / "nowhere")
    monkeypatch.delenv("GAZEBENCH_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="GAZEBENCH_DATA"):
        MPIIGaze().load("test")
    monkeypatch.setenv("GAZEBENCH_DATA", str(tmp_path))
    (tmp_path / "mpiigaze").symlink_to(root)
    assert len(MPIIGaze().load("test")) == 5
    (root / "Data/Normalized/p00/day02.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage" + bytes(200))
    with pytest.raises(ValueError, match=r"day02\.mat: corrupt or unreadable \.mat"):
        MPIIGaze().load("test", root=root).take()
    data = MPIIGaze(skip_bad=True).load("test", root=root)
    assert len(data) == 3 and data.info["skipped"] == 2 and "day02.mat" in data.info["skipped_examples"][0]
    day = read_day(root / "Data/Normalized/p00/day01.mat")
    day["left"]["gaze"][0] = np.nan
    cell = np.empty((3, 1), dtype=object)
    cell[:, 0] = day["filenames"]
    scipy.io.savemat(root / "Data/Normalized/p00/day01.mat",
                     {"data": {s: {k: day[s][k] for k in ("gaze", "image", "pose")} for s in ("left", "right")},
                      "filenames": cell})
    with pytest.raises(ValueError, match=r"day01\.mat 0001\.jpg left: gaze vector .* NaN or zero-length"):
        MPIIGaze().load("test", root=root).take()
    assert len(MPIIGaze(skip_bad=True).load("test", root=root)) == 2


# ---------------------------------------------------------------------------------------------
# UnityEyes
# ---------------------------------------------------------------------------------------------


def _gazeml_pitchyaw(look_vec):
    """swook/GazeML's conversion, verbatim in effect: negate x, (arcsin(y), arctan2(x, z)), fold yaw."""
    v = np.array(look_vec[:3], dtype=float)
    v[0] = -v[0]
    v = v / np.linalg.norm(v)
    pitch, yaw = np.arcsin(v[1]), np.arctan2(v[0], v[2])
    yaw = np.pi - yaw if yaw > 0 else -(np.pi + yaw) if yaw < 0 else yaw
    return np.array([pitch, yaw])


def test_look_vec_known_answers_and_agreement_with_gazeml():
    np.testing.assert_allclose(look_vec_to_gaze([0, 0, -1, 0]), [0, 0, -1])
    s = math.sqrt(0.75)
    # looking towards the camera's right (+x): yaw -30; looking up (+y in Unity): pitch +30
    np.testing.assert_allclose(np.degrees(vector_to_pitchyaw(look_vec_to_gaze([0.5, 0, -s]))), [0, -30], atol=1e-9)
    np.testing.assert_allclose(np.degrees(vector_to_pitchyaw(look_vec_to_gaze([0, 0.5, -s]))), [30, 0], atol=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(50):
        v = rng.normal(size=3) * [0.4, 0.4, 0.2] + [0, 0, -1]
        np.testing.assert_allclose(vector_to_pitchyaw(look_vec_to_gaze(v)), _gazeml_pitchyaw(v), atol=1e-9)


def test_head_pose_from_unity_euler():
    np.testing.assert_allclose(head_pose_from_euler([0, 180, 0]), [0, 0], atol=1e-12)
    # camera 10 deg above (pitched down onto the face): the head looks 10 deg below the camera
    np.testing.assert_allclose(np.degrees(head_pose_from_euler([10, 180, 0])), [-10, 0], atol=1e-9)
    np.testing.assert_allclose(np.degrees(head_pose_from_euler([350, 180, 0])), [10, 0], atol=1e-9)
    np.testing.assert_allclose(np.degrees(head_pose_from_euler([0, 190, 0])), [0, -10], atol=1e-9)


@pytest.fixture(scope="module")
def unity(tmp_path_factory):
    folder = tmp_path_factory.mktemp("UnityEyes") / "imgs"
    s = math.sqrt(0.75)
    looks = [(0, 0, -1, 0), (0.5, 0, -s, 0), (0, 0.5, -s, 0), (-0.4, -0.3, -math.sqrt(0.75), 0)] * 3
    centres = write_unityeyes(folder, looks)
    return folder, looks, centres


def test_unityeyes_crop_pupil_and_mask_follow_the_look_vector(unity):
    folder, looks, centres = unity
    data = UnityEyes(test_every=0).load("train", root=folder.parent)  # finds imgs/ itself
    assert len(data) == 12 and data.info["root"] == str(folder)
    b = data.take(4)
    assert b.images.shape == (4, 3, 36, 60) and b.masks.shape == (4, 36, 60)
    # the crop: width 1.5 * (inner corner 50 px left of centre .. outer corner 45 px right) = 142.5
    box_x0, box_y0, scale = 100 - 71.25, 75 - 42.75, 60 / 142.5
    for k in range(4):
        np.testing.assert_allclose(b.gaze[k].numpy(), look_vec_to_gaze(looks[k]), atol=1e-4)  # 4 decimals in the JSON
        want = (centres[k] - [box_x0, box_y0]) * scale - 0.5
        np.testing.assert_allclose(b.pupil[k].numpy(), want, atol=0.05)
        dark = (b.images[k].float().mean(0) < 40).nonzero().float().mean(0).flip(0).numpy()
        np.testing.assert_allclose(dark, want, atol=0.8)  # the drawn pupil is where the labels say
        pupil_px = (b.masks[k] == 3).nonzero().float().mean(0).flip(0).numpy()
        np.testing.assert_allclose(pupil_px, want, atol=0.8)
        assert int((b.masks[k] == 2).sum()) > int((b.masks[k] == 3).sum()) > 0
    assert b.pupil[2, 1] < b.pupil[0, 1]  # looking up moves the pupil up the image


def test_unityeyes_splits_filter_and_conformance(unity, tmp_path):
    folder, _, _ = unity
    ds = UnityEyes()
    assert (len(ds.load("train", root=folder)), len(ds.load("test", root=folder))) == (11, 1)
    assert len(ds.load("unlabelled", root=folder)) == 12
    assert check_dataset(UnityEyes(), root=folder, n=5)[-1] == "deterministic"
    other = tmp_path / "ue"
    write_unityeyes(other, [(0, 0, -1)] * 3, heads=[(0, 180, 0), (30, 180, 0), (5, 185, 0)])
    data = UnityEyes(max_head_deg=20, test_every=0).load("train", root=other)
    assert len(data) == 2 and data.info["filtered"] == 1


def test_unityeyes_bad_renders(tmp_path):
    folder = tmp_path / "ue"
    write_unityeyes(folder, [(0, 0, -1)] * 4)
    js = json.loads((folder / "2.json").read_text())
    del js["eye_details"]
    (folder / "2.json").write_text(json.dumps(js))
    js = json.loads((folder / "3.json").read_text())
    js["eye_details"]["look_vec"] = "(0.0000, 0.0000, 0.0000, 0.0000)"
    (folder / "3.json").write_text(json.dumps(js))
    (folder / "4.jpg").write_bytes(b"not a jpeg")
    ds = UnityEyes(test_every=0)
    with pytest.raises(ValueError, match=r"2\.json: missing key 'eye_details\.look_vec'"):
        ds.load("train", root=folder).take()
    data = UnityEyes(test_every=0, skip_bad=True).load("train", root=folder)
    assert len(data) == 1 and data.info["skipped"] == 3
    reasons = " | ".join(data.info["skipped_examples"])
    assert "zero-length" in reasons and "4.jpg: corrupt or unreadable image" in reasons
    with pytest.raises(FileNotFoundError, match="no N.json files"):
        UnityEyes().load("train", root=tmp_path)


# ---------------------------------------------------------------------------------------------
# end to end: gazebench run and gazebench data prepare
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli(pm):
    """The root command with this plugin's commands added through its own hook (only its own:
    another plugin's command hook must not be able to break these tests)."""
    import gazebench_plugins.datasets as plugin
    from gazebench.cli import cli as root_cli

    plugin.gazebench_register_commands(cli=root_cli)
    assert "data" in root_cli.commands
    return root_cli


def test_run_trains_on_unityeyes_and_tests_on_mpiigaze(cli, unity, mpii, tmp_path):
    folder, _, _ = unity
    root, _ = mpii
    out = tmp_path / "rec.json"
    res = CliRunner().invoke(cli, ["run", "--train", "unityeyes", "--train-root", str(folder), "--test", "mpiigaze",
                                   "--test-root", str(root), "-p", "identity", "-e", "mean", "--n-train", "8",
                                   "--n-test", "6", "-o", "mpiigaze.test_subject=1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads(out.read_text())
    train = rec["datasets"]["train"]
    train = train.get("unityeyes", train)  # the record keys training sets by name
    assert train["name"] == "unityeyes" and train["n"] == 8
    assert rec["datasets"]["test"]["subjects"] == [1] and rec["datasets"]["test"]["skipped"] == 0
    row = rec["rows"][0]
    assert 0 < row["raw_mean_deg"] < 90 and row["raw_mean_deg"] == pytest.approx(row["purified_mean_deg"])


def test_prepare_writes_an_npz_that_loads_back_identically(cli, mpii, tmp_path):
    root, _ = mpii
    out = tmp_path / "mpii.npz"
    res = CliRunner().invoke(cli, ["data", "prepare", "mpiigaze", "--root", str(root), "--split", "test",
                                   "--out", str(out), "-o", "mpiigaze.subjects=[0,2]"])
    assert res.exit_code == 0, res.output
    from gazebench_plugins.datasets.npz import NpzDataset

    direct = MPIIGaze(subjects=[0, 2]).load("test", root=root).take()
    back = NpzDataset().load("test", root=out, size=None)
    b = back.take()
    assert torch.equal(b.images, direct.images) and torch.equal(b.subject, direct.subject)
    assert torch.allclose(b.gaze, direct.gaze) and torch.allclose(b.head_pose, direct.head_pose)
    assert back.info["source"]["name"] == "mpiigaze" and back.info["source"]["params"]["subjects"] == [0, 2]
    res = CliRunner().invoke(cli, ["data", "prepare", "mpiigaze", "--root", str(tmp_path / "none"), "--out", str(out)])
    assert res.exit_code != 0 and "does not exist" in res.output and "Traceback" not in res.output


def test_v73_filenames_as_a_char_matrix(tmp_path):
    path = tmp_path / "day01.mat"
    eye = {"gaze": np.array([[0.0, 0.0, -1.0]] * 2), "image": np.zeros((2, 36, 60), np.uint8),
           "pose": np.zeros((2, 3))}
    _write_mat73(path, {"left": eye, "right": eye}, ["0001.jpg", "0002.jpg"])
    with h5py.File(path, "r+") as f:  # MATLAB's char(N x 8) instead of a cell
        del f["filenames"]
        ds = f.create_dataset("filenames", data=np.array([[ord(c) for c in n] for n in ("0001.jpg", "0002.jpg")],
                                                         dtype=np.uint16).T)
        ds.attrs["MATLAB_class"] = np.bytes_("char")
    assert read_day(path)["filenames"] == ["0001.jpg", "0002.jpg"]
