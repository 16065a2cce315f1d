#!/usr/bin/env bash
# The main job on a fresh machine: set-up (cached), release build, `atomvae demo`.
# Extra arguments go to `atomvae demo` (e.g. --out-dir DIR, --seed N).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cargo build --release --locked --bin atomvae
"$CARGO_TARGET_DIR/release/atomvae" demo "$@"
