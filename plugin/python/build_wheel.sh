#!/usr/bin/env bash
# Builds the `atomvae` wheel (one py3-none-<platform> wheel for every CPython ≥ 3.10)
# into DIR (default: target/wheels): maturin with cffi bindings over the cdylib built
# with the `wheel` feature (static HDF5, relative rpath to torch/lib). The cffi
# declarations come from include/atomvae.h, reduced by atomvae/_header.py.
#   bash plugin/python/build_wheel.sh [DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
. "$root/scripts/env.sh"
out="${1:-$CARGO_TARGET_DIR/wheels}"
mkdir -p "$CARGO_TARGET_DIR" "$out"
# maturin takes the declarations from <target dir>/header.h when it exists.
python - "$root/plugin/python/atomvae/_header.py" "$root/include/atomvae.h" "$CARGO_TARGET_DIR/header.h" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("atomvae_header", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with open(sys.argv[2], encoding="utf-8") as header, open(sys.argv[3], "w", encoding="utf-8") as out:
    out.write(module.cdef_from_header(header.read()))
PY
rm -f "$out"/atomvae-*.whl
cd "$root/plugin/python"
# On Linux the library needs glibc 2.35 symbols (built on Debian 12): tag it so.
platform=()
[ "$(uname -s)" = Linux ] && platform=(--compatibility manylinux_2_35)
maturin build --release --locked --interpreter python "${platform[@]}" --out "$out" >&2
ls "$out"/atomvae-*.whl
