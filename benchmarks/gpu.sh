#!/usr/bin/env bash
# The GPU suite in one command (issue 14 item 5): Table 1 at 256/512/1024 (fp32; bf16 +
# channels_last), attention throughput at 512, the paper-preset purifier fit (steps/s), the gaze
# CNN's training and inference throughput, into results/gpu/<device>/ in under 8 minutes.
#
#   benchmarks/gpu.sh                    # on a CUDA machine
#   benchmarks/gpu.sh --dry-run          # tiny sizes on the CPU: checks the script, measures nothing
#   benchmarks/gpu.sh --only table1      # one step (see --help)
#
# Without CUDA (and without --dry-run) it exits 2 with a message. Details: benchmarks/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
exec "$PY" benchmarks/gpu.py "$@"
