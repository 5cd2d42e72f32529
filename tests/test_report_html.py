"""Reports people read: the paper's layouts, the HTML page (checked in headless Chromium), plots
after the fact, terminal tables that fit 80 columns, and the root --help examples."""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT, builtin_plugin_names, run_cli
from gazebench import layouts
from gazebench.cli import cli
from gazebench.results import SCHEMA_RUN, SCHEMA_SPEED


def _curve(errors):
    return [[float(t), sum(e <= t for e in errors) / len(errors)] for t in range(31)]


def run_record(**extra):
    """A two-estimator, three-purifier run record with the uncertainty fields of newer records."""
    base = [4.0, 6.0, 8.0, 9.0]
    rows = []
    for est, raw, floor in (("const", 18.7437, True), ("net", 10.3542, False)):
        for pur, pm, sig in (("noop-p", raw, False), ("colour", raw - 0.0214, False), ("attn", raw - 0.4618, True)):
            purified = raw if floor else pm
            rows.append({
                "estimator": est, "train": "clean", "test": "wild", "purifier": pur, "n_test": 4,
                "raw_mean_deg": raw, "purified_mean_deg": purified, "oracle_mean_deg": raw if floor else 4.2490,
                "raw_mean_ci": [raw - 0.64, raw + 0.71], "purified_mean_ci": [purified - 0.66, purified + 0.69],
                "oracle_mean_ci": None if floor else [3.9, 4.6],
                "gap_closed": None if floor else (raw - purified) / (raw - 4.249),
                "gap_closed_ci": None if floor or pur == "noop-p" else [0.021, 0.139],
                "diff_mean_deg": raw - purified, "diff_mean_ci": [raw - purified - 0.2, raw - purified + 0.2],
                "p_value": 0.0004 if sig and not floor else 0.61, "p_holm": 0.0021 if sig and not floor else 1.0,
                "significant": sig and not floor, "subjects_improved": 0 if floor else 3, "subjects_n": 4,
                "pupil_shift_px": 0.0 if pur == "noop-p" else 0.5012, "pupil_err_raw_px": 1.234,
                "pupil_err_purified_px": 1.4567 if pur == "attn" else 1.3, "pupil_err_oracle_px": 0.811,
                "raw_curve": _curve([e + (8 if not floor else 15) for e in base]),
                "purified_curve": _curve([e + 6 for e in base]),
            })
    rec = {"schema": SCHEMA_RUN, "command": "gazebench run -p noop-p,colour,attn -e const,net", "seed": 0,
           "config": {"seed": 0, "test": "wild"},
           "environment": {"device": "cpu", "device_name": "Test CPU", "torch": "2.x", "gazebench": "0.1.0",
                           "plugins": [{"name": "basic", "distribution": "gazebench", "version": "0.1.0"}]},
           "purifiers": [{"purifier": "noop-p", "style": None, "noop": True},
                         {"purifier": "colour", "style": None, "noop": False},
                         {"purifier": "attn", "style": "clean", "noop": False,
                          "objective_curve": [[1, 900.0], [2, 400.0], [3, 250.0]]}],
           "estimators": [{"estimator": "const", "train": "clean", "floor": True},
                          {"estimator": "net", "train": "clean", "floor": False,
                           "oracle_curve": _curve([1.0, 2.0, 3.0, 4.0])}],
           "notes": ["loss network: random weights"], "rows": rows}
    rec.update(extra)
    return rec


def speed_record():
    rows = []
    for name, secs, projected in (("slow", (15.8454, 59.756), True), ("fast", (0.07237, 0.31168), False)):
        for px, s in zip((256, 512), secs):
            rows.append({"purifier": name, "resolution": px, "device": "cpu", "seconds_per_image": s,
                         "projected": projected, "iterations": 400 if projected else None, "error": None,
                         "speedup_vs_slow": {256: 15.8454, 512: 59.756}[px] / s})
    return {"schema": SCHEMA_SPEED, "command": "gazebench speed -p slow,fast", "seed": 0, "config": {"seed": 0},
            "environment": {"device": "cpu"}, "rows": rows}


def write(path: Path, rec: dict) -> Path:
    path.write_text(json.dumps(rec))
    return path


# -- the paper's layouts ----------------------------------------------------------------------

def test_table2_layout_known_answer():
    md = layouts.to_markdown(layouts.layouts(run_record()))
    lines = md.splitlines()
    # the no-op purifier is no column (it equals raw); the floor estimator is marked from its stats
    assert "| estimator | raw | colour | attn | oracle |" in lines
    assert ("| const (floor) | 18.74 [18.1, 19.5] | 18.74 [18.1, 19.4] | 18.74 [18.1, 19.4] | 18.74 |") in lines
    assert "| net | 10.35 [9.7, 11.1] | 10.33 [9.7, 11.0] | 9.89 [9.2, 10.6]* | 4.25 [3.9, 4.6] |" in lines
    assert layouts.SIGNIFICANCE_NOTE in md and "Holm" in md
    # raw - purified with the Holm-corrected p, gap closed in percent with its interval
    assert "| net | +0.02 [-0.2, 0.2] | +0.46 [0.3, 0.7]* | 1.000 | 0.002 | 3/4 | 3/4 |" in lines
    assert "| net | 0% [2, 14] | 8% [2, 14] |" in lines
    # pupil: the locator's error on raw / purified / oracle, and the shift
    assert "| raw | 1.23 | - |" in lines and "| attn | 1.46 | 0.50 |" in lines and "| oracle | 0.81 | - |" in lines


def test_summary_across_seeds_and_old_records():
    rec = run_record(summary=[{"estimator": "net", "train": "clean", "purifier": "attn", "n_seeds": 3,
                               "raw_mean_deg": 10.41, "raw_mean_deg_seed_std": 0.12, "purified_mean_deg": 9.93,
                               "purified_mean_deg_seed_std": 0.2, "gap_closed": 0.081,
                               "gap_closed_seed_std": 0.013}])
    md = layouts.to_markdown(layouts.layouts(rec))
    assert "| net | attn | 3 | 10.41 ± 0.12 | 9.93 ± 0.20 | 8% ± 1% |" in md
    # a gazebench.run/1 record without noop/floor fields: both are read from the numbers instead
    old = json.loads((ROOT / "tests" / "data" / "table2_run1.json").read_text())  # results/cpu/table2.json as of 29f4ba6
    md = layouts.to_markdown(layouts.layouts(old))
    assert "| estimator | raw | reinhard | johnson | attention | oracle |" in md
    assert "| mean (floor) | 18.74 | 18.74 | 18.74 | 18.74 | 18.74 |" in md
    assert "| cnn | 10.35 | 10.33 | 9.94 | 9.89 | 4.25 |" in md


def test_table1_layout_csv_and_latex(tmp_path):
    tables = layouts.layouts(speed_record())
    md = layouts.to_markdown(tables)
    assert "| method | 256x256 | 512x512 |" in md
    assert "| slow (400 its, projected) | 15.85 | 59.76 |" in md and "| fast | 0.07237 | 0.3117 |" in md
    assert "| fast | 219x | 192x |" in md  # speed-ups vs the baseline the record names
    text = CliRunner().invoke(cli, ["report", str(write(tmp_path / "s.json", speed_record())), "--format", "csv"])
    head, *body = text.output.strip().splitlines()
    assert head == "method,256x256,512x512" and body[1] == "fast,0.07237,0.31168"
    csv_run = layouts.to_csv(layouts.layouts(run_record()))
    header = csv_run.splitlines()[0].split(",")
    assert header[:4] == ["estimator", "raw", "raw low", "raw high"]
    assert "10.3542,9.7142,11.0642" in csv_run  # full precision, the interval beside the value
    tex = layouts.to_latex(layouts.layouts(run_record()))
    assert r"\toprule" in tex and r"net & 10.35 [9.7, 11.1] & 10.33 [9.7, 11.0] & 9.89 [9.2, 10.6]* &" in tex
    assert r"8\% [2, 14]" in tex


def test_report_several_records_and_json(tmp_path):
    a = write(tmp_path / "a.json", run_record())
    b = write(tmp_path / "b.json", run_record(rows=[{**r, "purified_mean_deg": r["purified_mean_deg"] + 1}
                                                    for r in run_record()["rows"]]))
    res = CliRunner().invoke(cli, ["report", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("## comparison") and f"## {a}" in res.output and f"## {b}" in res.output
    assert "| net | clean | wild | attn | 10.35 [9.7, 11.1] | 9.89 [9.2, 10.6]* | 10.35 [9.7, 11.1] | 10.89" in res.output
    res = CliRunner().invoke(cli, ["report", str(a), "--json"])
    tables = {t["key"]: t for t in json.loads(res.output)["tables"]}
    net = tables["table2"]["rows"][1]
    assert net[3] == {"text": "9.89 [9.2, 10.6]*", "value": pytest.approx(9.8924), "ci": pytest.approx([9.2324, 10.5824]),
                      "mark": "*"}
    long = CliRunner().invoke(cli, ["report", str(a), "--layout", "long"])
    assert "| const | clean | wild | noop-p | 4 | 18.74 [18.10, 19.45] |" in long.output  # the long table, intervals included


# -- HTML -------------------------------------------------------------------------------------

def _html(tmp_path) -> tuple[Path, str]:
    plots = tmp_path / "plots"
    plots.mkdir()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.imshow([[0, 1], [1, 0]])
    fig.savefig(plots / "samples.png")
    plt.close(fig)
    run = write(tmp_path / "run.json", run_record(plots=[str(plots / "samples.png")]))
    speed = write(tmp_path / "speed.json", speed_record())
    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", str(run), str(speed), "--format", "html", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, out.read_text()


def test_html_is_self_contained_and_complete(tmp_path):
    out, page = _html(tmp_path)
    assert "<script" not in page.lower()
    urls = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert urls and all(u.startswith(("data:", "#")) for u in urls), [u[:40] for u in urls if not u.startswith("data")]
    assert "default-src 'none'" in page  # the page itself forbids fetching anything
    imgs = re.findall(r'<img src="data:(image/[a-z+]+);base64,([^"]+)"', page)
    kinds = [k for k, _ in imgs]
    # curves, objective, sample grid (PNG, from the run's plots), speed bars
    assert kinds.count("image/svg+xml") == 3 and kinds.count("image/png") == 1
    assert all(base64.b64decode(d)[:4] in (b"\x89PNG", b"<?xm") for _, d in imgs)
    for text in ("9.89 [9.2, 10.6]*", "const (floor)", "slow (400 its, projected)", "219x",
                 "gazebench speed -p slow,fast", "Test CPU", "Wilcoxon signed-rank"):
        assert text in page.replace("&#x27;", "'"), text


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def _browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    browser = _chromium()
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _console(stderr: str) -> list[str]:
    """Messages the page logged (console.*, uncaught exceptions, CSP refusals): Chromium writes them
    to stderr as INFO:CONSOLE lines."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.mark.skipif(_chromium() is None, reason="no Chromium on PATH (Debian package `chromium`; .ci/run installs "
                                                "it as root): the HTML page was not opened in a browser")
def test_html_renders_in_headless_chromium(tmp_path):
    out, _ = _html(tmp_path)
    # the console check itself works: a page with a script error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefined_function();</script></body></html>")
    assert any("Uncaught ReferenceError" in m for m in _console(_browse(bad, tmp_path, "--dump-dom").stderr))

    dom = _browse(out, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console(dom.stderr) == []
    text = re.sub(r"<[^>]+>", " ", dom.stdout)
    for needle in ("mean angular error (deg)", "9.89 [9.2, 10.6]*", "seconds per image", "0.07237", "219x"):
        assert needle in text, needle
    # run: error, improvement, gap closed, pupil; speed: seconds, speed-ups
    assert dom.stdout.count("<table") == 6 and dom.stdout.count("<img") == 4
    shot = tmp_path / "shot.png"
    res = _browse(out, tmp_path, f"--screenshot={shot}", "--window-size=1280,3000")
    assert res.returncode == 0 and _console(res.stderr) == []
    assert _png_size(shot) == (1280, 3000)
    assert shot.stat().st_size > 100_000  # tables, curves and bars, not a blank page (blank: ~10 kB)


# -- plots after the fact ---------------------------------------------------------------------

def test_plot_command_files_floor_and_x_range(tmp_path):
    from gazebench.figures import cumulative_figure

    rec = write(tmp_path / "r.json", run_record())
    res = CliRunner().invoke(cli, ["plot", str(rec), "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["cumulative_error.png", "cumulative_error.svg", "objective.png", "objective.svg"]
    assert (tmp_path / "p" / "cumulative_error.svg").read_text().lstrip().startswith("<?xml")
    fig = cumulative_figure(run_record())
    (ax,) = [a for a in fig.axes if a.get_visible() and a.lines]  # the floor estimator has no panel
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["raw (10.4°)", "colour (10.3°)", "attn (9.9°)", "oracle (4.2°)"]
    # every curve reaches 1 by 17 deg (raw: 12-17 deg): the axis stops one step later, not at 30
    assert ax.get_xlim() == (0.0, 18.0)
    assert len([a for a in cumulative_figure(run_record(), include_floor=True).axes if a.lines]) == 2
    res = CliRunner().invoke(cli, ["plot", str(write(tmp_path / "s.json", speed_record())), "--out",
                                   str(tmp_path / "q"), "--format", "svg"])
    assert res.exit_code == 0 and sorted(p.name for p in (tmp_path / "q").iterdir()) == ["speed.svg"]


def test_feedforward_purifier_objective_curve():
    from gazebench.testing import make_toy_eyes
    from gazebench_plugins.purifiers.feedforward import JohnsonPurifier

    style = make_toy_eyes(6, seed=1)
    content = make_toy_eyes(6, seed=2).without_labels()
    pur = JohnsonPurifier(iterations=5, width=4, n_residual=1, batch_size=2, warmup=0, loss_net="efficientnet_lite0",
                          loss_weights="random", progress=False).fit(content, style)
    curve = pur.objective_curve()
    assert [i for i, _ in curve] == [1, 2, 3, 4, 5] and [v for _, v in curve] == pytest.approx(pur.history_)


# -- terminal ---------------------------------------------------------------------------------

def test_compare_at_80_columns_shows_every_number_whole(tmp_path):
    rec = run_record()
    for r in rec["rows"]:
        r["estimator"] = f"a-rather-long-{r['estimator']}-estimator-name"
    a = write(tmp_path / "A.json", rec)
    b = write(tmp_path / "B.json", run_record(rows=[{**r, "raw_mean_deg": r["raw_mean_deg"] + 100.5}
                                                    for r in rec["rows"]]))
    out = run_cli("compare", str(a), str(b), env={"COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    table = [line for line in lines if not line.startswith(("A: ", "B: "))]
    assert max(len(line) for line in table) <= 80
    cut = [line for line in table if "…" in line]
    assert cut and all(re.search(r"^a-rather-long-\S*… +(noop-p|colour|attn) ", line) for line in cut)  # names only
    for r in rec["rows"]:
        for v in (r["raw_mean_deg"], r["raw_mean_deg"] + 100.5, r["purified_mean_deg"]):
            assert f"{v:.2f}" in out.stdout
    assert "+100.50" in out.stdout
    res = json.loads(run_cli("compare", str(a), str(b), "--json").stdout)
    assert res["rows"][0]["raw_mean_deg"] == [pytest.approx(18.7437), pytest.approx(119.2437), pytest.approx(100.5)]


def test_screen_fitting_drops_intervals_then_splits():
    from gazebench.cli.screen import fit, render

    (lay,) = [t for t in layouts.layouts(run_record()) if t.key == "table2"]
    wide = render(lay)
    assert "9.89 [9.2, 10.6]*" in wide and max(map(len, wide.splitlines())) > 50
    pieces = fit(lay, 50)
    assert len(pieces) == 1 and "9.89*" in render(pieces[0], 50)  # intervals go first
    pieces = fit(lay, 30)
    assert len(pieces) > 1 and all(max(map(len, render(p, 30).splitlines()[1:3])) <= 30 for p in pieces)
    assert "9.89*" in "".join(render(p, 30) for p in pieces)


def test_run_rows_at_80_columns_keep_numbers_whole():
    from gazebench.cli.screen import fit, render

    rec = run_record()
    for r in rec["rows"]:
        r["p_holm"] = 0.0012345 if r["significant"] else None
    pieces = fit(layouts.run_rows_layout(rec), 80)
    text = "\n".join(render(p, 80) for p in pieces)
    assert max(map(len, text.splitlines())) <= 80 and "…" not in text
    assert "9.89 [9.2, 10.6]*" in text and "0.0012*" in text and "8%" in text
    wide = render(layouts.run_rows_layout(rec, wide=True))
    assert "10.35 [9.7, 11.1]" in wide and "raw median" in wide  # every column, every interval


def test_plugins_one_line_each_at_80_columns():
    only = {"GAZEBENCH_LOAD_PLUGINS": ",".join(builtin_plugin_names())}  # whatever else is installed
    out = run_cli("plugins", env={"COLUMNS": "80", **only})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    rows = json.loads(run_cli("plugins", "--json", env=only).stdout)
    assert max(map(len, lines)) <= 80 and len(lines) == len(rows) + 1
    assert all(any(line.split()[:2] == [r["kind"], r["name"]] for line in lines) for r in rows)


def test_segment_eval_json():
    out = run_cli("segment-eval", "-s", "threshold", "--train", "toy", "--test", "toy", "--n-train", "4",
                  "--n-test", "6", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    (row,) = res["rows"]
    assert res["n_test"] == 6 and row["segmenter"] == "threshold" and 0 <= row["iou_pupil"] <= 1


def test_purify_json(tmp_path):
    out = run_cli("purify", "-p", "identity", "-d", "toy-wild", "--style", "toy", "-n", "4", "--n-style", "4",
                  "--out", str(tmp_path / "p"), "--json")
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert printed == json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert printed["purifiers"]["identity"]["pupil_shift_px_mean"] == 0


def test_root_help_examples_all_run(tmp_path):
    """Every example in `gazebench --help`, in order, in an empty folder."""
    text = run_cli("--help").stdout
    block = text.split("Examples", 1)[1].split("Options:", 1)[0]
    examples = [line.split("#", 1)[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert len(examples) >= 6 and all(e.startswith("gazebench ") for e in examples)
    for example in examples:
        out = run_cli(*shlex.split(example)[1:], cwd=tmp_path)
        assert out.returncode == 0, (example, out.stderr[-1500:])
    run = json.loads((tmp_path / "run.json").read_text())
    floors = {s["estimator"]: s["floor"] for s in run["estimators"]}
    assert floors == {"mean": True, "alr": False}  # from Estimator.floor, through the record
    assert all(r["oracle_curve"] for r in run["rows"])  # the oracle curve rides in each row
    assert (tmp_path / "report.html").stat().st_size > 20_000
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["cumulative_error.png", "cumulative_error.svg"]


@pytest.mark.parametrize("doc", ["README.md", "results/README.md"])
def test_readme_tables_are_what_report_prints(doc):
    """Every `gazebench report ... --table ...` command in the doc, run from the repository root:
    its output stands in the doc verbatim (the tables are generated, not typed)."""
    text = (ROOT / doc).read_text()
    commands = sorted(set(re.findall(r"gazebench report [^`\n#]*--table [^`\n#]*", text)))
    assert commands, f"{doc} has no generated table"
    for command in commands:
        out = run_cli(*shlex.split(command)[1:])  # without the leading "gazebench"
        assert out.returncode == 0, (command, out.stderr)
        assert out.stdout.strip() in text, f"{doc}: the table under `{command.strip()}` is not what it prints"
