#!/usr/bin/env bash
# The GPU half of scripts/gpu-check.sh: run on the GPU machine from the repository
# root, with .gpu/ carried. Prints a short table last.
set -uo pipefail
gpu=$PWD/.gpu
out=${OUT:-$gpu/out}
mkdir -p "$out"
export GRAPH_IG_REPO=$PWD
export GRAPH_IG_DATA=$gpu/data/Mutagenicity/raw
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export GRAPH_IG_REQUIRE_NVRTC=1
declare -a rows
# Each row also goes to $out/table.txt at once, so a run stopped at its time limit
# still leaves the rows it finished.
: > "$out/table.txt"
row() { rows+=("$1"); echo "$1" >> "$out/table.txt"; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "no nvidia-smi"; } | tee "$out/gpu.txt"

for t in nvrtc_compile gpu_vs_cpu storage captum_fixtures method_fixtures; do
    [ -x "$gpu/bin/$t" ] || { row "test $t|MISSING|not built by gpu-check.sh"; continue; }
    if "$gpu/bin/$t" --nocapture > "$out/$t.log" 2>&1; then r=pass; else r=FAIL; fi
    grep -q "notice: skipping" "$out/$t.log" && r="$r (skips)"
    row "test $t|$r|$(grep -E '^test result' "$out/$t.log" | tail -1 | cut -c14-60)"
done
grep -q "on cuda:0" "$out/gpu_vs_cpu.log" && row "gpu tests ran on cuda:0|yes|" || row "gpu tests ran on cuda:0|NO|see gpu_vs_cpu.log"

sweep() {  # device, output, extra arguments
    local d=$1 o=$2
    shift 2
    "$gpu/bin/graph-ig" explain --data "$GRAPH_IG_DATA" --name Mutagenicity --device "$d" \
        --quiet --restart --out "$o" "$@" > "$o.log" 2>&1
}
if [ -e "$GRAPH_IG_DATA/Mutagenicity_A.txt" ]; then
    for d in cuda cpu; do
        if sweep $d "$out/sweep_$d.safetensors"; then
            t=$(grep -E "time:" "$out/sweep_$d.safetensors.log" | awk '{print $2}')
            gps=$(grep -E "graphs/second" "$out/sweep_$d.safetensors.log" | awk '{print $2}')
            dl=$(grep -E "largest" "$out/sweep_$d.safetensors.log" | awk '{print $3}')
            row "sweep 4337 graphs on $d|${t}s|${gps} graphs/s, max |delta| $dl"
        else
            row "sweep on $d|FAIL|$(tail -1 "$out/sweep_$d.safetensors.log")"
        fi
    done
    if python3 "$gpu/compare_outputs.py" "$out/sweep_cuda.safetensors" "$out/sweep_cpu.safetensors" > "$out/compare.log" 2>&1; then r=agree; else r=DISAGREE; fi
    row "cuda vs cpu sweep|$r|$(grep -m1 edge_attr "$out/compare.log" | cut -c1-60)"
fi

# Node tasks: every Cora node with the trained GCN and GAT, IG 50 steps, --wrt both
# (docs/performance.md's CPU case), on the GPU and on the CPU, compared.
cora=$gpu/data/Planetoid/Cora.safetensors
if [ -e "$cora" ]; then
    for m in cora_gcn cora_gat; do
        for d in cuda cpu; do
            o="$out/${m}_$d.safetensors"
            if "$gpu/bin/graph-ig" explain --data "$cora" --model "$gpu/models/$m.safetensors" \
                    --nodes all --wrt both --device "$d" --quiet --restart --out "$o" > "$o.log" 2>&1; then
                t=$(grep -E "time:" "$o.log" | awk '{print $2}')
                tps=$(grep -E "targets/second" "$o.log" | awk '{print $2}')
                row "$m 2708 nodes on $d|${t}s|${tps} targets/s"
            else
                row "$m nodes on $d|FAIL|$(tail -1 "$o.log")"
            fi
        done
        if python3 "$gpu/compare_outputs.py" "$out/${m}_cuda.safetensors" "$out/${m}_cpu.safetensors" > "$out/compare_$m.log" 2>&1; then r=agree; else r=DISAGREE; fi
        row "$m cuda vs cpu|$r|$(grep -m1 edge_attr "$out/compare_$m.log" | cut -c1-60)"
    done
fi

if "$gpu/bin/gpu" > "$out/bench_gpu.log" 2>&1; then
    # The short table shows all of Mutagenicity; the scaling rows are in bench_gpu.log.
    while read -r name graphs nodes edges steps width secs gps nsps; do
        row "bench $name|$(awk -v s="$secs" 'BEGIN{printf "%.2f ms", s*1000}')|${gps} graphs/s"
    done < <(grep -E "^cuda_.*mutagenicity" "$out/bench_gpu.log")
    grep -q -E "^cuda_" "$out/bench_gpu.log" || row "bench gpu|NO ROWS|$(head -1 "$out/bench_gpu.log" | cut -c1-60)"
else
    row "bench gpu|FAIL|see bench_gpu.log"
fi
# The peers on the GPU: captum's tutorial loop and batched PyTorch, with graph-ig in the same run.
python3 -m pip install --quiet --no-deps --target /tmp/site "$gpu"/wheels/captum-*.whl > "$out/pip.log" 2>&1
if PYTHONPATH=/tmp/site python3 "$gpu/bench_peers.py" --data "$GRAPH_IG_DATA" --bin "$gpu/bin/graph-ig" \
        --device cuda --captum-graphs 300 > "$out/bench_peers.log" 2>&1; then
    while IFS= read -r line; do row "peers: ${line:0:28}|$(echo "${line:28}" | awk '{print $1"s"}')|$(echo "${line:28}" | awk '{print $2" graphs/s, graph-ig "$3}')"; done \
        < <(grep -E "^(captum loop|batched|graph-ig)" "$out/bench_peers.log")
else
    row "bench_peers.py|FAIL|$(tail -1 "$out/bench_peers.log")"
fi

# Then the rest, in order of importance, in case the run meets its time limit.
if [ -e "$GRAPH_IG_DATA/Mutagenicity_A.txt" ]; then
    # The metrics of the IG sweep with their forward passes on the GPU and on the CPU.
    for d in cuda cpu; do
        "$gpu/bin/graph-ig" eval --attr "$out/sweep_cpu.safetensors" --data "$GRAPH_IG_DATA" \
            --name Mutagenicity --device $d --json "$out/eval_$d.json" > "$out/eval_$d.log" 2>&1
    done
    if python3 "$gpu/compare_json.py" "$out/eval_cuda.json" "$out/eval_cpu.json" > "$out/compare_eval.log" 2>&1; then r=agree; else r=DISAGREE; fi
    row "eval cuda vs cpu|$r|$(grep -E 'time:' "$out/eval_cuda.log" | awk '{print "cuda "$2"s"}'), $(grep -E 'time:' "$out/eval_cpu.log" | awk '{print "cpu "$2"s"}'); $(head -1 "$out/compare_eval.log" | cut -c1-40)"
    # The other methods on all 4337 graphs: the GPU's file against the CPU's.
    for m in saliency smoothgrad vargrad grad-cam contrastive-gradient eb c-eb; do
        floor=1e-5; case $m in eb|c-eb) floor=1;; esac
        for d in cuda cpu; do sweep $d "$out/m_${m}_$d.safetensors" --method $m || true; done
        t=$(grep -E "time:" "$out/m_${m}_cuda.safetensors.log" | awk '{print $2}')
        if python3 "$gpu/compare_outputs.py" "$out/m_${m}_cuda.safetensors" "$out/m_${m}_cpu.safetensors" \
                --floor $floor > "$out/compare_$m.log" 2>&1; then r=agree; else r=DISAGREE; fi
        row "$m cuda vs cpu|$r|cuda ${t}s; $(grep -m1 -E 'worst' "$out/compare_$m.log" | cut -c1-50)"
    done
fi

# Nsight Compute on the first launch of the fused kernel (all of Mutagenicity), where ncu
# works on this machine (it needs the hardware counters; bounded in time).
ncu_bin=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
if [ -n "$ncu_bin" ] && [ -e "$GRAPH_IG_DATA/Mutagenicity_A.txt" ]; then
    timeout 120 "$ncu_bin" --kernel-name fused_ig --launch-count 1 --section SpeedOfLight \
        --section Occupancy --section LaunchStats --csv --page details \
        "$gpu/bin/graph-ig" explain --data "$GRAPH_IG_DATA" --name Mutagenicity --device cuda \
        --quiet --restart --out "$out/ncu.safetensors" > "$out/ncu.csv" 2> "$out/ncu.log"
    if r=$(python3 - "$out/ncu.csv" 2>> "$out/ncu.log" <<'PY'
import csv, sys
lines = open(sys.argv[1]).read().splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith('"ID"'))
want = {"Duration": "time", "Compute (SM) Throughput": "SM", "Memory Throughput": "mem",
        "Achieved Occupancy": "occupancy", "Registers Per Thread": "regs"}
got = {}
for row in csv.DictReader(lines[start:]):
    if row["Metric Name"] in want and want[row["Metric Name"]] not in got:
        got[want[row["Metric Name"]]] = f'{row["Metric Value"]} {row["Metric Unit"]}'.strip()
print(", ".join(f"{k} {v}" for k, v in got.items()))
PY
); then row "ncu fused_ig|ok|$r"; else row "ncu fused_ig|FAIL|see ncu.log"; fi
else
    row "ncu|not found|"
fi

echo
echo "== graph-ig GPU check"
printf '%-32s %-10s %s\n' "check" "result" "detail"
for r in "${rows[@]}"; do IFS='|' read -r a b c <<< "$r"; printf '%-32s %-10s %s\n' "$a" "$b" "$c"; done
