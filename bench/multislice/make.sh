#!/usr/bin/env bash
# Makes (once; cached outside the clone) the multislice dev sets of issue 14 §1 and
# prints their paths: abTEM/ase in their own virtual environment (pinned in
# requirements.txt), `careful` (12 structures, aberrated probes, 80–200 mrad, source
# size, cleaned edges) and `naive` (6 structures, a first try with abTEM). About
# 25 min on 2 cores the first time; instant afterwards.
# Usage: bash bench/multislice/make.sh   (set ATOMVAE_CACHE to move the cache)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${ATOMVAE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/atomvae}"
venv="$cache/venv-abtem"
out="$cache/multislice"
stamp="$venv/.atomvae-requirements"
if ! { [ -f "$stamp" ] && cmp -s "$stamp" "$here/requirements.txt"; }; then
  echo "[multislice] installing abTEM into $venv" >&2
  [ -x "$venv/bin/python" ] || "${ATOMVAE_PYTHON:-python3.11}" -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$stamp"
fi
mkdir -p "$out"
# The file names carry the generator's hash, so a changed generator makes new sets.
version="$(sha256sum "$here/make_devset.py" | cut -c1-10)"
careful="$out/devset-careful-$version.h5"
naive="$out/devset-naive-$version.h5"
[ -f "$careful" ] || "$venv/bin/python" "$here/make_devset.py" "$careful" --structures 12 --seed 0 >&2
[ -f "$naive" ] || "$venv/bin/python" "$here/make_devset.py" "$naive" --structures 6 --seed 1 --naive >&2
echo "$careful"
echo "$naive"
