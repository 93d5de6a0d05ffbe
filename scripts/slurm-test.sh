#!/usr/bin/env bash
# A sharded sweep on a real (single-node) SLURM cluster, checked against one unsharded run.
#
#   bash scripts/slurm-test.sh        (from the repository root; run by .ci/run)
#
# 1. Starts the cluster of ../shared/docs/slurm-local.sh (installing its Debian packages
#    when missing) unless one is already up.
# 2. Runs `graph-ig explain` on Mutagenicity once, unsharded, outside SLURM.
# 3. Submits `sbatch --array=0-3` of the same command with `--shards 4`: each array task
#    takes its shard from SLURM_ARRAY_TASK_ID. Waits, merges the four shard files, and
#    requires the merged file to be the unsharded file, byte for byte.
# 4. Preemption: submits the array again into a fresh folder, `scancel`s task 2 once its
#    first chunk is on disk, resubmits task 2 alone (`sbatch --array=2`), and requires
#    that the task resumed (its log says so), that nothing was lost or written twice (the
#    merge is again byte-identical to the unsharded file) and that the cancelled task left
#    no output but its finished chunks.
# 5. Stops the daemons it started.
#
# Settings (environment): GRAPH_IG_BIN (default target/debug/graph-ig, as `cargo test`
# builds it with the test profile's optimisation; built so when missing),
# SLURM_TEST_GRAPHS (default 0..4337, all of Mutagenicity), SLURM_TEST_STEPS (default 64),
# SLURM_TEST_TIMEOUT (seconds per wait, default 300), SLURM_TEST_KEEP=1 keeps the work folder.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
S="$root/../shared/docs/slurm-local.sh"
data="$root/../shared/data/Mutagenicity/raw"
graphs="${SLURM_TEST_GRAPHS:-0..4337}"
steps="${SLURM_TEST_STEPS:-64}"
timeout="${SLURM_TEST_TIMEOUT:-300}"
bin="${GRAPH_IG_BIN:-$root/target/debug/graph-ig}"

fail() {
    echo "slurm-test: FAILED: $*" >&2
    exit 1
}
[ -f "$S" ] || fail "$S is missing (../shared must sit beside the checkout)"
[ -f "$data/Mutagenicity_A.txt" ] || fail "Mutagenicity is missing at $data"
if [ ! -x "$bin" ]; then
    echo "== building $bin (cargo build --profile test: optimised, as cargo test builds it)"
    cargo build --quiet --profile test --bin graph-ig
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

work="$(mktemp -d /tmp/graph-ig-slurm.XXXXXX)"
started=0
cleanup() {
    status=$?
    if [ "$started" = 1 ]; then
        bash "$S" stop >/dev/null 2>&1 || true
    fi
    if [ "$status" != 0 ]; then
        echo "slurm-test: logs in $work" >&2
        for f in "$work"/*.log; do
            [ -f "$f" ] && { echo "---- $f"; tail -n 20 "$f"; } >&2
        done
    elif [ "${SLURM_TEST_KEEP:-}" != 1 ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

t0=$(date +%s.%N)
elapsed() { echo "$(date +%s.%N) $t0" | awk '{printf "%.1f s", $1 - $2}'; }

if bash "$S" status >/dev/null 2>&1; then
    echo "== a SLURM cluster is already up; using it (and leaving it up)"
else
    echo "== starting the single-node SLURM cluster ($S start)"
    started=1
    bash "$S" start >"$work/slurm-start.log" 2>&1 || fail "slurm-local.sh start failed"
fi
eval "$(bash "$S" env)"
export SLURM_CONF
sinfo -h >/dev/null || fail "sinfo cannot reach the controller"

# The command every run uses; only the shard differs. One thread per task, as SLURM
# gives each task one CPU.
cmd=("$bin" explain --data "$data" --name Mutagenicity --graphs "$graphs" --steps "$steps"
    --device cpu --quiet)
wrap() { # folder -> the sbatch --wrap text of one array task
    printf 'export RAYON_NUM_THREADS=1; exec'
    printf ' %q' "${cmd[@]}" --shards 4 --out "$1/run.safetensors"
}

# Waits until job (or job_task) $1 has left the queue.
wait_job() {
    local waited=0
    while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
        sleep 0.5
        waited=$((waited + 1))
        [ "$waited" -lt $((timeout * 2)) ] || { squeue; fail "job $1 still queued after ${timeout} s"; }
    done
}

echo "== one unsharded run ($graphs, $steps steps)"
RAYON_NUM_THREADS=2 "${cmd[@]}" --out "$work/full.safetensors" >"$work/full.log" 2>&1 \
    || fail "the unsharded run failed"
echo "   $(grep -E 'graphs/second' "$work/full.log" | tr -s ' ') ($(elapsed))"

echo "== case 1: sbatch --array=0-3, merge, compare"
job=$(sbatch --parsable --array=0-3 --output="$work/a_%a.log" --wrap "$(wrap "$work/a")")
wait_job "$job"
for k in 0 1 2 3; do
    [ -f "$work/a/run.shard-$k-of-4.safetensors" ] \
        || fail "array task $k wrote no shard (log $work/a_$k.log)"
    grep -q "SLURM_ARRAY_TASK_ID=$k of --shards 4" "$work/a_$k.log" \
        || fail "array task $k did not say which shard it took"
done
"$bin" merge "$work/a" --out "$work/a.safetensors" >"$work/merge-a.log"
cmp "$work/a.safetensors" "$work/full.safetensors" \
    || fail "the merged shards differ from the unsharded run"
echo "   4 shards merged: identical to the unsharded run, byte for byte ($(elapsed))"

echo "== case 2: scancel array task 2 mid-way, resubmit it, merge, compare"
job=$(sbatch --parsable --array=0-3 --output="$work/b_%a.log" --wrap "$(wrap "$work/b")")
partial="$work/b/run.shard-2-of-4.safetensors.partial"
waited=0
until compgen -G "$partial/chunk-*.safetensors" >/dev/null; do
    sleep 0.1
    waited=$((waited + 1))
    [ -f "$work/b/run.shard-2-of-4.safetensors" ] \
        && fail "task 2 finished before it could be cancelled: raise SLURM_TEST_STEPS"
    [ "$waited" -lt $((timeout * 10)) ] || fail "task 2 wrote no chunk in ${timeout} s"
done
scancel "${job}_2"
wait_job "${job}_2"
[ -f "$work/b/run.shard-2-of-4.safetensors" ] \
    && fail "task 2 finished before the cancel reached it: raise SLURM_TEST_STEPS"
kept=$(compgen -G "$partial/chunk-*.safetensors" | wc -l)
[ "$kept" -ge 1 ] || fail "the cancelled task kept no chunks"
grep -q "SIGTERM" "$work/b_2.log" || fail "the cancelled task did not report SIGTERM"
echo "   cancelled task 2 kept $kept finished chunk(s) in $(basename "$partial")"
wait_job "$job"
again=$(sbatch --parsable --array=2 --output="$work/b_2_again.log" --wrap "$(wrap "$work/b")")
wait_job "$again"
resumed=$(grep -E "resumed: +[0-9]+ graphs" "$work/b_2_again.log" || true)
[ -n "$resumed" ] || fail "the resubmitted task 2 did not resume (log $work/b_2_again.log)"
[ ! -e "$partial" ] || fail "the resubmitted task left its partial folder"
"$bin" merge "$work/b" --out "$work/b.safetensors" >"$work/merge-b.log"
cmp "$work/b.safetensors" "$work/full.safetensors" \
    || fail "after the cancel and the resubmission, the merge differs from the unsharded run"
echo "   resubmitted task 2:$(echo "$resumed" | tr -s ' ' | sed 's/^ *resumed://')"
echo "   merged: identical to the unsharded run, byte for byte ($(elapsed))"
echo "slurm-test: passed ($(elapsed))"
