#!/usr/bin/env bash
# Every test of atomvae on a fresh machine: set-up (cached), formatting and lint
# checks, the Rust unit and integration tests (release build, shared with the demo),
# the Python wheel built and installed into fresh virtual environments, and the
# Python tests run against the installed wheel from outside the checkout: the
# package (CPython 3.11, and again with numpy 1.23), Dask, napari (a real viewer under
# Xvfb), Nion Swift (CPython 3.12) and DigitalMicrograph (a faithful fake).
# .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
. scripts/env.sh
step() { printf '\n=== %s ===\n' "$*"; }

step "rustfmt"
cargo fmt --all --check
step "clippy"
cargo clippy --release --locked --all-targets --features headers -- -D warnings
step "cargo test"
cargo test --release --locked --features headers
step "ruff"
ruff check tests/python bench plugin napari_plugin
ruff format --check tests/python bench plugin napari_plugin
step "pytest (repository tools)"
ATOMVAE_BIN="$CARGO_TARGET_DIR/release/atomvae" python -m pytest -q -p no:cacheprovider tests/python

step "python wheel: build, install into fresh venvs"
wheel_env="$(bash scripts/wheel-env.sh)"  # set -e stops here if it fails
eval "$wheel_env"
export ATOMVAE_BIN="$CARGO_TARGET_DIR/release/atomvae" ATOMVAE_WHEEL ATOMVAE_REPO="$root"
# Third-party pytest plugins (napari's, pytest-qt) load only where asked for.
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
outside="$(mktemp -d)"
trap 'rm -rf "$outside"' EXIT
cd "$outside"

step "pytest: the atomvae package (installed wheel, CPython 3.11, numpy $("$ATOMVAE_WHEEL_VENV/bin/python" -c 'import numpy; print(numpy.__version__)'))"
"$ATOMVAE_WHEEL_VENV/bin/python" -m pytest -q -p no:cacheprovider "$root/plugin/python/tests"
step "pytest: the atomvae package with numpy 1.23 (DigitalMicrograph's)"
"$ATOMVAE_NUMPY123_VENV/bin/python" -m pytest -q -p no:cacheprovider \
  "$root/plugin/python/tests/test_api.py" "$root/plugin/python/tests/test_threads.py"

if [ -d "$root/plugin/digitalmicrograph/tests" ]; then
  step "pytest: DigitalMicrograph scripts (fake DM), numpy 2 and numpy 1.23"
  "$ATOMVAE_WHEEL_VENV/bin/python" -m pytest -q -p no:cacheprovider "$root/plugin/digitalmicrograph/tests"
  "$ATOMVAE_NUMPY123_VENV/bin/python" -m pytest -q -p no:cacheprovider "$root/plugin/digitalmicrograph/tests"
fi

if [ -d "$root/napari_plugin/tests" ]; then
  step "pytest: napari plugin (real napari under Xvfb)"
  env -u PYTEST_DISABLE_PLUGIN_AUTOLOAD QT_API=pyqt5 PYTEST_QT_API=pyqt5 xvfb-run -a -s "-screen 0 1400x900x24" \
    "$ATOMVAE_WHEEL_VENV/bin/python" -m pytest -q -p no:cacheprovider "$root/napari_plugin/tests"
fi

if [ -d "$root/plugin/nionswift/tests" ]; then
  step "pytest: Nion Swift plugin (nionswift 16.18, CPython 3.12)"
  "$ATOMVAE_NION_VENV/bin/python" -m pytest -q -p no:cacheprovider "$root/plugin/nionswift/tests"
fi
cd "$root"

step "fuzz smoke (cargo-fuzz, 10 s a target)"
if rustup toolchain list 2>/dev/null | grep -q nightly; then
  bash scripts/fuzz.sh 10
else
  echo "skipped: no nightly Rust toolchain here (cargo-fuzz needs one); run bash scripts/fuzz.sh where there is"
fi
