#!/usr/bin/env python3
"""Time the peers of graph-ig on the same machine, in the same run, and graph-ig itself.

The job: Integrated Gradients over the edge mask (the PyG + captum tutorial's),
50 Gauss-Legendre steps, target = the predicted class, for the graphs of TU
Mutagenicity, with the tutorial model (models/mutagenicity_graphconv.safetensors).

Peers:
  captum-loop  the tutorial's way: captum IntegratedGradients one graph at a time
               (internal_batch_size = E, so one forward/backward per step).
  batched      the strongest plain-PyTorch way we could write: every graph x step
               instance expanded into large PyG batches, one autograd.grad per chunk.
graph-ig       `graph-ig explain` on the same data (its own timer: host arrays to host results).

All run on the GPU when torch sees one (--device cuda), else on the CPU. The captum
loop is slow; `--captum-graphs N` times it on the first N graphs and extrapolates
to the whole dataset (printed as such). Prints one table, with graph-ig's speed-up.

Usage: python scripts/bench_peers.py [--data DIR] [--bin target/release/graph-ig]
           [--device cpu|cuda] [--captum-graphs 200] [--graphs N] [--chunk 4096]

With --zoo, it instead times PyG's own Explainer (CaptumExplainer IG, one call per graph, as the
zoo fixtures are made) for every zoo model of tests/fixtures/zoo/models on Mutagenicity, sampled
on --zoo-graphs graphs and extrapolated to the dataset, and PyG's Explainer per node (index=v) for
the Cora models, sampled on --cora-nodes nodes and extrapolated to all 2708. --zoo-cmd runs
graph-ig beside it: a command template with {model}, {arch}, {data} and {n} (graph or node
count) that prints graph-ig's "time: S s" line, e.g.
  --zoo-cmd "target/release/graph-ig explain --data {data} --model {model} --arch {arch} --device cpu --quiet --restart --out /tmp/z.safetensors"
(node models get " --nodes all" appended). Needs safetensors and python/graph_ig_export.py too.
"""

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_outputs import load as load_safetensors  # noqa: E402  (numpy-only reader)
from tutorial_model import Net  # noqa: E402

# Needs torch, torch_geometric, numpy and (for the captum loop) captum; not the
# safetensors package, so that it runs on the GPU machine as it is.


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def load(args, dev):
    """Mutagenicity's graphs (one-hot atom features, edges in _A.txt order) and the tutorial model."""
    read = lambda s: np.loadtxt(args.data / f"Mutagenicity_{s}.txt", delimiter=",", dtype=np.int64)
    a, ind, lab = read("A") - 1, read("graph_indicator") - 1, read("node_labels")
    x_all = torch.nn.functional.one_hot(torch.from_numpy(lab), 14).float()
    node_start = np.searchsorted(ind, np.arange(ind.max() + 2))
    edge_graph = ind[a[:, 0]]
    edge_start = np.searchsorted(edge_graph, np.arange(ind.max() + 2))
    graphs = []
    for g in range(min(args.graphs, ind.max() + 1)):
        e = torch.from_numpy(a[edge_start[g]:edge_start[g + 1]].T - node_start[g]).long()
        x = x_all[node_start[g]:node_start[g + 1]]
        graphs.append((x.to(dev), e.contiguous().to(dev)))
    model = Net(14, 2, dim=32, layers=5, pool="add")
    state = load_safetensors(REPO / "models/mutagenicity_graphconv.safetensors")
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    return graphs, model.to(dev).eval()


def predicted(model, graphs, dev):
    out = []
    with torch.no_grad():
        for x, e in graphs:
            batch = torch.zeros(x.shape[0], dtype=torch.long, device=dev)
            out.append(int(model(x, e, batch).argmax(-1)))
    return out


def captum_loop(model, graphs, targets, dev, steps):
    from captum.attr import IntegratedGradients
    res = []
    sync(dev)
    t = time.perf_counter()
    for (x, e), tgt in zip(graphs, targets):
        batch = torch.zeros(x.shape[0], dtype=torch.long, device=dev)
        ig = IntegratedGradients(lambda m: model(x, e, batch, m))
        mask = torch.ones(e.shape[1], device=dev, requires_grad=True)
        res.append(ig.attribute(mask, target=tgt, n_steps=steps, internal_batch_size=max(e.shape[1], 1)))
    sync(dev)
    return time.perf_counter() - t, res


def batched(model, graphs, targets, dev, steps, chunk):
    """All (graph, step) instances as big PyG batches, one autograd.grad per chunk."""
    from captum.attr._utils.approximation_methods import approximation_parameters
    step_sizes, alphas = approximation_parameters("gausslegendre")
    w = torch.tensor(step_sizes(steps), dtype=torch.float32, device=dev)
    a = torch.tensor(alphas(steps), dtype=torch.float32, device=dev)
    res = []
    sync(dev)
    t = time.perf_counter()
    per_chunk = max(1, chunk // steps)
    for c0 in range(0, len(graphs), per_chunk):
        part = graphs[c0:c0 + per_chunk]
        xs, es, bs, ws, sizes = [], [], [], [], []
        off, inst = 0, 0
        for (x, e) in part:
            n = x.shape[0]
            for s in range(steps):
                xs.append(x)
                es.append(e + off)
                bs.append(torch.full((n,), inst, dtype=torch.long, device=dev))
                off += n
                inst += 1
            sizes.append(e.shape[1])
        x = torch.cat(xs)
        ei = torch.cat(es, dim=1)
        batch = torch.cat(bs)
        # One edge-weight per (instance, edge): alpha_s for every edge of step s.
        ew = torch.cat([a[s].expand(sz) for sz in sizes for s in range(steps)]).clone().requires_grad_(True)
        out = model(x, ei, batch, ew)
        tg = torch.tensor([t_ for t_ in targets[c0:c0 + per_chunk] for _ in range(steps)], device=dev)
        f = out.gather(1, tg.view(-1, 1)).sum()
        (g,) = torch.autograd.grad(f, ew)
        # Weighted sum over steps per original edge.
        k = 0
        for sz in sizes:
            gg = g[k:k + steps * sz].view(steps, sz)
            res.append((gg * w.view(-1, 1)).sum(0))
            k += steps * sz
    sync(dev)
    return time.perf_counter() - t, res


def graph_ig(args, n_graphs, device):
    # The command's own timer covers host arrays to host results; a first run
    # warms the context and loads the kernels.
    cmd = [str(args.bin), "explain", "--data", str(args.data), "--name", "Mutagenicity", "--device", device,
           "--quiet", "--restart", "--graphs", f"0..{n_graphs}", "--out", "/tmp/bench_peers_graph_ig.safetensors"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(re.search(r"time:\s+([0-9.]+) s", out).group(1))


def zoo_bench(args):
    """PyG Explainer per graph (Mutagenicity) and per node (Cora) for the zoo models."""
    import shlex
    from make_zoo_fixtures import (CORA, MUTAG, load_cora, load_mutagenicity, make_explainer, GcnNet, GinNet,
                                   SageNet, GatNet, GraphConvNet, MixedNet, NodeGcn, NodeGat)
    from safetensors.torch import load_file
    zoo_dir = REPO / "tests/fixtures/zoo/models"
    graph_models = {"gcn": GcnNet, "gin": GinNet, "sage": SageNet, "gat": GatNet, "graphconv": GraphConvNet,
                    "mixed": MixedNet}
    node_models = {"cora_gcn": lambda: NodeGcn(1433, 7), "cora_gat": lambda: NodeGat(1433, 7)}
    if args.zoo_only:
        keep = set(args.zoo_only.split(","))
        unknown = keep - set(graph_models) - set(node_models)
        if unknown:
            raise SystemExit(f"--zoo-only: unknown models {sorted(unknown)}")
        graph_models = {k: v for k, v in graph_models.items() if k in keep}
        node_models = {k: v for k, v in node_models.items() if k in keep}
    wrt = {"edges": (True, False), "nodes": (False, True), "both": (True, True)}
    rows = []

    def run_graph_ig(name, data, n):
        if not args.zoo_cmd:
            return None
        cmd = args.zoo_cmd.format(model=zoo_dir / f"{name}.safetensors", arch=zoo_dir / f"{name}.json", data=data, n=n)
        if name.startswith("cora"):
            cmd += " --nodes all"
        if not args.zoo_no_warmup:
            subprocess.run(shlex.split(cmd), check=True, capture_output=True, text=True)  # warm-up
        out = subprocess.run(shlex.split(cmd), check=True, capture_output=True, text=True).stdout
        return float(re.search(r"time:\s+([0-9.]+) s", out).group(1))

    data = load_mutagenicity() if graph_models else []
    rng = np.random.default_rng(0)
    sample = rng.choice(len(data), min(args.zoo_graphs, len(data)), replace=False) if graph_models else []
    for name, cls in graph_models.items():
        model = cls(14, 2)
        model.load_state_dict(load_file(str(zoo_dir / f"{name}.safetensors")))
        model.eval()
        edge, node = wrt[args.zoo_wrt]
        d = data[int(sample[0])]  # warm-up: PyG's first explain call compiles templates
        make_explainer(model, cls.CARD, "IntegratedGradients", edge, node)(
            d.x, d.edge_index, batch=torch.zeros(d.num_nodes, dtype=torch.long))
        t = time.perf_counter()
        for g in sample:
            d = data[int(g)]
            ex = make_explainer(model, cls.CARD, "IntegratedGradients", edge, node)
            ex(d.x, d.edge_index, batch=torch.zeros(d.num_nodes, dtype=torch.long))
        per = (time.perf_counter() - t) / len(sample)
        rows.append((name, "graphs", len(data), per * len(data), len(sample), run_graph_ig(name, MUTAG, len(data))))
    cora = load_cora()
    nodes = rng.choice(cora.num_nodes, min(args.cora_nodes, cora.num_nodes), replace=False)
    for name, make in node_models.items():
        model = make()
        model.load_state_dict(load_file(str(zoo_dir / f"{name}.safetensors")))
        model.eval()
        card = NodeGcn.CARD if "gcn" in name else NodeGat.card(8)
        edge, node = wrt[args.cora_wrt]
        make_explainer(model, card, "IntegratedGradients", edge, node)(cora.x, cora.edge_index, index=int(nodes[0]))
        t = time.perf_counter()
        for v in nodes:
            make_explainer(model, card, "IntegratedGradients", edge, node)(cora.x, cora.edge_index, index=int(v))
        per = (time.perf_counter() - t) / len(nodes)
        rows.append((name, "nodes", cora.num_nodes, per * cora.num_nodes, len(nodes), run_graph_ig(name, CORA, cora.num_nodes)))
    print(f"\nPyG Explainer (CaptumExplainer IG, 50 steps, graphs: --wrt {args.zoo_wrt}, Cora: --wrt {args.cora_wrt}), "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'model':12} {'items':>6} {'PyG s (extrap.)':>16} {'PyG items/s':>12} {'sampled':>8} {'graph-ig s':>11} {'speed-up':>9}")
    for name, kind, n, secs, m, ours in rows:
        g = f"{ours:11.3f} {secs / ours:8.1f}x" if ours else f"{'-':>11} {'-':>9}"
        print(f"{name:12} {n:6d} {secs:16.1f} {n / secs:12.2f} {m:8d} {g}  ({kind})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/data/Mutagenicity/raw")
    p.add_argument("--bin", type=Path, default=REPO / "target/release/graph-ig")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--graphs", type=int, default=4337)
    p.add_argument("--captum-graphs", type=int, default=200)
    p.add_argument("--chunk", type=int, default=4096, help="instances (graph x step) per batched chunk")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--zoo", action="store_true", help="time PyG's Explainer on the zoo models instead (see above)")
    p.add_argument("--zoo-graphs", type=int, default=50, help="--zoo: Mutagenicity graphs sampled per model")
    p.add_argument("--cora-nodes", type=int, default=20, help="--zoo: Cora nodes sampled per model")
    p.add_argument("--zoo-wrt", default="edges", choices=["edges", "nodes", "both"])
    p.add_argument("--cora-wrt", default="both", choices=["edges", "nodes", "both"])
    p.add_argument("--zoo-no-warmup", action="store_true", help="--zoo: run graph-ig once, without a warm-up run")
    p.add_argument("--zoo-only", default="", help="--zoo: comma-separated model names to time (default: all)")
    p.add_argument("--zoo-cmd", default="", help="--zoo: graph-ig command template ({model} {arch} {data} {n})")
    args = p.parse_args()
    if args.zoo:
        return zoo_bench(args)
    dev = torch.device(args.device)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {dev}, threads {torch.get_num_threads()}")
    graphs, model = load(args, dev)
    n = len(graphs)
    targets = predicted(model, graphs, dev)

    rows = []
    m = min(args.captum_graphs, n)
    t_c, res_c = captum_loop(model, graphs[:m], targets[:m], dev, args.steps)
    t_c_all = t_c * n / m
    rows.append(("captum loop (tutorial)", t_c_all, f"measured on {m} graphs, scaled x{n / m:.1f}" if m < n else "measured"))
    t_b, res_b = batched(model, graphs, targets, dev, args.steps, args.chunk)
    rows.append(("batched PyTorch", t_b, f"chunks of {args.chunk} instances"))
    # The two peers compute the same thing: check on the captum graphs.
    err = max(float((a - b).detach().norm() / max(float(b.norm()), 1e-12)) for a, b in zip(res_b[:m], res_c) if b.numel())
    gdev = "cuda" if dev.type == "cuda" else "cpu"
    t_g = graph_ig(args, n, gdev)
    rows.append((f"graph-ig --device {gdev}", t_g, "host arrays to host results"))

    # And graph-ig with them, graph by graph.
    ours = load_safetensors("/tmp/bench_peers_graph_ig.safetensors")
    ptr = ours["edge_ptr"]
    err_g = max(float(np.linalg.norm(ours["edge_attr"][ptr[g]:ptr[g + 1]] - res_b[g].detach().cpu().numpy())
                      / max(float(res_b[g].norm()), 1e-12)) for g in range(n) if res_b[g].numel())
    print(f"\n{n} graphs, {args.steps} steps, edge-mask IG (captum loop vs batched: {err:.1e}, "
          f"graph-ig vs batched: {err_g:.1e} worst per-graph relative L2)")
    print(f"{'way':28} {'seconds':>10} {'graphs/s':>10} {'graph-ig speed-up':>18}  note")
    for name, secs, note in rows:
        print(f"{name:28} {secs:10.3f} {n / secs:10.1f} {secs / t_g:17.2f}x  {note}")


if __name__ == "__main__":
    main()
