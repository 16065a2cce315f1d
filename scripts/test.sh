#!/usr/bin/env bash
# Every test of atomvae on a fresh machine: set-up (cached), formatting and lint
# checks, the Rust unit and integration tests (release build, shared with the demo),
# and the Python tests. .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
step() { printf '\n=== %s ===\n' "$*"; }

step "rustfmt"
cargo fmt --all --check
step "clippy"
cargo clippy --release --locked --all-targets --features headers -- -D warnings
step "cargo test"
cargo test --release --locked --features headers
step "ruff"
ruff check tests/python bench
ruff format --check tests/python bench
step "pytest"
ATOMVAE_BIN="$CARGO_TARGET_DIR/release/atomvae" python -m pytest -q tests/python
step "fuzz smoke (cargo-fuzz, 10 s a target)"
if rustup toolchain list 2>/dev/null | grep -q nightly; then
  bash scripts/fuzz.sh 10
else
  echo "skipped: no nightly Rust toolchain here (cargo-fuzz needs one); run bash scripts/fuzz.sh where there is"
fi
