# Sourced by the hack/ scripts: where expensive things are cached, outside the clone, so a second run
# (and CI on the same machine) is fast. Override any of these in the environment.
export KUBEFED_CACHE="${KUBEFED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubefed-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KUBEFED_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
