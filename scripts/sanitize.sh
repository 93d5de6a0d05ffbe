#!/usr/bin/env bash
# Sanitizer mode: compiles the sanitizer library (the kernels rewritten with checked
# pointers by build.rs, with memcheck, racecheck, initcheck and synccheck on every
# kernel access and barrier, and the blocks in a random order, several at a time;
# docs/sanitizer.md) and runs interpret-mode tests with it (GRAPH_IG_SANITIZE names
# it). The tests are the ordinary build of `cargo test --features cpu-ref`: nothing
# is compiled twice. Prints each finding and exits non-zero on any finding, any
# failing test, or (for the default set and --all) any kernel of kernels/*.cu that no
# test launched.
#
#   bash scripts/sanitize.sh             the CI set (below): every kernel, in about 2 minutes
#   bash scripts/sanitize.sh --all       every test of every test file that uses interpret mode
#   bash scripts/sanitize.sh TEST...     whole test files (file stems of tests/)
#
#   GRAPH_IG_SANITIZE_SEED    the block-order seed (default: random, printed)
#   GRAPH_IG_SANITIZE_BLOCKS  blocks run at a time (default 3)
#   SANITIZE_JOBS             build jobs (default 2)
#   CXX                       the C++ compiler (default c++)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# The CI set: a test file, then what cargo test passes to it (filters, --skip). Left
# out for time, and run by --all: gpu_zoo's trained models on Mutagenicity and
# node_cli's Cora targets (about two minutes in this mode, on 2 cores); their kernels
# run in the tests below too (the coverage check says so).
ci_set=(
    "sanitizer"
    "gpu_vs_cpu"
    "gpu_zoo --skip trained_zoo_models_match_the_cpu_on_mutagenicity"
    "storage"
    "zoo_cli"
    "masked_forward"
    "metrics metrics_on_the_gpu_path_match_the_cpu"
    "shards two_interpret_devices_give_the_bits_of_one"
)

jobs="${SANITIZE_JOBS:-2}"
log="target/sanitize.log"
coverage="target/sanitize-coverage.txt"
mkdir -p target
: > "$log"
rm -f "$coverage"

check_coverage=1
if [ $# -eq 0 ]; then
    specs=("${ci_set[@]}")
elif [ "$1" = --all ]; then
    mapfile -t specs < <(grep -lE 'Device::Interpret|InterpretGpu|"interpret"' tests/*.rs |
        xargs -n1 basename | sed 's/\.rs$//' | grep -vx sanitize_rewrite | sort)
else
    specs=("$@")
    check_coverage=0
fi
files=()
for s in "${specs[@]}"; do files+=("${s%% *}"); done
echo "== scripts/sanitize.sh: ${files[*]}"
echo "== building (cargo test --features cpu-ref --no-run, then the sanitizer library)"
start=$SECONDS
targets=()
for t in "${files[@]}"; do targets+=(--test "$t"); done
if ! cargo test -j "$jobs" --features cpu-ref --no-run --message-format=json "${targets[@]}" \
        > target/sanitize-build.json 2>> "$log"; then
    tail -n 60 "$log"
    echo "sanitize: the build failed (log: $log)"
    exit 1
fi
# build.rs wrote the library's sources into graph-ig's OUT_DIR/sanitize.
src="$(python3 -c '
import json, sys
dirs = set()
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "build-script-executed" and "graph-ig" in m.get("package_id", ""):
        dirs.add(m["out_dir"])
print("\n".join(sorted(dirs)))' target/sanitize-build.json)/sanitize"
if [ ! -f "$src/HASH" ]; then
    echo "sanitize: no sanitizer sources in $src (is the feature interpret on?)"
    exit 1
fi
lib="$src/libgraph_ig_sanitize.so"
if [ ! -f "$lib" ] || ! cmp -s "$src/HASH" "$src/lib.hash"; then
    cxx="${CXX:-c++}"
    mkdir -p "$src/obj"
    export cxx src
    if ! ls "$src"/sanitize_*.cpp | xargs -P "$jobs" -I{} sh -c \
            '"$cxx" -std=c++20 -O2 -g0 -fPIC -pthread -fvisibility=hidden -fvisibility-inlines-hidden \
                -Wall -Wextra -Wno-unused-parameter -I kernels -c "$1" -o "$src/obj/$(basename "$1" .cpp).o"' _ {} \
            >> "$log" 2>&1 ||
        ! "$cxx" -shared -pthread -Wl,-Bsymbolic -o "$lib" "$src"/obj/sanitize_*.o >> "$log" 2>&1; then
        tail -n 60 "$log"
        echo "sanitize: the sanitizer library does not compile (log: $log)"
        exit 1
    fi
    cp "$src/HASH" "$src/lib.hash"
fi
echo "   built ($((SECONDS - start)) s): $lib"
export GRAPH_IG_SANITIZE="$lib"

failed=()
for s in "${specs[@]}"; do
    read -r -a words <<< "$s"
    t="${words[0]}"
    extra=("${words[@]:1}")
    echo "== $s"
    start=$SECONDS
    # tests/sanitizer.rs plants bugs on purpose: its findings stay captured (a test that
    # fails shows them). Every other test prints whatever it finds (--nocapture).
    capture=(--nocapture)
    [ "$t" = sanitizer ] && capture=()
    if GRAPH_IG_SANITIZE_COVERAGE="$PWD/$coverage" \
        cargo test -j "$jobs" --features cpu-ref --test "$t" -- "${capture[@]}" \
        ${extra[@]+"${extra[@]}"} >> "$log" 2>&1; then
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
# Every kernel must have run at least once (tests/sanitizer.rs's own kernels aside).
missing=""
if [ "$check_coverage" = 1 ]; then
    missing="$(comm -23 \
        <(grep -ohE 'GI_KERNEL void [A-Za-z0-9_]+' kernels/*.cu | awk '{print $3}' | sort -u) \
        <(sort -u "$coverage" 2>/dev/null || true))"
    if [ -n "$missing" ]; then
        echo "== kernels that no test launched (add a test that runs them in interpret mode):"
        printf '   %s\n' $missing
    else
        echo "== every kernel of kernels/*.cu ran ($(grep -ohE 'GI_KERNEL void [A-Za-z0-9_]+' kernels/*.cu | sort -u | wc -l) kernels)"
    fi
fi
if [ -n "$findings" ] || [ ${#failed[@]} -gt 0 ] || [ -n "$missing" ]; then
    echo "sanitize: $(printf '%s\n' "$findings" | grep -c . || true) distinct finding(s), ${#failed[@]} failing test file(s), $(printf '%s\n' $missing | grep -c . || true) kernel(s) not run"
    exit 1
fi
echo "sanitize: no findings"
