#!/usr/bin/env bash
# Table 1 on this machine, end to end: time every setting, write results/cpu/speed.{json,md},
# regenerate the Table 1 blocks of README.md and results/README.md. Took 10 min 53 s on the 2-core
# machine with nothing else running, 34 min under load 5-7 (Gatys on VGG-19 at 512 px dominates). RESOLUTIONS=256,512,1024 adds
# the paper's third size (Gatys then runs for much longer).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
GAZEBENCH=${GAZEBENCH:-gazebench}
PYTHON=${PYTHON:-python}
"$GAZEBENCH" speed -p gatys,johnson,attention --device cpu --resolutions "${RESOLUTIONS:-256,512}" --repeats 3 \
    --batch 4 --setting channels_last --channels-last --dtype bf16 --out results/cpu/speed.json
"$GAZEBENCH" report results/cpu/speed.json --layout long > results/cpu/speed.md
"$PYTHON" benchmarks/refresh_tables.py README.md results/README.md
