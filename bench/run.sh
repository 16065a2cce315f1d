#!/usr/bin/env bash
# Runs one benchmark (or all) and writes bench/results/<name>.json.
# Usage: bash bench/run.sh [sim]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
for name in "${@:-sim}"; do
  cargo bench --locked --bench "$name"
done
