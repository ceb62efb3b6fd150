#!/usr/bin/env bash
# Everything a session checks on a lent GPU machine, in one run of about 9 minutes:
#   1. the GPU tests (pytest -m gpu: CUDA vs CPU float64 to 1e-10);
#   2. the published D = 5, 6, 7 states at their smallest listed chi on the GPU;
#   3. one forward CTMRG step (partial eigensolver vs full eigh) at D, chi = 5,100 6,144 7,160;
#   4. one energy + gradient (fixed-point mode, float64) and its peak GPU memory at the same sizes.
# Run from the repository root:  OUT=/some/dir bash benchmarks/gpu_checks.sh
# The published states are read from $DIFFTN_SHARED/reference/ipeps_states
# (default: ../shared).  Every part has its own time limit, so one slow part
# cannot eat the others' time; logs land in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_checks}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, numpy, scipy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)" | tee -a "$OUT/gpu.txt"
timeout 100 python3 -m pytest -q -p no:cacheprovider -m gpu -rs tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"
timeout 110 python3 benchmarks/published_states.py --D 5 6 7 --device cuda 2>&1 | tee "$OUT/gpu_published.log"
timeout 100 python3 benchmarks/bench_ctmrg_step.py step --device cuda --D 5 6 7 --chi 100 144 160 2>&1 | tee "$OUT/gpu_step.log"
for size in "5 100 50" "6 144 70" "7 160 100"; do
  set -- $size
  timeout "$3" python3 benchmarks/bench_ctmrg_step.py grad --device cuda --D "$1" --chi "$2" 2>&1 | tee -a "$OUT/gpu_grad.log"
done
