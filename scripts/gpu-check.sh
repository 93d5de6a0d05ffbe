#!/usr/bin/env bash
# GPU check, in two halves.
#
#   scripts/gpu-check.sh            prepare, on this (network-connected) machine:
#     - installs the pinned nvcc/ptxas 13.0 wheels (target/cuda-wheels),
#     - builds graph-ig with nvcc-compiled PTX and the GPU test executables,
#     - writes ptxas -v register/spill reports for sm_90 (no GPU needed),
#     - copies binaries, reports, the Mutagenicity files and run.sh into .gpu/.
#   bash .gpu/run.sh                on the GPU machine (device tool, carry [".gpu"]):
#     - runs every GPU test against the CPU reference,
#     - sweeps all of Mutagenicity on the GPU and on the CPU, compares them,
#     - prints a short table last. Logs go to $OUT (or .gpu/out).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
data=${GRAPH_IG_DATA:-$root/../shared/data/Mutagenicity/raw}
wheels=$root/target/cuda-wheels
gpu=$root/.gpu

if [ ! -x "$wheels/nvidia/cu13/bin/nvcc" ]; then
    echo "== installing nvcc/ptxas 13.0 wheels (one pip command; the versions are pinned)"
    python3 -m pip install --quiet --disable-pip-version-check --target "$wheels" \
        "nvidia-cuda-nvcc==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-crt==13.0.*" \
        "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cccl==13.0.*" "nvidia-cuda-nvrtc==13.0.*"
fi
export CUDA_HOME=$wheels/nvidia/cu13
export GRAPH_IG_NVCC=require
target=$root/target/gpu-build

echo "== building graph-ig with nvcc PTX"
cargo build --release --features cuda,cpu-ref --target-dir "$target" --bin graph-ig
tests_json=$(cargo test --release --features cuda,cpu-ref --target-dir "$target" --no-run \
    --test gpu_vs_cpu --test storage --test nvrtc_compile --test captum_fixtures \
    --test method_fixtures --message-format=json)
bench_json=$(cargo bench --features cuda,cpu-ref --target-dir "$target" --no-run --bench gpu --message-format=json)

rm -rf "$gpu"
mkdir -p "$gpu/bin" "$gpu/ptxas" "$gpu/data/Mutagenicity/raw"
cp "$target/release/graph-ig" "$gpu/bin/"
printf '%s\n%s\n' "$tests_json" "$bench_json" | python3 -c '
import json, sys, shutil
for line in sys.stdin:
    m = json.loads(line)
    exe = m.get("executable")
    if m.get("reason") == "compiler-artifact" and exe and m["target"]["kind"] in (["test"], ["bench"]):
        shutil.copy(exe, sys.argv[1] + "/" + m["target"]["name"])
' "$gpu/bin"
strip "$gpu"/bin/* 2>/dev/null || true
# libnvrtc (109 MB) does not travel: the GPU machine's toolkit has it in
# /usr/local/cuda/lib64, which run.sh puts on the loader path; the kernels
# themselves come as nvcc PTX and need no NVRTC.

echo "== ptxas -v reports (sm_90)"
spills=0
for ptx in "$target"/release/build/graph-ig-*/out/*.ptx; do
    name=$(basename "$ptx" .ptx)
    "$CUDA_HOME/bin/ptxas" -v --gpu-name sm_90 "$ptx" -o /dev/null > "$gpu/ptxas/$name.txt" 2>&1
    if grep -E "[1-9][0-9]* bytes spill (stores|loads)" "$gpu/ptxas/$name.txt" > /dev/null; then
        spills=1
        echo "   SPILLS in $name:"; grep -B2 -E "[1-9][0-9]* bytes spill" "$gpu/ptxas/$name.txt"
    fi
done
grep -h -E "Compiling entry|Used" "$gpu"/ptxas/*.txt | paste - - \
    | sed -E "s/.*entry function '([a-z_0-9]+)'.*Used ([0-9]+) registers.*/   \1: \2 registers/"
[ "$spills" = 0 ] && echo "   no register spills"

if [ -e "$data/Mutagenicity_A.txt" ]; then
    cp "$data"/Mutagenicity_*.txt "$gpu/data/Mutagenicity/raw/"
else
    echo "   warning: no Mutagenicity at $data; the sweep will be skipped"
fi
cora=$root/../shared/data/Planetoid/Cora.safetensors
if [ -e "$cora" ]; then
    mkdir -p "$gpu/data/Planetoid" "$gpu/models"
    cp "$cora" "$gpu/data/Planetoid/"
    cp tests/fixtures/zoo/models/cora_gcn.safetensors tests/fixtures/zoo/models/cora_gat.safetensors "$gpu/models/"
else
    echo "   warning: no Cora at $cora; the node-task rows will be skipped"
fi
cp scripts/gpu-run.sh "$gpu/run.sh"
cp scripts/compare_outputs.py scripts/compare_json.py scripts/bench_peers.py scripts/tutorial_model.py "$gpu/"
# captum is not installed on the GPU machine: its wheel travels (pure Python).
mkdir -p "$gpu/wheels"
python3 -m pip download --quiet --disable-pip-version-check --no-deps "captum==0.9.0" -d "$gpu/wheels"
du -sh "$gpu" | sed 's/^/== .gpu holds /'
echo "== ready: run 'bash .gpu/run.sh' on the GPU machine with carry [\".gpu\"]"
