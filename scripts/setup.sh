#!/usr/bin/env bash
# One-time (and cached) set-up of everything atomvae needs to build and test:
#   * Debian packages (HDF5 headers, pkg-config, clang runtime for sanitizers),
#   * a Python virtual environment with torch==2.13.0 from PyPI (the libtorch
#     that tch 0.26 links against) plus the Python test tools (pytest, h5py, ruff,
#     scikit-image for reference values).
# The venv lives in a cache folder OUTSIDE the clone so that a second run, a
# second clone or the next CI run reuses it (a second run takes seconds).
#
# Prints shell `export` lines for the build environment on stdout when called
# with --print-env; everything else goes to stderr.
set -euo pipefail

TORCH_VERSION=2.13.0
CACHE_DIR="${ATOMVAE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/atomvae}"
VENV="$CACHE_DIR/venv-torch-$TORCH_VERSION"
PY="${ATOMVAE_PYTHON:-python3.11}"
STAMP="$VENV/.atomvae-setup-v1"

log() { printf '[setup] %s\n' "$*" >&2; }

need_debs=()
for pkg in libhdf5-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if ((${#need_debs[@]})); then
  log "installing Debian packages: ${need_debs[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

if [ ! -f "$STAMP" ]; then
  log "creating $VENV with torch==$TORCH_VERSION (first run: ~3 GB download, a few minutes)"
  mkdir -p "$CACHE_DIR"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "torch==$TORCH_VERSION" numpy h5py tifffile pytest ruff scikit-image >&2
  "$VENV/bin/python" -c "import torch; assert torch.__version__.startswith('$TORCH_VERSION'), torch.__version__" >&2
  touch "$STAMP"
else
  log "reusing $VENV"
fi

if [ "${1:-}" = "--print-env" ]; then
  echo "export ATOMVAE_CACHE='$CACHE_DIR'"
  echo "export ATOMVAE_VENV='$VENV'"
  echo "export PATH='$VENV/bin':\"\$PATH\""
  echo "export LIBTORCH_USE_PYTORCH=1"
fi
