#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 30): `hack/fuzz.sh`, `hack/fuzz.sh 3600`,
# `hack/fuzz.sh 60 policy_eval` (only some targets). Fails on the first crash, printing the reproducer and how
# to turn it into a regression test (docs/fuzzing.md).
#
# Needs the nightly toolchain (installed with the minimal profile if missing) and cargo-fuzz (installed, pinned,
# if missing). Fuzz builds go to their own target dir, $KUBEFED_CACHE/target-fuzz-nightly: libFuzzer's
# instrumented nightly builds share nothing with the normal ones. What libFuzzer learns (new inputs) is kept in
# $KUBEFED_CACHE/fuzz/corpus/<target>, so later runs start where earlier ones stopped; the committed seeds
# (fuzz/corpus) and regressions (fuzz/regressions) are read, never written.
#
# Environment: FUZZ_TOOLCHAIN (default nightly), FUZZ_SANITIZER (default none: the product is safe Rust, so
# what fuzzing finds is panics, which need no sanitizer; `address` for ASan, slower), FUZZ_JOBS (libFuzzer
# workers per target, default 1), FUZZ_TARGET_DIR (default $KUBEFED_CACHE/target-fuzz-nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/env.sh

CARGO_FUZZ_VERSION=0.13.2
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
sanitizer="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-1}"
duration="${1:-30}"
shift || true
if ! [[ "$duration" =~ ^[0-9]+$ ]] || [ "$duration" -lt 1 ]; then
  echo "usage: hack/fuzz.sh [SECONDS] [TARGET...]  (SECONDS per target, a positive integer; got ${duration@Q})" >&2
  exit 2
fi
all_targets=(manifest_convert override_apply admission_review policy_eval yaml_differential yaml_emit_differential)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
    echo "no fuzz target $t; the targets are: ${all_targets[*]}" >&2
    exit 2
  fi
done

start=$SECONDS
# cargo-fuzz, pinned. Installed outside every project target dir (cargo install would otherwise build in
# $CARGO_TARGET_DIR and leave its artifacts there).
if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION (once; a few minutes)"
  env -u CARGO_TARGET_DIR cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
# libFuzzer instrumentation needs nightly rustc flags.
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "== installing the $toolchain toolchain (minimal profile)"
  if ! rustup toolchain install "$toolchain" --profile minimal; then
    echo "cannot install the $toolchain toolchain (above: rustup's reason); cargo fuzz needs it. Install it by hand" \
      "(rustup toolchain install $toolchain --profile minimal) or set FUZZ_TOOLCHAIN to an installed nightly." >&2
    exit 1
  fi
fi

# Never the stable target dir env.sh exports: nightly instrumented builds would evict its artifacts.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$KUBEFED_CACHE/target-fuzz-nightly}"
# A first build needs about 2 GB; refuse to start one on a nearly full disk rather than fail half-way.
mkdir -p "$KUBEFED_CACHE"
free_kb=$(df -Pk "$KUBEFED_CACHE" | awk 'NR == 2 { print $4 }')
if [ ! -d "$CARGO_TARGET_DIR" ] && [ "${free_kb:-0}" -lt $((3 * 1024 * 1024)) ]; then
  echo "only $((free_kb / 1024)) MiB free under $KUBEFED_CACHE; the first fuzz build needs about 3 GB. Free some" \
    "space (e.g. old target dirs there) and run again." >&2
  exit 1
fi

work="$KUBEFED_CACHE/fuzz"
flags=(--sanitizer "$sanitizer" --debug-assertions)
echo "== cargo +$toolchain fuzz build (sanitizer $sanitizer, debug assertions; target dir $CARGO_TARGET_DIR)"
build_start=$SECONDS
# One build for every target (they share their dependencies); cargo's per-crate lines are noise here.
if ! (cd fuzz && cargo "+$toolchain" fuzz build "${flags[@]}" 2>&1) | { grep -v '^ *Compiling ' || true; }; then
  echo "the fuzz build failed (above)" >&2
  exit 1
fi
echo "== fuzz build took $((SECONDS - build_start))s"

summary=()
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t"
  artifacts="$work/artifacts/$t"
  log="$work/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$work/logs" "fuzz/regressions/$t"
  echo "== fuzzing $t for ${duration}s"
  before=$(find "$artifacts" -type f | wc -l)
  status=0
  # The first corpus dir receives what libFuzzer finds; the committed seeds and regressions are only read.
  (cd fuzz && cargo "+$toolchain" fuzz run "${flags[@]}" "$t" "$corpus" "corpus/$t" "regressions/$t" -- \
    -max_total_time="$duration" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -jobs="$jobs" -workers="$jobs" -artifact_prefix="$artifacts/") >"$log" 2>&1 || status=$?
  execs=$(awk '/stat::number_of_executed_units/ { s += $NF } END { print s + 0 }' "$log")
  rate=$(awk '/stat::average_exec_per_sec/ { s += $NF } END { print s + 0 }' "$log")
  after=$(find "$artifacts" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
    tail -n 60 "$log" >&2
    reproducer=$(ls -t "$artifacts"/* 2>/dev/null | head -n 1 || true)
    echo >&2
    echo "FUZZ FAILURE in $t (exit $status). Full log: $log" >&2
    if [ -n "$reproducer" ]; then
      echo "reproducer: $reproducer" >&2
      echo "replay it:  (cd fuzz && cargo +$toolchain fuzz run ${flags[*]} $t $reproducer)" >&2
      echo "or on stable, once copied: cp $reproducer fuzz/regressions/$t/<what-it-is>" \
        "&& cargo test -p $([ "$t" = admission_review ] && echo kubefed-webhook || echo kubefed-core) --test fuzz_regressions" >&2
    fi
    exit 1
  fi
  summary+=("$(printf '%-18s %10s execs %8s exec/s  corpus %s inputs' "$t" "$execs" "$rate" "$(find "$corpus" -type f | wc -l)")")
done
echo "== fuzzing finished in $((SECONDS - start))s, no crashes:"
printf '   %s\n' "${summary[@]}"
