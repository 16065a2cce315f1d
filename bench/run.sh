#!/usr/bin/env bash
# Runs one benchmark (or all) and writes bench/results/<name>.json.
# Usage: bash bench/run.sh [sim|segment|analyze|rerun|rvae|order|species ...]  (default: all)
# The segment benchmark runs the peer (AtomAI) from $ATOMAI_PYTHON (default
# /opt/venvs/atomai/bin/python; set it up as ../shared/anchors/README.md says).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(sim segment analyze rerun rvae order species)
cargo build --release --locked --bin atomvae
for name in "${names[@]}"; do
  cargo bench --locked --bench "$name"
done
