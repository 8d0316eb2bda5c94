#!/usr/bin/env bash
# Convenience: creates .venv and pip-installs autofix into it. It is the same install a
# user runs by hand (`pip install .`, `pip install '.[all]'`, `pipx install .`): plain pip,
# the pins in constraints.txt, no --no-deps. The embedded face/hand detectors need no
# extra: their models ship inside autofix and run on LiteRT (a normal dependency).
#   bash scripts/install.sh          # autofix + test tools (pytest, scikit-image sample photos)
#   bash scripts/install.sh --sd     # + Stable Diffusion backend (CPU torch, pinned)
#   bash scripts/install.sh --ray    # + Ray engine
#   bash scripts/install.sh --all    # every extra: SD, YOLO, SAM, Ray (torch + torchvision as a matching pair)
#   add --editable for a development install
# It also downloads (never installs) the insightface 2.1 wheel into .venv/photo-wheels: the
# tests and bench/ read its group photo with zipfile (autofix/photos.py); a failure only warns.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip)
"${PIP[@]}" install -q --upgrade pip >/dev/null 2>&1 || true
extras="dev"; vision=0; editable=0
for arg in "$@"; do
  case "$arg" in
    --sd) extras="$extras,sd" ;;
    --ray) extras="$extras,ray" ;;
    --all) extras="$extras,all"; vision=1 ;;
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
# insightface's code is MIT, but the rights to its sample photo are not ours, so the photo is
# not committed; installing insightface would pull opencv-python (clashes with our headless
# opencv) and onnxruntime, so only the wheel file is downloaded.
"${PIP[@]}" download --no-deps --only-binary=:all: -q insightface==2.1 -d .venv/photo-wheels >/dev/null 2>&1 \
  || echo "install.sh: warning: could not download insightface==2.1 (its photo is only used by tests and bench/)" >&2
echo "autofix installed in .venv ($extras)"
