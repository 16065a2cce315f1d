#!/usr/bin/env bash
# Fuzzes the C ABI with cargo-fuzz (libFuzzer + AddressSanitizer, nightly Rust).
# Usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]
#   (default 60 s each; targets: segment_frame find_atoms cut_windows rvae_calls)
# Installs cargo-fuzz when missing; the build lives in $ATOMVAE_CACHE/target-fuzz
# and the corpus in fuzz/corpus. Exit status ≠ 0 when a target finds a crash
# (the input is kept in fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(segment_frame find_atoms cut_windows rvae_calls)
# cargo-fuzz is installed into the cache, so that a second (CI) run reuses it.
export PATH="$ATOMVAE_CACHE/cargo-fuzz/bin:$PATH"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2 --root "$ATOMVAE_CACHE/cargo-fuzz"
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
export CARGO_TARGET_DIR="$ATOMVAE_CACHE/target-fuzz"
# The fuzz binaries are not ours to give an rpath: point the loader at torch's lib/.
torch_lib=$(python -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd fuzz
cargo +nightly fuzz build --fuzz-dir .
for t in "${targets[@]}"; do
  echo "=== fuzz $t for ${seconds}s ==="
  mkdir -p "corpus/$t"
  cargo +nightly fuzz run "$t" --fuzz-dir . -- -max_total_time="$seconds" -rss_limit_mb=4096 2>&1 | tail -n 3
done
