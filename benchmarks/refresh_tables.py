"""Rewrite the generated tables of Markdown documents from the records they are generated from.

A generated block sits between ``<!-- generated: begin -->`` and ``<!-- generated: end -->``;
its command is the last ``gazebench report ... --table ...`` line above the begin marker (the
same command ``tests/test_report_html.py`` reruns to check the block). Usage::

    python benchmarks/refresh_tables.py README.md results/README.md
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- generated: begin -->", "<!-- generated: end -->"
COMMAND = re.compile(r"gazebench report [^`\n#]*--table [^`\n#]*")


def refresh(path: Path) -> int:
    """Regenerate every block of ``path`` in place; returns how many were rewritten."""
    text, out, pos, n = path.read_text(), [], 0, 0
    while (start := text.find(BEGIN, pos)) >= 0:
        end = text.index(END, start)
        commands = COMMAND.findall(text[:start])
        if not commands:
            raise SystemExit(f"{path}: a generated block without a `gazebench report ... --table` command above it")
        args = shlex.split(commands[-1])[1:]
        # from the repository root, as the documents' commands are written (and tested)
        res = subprocess.run([sys.executable, "-c", "from gazebench.cli import main; main()", *args],
                             capture_output=True, text=True, check=False, cwd=ROOT)
        if res.returncode != 0:
            raise SystemExit(f"{path}: `{commands[-1].strip()}` failed:\n{res.stderr}")
        out.append(text[pos:start] + BEGIN + "\n\n" + res.stdout.strip() + "\n\n")
        pos, n = end, n + 1
    path.write_text("".join(out) + text[pos:])
    return n


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {refresh(Path(name))} table block(s) regenerated")
