import json
import platform
from pathlib import Path

import pytest

from gazebench.results import (SCHEMA_RUN, cpu_model, environment, load_record, to_csv, to_latex, to_markdown,
                               write_record)


def record(rows=None):
    return {"schema": SCHEMA_RUN, "config": {"seed": 3}, "environment": {"device": "cpu", "device_name": "X",
            "gazebench": "0.1.0"}, "notes": ["loss network: random weights"],
            "rows": rows if rows is not None else [
                {"estimator": "mean", "train": "toy", "test": "toy-wild", "purifier": "identity", "n_test": 10,
                 "raw_mean_deg": 15.123, "raw_median_deg": 14.0, "purified_mean_deg": 12.5,
                 "purified_median_deg": 11.0, "oracle_mean_deg": None, "gap_closed": None,
                 "raw_curve": [[0, 0.0]]}]}


def test_markdown_known_answer():
    md = to_markdown(record())
    lines = md.splitlines()
    assert lines[0].startswith("| estimator | train | test | purifier | n | raw mean |")
    # a gazebench.run/1 row: no intervals, no test (raw - purified, p and the four pupil columns empty)
    assert lines[2] == "| mean | toy | toy-wild | identity | 10 | 15.12 | 14.00 | 12.50 | 11.00 | - | - | - | - | - | - | - | - |"
    assert "seed 3" in md and "loss network: random weights" in md


def test_csv_keeps_full_precision_and_empty_nulls():
    text = to_csv(record())
    header, row = text.strip().splitlines()
    assert "raw_curve" not in header  # nested values stay in the JSON
    values = dict(zip(header.split(","), row.split(",")))
    assert values["raw_mean_deg"] == "15.123" and values["oracle_mean_deg"] == ""


def test_latex_is_booktabs_and_escaped():
    tex = to_latex(record([{"estimator": "k_nn", "train": "a&b", "test": "t", "purifier": "p", "n_test": 1}]))
    assert "\\toprule" in tex and "\\bottomrule" in tex
    assert "k\\_nn & a\\&b & t & p & 1 & - &" in tex


def test_write_is_atomic_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_record(record(), path)
    assert load_record(path)["rows"][0]["raw_mean_deg"] == 15.123
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary left behind


def test_nan_is_refused_and_leaves_nothing(tmp_path):
    path = tmp_path / "r.json"
    with pytest.raises(ValueError):
        write_record(record([{"raw_mean_deg": float("nan")}]), path)
    assert list(tmp_path.iterdir()) == []


def test_load_record_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_record(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_record(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something/9"}))
    with pytest.raises(ValueError, match="has schema 'something/9'"):
        load_record(tmp_path / "other.json")


def test_environment_names_versions():
    env = environment("cpu", [{"name": "basic"}])
    assert env["gazebench"] == "0.1.0" and env["torch"] and env["scikit_learn"] and env["kornia"]
    assert env["cpu_count"] >= 1 and env["plugins"] == [{"name": "basic"}]
    import torch

    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability() != ""
    if Path("/proc/cpuinfo").is_file() and platform.machine() == "x86_64":
        assert env["cpu_model"].startswith("cpu family ")


def test_cpu_model_reads_the_first_processor_block():
    text = ("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\n"
            "model name\t: Intel(R) Xeon(R) Processor\nstepping\t: 2\n\nprocessor\t: 1\nmodel\t\t: 85\n")
    assert cpu_model(text) == "cpu family 6, model 207, stepping 2"
    assert cpu_model("vendor_id: ARM\n") is None
