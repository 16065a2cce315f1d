# Source this file (`. scripts/env.sh`) to get the build environment of atomvae:
# runs the cached set-up (seconds once done) and exports PATH/LIBTORCH_USE_PYTORCH.
_atomvae_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$(bash "$_atomvae_root/scripts/setup.sh" --print-env)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$_atomvae_root/target}"
unset _atomvae_root
