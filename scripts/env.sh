# Source this file (`. scripts/env.sh`) to get the build environment of atomvae:
# runs the cached set-up (seconds once done) and exports PATH/LIBTORCH_USE_PYTORCH.
# Under CI the cargo target folder also lives in the cache, so a second CI run on a
# fresh clone reuses the compiled libtorch bindings.
_atomvae_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$(bash "$_atomvae_root/scripts/setup.sh" --print-env)"
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ "${CI:-}" = "true" ]; then
    export CARGO_TARGET_DIR="$ATOMVAE_CACHE/target-ci"
  else
    export CARGO_TARGET_DIR="$_atomvae_root/target"
  fi
fi
unset _atomvae_root
