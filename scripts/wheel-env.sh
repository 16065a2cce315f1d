#!/usr/bin/env bash
# Builds the atomvae wheel and installs it for real into FRESH virtual environments,
# the way a user's pip would, without downloading anything again:
#   * $ATOMVAE_CACHE/venv-wheel (CPython 3.11): every package of the cached torch venv
#     (torch, numpy, napari, dask …) is linked in, so torch/lib sits beside
#     atomvae/_native exactly as in a plain `pip install`; the wheel and the host
#     plugins are installed into it.
#   * the Nion Swift venv (CPython 3.12, its own torch) gets the same wheel: one wheel,
#     two Pythons.
# Prints the paths as `export` lines on stdout; logs go to stderr.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/env.sh"
log() { printf '[wheel-env] %s\n' "$*" >&2; }

wheel="$(bash "$root/plugin/python/build_wheel.sh" "$CARGO_TARGET_DIR/wheels" | tail -1)"
log "built $wheel"

base_python="$("$ATOMVAE_VENV/bin/python" -c 'import sys; print(sys._base_executable)')"
purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
# fresh_venv DIR [SKIP...]: a new venv whose site-packages links the torch venv's
# packages (but pip/setuptools, atomvae's own and those named in SKIP).
fresh_venv() {
  local dir="$1"
  shift
  rm -rf "$dir"
  "$base_python" -m venv "$dir" >&2
  local site entry name skip
  site="$(purelib "$dir/bin/python")"
  # The torch venv's pinned setuptools (it builds the plugins' wheels), not the
  # older one a new venv comes with.
  rm -rf "$site"/setuptools "$site"/setuptools-* "$site"/_distutils_hack "$site"/distutils-precedence.pth
  for entry in "$(purelib "$ATOMVAE_VENV/bin/python")"/*; do
    name="$(basename "$entry")"
    case "$name" in
      pip | pip-* | atomvae* | __editable__* | __pycache__) continue ;;
    esac
    for skip in "$@"; do
      case "$name" in $skip) continue 2 ;; esac
    done
    ln -s "$entry" "$site/$name"
  done
}

venv="$ATOMVAE_CACHE/venv-wheel"
fresh_venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --no-index --no-deps "$wheel" >&2
# The Nion Swift plugin needs nionswift (CPython 3.12): only in the Nion venv below.
for plugin in napari_plugin plugin/digitalmicrograph; do
  if [ -f "$root/$plugin/pyproject.toml" ]; then
    "$venv/bin/pip" install -q --disable-pip-version-check --no-index --no-deps --no-build-isolation "$root/$plugin" >&2
  fi
done
log "installed the wheel into $venv"

# DigitalMicrograph's Python (GMS 3.6) has numpy 1.23.5: the same wheel over it.
np123_venv="$ATOMVAE_CACHE/venv-numpy-1.23"
fresh_venv "$np123_venv" "numpy" "numpy-*" "numpy.libs" "h5py*" "scipy*" "scikit_image*" "skimage" "pandas*" "dask*" "distributed*" "napari*"
"$np123_venv/bin/pip" install -q --disable-pip-version-check "numpy==1.23.5" >&2
"$np123_venv/bin/pip" install -q --disable-pip-version-check --no-index --no-deps "$wheel" >&2
if [ -f "$root/plugin/digitalmicrograph/pyproject.toml" ]; then
  "$np123_venv/bin/pip" install -q --disable-pip-version-check --no-index --no-deps --no-build-isolation \
    "$root/plugin/digitalmicrograph" >&2
fi
log "installed the wheel into $np123_venv (numpy 1.23.5)"

nion_venv="$ATOMVAE_CACHE/venv-nion-py312"
if [ -x "$nion_venv/bin/python" ]; then
  "$nion_venv/bin/pip" install -q --disable-pip-version-check --no-index --no-deps --force-reinstall "$wheel" >&2
  if [ -f "$root/plugin/nionswift/pyproject.toml" ]; then
    "$nion_venv/bin/pip" install -q --disable-pip-version-check --no-index --no-deps --no-build-isolation \
      --force-reinstall "$root/plugin/nionswift" >&2
  fi
  log "installed the wheel into $nion_venv"
fi

echo "export ATOMVAE_WHEEL='$wheel'"
echo "export ATOMVAE_WHEEL_VENV='$venv'"
echo "export ATOMVAE_NION_VENV='$nion_venv'"
echo "export ATOMVAE_NUMPY123_VENV='$np123_venv'"
