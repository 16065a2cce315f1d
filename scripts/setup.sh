#!/usr/bin/env bash
# One-time (and cached) set-up of everything atomvae needs to build and test:
#   * Debian packages: HDF5 headers and pkg-config (the Rust build), Xvfb with the
#     xcb/GL libraries (a real napari under a virtual display);
#   * a CPython 3.11 virtual environment with torch==2.13.0 (the libtorch tch 0.26
#     links against), the wheel's build tools (maturin, cffi, cmake for static HDF5),
#     the test tools, napari (PyQt5) and Dask — every package pinned exactly in
#     scripts/requirements/py311.txt;
#   * a CPython 3.12 virtual environment for Nion Swift (nionswift 16.18 needs
#     Python ≥ 3.12) with its own torch==2.13.0: scripts/requirements/py312-nionswift.txt.
# The venvs live in a cache folder OUTSIDE the clone so that a second run, a second
# clone or the next CI run reuses them (a second run takes seconds); a change of a
# requirements file re-installs that venv.
#
# Prints shell `export` lines for the build environment on stdout when called
# with --print-env; everything else goes to stderr.
set -euo pipefail

TORCH_VERSION=2.13.0
root="$(cd "$(dirname "$0")/.." && pwd)"
CACHE_DIR="${ATOMVAE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/atomvae}"
VENV="$CACHE_DIR/venv-torch-$TORCH_VERSION"
NION_VENV="$CACHE_DIR/venv-nion-py312"
PY="${ATOMVAE_PYTHON:-python3.11}"

log() { printf '[setup] %s\n' "$*" >&2; }

# A CPython of the given minor version that really runs: the named command, or
# pyenv's (a pyenv shim is on PATH for every installed version but fails unless
# that version is selected, so each candidate is tried, not just looked up).
find_python() {
  local minor="$1" candidate
  for candidate in "python$minor" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$minor".*/bin/python"$minor"; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$minor'.split('.')))" >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

need_debs=()
for pkg in libhdf5-dev pkg-config xvfb xauth libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
  libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xinput0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 \
  libdbus-1-3 libegl1 libopengl0 libgl1 libglib2.0-0 libfontconfig1 binutils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if ((${#need_debs[@]})); then
  log "installing Debian packages: ${need_debs[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

# make_venv DIR PYTHON REQUIREMENTS: (re)installs DIR when REQUIREMENTS changed.
make_venv() {
  local dir="$1" python="$2" requirements="$3"
  local stamp="$dir/.atomvae-requirements"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then
    log "reusing $dir"
    return 0
  fi
  log "installing $dir from $(basename "$requirements") (first run: torch is ~3 GB, a few minutes)"
  mkdir -p "$CACHE_DIR"
  [ -x "$dir/bin/python" ] || "$python" -m venv "$dir" >&2
  "$dir/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
  "$dir/bin/python" -c "import torch; assert torch.__version__.startswith('$TORCH_VERSION'), torch.__version__" >&2
  cp "$requirements" "$stamp"
}

make_venv "$VENV" "$(find_python 3.11 || echo "$PY")" "$root/scripts/requirements/py311.txt"
if python312="$(find_python 3.12)"; then
  make_venv "$NION_VENV" "$python312" "$root/scripts/requirements/py312-nionswift.txt"
else
  log "no CPython 3.12 here: the Nion Swift tests will say so (nionswift 16.18 needs Python >= 3.12)"
fi

if [ "${1:-}" = "--print-env" ]; then
  echo "export ATOMVAE_CACHE='$CACHE_DIR'"
  echo "export ATOMVAE_VENV='$VENV'"
  echo "export ATOMVAE_NION_VENV='$NION_VENV'"
  echo "export PATH='$VENV/bin':\"\$PATH\""
  echo "export LIBTORCH_USE_PYTORCH=1"
fi
