#!/usr/bin/env python3
"""Train the reference GraphConv models and write the captum reference fixtures.

Everything graph-ig's Rust tests compare against comes from here:

* models/mutagenicity_graphconv.safetensors       tutorial model (5 x GraphConv, dim 32, add pool)
* models/synthetic_graphconv.safetensors          same architecture, trained on `graph-ig synth`
* tests/fixtures/models/mutagenicity_mean_l3_w16.safetensors   variant: mean pool, 3 layers, width 16
* tests/fixtures/models/mutagenicity_max_l2_w24.safetensors    variant: max pool, 2 layers, width 24
* tests/fixtures/{mutagenicity_add,mutagenicity_mean,mutagenicity_max,synthetic_add}.safetensors
* tests/fixtures/captum_rules.safetensors         captum's integration tables (alphas, step weights)

The model is the one of the PyG + captum tutorial ("Explaining GNN model
predictions using captum"); attributions are computed exactly like that
tutorial does (IntegratedGradients over an all-ones edge mask, one step per
forward), but in float64.

Edge order: PyG's TUDataset sorts/coalesces each graph's edges, while graph-ig
keeps the line order of `_A.txt`.  Every per-edge array stored here is mapped
back to the `_A.txt` order of its graph through the (src, dst) pairs.

Usage:  python scripts/make_fixtures.py --bin target/release/graph-ig [--retrain]
"""

import argparse
import copy
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy
import safetensors.torch
import torch
import torch.nn.functional as F
import torch_geometric
import captum
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from captum.attr._utils.approximation_methods import approximation_parameters
from torch_geometric.datasets import TUDataset
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GraphConv, global_add_pool, global_max_pool, global_mean_pool  # noqa: F401

from tutorial_model import Net  # noqa: E402  (scripts/ is on sys.path when run as a script)

REPO_ROOT = Path(__file__).resolve().parent.parent

NUM_ATOM_TYPES = 14  # C O Cl H N F Br S P I Na K Li Ca (node labels 0..13)
N_STEPS = 50
IG_RULES = ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"]
TABLE_STEPS = [1, 2, 3, 4, 5, 7, 8, 9, 10, 16, 17, 20, 25, 32, 33, 50, 64, 100, 128, 200, 256, 300, 1000]
EXTRA_STEPS = [7, 200]  # extra gausslegendre step counts, mutagenicity_add only
SEED = 0



def versions():
    return {
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "captum": captum.__version__,
    }


# --------------------------------------------------------------------------- model


def sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_model(model, path, meta):
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, str(path), metadata={k: str(v) for k, v in meta.items()})


def load_model(path, num_features, num_classes, dim, layers, pool):
    model = Net(num_features, num_classes, dim=dim, layers=layers, pool=pool)
    model.load_state_dict(safetensors.torch.load_file(str(path)), strict=True)
    with safetensors.safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return model, meta


# --------------------------------------------------------------------------- data


class RawTU:
    """A TU dataset read straight from its text files, in file order (0-based ids)."""

    def __init__(self, raw_dir, name):
        raw_dir = Path(raw_dir)
        self.name = name
        self.raw_dir = raw_dir

        def read(suffix, optional=False):
            path = raw_dir / f"{name}_{suffix}.txt"
            if optional and not path.exists():
                return None
            return np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=1)

        self.A = np.loadtxt(raw_dir / f"{name}_A.txt", delimiter=",", dtype=np.int64, ndmin=2) - 1
        self.graph_of_node = read("graph_indicator") - 1
        self.node_labels = read("node_labels")
        self.graph_labels = read("graph_labels")
        self.edge_gt = read("edge_gt", optional=True)
        self.edge_labels = read("edge_labels", optional=True)
        self.num_graphs = int(self.graph_labels.size)

        self.num_nodes = np.bincount(self.graph_of_node, minlength=self.num_graphs)
        self.node_start = np.concatenate([[0], np.cumsum(self.num_nodes)])
        assert (np.diff(self.graph_of_node) >= 0).all(), "nodes are not grouped by graph"
        graph_of_edge = self.graph_of_node[self.A[:, 0]]
        assert (graph_of_edge == self.graph_of_node[self.A[:, 1]]).all(), "edge crosses graphs"
        assert (np.diff(graph_of_edge) >= 0).all(), "_A.txt is not grouped by graph"
        self.num_edges = np.bincount(graph_of_edge, minlength=self.num_graphs)
        self.edge_start = np.concatenate([[0], np.cumsum(self.num_edges)])
        assert self.node_labels.min() >= 0 and self.node_labels.max() < NUM_ATOM_TYPES

    def edges(self, g):
        """Local 0-based (src, dst) of graph g in `_A.txt` line order, shape [2, E]."""
        a = self.A[self.edge_start[g]:self.edge_start[g + 1]] - self.node_start[g]
        return a.T.copy()

    def edge_gt_of(self, g):
        if self.edge_gt is None:
            return None
        return self.edge_gt[self.edge_start[g]:self.edge_start[g + 1]]

    def edge_labels_of(self, g):
        return self.edge_labels[self.edge_start[g]:self.edge_start[g + 1]]

    def labels_of(self, g):
        return self.node_labels[self.node_start[g]:self.node_start[g + 1]]

    def components(self, g):
        """(number of connected components, number of isolated nodes) of graph g."""
        n = int(self.num_nodes[g])
        parent = list(range(n))

        def find(u):
            while parent[u] != u:
                parent[u] = parent[parent[u]]
                u = parent[u]
            return u

        src, dst = self.edges(g)
        for s, d in zip(src.tolist(), dst.tolist()):
            parent[find(s)] = find(d)
        roots = {find(u) for u in range(n)}
        degree = np.bincount(np.concatenate([src, dst]), minlength=n)
        return len(roots), int((degree == 0).sum())

    def has_no2(self, g):
        """True if an edge_gt edge joins an N (label 4) and an O (label 1)."""
        gt = self.edge_gt_of(g)
        if gt is None or not gt.any():
            return False
        labels = self.labels_of(g)
        src, dst = self.edges(g)
        pair = {(int(labels[s]), int(labels[d])) for s, d, m in zip(src, dst, gt) if m}
        return (4, 1) in pair or (1, 4) in pair

    def data_sha256(self):
        h = hashlib.sha256()
        for path in sorted(self.raw_dir.glob(f"{self.name}_*.txt")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
        return h.hexdigest()


def check_simple_graphs(raw, graphs):
    """PyG drops self-loops and merges duplicate edges: make sure neither occurs."""
    for g in graphs:
        src, dst = raw.edges(g)
        assert (src != dst).all(), f"graph {g} has a self-loop"
        keys = src * raw.num_nodes[g] + dst
        assert np.unique(keys).size == keys.size, f"graph {g} has duplicate (src, dst) pairs"


def load_pyg(raw, tmp_root):
    """Copy the raw files to tmp_root/<name>/raw and build a list of PyG Data objects.

    Node features are rebuilt as one_hot(label, 14): TUDataset one-hots over the
    label range actually present, which would give fewer columns on a dataset
    that lacks some atom types.  For Mutagenicity this is checked to be identical
    to TUDataset's own x.
    """
    dst = Path(tmp_root) / raw.name / "raw"
    dst.mkdir(parents=True, exist_ok=True)
    if dst.resolve() != raw.raw_dir.resolve():
        for path in raw.raw_dir.glob(f"{raw.name}_*.txt"):
            shutil.copy(path, dst / path.name)
    dataset = TUDataset(str(tmp_root), raw.name)
    assert len(dataset) == raw.num_graphs
    x_all = F.one_hot(torch.from_numpy(raw.node_labels), NUM_ATOM_TYPES).float()
    if dataset.num_features == NUM_ATOM_TYPES:
        assert torch.equal(dataset._data.x, x_all), "TUDataset x differs from one_hot(labels)"
    else:
        print(f"  note: TUDataset built {dataset.num_features} node features for {raw.name}; "
              f"using one_hot(label, {NUM_ATOM_TYPES}) instead")
    data_list = []
    for g in range(raw.num_graphs):
        d = dataset[g]
        d.x = x_all[raw.node_start[g]:raw.node_start[g + 1]]
        assert d.num_nodes == raw.num_nodes[g]
        assert int(d.y) == int(raw.graph_labels[g] - raw.graph_labels.min())
        data_list.append(d)
    return data_list


def pyg_permutation(file_edges, pyg_edges, num_nodes):
    """perm such that pyg_array[perm] is in file order (perm[line] = PyG edge index)."""
    file_key = file_edges[0] * num_nodes + file_edges[1]
    pyg_key = pyg_edges[0].numpy() * num_nodes + pyg_edges[1].numpy()
    assert file_key.size == pyg_key.size, "PyG dropped or merged edges"
    order = np.argsort(pyg_key, kind="stable")
    pos = np.searchsorted(pyg_key[order], file_key)
    perm = order[pos]
    assert (pyg_key[perm] == file_key).all(), "edge missing from PyG graph"
    assert np.unique(perm).size == perm.size, "edge mapping is not a bijection"
    return perm


# --------------------------------------------------------------------------- training


def train_model(data_list, pool, layers, dim, epochs, seed, label):
    torch.manual_seed(seed)
    np.random.seed(seed)
    num_classes = int(max(int(d.y) for d in data_list)) + 1
    perm = np.random.default_rng(seed).permutation(len(data_list))
    n_test = len(data_list) // 10
    test_set = [data_list[i] for i in perm[:n_test]]
    train_set = [data_list[i] for i in perm[n_test:]]
    gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=128, shuffle=True, generator=gen)

    model = Net(NUM_ATOM_TYPES, num_classes, dim=dim, layers=layers, pool=pool)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        model.train()
        total = 0.0
        for batch in train_loader:
            optimizer.zero_grad()
            out = model(batch.x, batch.edge_index, batch.batch)
            loss = F.nll_loss(out, batch.y)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * batch.num_graphs
        train_acc = accuracy(model, train_set)
        test_acc = accuracy(model, test_set)
        print(f"  [{label}] epoch {epoch:2d}  loss {total / len(train_set):.4f}  "
              f"train acc {train_acc:.4f}  test acc {test_acc:.4f}  ({time.time() - t0:.1f}s)")
    model.eval()
    return model, {"train_acc": f"{train_acc:.4f}", "test_acc": f"{test_acc:.4f}",
                   "epochs": str(epochs), "seed": str(seed)}


@torch.no_grad()
def accuracy(model, data_list):
    model.eval()
    correct = 0
    for batch in DataLoader(data_list, batch_size=512):
        correct += int((model(batch.x, batch.edge_index, batch.batch).argmax(-1) == batch.y).sum())
    return correct / len(data_list)


def get_model(path, data_list, raw, pool, layers, dim, epochs, seed, retrain, label):
    """Load the model at `path` unless --retrain or missing; then train and save it."""
    num_classes = int(raw.graph_labels.max() - raw.graph_labels.min()) + 1
    if path.exists() and not retrain:
        model, meta = load_model(path, NUM_ATOM_TYPES, num_classes, dim, layers, pool)
        model.eval()
        acc = f"{accuracy(model, data_list):.4f}"
        print(f"  [{label}] loaded {path.relative_to(REPO_ROOT)} (accuracy on all graphs {acc})")
        if meta.get("data_sha256") not in (None, raw.data_sha256()):
            print(f"  WARNING: {path.name} was trained on different {raw.name} data files")
        return model, {"train_acc": meta.get("train_acc", "?"), "test_acc": meta.get("test_acc", "?"),
                       "all_acc": acc, "loaded": "yes"}
    model, info = train_model(data_list, pool, layers, dim, epochs, seed, label)
    info["all_acc"] = f"{accuracy(model, data_list):.4f}"
    meta = {"dataset": raw.name, "pool": pool, "layers": layers, "dim": dim,
            "num_features": NUM_ATOM_TYPES, "num_classes": num_classes,
            "data_sha256": raw.data_sha256(), **info, **versions()}
    save_model(model, path, meta)
    print(f"  [{label}] saved {path.relative_to(REPO_ROOT)}")
    return model, info


# --------------------------------------------------------------------------- attributions


def attributions_for_graph(model64, data, target, extra_steps=()):
    """All captum outputs for one graph, float64, per-edge arrays still in PyG order."""
    x = data.x.double()
    ei = data.edge_index
    n, e = x.shape[0], ei.shape[1]
    batch = torch.zeros(n, dtype=torch.long)

    # Exactly the tutorial's forward: the edge mask is the edge_weight of every conv.
    def edge_forward(edge_mask):
        return model64(x, ei, batch, edge_mask)

    def node_forward(xx):
        return model64(xx, ei, batch)

    def target_logprob(out):
        return float(out[0, target])

    ones = torch.ones(e, dtype=torch.float64)
    with torch.no_grad():
        log_probs = model64(x, ei, batch, ones)[0]
        f_edge_in = target_logprob(model64(x, ei, batch, ones))
        f_edge_base = target_logprob(model64(x, ei, batch, torch.zeros(e, dtype=torch.float64)))
        f_node_in = target_logprob(model64(x, ei, batch))
        f_node_base = target_logprob(model64(torch.zeros_like(x), ei, batch))

    out = {"log_probs": log_probs.numpy().copy()}

    ig_edge = IntegratedGradients(edge_forward)

    def edge_ig(rule, steps):
        mask = torch.ones(e, dtype=torch.float64, requires_grad=True)
        # internal_batch_size = E with a 1-D input of E "examples" -> one step per forward.
        attr = ig_edge.attribute(mask, target=target, n_steps=steps, method=rule,
                                 internal_batch_size=e)
        attr = attr.detach().numpy().copy()
        delta = attr.sum() - (f_edge_in - f_edge_base)
        return attr, np.array([delta])

    for rule in IG_RULES:
        out[f"edge_ig.{rule}"], out[f"edge_ig_delta.{rule}"] = edge_ig(rule, N_STEPS)
    for steps in extra_steps:
        key = f"edge_ig_steps{steps}.gausslegendre"
        out[key], out[key.replace("edge_ig_", "edge_ig_delta_")] = edge_ig("gausslegendre", steps)

    # Node-feature IG: internal_batch_size = N, so every forward sees one [N, F] x.
    attr = IntegratedGradients(node_forward).attribute(
        x.clone().requires_grad_(True), target=target, n_steps=N_STEPS,
        method="gausslegendre", internal_batch_size=n)
    out["node_ig"] = attr.detach().numpy().copy()
    out["node_ig_delta"] = np.array([out["node_ig"].sum() - (f_node_in - f_node_base)])

    mask = torch.ones(e, dtype=torch.float64, requires_grad=True)
    out["edge_saliency"] = Saliency(edge_forward).attribute(mask, target=target).detach().numpy().copy()
    mask = torch.ones(e, dtype=torch.float64, requires_grad=True)
    out["edge_ixg"] = InputXGradient(edge_forward).attribute(mask, target=target).detach().numpy().copy()
    xx = x.clone().requires_grad_(True)
    out["node_saliency"] = Saliency(node_forward).attribute(xx, target=target).detach().numpy().copy()
    xx = x.clone().requires_grad_(True)
    out["node_ixg"] = InputXGradient(node_forward).attribute(xx, target=target).detach().numpy().copy()
    return out


def file_order_edge_ig(model64, data, file_edges, target):
    """gausslegendre edge IG with the edges given to PyG in _A.txt order instead of sorted.

    Mathematically identical; numerically, GraphConv's scatter-add then sums each
    node's incoming messages in a different order.  For add/mean pooling that only
    moves the last bits.  For max pooling it can decide whether symmetric atoms
    are bit-exact ties at an intermediate alpha (and so whether the gradient is
    split between them), which changes IG by up to ~10%.
    """
    x = data.x.double()
    ei = torch.from_numpy(file_edges)
    batch = torch.zeros(x.shape[0], dtype=torch.long)
    ig = IntegratedGradients(lambda m: model64(x, ei, batch, m))
    mask = torch.ones(ei.shape[1], dtype=torch.float64, requires_grad=True)
    attr = ig.attribute(mask, target=target, n_steps=N_STEPS, internal_batch_size=ei.shape[1])
    return attr.detach().numpy().copy()


def row_invariant(model):
    """Make every Linear of `model` multiply node rows one at a time, in place.

    PyTorch's batched GEMM can give bit-different results for two identical
    rows, depending on where they sit in the matrix (tile edges take other code
    paths). Symmetric atoms (the H atoms of NH2, the O atoms of NO2) then stop
    being exact ties at max pooling, and the gradient goes to one of them
    instead of being split, depending on the BLAS build and the node order.
    graph-ig computes every row the same way, so its ties are the true ones.
    The max-pool fixtures are made with this model so that they test the
    even-split rule itself; the plain PyG result is stored beside them.
    """
    def rowwise(lin):
        def forward(x):
            if x.dim() != 2:
                return F.linear(x, lin.weight, lin.bias)
            return torch.stack([F.linear(x[i], lin.weight, lin.bias) for i in range(x.shape[0])]) \
                if x.shape[0] else F.linear(x, lin.weight, lin.bias)
        return forward
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch_geometric.nn.Linear)):
            module.forward = rowwise(module)
    return model


def write_fixture(path, raw, data_list, model, model_path, pool, graphs, reasons,
                  extra_step_graphs=()):
    model64 = copy.deepcopy(model).double().eval()
    plain64 = None
    if pool == "max":
        plain64 = model64
        model64 = row_invariant(copy.deepcopy(model).double().eval())
    tensors = {"graphs": np.array(graphs, dtype=np.int64)}
    deltas = []
    for g in graphs:
        data = data_list[g]
        file_edges = raw.edges(g)
        perm = pyg_permutation(file_edges, data.edge_index, int(raw.num_nodes[g]))
        # Sanity: the edge labels (PyG's one-hot edge_attr) must line up after mapping.
        if raw.edge_labels is not None and data.edge_attr is not None:
            labels = raw.edge_labels_of(g) - raw.edge_labels.min()
            assert (data.edge_attr[perm].argmax(-1).numpy() == labels).all(), "edge labels misaligned"
        target = int(data.y)
        res = attributions_for_graph(model64, data, target,
                                     EXTRA_STEPS if g in extra_step_graphs else ())
        # Cross-check the edge mapping: IG with the edges in file order must agree.
        file_order = file_order_edge_ig(model64, data, file_edges, target)
        order_err = float(np.abs(file_order - res["edge_ig.gausslegendre"][perm]).max())
        if pool == "max":
            # Tie-sensitive: keep both so the Rust tests can tell which order they follow.
            tensors[f"g{g}.edge_ig_file_order.gausslegendre"] = file_order
            # And plain PyG (batched GEMM), whose ties depend on the BLAS tiling.
            plain = attributions_for_graph(plain64, data, target)["edge_ig.gausslegendre"][perm]
            tensors[f"g{g}.edge_ig_plain_pyg.gausslegendre"] = np.ascontiguousarray(plain)
        else:
            assert order_err < 1e-10, f"graph {g}: file-order IG differs from mapped IG ({order_err})"
        tensors[f"g{g}.edge_index"] = file_edges.astype(np.int64)
        tensors[f"g{g}.num_nodes"] = np.array([raw.num_nodes[g]], dtype=np.int64)
        tensors[f"g{g}.target"] = np.array([target], dtype=np.int64)
        for key, value in res.items():
            value = np.ascontiguousarray(value, dtype=np.float64)
            if key.startswith("edge_") and "delta" not in key:
                value = np.ascontiguousarray(value[perm])  # PyG order -> _A.txt order
            tensors[f"g{g}.{key}"] = value
        deltas.append((g, float(res["edge_ig_delta.gausslegendre"][0]),
                       float(res["edge_ig_delta.riemann_trapezoid"][0]), float(res["node_ig_delta"][0]),
                       order_err))
    meta = {
        "dataset": raw.name,
        "model": str(model_path.relative_to(REPO_ROOT)),
        "model_sha256": sha256_file(model_path),
        "pool": pool,
        "steps": str(N_STEPS),
        "edge_order": "_A.txt line order of each graph",
        "aggregation_order": "PyG (TUDataset-sorted edges: each node sums its incoming "
                             "messages in increasing source order, starting from 0)",
        "graph_reasons": json.dumps({str(g): reasons[g] for g in graphs}),
        **versions(),
    }
    if pool == "max":
        meta["linear"] = ("row-wise: every Linear multiplies one node row at a time (see row_invariant); "
                          "g{i}.edge_ig_plain_pyg.gausslegendre holds plain PyG's result")
        meta["file_order_arrays"] = ("g{i}.edge_ig_file_order.gausslegendre: same IG with the edges "
                                     "passed to PyG in _A.txt order (summation order affects max-pool ties)")
    if extra_step_graphs:
        meta["extra_steps"] = ",".join(map(str, EXTRA_STEPS))
        meta["extra_step_graphs"] = ",".join(map(str, extra_step_graphs))
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.numpy.save_file(tensors, str(path), metadata=meta)
    print(f"  wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size / 1024:.1f} KiB, "
          f"{len(graphs)} graphs)")
    for g, d_gl, d_tr, d_node, order_err in deltas:
        print(f"    g{g}: delta edge gl {d_gl:+.2e}  edge trapezoid {d_tr:+.2e}  node gl {d_node:+.2e}  "
              f"|file-order IG - PyG-order IG| {order_err:.1e}")


def write_rule_tables(path):
    """captum's exact integration tables.

    IntegratedGradients._attribute (captum 0.9.0) uses the Python-float alphas as
    they are (`baseline + alpha * (input - baseline)`), but scales the gradients
    with `torch.tensor(step_sizes).float()` -- the step weights are rounded to
    float32 even when the model runs in float64.  That is what is stored here.

    The riemann alphas are `torch.linspace(start, end, n).tolist()` in float32.
    On torch 2.15 (x86-64, AVX512 kernels) every alpha for n = 2..1000 equals, in
    float32 arithmetic with start/end rounded from the Python doubles:
        step = (end - start) / (n - 1)
        alpha_i = fma(step, i, start)            for i <  n // 2
        alpha_i = fma(-step, n - 1 - i, end)     for i >= n // 2
    Without the fused multiply-add ~95% of the tables differ in some element.
    """
    tensors, rejected = {}, []
    for rule in IG_RULES:
        step_sizes_fn, alphas_fn = approximation_parameters(rule)
        for n in TABLE_STEPS:
            try:
                alphas, step_sizes = alphas_fn(n), step_sizes_fn(n)
            except AssertionError:
                rejected.append(f"{rule}:{n}")
                continue
            tensors[f"rule.{rule}.{n}.alphas"] = np.array(alphas, dtype=np.float64)
            tensors[f"rule.{rule}.{n}.weights"] = torch.tensor(step_sizes).float().numpy()
    meta = {"rules": ",".join(IG_RULES), "steps": ",".join(map(str, TABLE_STEPS)),
            "rejected": ",".join(rejected),
            "weights_dtype": "float32 (torch.tensor(step_sizes).float(), as IG applies them)",
            **versions()}
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.numpy.save_file(tensors, str(path), metadata=meta)
    print(f"  wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size / 1024:.1f} KiB); "
          f"rejected: {', '.join(rejected) or 'none'}")


# --------------------------------------------------------------------------- graph choice


class Picker:
    """Deterministic graph selection, with the reason each graph was chosen."""

    def __init__(self, raw, seed, max_nodes=None):
        self.raw = raw
        self.rng = np.random.default_rng(seed)
        self.max_nodes = max_nodes
        self.chosen = []
        self.reasons = {}
        self.stats = {g: raw.components(g) for g in range(raw.num_graphs)}

    def describe(self, g):
        raw = self.raw
        comps, iso = self.stats[g]
        return (f"class {raw.graph_labels[g]}, {raw.num_nodes[g]} nodes, {raw.num_edges[g]} edges, "
                f"{comps} components, {iso} isolated")

    def add(self, g, reason):
        g = int(g)
        if g in self.reasons:
            self.reasons[g] += "; " + reason
        else:
            self.chosen.append(g)
            self.reasons[g] = f"{reason} ({self.describe(g)})"

    def pick(self, k, reason, predicate, label=None, max_nodes=None):
        """Pick k not-yet-chosen graphs with edges satisfying predicate, in random order.

        The predicate is evaluated lazily, so it may be expensive.
        """
        raw = self.raw
        max_nodes = max_nodes or self.max_nodes
        candidates = [g for g in range(raw.num_graphs)
                      if g not in self.reasons and raw.num_edges[g] > 0
                      and (max_nodes is None or raw.num_nodes[g] <= max_nodes)
                      and (label is None or raw.graph_labels[g] == label)]
        found = 0
        for g in self.rng.permutation(candidates):
            if found == k:
                break
            if predicate(int(g)):
                self.add(g, reason)
                found += 1
        assert found == k, f"not enough graphs for: {reason}"

    def smallest(self):
        with_edges = np.where(self.raw.num_edges > 0)[0]
        self.add(with_edges[np.argmin(self.raw.num_nodes[with_edges])], "smallest graph")

    def largest(self):
        with_edges = np.where(self.raw.num_edges > 0)[0]
        self.add(with_edges[np.argmax(self.raw.num_nodes[with_edges])], "largest graph")

    def isolated(self, g):
        return self.stats[g][1] > 0

    def multi_component_no_isolated(self, g):
        return self.stats[g][0] > 1 and self.stats[g][1] == 0

    def fill_random(self, count, max_nodes):
        remaining = count - len(self.chosen)
        for label in (0, 1):
            k = remaining // 2 if label == 0 else remaining - remaining // 2
            self.pick(k, "random", lambda g: True, label=label, max_nodes=max_nodes)
        assert {int(self.raw.graph_labels[g]) for g in self.chosen} == {0, 1}


def choose_mutagenicity_add(raw, seed):
    p = Picker(raw, seed, max_nodes=30)
    p.smallest()
    p.largest()
    p.pick(1, "isolated nodes", p.isolated, label=0)
    p.pick(1, "isolated nodes", p.isolated, label=1)
    p.pick(3, "several components, no isolated node", p.multi_component_no_isolated)
    p.pick(3, "NO2 group (edge_gt)", raw.has_no2)
    p.pick(1, "NH2 only (edge_gt, no NO2)", lambda g: raw.edge_gt_of(g).any() and not raw.has_no2(g))
    p.fill_random(20, max_nodes=20)
    return p


def choose_mutagenicity_variant(raw, seed, extra=None):
    p = Picker(raw, seed, max_nodes=30)
    p.smallest()
    p.pick(1, "isolated nodes", p.isolated)
    p.pick(2, "several components, no isolated node", p.multi_component_no_isolated)
    p.pick(1, "NO2 group (edge_gt)", raw.has_no2)
    if extra is not None:
        extra(p)
    p.fill_random(8, max_nodes=20)
    return p


def choose_synthetic(raw, seed):
    p = Picker(raw, seed)
    p.smallest()
    p.largest()
    if raw.edge_gt is not None:
        p.pick(2, "motif edges (edge_gt)", lambda g: raw.edge_gt_of(g).any(), max_nodes=40)
        p.pick(2, "no motif edges", lambda g: not raw.edge_gt_of(g).any(), max_nodes=40)
    if any(p.stats[g][0] > 1 for g in range(raw.num_graphs)):
        p.pick(1, "several components", lambda g: p.stats[g][0] > 1, max_nodes=40)
    p.fill_random(12, max_nodes=30)
    return p


# --------------------------------------------------------------------------- synthetic


def wait_for_binary(binary, wait_minutes):
    deadline = time.time() + 60 * wait_minutes
    while True:
        if binary.exists():
            r = subprocess.run([str(binary), "synth", "--help"], capture_output=True)
            if r.returncode == 0:
                return True
        if time.time() >= deadline:
            return False
        print(f"  waiting for `{binary} synth --help` to work ...", flush=True)
        time.sleep(60)


# --------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared/data/Mutagenicity/raw",
                        help="directory with the Mutagenicity_*.txt files (read-only)")
    parser.add_argument("--bin", type=Path, default=REPO_ROOT / "target/release/graph-ig",
                        help="graph-ig binary, used for `graph-ig synth`")
    parser.add_argument("--retrain", action="store_true", help="retrain models even if the files exist")
    parser.add_argument("--epochs", type=int, default=10, help="epochs for the tutorial models")
    parser.add_argument("--variant-epochs", type=int, default=2, help="epochs for the variant models")
    parser.add_argument("--wait-minutes", type=float, default=60,
                        help="how long to wait for the graph-ig binary")
    parser.add_argument("--skip-synthetic", action="store_true", help="skip the synthetic part")
    args = parser.parse_args()
    if not args.data.is_absolute():
        args.data = (Path.cwd() / args.data).resolve()
    if not args.bin.is_absolute():
        args.bin = (REPO_ROOT / args.bin).resolve()

    t_start = time.time()
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)  # deterministic, and leaves the other core alone
    print("versions:", versions())

    fixtures = REPO_ROOT / "tests/fixtures"
    summary = {"accuracy": {}, "files": []}

    print("== captum rule tables")
    write_rule_tables(fixtures / "captum_rules.safetensors")
    summary["files"].append(fixtures / "captum_rules.safetensors")

    with tempfile.TemporaryDirectory(prefix="graph-ig-fixtures-") as tmp:
        print("== Mutagenicity")
        raw = RawTU(args.data, "Mutagenicity")
        check_simple_graphs(raw, range(raw.num_graphs))
        data_list = load_pyg(raw, tmp)
        print(f"  {raw.num_graphs} graphs, {raw.num_nodes.sum()} nodes, {raw.A.shape[0]} edges")

        main_path = REPO_ROOT / "models/mutagenicity_graphconv.safetensors"
        model, info = get_model(main_path, data_list, raw, "add", 5, 32, args.epochs, SEED,
                                args.retrain, "mutagenicity add")
        print("  state_dict keys:", list(model.state_dict().keys()))
        summary["accuracy"]["mutagenicity add (5x32)"] = info

        variants = [
            ("mean", 3, 16, REPO_ROOT / "tests/fixtures/models/mutagenicity_mean_l3_w16.safetensors"),
            ("max", 2, 24, REPO_ROOT / "tests/fixtures/models/mutagenicity_max_l2_w24.safetensors"),
        ]
        variant_models = {}
        for pool, layers, dim, path in variants:
            m, vinfo = get_model(path, data_list, raw, pool, layers, dim, args.variant_epochs,
                                 SEED + 1, args.retrain, f"mutagenicity {pool}")
            variant_models[pool] = (m, path)
            summary["accuracy"][f"mutagenicity {pool} ({layers}x{dim})"] = vinfo

        print("== Mutagenicity fixtures")
        picks = choose_mutagenicity_add(raw, SEED)
        extra = [picks.chosen[0]] + [g for g in picks.chosen if "NO2" in picks.reasons[g]][:1] + \
                [g for g in picks.chosen if "several components" in picks.reasons[g]][:1]
        summary["mutagenicity_add"] = picks.reasons
        summary["extra_steps"] = extra
        path = fixtures / "mutagenicity_add.safetensors"
        write_fixture(path, raw, data_list, model, main_path, "add", picks.chosen, picks.reasons,
                      extra_step_graphs=extra)
        summary["files"].append(path)
        for k, pool in enumerate(("mean", "max")):
            m, mpath = variant_models[pool]
            extra_pick = None
            if pool == "max":
                model64 = copy.deepcopy(m).double().eval()

                def order_sensitive(g):
                    data = data_list[g]
                    perm = pyg_permutation(raw.edges(g), data.edge_index, int(raw.num_nodes[g]))
                    a = file_order_edge_ig(model64, data, raw.edges(g), int(data.y))
                    b = file_order_edge_ig(model64, data, data.edge_index.numpy(), int(data.y))[perm]
                    return np.abs(a - b).max() > 1e-6

                def extra_pick(p):
                    p.pick(2, "max-pool ties differ between file and PyG summation order", order_sensitive)
            vp = choose_mutagenicity_variant(raw, SEED + 10 + k, extra_pick)
            summary[f"mutagenicity_{pool}"] = vp.reasons
            path = fixtures / f"mutagenicity_{pool}.safetensors"
            write_fixture(path, raw, data_list, m, mpath, pool, vp.chosen, vp.reasons)
            summary["files"].append(path)

        synthetic_ok = True
        if args.skip_synthetic:
            synthetic_ok = False
            print("== Synthetic: skipped (--skip-synthetic)")
        else:
            print("== Synthetic")
            if not wait_for_binary(args.bin, args.wait_minutes):
                synthetic_ok = False
                print(f"  ERROR: {args.bin} did not become available; synthetic part not written")
            else:
                raw_dir = Path(tmp) / "Synthetic" / "raw"
                raw_dir.mkdir(parents=True, exist_ok=True)
                cmd = [str(args.bin), "synth", "--out", str(raw_dir)]
                print("  running:", " ".join(cmd))
                subprocess.run(cmd, check=True)
                sraw = RawTU(raw_dir, "Synthetic")
                check_simple_graphs(sraw, range(sraw.num_graphs))
                sdata = load_pyg(sraw, tmp)
                print(f"  {sraw.num_graphs} graphs, {sraw.num_nodes.sum()} nodes, {sraw.A.shape[0]} edges, "
                      f"classes {np.bincount(sraw.graph_labels).tolist()}")
                spath = REPO_ROOT / "models/synthetic_graphconv.safetensors"
                smodel, sinfo = get_model(spath, sdata, sraw, "add", 5, 32, args.epochs, SEED,
                                          args.retrain, "synthetic add")
                summary["accuracy"]["synthetic add (5x32)"] = sinfo
                sp = choose_synthetic(sraw, SEED)
                summary["synthetic_add"] = sp.reasons
                path = fixtures / "synthetic_add.safetensors"
                write_fixture(path, sraw, sdata, smodel, spath, "add", sp.chosen, sp.reasons)
                summary["files"].append(path)

    print("\n== Summary")
    for name, info in summary["accuracy"].items():
        print(f"  {name}: {info}")
    for key in ("mutagenicity_add", "mutagenicity_mean", "mutagenicity_max", "synthetic_add"):
        if key in summary:
            print(f"  {key} graphs:")
            for g, why in summary[key].items():
                print(f"    {g:5d}  {why}")
    print(f"  extra step counts {EXTRA_STEPS} for graphs {summary['extra_steps']}")
    total = 0
    for path in summary["files"] + [m[1] for m in variant_models.values()]:
        size = path.stat().st_size
        total += size
        print(f"  {path.relative_to(REPO_ROOT)}: {size / 1024:.1f} KiB")
    print(f"  total fixtures: {total / 1024:.1f} KiB")
    print(f"  wall time: {time.time() - t_start:.1f}s")
    if not synthetic_ok and not args.skip_synthetic:
        sys.exit(2)


if __name__ == "__main__":
    main()
