#!/usr/bin/env bash
# Sanitizer mode: builds interpret mode with the cargo feature `sanitize` (memcheck,
# racecheck, initcheck and synccheck on every kernel access and barrier; blocks in a
# random order, several at a time) and runs every interpret-mode test with it: the
# test files that use Device::Interpret or InterpretGpu, tests/sanitizer.rs included.
# Prints each finding and exits non-zero on any finding or failing test.
#
#   bash scripts/sanitize.sh [TEST...]   (TEST: a file stem of tests/; default: all of them)
#
#   GRAPH_IG_SANITIZE_SEED    the block-order seed (default: random, printed)
#   GRAPH_IG_SANITIZE_BLOCKS  blocks run at a time (default 3)
#   SANITIZE_JOBS             cargo build jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

jobs="${SANITIZE_JOBS:-2}"
log="target/sanitize.log"
mkdir -p target
: > "$log"

if [ $# -gt 0 ]; then
    tests=("$@")
else
    mapfile -t tests < <(grep -lE 'Device::Interpret|InterpretGpu' tests/*.rs | xargs -n1 basename | sed 's/\.rs$//' | sort)
fi
echo "== scripts/sanitize.sh: ${tests[*]}"
echo "== building (cargo test --features cpu-ref,sanitize --no-run)"
targets=()
for t in "${tests[@]}"; do targets+=(--test "$t"); done
if ! cargo test -j "$jobs" --features cpu-ref,sanitize --no-run "${targets[@]}" >> "$log" 2>&1; then
    tail -n 60 "$log"
    echo "sanitize: the sanitizer build failed (log: $log)"
    exit 1
fi

failed=()
for t in "${tests[@]}"; do
    echo "== $t"
    start=$SECONDS
    # tests/sanitizer.rs plants bugs on purpose: its findings stay captured (a test that
    # fails shows them). Every other test prints whatever it finds (--nocapture).
    capture=(--nocapture)
    [ "$t" = sanitizer ] && capture=()
    if cargo test -j "$jobs" --features cpu-ref,sanitize --test "$t" -- "${capture[@]}" >> "$log" 2>&1; then
        echo "   ok ($((SECONDS - start)) s)"
    else
        echo "   FAILED ($((SECONDS - start)) s)"
        failed+=("$t")
    fi
done

grep -m1 'graph-ig sanitizer: blocks run' "$log" || true
findings="$(grep -E '^graph-ig sanitizer: (memcheck|racecheck|initcheck|synccheck):' "$log" | sort -u || true)"
if [ -n "$findings" ]; then
    # Three of each check and kernel; the log has them all.
    echo "== findings"
    printf '%s\n' "$findings" | awk '
        { match($0, /^graph-ig sanitizer: [a-z]+: kernel [A-Za-z0-9_]+/); key = substr($0, 1, RLENGTH)
          if (++seen[key] <= 3) print; else more[key]++ }
        END { for (k in more) printf "%s: %d more like these\n", k, more[k] }'
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "== failed tests (log: $log)"
    grep -E "^---- |panicked at|^test .* FAILED" "$log" | head -n 40
fi
if [ -n "$findings" ] || [ ${#failed[@]} -gt 0 ]; then
    echo "sanitize: $(printf '%s\n' "$findings" | grep -c . || true) distinct finding(s), ${#failed[@]} failing test file(s)"
    exit 1
fi
echo "sanitize: no findings"
