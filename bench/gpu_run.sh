#!/usr/bin/env bash
# The prepared GPU benchmark command (throughput issue): one run, < 10 minutes on an H100/H200.
# The device machine reaches no package registry and runs its own image's python3 and torch,
# so the Python packages autofix needs beyond torch travel as wheels in bench/wheels/ (an
# ignored folder, named in the device run's `carry`). Fill it here first, once:
#   echo /bench/wheels/ >> .git/info/exclude
#   .venv/bin/pip download --no-deps -d bench/wheels diffusers transformers tokenizers \
#       safetensors huggingface_hub accelerate regex pydantic pydantic-core annotated-types \
#       typing-inspection pyyaml tqdm opencv-python-headless ai-edge-litert
# then run on the device:  bash bench/gpu_run.sh   (figures on stdout and in $OUT/gpu.json)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -d bench/wheels ] && ls bench/wheels/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --find-links bench/wheels --no-deps bench/wheels/*.whl
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" bench/bench_sd.py --gpu --images 48 --steps 20 --strength 0.4 --max-batch 8 \
  --json "${OUT:-/tmp}/gpu.json"
