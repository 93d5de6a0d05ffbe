#!/usr/bin/env bash
# Scaling figures of sharded sweeps on this machine (docs/performance.md, "Shards"):
# the same work as one process with one thread, two concurrent shards with one thread
# each, and one process with two threads; the per-shard overhead; merge time against
# the number of shards. All in one run, on the CPU path, with the release binary.
#
#   bash scripts/scaling.sh            (from the repository root)
#
# SCALING_STEPS (default 50) and SCALING_GRAPHS (default 0..4337: all of Mutagenicity).
set -euo pipefail
cd "$(dirname "$0")/.."
data="$PWD/../shared/data/Mutagenicity/raw"
steps="${SCALING_STEPS:-50}"
graphs="${SCALING_GRAPHS:-0..4337}"
cargo build --release --quiet
bin="$PWD/target/release/graph-ig"
work="$(mktemp -d /tmp/graph-ig-scaling.XXXXXX)"
trap 'rm -rf "$work"' EXIT
run=("$bin" explain --data "$data" --name Mutagenicity --device cpu --quiet)

now() { date +%s.%N; }
since() { echo "$(now) $1" | awk '{printf "%.2f", $1 - $2}'; }

echo "machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "work: IG, $steps steps, --wrt edges, Mutagenicity graphs $graphs, CPU path"
echo

t=$(now)
RAYON_NUM_THREADS=1 "${run[@]}" --graphs "$graphs" --steps "$steps" --out "$work/one.safetensors" >/dev/null
one=$(since "$t")
echo "one process, 1 thread:                  $one s"

t=$(now)
for k in 0 1; do
    RAYON_NUM_THREADS=1 "${run[@]}" --graphs "$graphs" --steps "$steps" --shard "$k/2" \
        --out "$work/two/run.safetensors" >/dev/null 2>&1 &
done
wait
two=$(since "$t")
t=$(now)
"$bin" merge "$work/two" --out "$work/two.safetensors" >/dev/null
merge2=$(since "$t")
cmp -s "$work/two.safetensors" "$work/one.safetensors" && same=identical || same=DIFFERENT
echo "two concurrent shards, 1 thread each:   $two s (+ merge $merge2 s; merged file $same to the one-process file)"

t=$(now)
RAYON_NUM_THREADS=2 "${run[@]}" --graphs "$graphs" --steps "$steps" --out "$work/threads.safetensors" >/dev/null
threads=$(since "$t")
echo "one process, 2 threads:                 $threads s"

# Per-shard overhead: start, read the dataset and the model, write a 1-graph output.
t=$(now)
for i in 1 2 3 4 5; do
    RAYON_NUM_THREADS=1 "${run[@]}" --graphs 0..1 --steps "$steps" --out "$work/o$i.safetensors" >/dev/null
done
overhead=$(echo "$(since "$t")" | awk '{printf "%.3f", $1 / 5}')
echo "per-shard overhead (1-graph run):       $overhead s"
echo

# Merge time against the number of shards (saliency: cheap shards, the same output size per graph).
echo "merge of the whole dataset's saliency output:"
echo "shards  merge s  output MB"
for n in 2 8 32 128; do
    d="$work/m$n"
    for ((k = 0; k < n; k++)); do
        RAYON_NUM_THREADS=1 "${run[@]}" --graphs "$graphs" --method saliency --shard "$k/$n" \
            --out "$d/run.safetensors" >/dev/null 2>&1 &
        if (( (k + 1) % 2 == 0 )); then wait; fi
    done
    wait
    t=$(now)
    "$bin" merge "$d" --out "$d.safetensors" >/dev/null
    m=$(since "$t")
    mb=$(stat -c %s "$d.safetensors" | awk '{printf "%.1f", $1 / 1e6}')
    printf "%6d  %7s  %9s\n" "$n" "$m" "$mb"
done
