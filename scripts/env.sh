# Source this file (`. scripts/env.sh`) to get the build environment of atomvae:
# runs the cached set-up (seconds once done) and exports PATH/LIBTORCH_USE_PYTORCH.
# Under CI the cargo target folder also lives in the cache, so a second CI run on a
# fresh clone reuses the compiled libtorch bindings.
_atomvae_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A failed set-up stops here with its own message, not later with a missing variable.
if ! _atomvae_env="$(bash "$_atomvae_root/scripts/setup.sh" --print-env)"; then
  echo "[env] the set-up (scripts/setup.sh) failed; see its messages above" >&2
  unset _atomvae_root _atomvae_env
  return 1 2>/dev/null || exit 1
fi
eval "$_atomvae_env"
unset _atomvae_env
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ "${CI:-}" = "true" ]; then
    export CARGO_TARGET_DIR="$ATOMVAE_CACHE/target-ci"
  else
    export CARGO_TARGET_DIR="$_atomvae_root/target"
  fi
fi
unset _atomvae_root
