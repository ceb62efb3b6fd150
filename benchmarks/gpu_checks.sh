#!/usr/bin/env bash
# Everything a session checks on a lent GPU machine, in one run of about 8 minutes:
#   1. the GPU tests (pytest -m gpu: CUDA vs CPU float64 to 1e-10);
#   2. per-gradient cost (energy + gradient, float64) and peak GPU memory at
#      D = 5, 6, 7 and the paper's chi = 100, 144, 160;
#   3. the published D = 5, 6, 7 states at a listed chi on the GPU (energy vs listed).
# Run from the repository root:  OUT=/some/dir bash benchmarks/gpu_checks.sh
# The published states are read from $DIFFTN_SHARED/reference/ipeps_states
# (default: ../shared).  Each part has its own time limit, so one slow part
# cannot eat the others' time; logs land in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_checks}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, numpy, scipy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)" | tee -a "$OUT/gpu.txt"
timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu -rs tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"
timeout 240 python3 benchmarks/bench_ctmrg_step.py gpu --device cuda 2>&1 | tee "$OUT/gpu_gradient_cost.log"
timeout 150 python3 benchmarks/published_states.py --D 5 6 7 --device cuda 2>&1 | tee "$OUT/gpu_published_states.log"
