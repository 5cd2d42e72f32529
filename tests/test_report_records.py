"""`report` and `compare` on records they cannot render: one line naming the file, no KeyError."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import ROOT
from gazebench.cli import cli
from gazebench.cli.report_cmd import read_record

CASES = [
    ({"schema": "gazebench.run/1"},
     "record {p} has no 'rows', so it is not a complete gazebench.run/1 record (an interrupted run, or a file "
     "of another kind): write it again with the command that made it"),
    ({"schema": "gazebench.run/1", "rows": 5},
     "record {p} has 'rows' of type int, so it is not a complete gazebench.run/1 record (an interrupted run, "
     "or a file of another kind): write it again with the command that made it"),
    ({"schema": "gazebench.run/1", "rows": [1]},
     "record {p}: rows[0] is not an object (int); a gazebench.run/1 row is an object with estimator, purifier, ..."),
    ({"schema": "gazebench.run/1", "rows": [{"estimator": "mean"}]},
     "record {p}: rows[0] lacks purifier; it is not a gazebench.run/1 row"),
    ({"schema": "gazebench.run/1", "rows": [], "config": []}, "record {p}: 'config' is not an object (list)"),
    ({"schema": "gazebench.speed/1", "rows": [{"purifier": "gatys", "resolution": 256}]},
     "record {p}: rows[0] lacks seconds_per_image; it is not a gazebench.speed/1 row"),
    ({"schema": "gazebench.style-compare/1", "rows": []},
     "record {p} has schema 'gazebench.style-compare/1'; gazebench reads gazebench.run/1, gazebench.run/2, "
     "gazebench.speed/1"),
]


@pytest.mark.parametrize("record,message", CASES)
def test_report_and_compare_refuse_incomplete_records_in_one_line(tmp_path, record, message):
    p = tmp_path / "rec.json"
    p.write_text(json.dumps(record))
    runner = CliRunner()
    for args in (["report", str(p)], ["report", str(p), "--format", "latex"], ["compare", str(p), str(p)]):
        res = runner.invoke(cli, args)
        if args[0] == "compare" and record["schema"] == "gazebench.speed/1":
            expected = f"{p} is a gazebench.speed/1 record; compare reads gazebench.run/1, gazebench.run/2 records"
        else:
            expected = message.format(p=p)
        assert res.exit_code == 1 and res.output == f"Error: {expected}\n", (args, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit)


def test_committed_records_still_read():
    assert len(read_record(ROOT / "results" / "cpu" / "table2.json")["rows"]) > 0
    speed = read_record(ROOT / "results" / "cpu" / "speed.json")
    assert len(speed["rows"]) > 0
    res = CliRunner().invoke(cli, ["report", str(ROOT / "results" / "cpu" / "speed.json")])
    sizes = sorted({r["resolution"] for r in speed["rows"]})
    assert res.exit_code == 0 and "| method | " + " | ".join(f"{px}x{px}" for px in sizes) + " |" in res.output
    # Table 1 as the paper timed it: Gatys on VGG-19 is the speed-up baseline, with the distance to the limit
    assert "speed-up vs gatys: VGG-19" in res.output and "distance to the machine's limit" in res.output
