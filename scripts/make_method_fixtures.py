#!/usr/bin/env python3
"""Independent references for graph-ig's node-level methods (Pope et al., CVPR 2019).

Writes tests/fixtures/methods.safetensors, read by tests/method_fixtures.rs.
Everything is float64 on the CPU, from the committed models (no training here):

* Grad-CAM per conv layer and averaged over the layers, by captum's LayerGradCam.
  captum averages the gradients over the dims after dim 1 and sums over dim 1,
  so every conv layer is wrapped in a module whose output is F^l (after the
  ReLU) laid out as [1, K, n]; the next layer transposes it back.  Then
  LayerGradCam(relu_attributions=True) on the class score (the logit, before
  log_softmax) is exactly Pope's Grad-CAM:
      alpha_k = (1/n) sum_n dy_c/dF_{n,k},  score_n = ReLU(sum_k alpha_k F_{n,k}).
* Contrastive gradient: || ReLU(dy_c/dX_n) ||_2 by torch autograd on the logit.
* Excitation Backprop and contrastive EB, written here in the "modified
  backprop" form, layer by layer from the top (not the per-neuron loops of
  src/cpu/excitation.rs):
      Z = the layer's forward with W+ and no bias,  R = P / Z (0 where Z == 0),
      P_child = a * (dZ/da)^T R              (autograd of sum(Z * R), R held fixed)
  For a GraphConv layer Z = W_rel+ (sum_{j->i} w_ji a_j) + W_root+ a_i is PyG's
  own GraphConv with clamped weights and zero bias, so the transposed
  aggregation is whatever PyG's backward does.  Add/mean pooling: the same rule
  (Z = the pooled value).  Max pooling: P_child = d(maxpool(a) . P)/da, torch's
  even split among the nodes that reach the maximum.  The score of a node is
  the mass that reaches its input features, summed.  c-EB = EB(class c) minus
  EB with row c of lin2 negated.

The explained class is the predicted one (the first on ties).

Cases: real Mutagenicity graphs with the tutorial model (add pooling) and with
the two variant models (mean, max), graphs of the crate's synthetic generator
(`graph-ig synth`) with the synthetic model, and hand-made edge cases (a single
node, a single node with a self-loop, no edges, a self-loop with a duplicate
edge and an isolated node, non-one-hot features).  Max-pool models use
make_fixtures.row_invariant so that symmetric atoms are exact ties, as in graph-ig.

Usage:  python scripts/make_method_fixtures.py [--bin target/debug/graph-ig]
"""

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import (  # noqa: E402
    NUM_ATOM_TYPES,
    REPO_ROOT,
    Picker,
    RawTU,
    check_simple_graphs,
    load_model,
    row_invariant,
    sha256_file,
    versions,
)
from tutorial_model import POOLS  # noqa: E402

SEED = 0
MODELS = {
    # name: (path, pool, layers, dim)
    "mutagenicity_add": ("models/mutagenicity_graphconv.safetensors", "add", 5, 32),
    "mutagenicity_mean": ("tests/fixtures/models/mutagenicity_mean_l3_w16.safetensors", "mean", 3, 16),
    "mutagenicity_max": ("tests/fixtures/models/mutagenicity_max_l2_w24.safetensors", "max", 2, 24),
    "synthetic_add": ("models/synthetic_graphconv.safetensors", "add", 5, 32),
}


# --------------------------------------------------------------------------- model


def load64(name):
    path, pool, layers, dim = MODELS[name]
    model, _ = load_model(REPO_ROOT / path, NUM_ATOM_TYPES, 2, dim, layers, pool)
    model = copy.deepcopy(model).double().eval()
    if pool == "max":
        model = row_invariant(model)
    return model


class CamLayer(torch.nn.Module):
    """conv + ReLU whose output is F^l as [1, K, n] (captum's channel-first layout)."""

    def __init__(self, conv, first):
        super().__init__()
        self.conv = conv
        self.first = first

    def forward(self, h, edge_index, edge_weight):
        if not self.first:
            h = h[0].t()
        return self.conv(h, edge_index, edge_weight).relu().t().unsqueeze(0)


class LogitNet(torch.nn.Module):
    """The tutorial model up to the logits, on input [1, n, F], layers hookable for captum."""

    def __init__(self, net, edge_index):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            CamLayer(getattr(net, f"conv{k}"), k == 1) for k in range(1, net.num_layers + 1))
        self.lin1, self.lin2, self.pool = net.lin1, net.lin2, net.pool
        self.edge_index = edge_index

    def forward(self, x3):
        n = x3.shape[1]
        h = x3[0]
        w = torch.ones(self.edge_index.shape[1], dtype=x3.dtype)
        for layer in self.layers:
            h = layer(h, self.edge_index, w)
        pooled = self.pool(h[0].t(), torch.zeros(n, dtype=torch.long))
        return self.lin2(self.lin1(pooled).relu())


# --------------------------------------------------------------------------- methods


def grad_cam(net, x, ei, target):
    """{layer (1-based): captum LayerGradCam scores [n]}."""
    ln = LogitNet(net, ei)
    out = {}
    for l, layer in enumerate(ln.layers, start=1):
        attr = LayerGradCam(ln, layer).attribute(x.unsqueeze(0), target=target,
                                                relu_attributions=True)
        assert attr.shape == (1, 1, x.shape[0]), attr.shape
        out[l] = attr[0, 0].detach().numpy().copy()
    return out


def contrastive_gradient(net, x, ei, target):
    ln = LogitNet(net, ei)
    xx = x.clone().unsqueeze(0).requires_grad_(True)
    (g,) = torch.autograd.grad(ln(xx)[0, target], xx)
    return g[0].clamp(min=0).norm(dim=1).numpy().copy()


def clone(module):
    """A deep copy; make_fixtures.row_invariant's patched forwards are rebound to the copy
    (deepcopy keeps the closures, which would still read the original weights)."""
    m = copy.deepcopy(module)
    if any("forward" in mm.__dict__ for mm in module.modules()):
        row_invariant(m)
    return m


def positive(module):
    """A copy of a Linear / GraphConv with W+ and no bias."""
    m = clone(module)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            else:
                p.clamp_(min=0)
    return m


def modified_backprop(z_fn, a, p):
    """P_child = a * (dZ/da)^T (P / Z), with Z = z_fn(a) and R = P/Z (0 where Z == 0) held fixed."""
    a = a.detach().clone().requires_grad_(True)
    z = z_fn(a)
    with torch.no_grad():
        safe = torch.where(z == 0, torch.ones_like(z), z)
        r = torch.where(z == 0, torch.zeros_like(z), p / safe)
    (g,) = torch.autograd.grad((z * r).sum(), a)
    return (a * g).detach()


def excitation_backprop(net, x, ei, target, lin2=None):
    """EB scores [n]: the mass reaching each node's input features."""
    lin2 = lin2 if lin2 is not None else net.lin2
    n = x.shape[0]
    batch = torch.zeros(n, dtype=torch.long)
    w = torch.ones(ei.shape[1], dtype=x.dtype)
    # Forward activations of PyG's own modules.
    with torch.no_grad():
        acts = [x]
        for k in range(1, net.num_layers + 1):
            acts.append(getattr(net, f"conv{k}")(acts[-1], ei, w).relu())
        pooled = net.pool(acts[-1], batch)[0]
        z1 = net.lin1(pooled).relu()
    p = torch.zeros(lin2.out_features, dtype=x.dtype)
    p[target] = 1.0
    lin2p, lin1p = positive(lin2), positive(net.lin1)
    p = modified_backprop(lin2p, z1, p)               # mass on z1
    p = modified_backprop(lin1p, pooled, p)           # mass on the pooled embedding
    if net.pool_name == "max":
        h = acts[-1].detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad((net.pool(h, batch)[0] * p).sum(), h)
        p = g.detach()                                # even split among the maximal nodes
    else:
        p = modified_backprop(lambda a: net.pool(a, batch)[0], acts[-1], p)
    for k in range(net.num_layers, 0, -1):
        convp = positive(getattr(net, f"conv{k}"))
        p = modified_backprop(lambda a: convp(a, ei, w), acts[k - 1], p)
    return p.sum(dim=1).numpy().copy()


def negated_lin2(net, c):
    lin2 = clone(net.lin2)
    with torch.no_grad():
        lin2.weight[c] = -lin2.weight[c]
    return lin2


def max_pool_near_ties(net, x, ei):
    """Channels whose maximum is reached by two nodes within 1e-12 relative but not exactly."""
    if net.pool_name != "max":
        return 0
    with torch.no_grad():
        h = x
        w = torch.ones(ei.shape[1], dtype=x.dtype)
        for k in range(1, net.num_layers + 1):
            h = getattr(net, f"conv{k}")(h, ei, w).relu()
    m = h.max(dim=0).values
    close = (m - h).abs() <= 1e-12 * m.abs()
    exact = h == m
    return int((close & ~exact).any(dim=0).sum())


def all_methods(net, x_np, edges):
    """x_np: float32-exact [n, F]; edges: [2, E] local (src, dst), in the order graph-ig sees them."""
    x = torch.from_numpy(np.asarray(x_np, dtype=np.float64))
    ei = torch.from_numpy(np.asarray(edges, dtype=np.int64).reshape(2, -1))
    with torch.no_grad():
        logits = LogitNet(net, ei)(x.unsqueeze(0))[0]
        log_probs = F.log_softmax(logits, dim=-1)
        # The tutorial model itself must agree with the wrapper.
        ref = net(x, ei, torch.zeros(x.shape[0], dtype=torch.long))[0]
        assert torch.allclose(ref, log_probs, rtol=0, atol=1e-12), (ref, log_probs)
    target = int(np.argmax(logits.numpy()))  # first on ties
    out = {"target": np.array([target], dtype=np.int64), "log_probs": log_probs.numpy().copy()}
    cams = grad_cam(net, x, ei, target)
    for l, s in cams.items():
        out[f"grad_cam.{l}"] = s
    out["grad_cam.mean"] = np.mean([cams[l] for l in cams], axis=0)
    out["contrastive_gradient"] = contrastive_gradient(net, x, ei, target)
    eb = excitation_backprop(net, x, ei, target)
    out["eb"] = eb
    out["c_eb"] = eb - excitation_backprop(net, x, ei, target, negated_lin2(net, target))
    return out, max_pool_near_ties(net, x, ei)


# --------------------------------------------------------------------------- cases


def one_hot(labels):
    return np.eye(NUM_ATOM_TYPES, dtype=np.float32)[np.asarray(labels)]


def tu_case(raw, g):
    return one_hot(raw.labels_of(g)), raw.edges(g)


def mutagenicity_picks(raw):
    p = Picker(raw, SEED, max_nodes=40)
    p.smallest()
    p.pick(2, "NO2 group (edge_gt), mutagen", raw.has_no2, label=0)
    p.pick(1, "NO2 group (edge_gt), non-mutagen", raw.has_no2, label=1)
    p.pick(1, "isolated nodes", p.isolated, label=0)
    p.pick(1, "isolated nodes", p.isolated, label=1)
    p.pick(1, "several components, no isolated node", p.multi_component_no_isolated)
    p.pick(1, "NH2 only (edge_gt, no NO2)", lambda g: raw.edge_gt_of(g).any() and not raw.has_no2(g))
    p.fill_random(12, max_nodes=30)
    return p


def variant_picks(raw, seed):
    p = Picker(raw, seed, max_nodes=30)
    p.smallest()
    p.pick(1, "NO2 group (edge_gt)", raw.has_no2)
    p.pick(1, "isolated nodes", p.isolated)
    p.fill_random(4, max_nodes=25)
    return p


def synthetic_picks(raw):
    p = Picker(raw, SEED, max_nodes=30)
    p.smallest()
    if raw.edge_gt is not None:
        p.pick(2, "motif edges (edge_gt)", lambda g: raw.edge_gt_of(g).any())
        p.pick(1, "no motif edges", lambda g: not raw.edge_gt_of(g).any())
    p.fill_random(6, max_nodes=30)
    return p


def hand_made():
    """(name, x [n, F] float32, edges [2, E])."""
    rng = np.random.default_rng(SEED)
    e = lambda pairs: np.array(pairs, dtype=np.int64).reshape(-1, 2).T.copy()  # noqa: E731
    return [
        ("single node (C), no edges", one_hot([0]), e([])),
        ("single node (N) with a self-loop", one_hot([4]), e([(0, 0)])),
        ("four nodes (C, O, N, H), no edges", one_hot([0, 1, 4, 3]), e([])),
        ("N-O-O chain with a self-loop on N, a duplicate edge, isolated C",
         one_hot([4, 1, 1, 0]), e([(0, 1), (1, 0), (0, 2), (2, 0), (0, 0), (0, 1)])),
        ("non-one-hot features in [0, 1), a ring of 5 with a chord",
         rng.random((5, NUM_ATOM_TYPES)).astype(np.float32),
         e([(i, (i + 1) % 5) for i in range(5)] + [((i + 1) % 5, i) for i in range(5)] + [(0, 2), (2, 0)])),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared/data/Mutagenicity/raw",
                        help="directory with the Mutagenicity_*.txt files (read-only)")
    parser.add_argument("--bin", type=Path, default=REPO_ROOT / "target/debug/graph-ig",
                        help="graph-ig binary, for `graph-ig synth`")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests/fixtures/methods.safetensors")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    print("versions:", versions())

    nets = {name: load64(name) for name in MODELS}
    cases = []  # (model name, source, reason, x, edges)

    raw = RawTU(args.data, "Mutagenicity")
    check_simple_graphs(raw, range(raw.num_graphs))
    p = mutagenicity_picks(raw)
    for g in p.chosen:
        cases.append(("mutagenicity_add", f"Mutagenicity graph {g}", p.reasons[g], *tu_case(raw, g)))
    for k, name in enumerate(("mutagenicity_mean", "mutagenicity_max")):
        vp = variant_picks(raw, SEED + 20 + k)
        for g in vp.chosen:
            cases.append((name, f"Mutagenicity graph {g}", vp.reasons[g], *tu_case(raw, g)))

    with tempfile.TemporaryDirectory(prefix="graph-ig-methods-") as tmp:
        subprocess.run([str(args.bin), "synth", "--out", tmp], check=True)
        sraw = RawTU(tmp, "Synthetic")
        sp = synthetic_picks(sraw)
        for g in sp.chosen:
            cases.append(("synthetic_add", f"Synthetic graph {g} (graph-ig synth, default seed)",
                          sp.reasons[g], *tu_case(sraw, g)))

    for name in ("mutagenicity_add", "mutagenicity_mean", "mutagenicity_max"):
        for what, x, edges in hand_made():
            cases.append((name, "hand-made", what, x, edges))

    tensors = {"cases": np.arange(len(cases), dtype=np.int64)}
    meta = {"num_cases": str(len(cases)), **versions(),
            "target": "predicted class (first on ties), from the logits",
            "grad_cam": "captum LayerGradCam on [1, K, n] conv+ReLU outputs, relu_attributions=True, "
                        "forward = logits",
            "eb": "modified backprop Z = W+ a, R = P/Z, P_child = a * (dZ/da)^T R (this script)"}
    for name, (path, pool, _, _) in MODELS.items():
        meta[f"model.{name}"] = path
        meta[f"model.{name}.sha256"] = sha256_file(REPO_ROOT / path)
        meta[f"model.{name}.pool"] = pool
    near = 0
    for k, (name, source, reason, x, edges) in enumerate(cases):
        res, near_ties = all_methods(nets[name], x, edges)
        near += near_ties
        tensors[f"c{k}.x"] = np.ascontiguousarray(x, dtype=np.float32)
        tensors[f"c{k}.edge_index"] = np.ascontiguousarray(edges, dtype=np.int64).reshape(2, -1)
        for key, value in res.items():
            tensors[f"c{k}.{key}"] = np.ascontiguousarray(value)
        meta[f"c{k}.model"] = MODELS[name][0]
        meta[f"c{k}.pool"] = MODELS[name][1]
        meta[f"c{k}.source"] = source
        meta[f"c{k}.reason"] = reason
        print(f"  c{k:<3d} {name:18s} {source:55s} n={x.shape[0]:3d} E={edges.shape[1]:3d} "
              f"target {int(res['target'][0])}  sum EB {res['eb'].sum():.4f}  {reason}")
    meta["max_pool_near_ties"] = str(near)
    print(f"  max-pool channels with near (non-exact) ties: {near}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    safetensors.numpy.save_file(tensors, str(args.out), metadata=meta)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB, {len(cases)} cases)")


if __name__ == "__main__":
    main()
