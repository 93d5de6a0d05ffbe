#!/usr/bin/env python3
"""Train the model zoo with PyG and write PyG-Explainer + captum float64 reference fixtures.

Graph tasks (real Mutagenicity, ../shared/data/Mutagenicity/pyg/Mutagenicity.safetensors): one or
more models per conv type (GCNConv, GINConv, SAGEConv, GATConv, GraphConv) and a mixed stack.
Node tasks (Cora, ../shared/data/Planetoid/Cora.safetensors): GCN and GAT; plus a small synthetic
node-task graph (isolated nodes, self-loops, duplicates, a hub) with its own GCN and GAT.

Every model is saved with python/graph_ig_export.export_model (the card in the metadata comes from
the exporter) under tests/fixtures/zoo/models/NAME.safetensors, next to its hand-written card
NAME.json; the script asserts the two are equal.

Reference numbers come from PyG's own Explainer(model, algorithm=CaptumExplainer(...),
explanation_type='model', ...), one graph (or one target node) per call, in float64
(torch.set_default_dtype(torch.float64): see pyg-interchange.md section 3). The format of every
file is documented in tests/fixtures/zoo/README.md.

Usage: python scripts/make_zoo_fixtures.py [--retrain] [--only NAME,...] [--epochs N]
"""

import argparse
import hashlib
import json
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

import captum
import torch_geometric
from torch_geometric.data import Data
from torch_geometric.explain import Explainer
from torch_geometric.explain.algorithm import AttentionExplainer, CaptumExplainer
from torch_geometric.explain.algorithm.utils import clear_masks, set_masks
from torch_geometric.loader import DataLoader
from torch_geometric.nn import (GATConv, GCNConv, GINConv, GraphConv, SAGEConv, global_add_pool,
                                global_max_pool, global_mean_pool)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "python"))
from graph_ig_export import CARD_KEY, export_model  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
MUTAG = SHARED / "Mutagenicity" / "pyg" / "Mutagenicity.safetensors"
CORA = SHARED / "Planetoid" / "Cora.safetensors"
OUT = REPO / "tests" / "fixtures" / "zoo"
SEED = 0
N_STEPS = 50  # CaptumExplainer passes none: captum's IG defaults (n_steps=50, gausslegendre)


def versions():
    return {"torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
            "captum": captum.__version__, "numpy": np.__version__}


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ============================================================================ models


def mlp(i, o):
    """PyG's GIN MLP: Linear, BatchNorm1d, ReLU, Linear."""
    return torch.nn.Sequential(torch.nn.Linear(i, o), torch.nn.BatchNorm1d(o), torch.nn.ReLU(),
                               torch.nn.Linear(o, o))


def gin_card(p):
    return {"op": "GINConv", "prefix": p, "nn": [
        {"op": "Linear", "prefix": f"{p}.nn.0"}, {"op": "BatchNorm1d", "prefix": f"{p}.nn.1", "eps": 1e-5},
        {"op": "relu"}, {"op": "Linear", "prefix": f"{p}.nn.3"}]}


def gcn_card(p, improved=False):
    return {"op": "GCNConv", "prefix": p, "improved": improved, "add_self_loops": True, "normalize": True}


def gat_card(p, heads, concat):
    return {"op": "GATConv", "prefix": p, "heads": heads, "concat": concat, "negative_slope": 0.2,
            "add_self_loops": True}


def sage_card(p, normalize=False):
    return {"op": "SAGEConv", "prefix": p, "aggr": "mean", "root_weight": True, "normalize": normalize}


def lin(p):
    return {"op": "Linear", "prefix": p}


class GcnNet(torch.nn.Module):
    """3 x GCNConv (the last improved) + ReLU, mean pool, 2-layer head, log_softmax."""

    def __init__(self, f, c, w=32):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = GCNConv(f, w), GCNConv(w, w), GCNConv(w, w, improved=True)
        self.lin1, self.lin2 = torch.nn.Linear(w, w), torch.nn.Linear(w, c)

    def forward(self, x, edge_index, batch):
        x = F.relu(self.conv1(x, edge_index))
        x = F.relu(self.conv2(x, edge_index))
        x = F.relu(self.conv3(x, edge_index))
        x = global_mean_pool(x, batch)
        x = F.relu(self.lin1(x))
        x = F.dropout(x, p=0.5, training=self.training)
        return F.log_softmax(self.lin2(x), dim=-1)

    CARD = {"format": "graph-ig-arch/1", "task": "graph", "layers": [
        gcn_card("conv1"), {"op": "relu"}, gcn_card("conv2"), {"op": "relu"}, gcn_card("conv3", True),
        {"op": "relu"}, {"op": "global_mean_pool"}, lin("lin1"), {"op": "relu"}, {"op": "dropout", "p": 0.5},
        lin("lin2"), {"op": "log_softmax"}]}


class GinNet(torch.nn.Module):
    """PyG's molecule GIN: 3 x GINConv(MLP with BatchNorm), add pool, head, log_softmax."""

    def __init__(self, f, c, w=32):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = GINConv(mlp(f, w)), GINConv(mlp(w, w), train_eps=True), GINConv(mlp(w, w))
        self.lin1, self.lin2 = torch.nn.Linear(w, w), torch.nn.Linear(w, c)

    def forward(self, x, edge_index, batch):
        x = self.conv1(x, edge_index).relu()
        x = self.conv2(x, edge_index).relu()
        x = self.conv3(x, edge_index).relu()
        x = global_add_pool(x, batch)
        x = self.lin1(x).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        return F.log_softmax(self.lin2(x), dim=-1)

    CARD = {"format": "graph-ig-arch/1", "task": "graph", "layers": [
        gin_card("conv1"), {"op": "relu"}, gin_card("conv2"), {"op": "relu"}, gin_card("conv3"), {"op": "relu"},
        {"op": "global_add_pool"}, lin("lin1"), {"op": "relu"}, {"op": "dropout", "p": 0.5}, lin("lin2"),
        {"op": "log_softmax"}]}


class SageNet(torch.nn.Module):
    """SAGEConv (mean), SAGEConv with normalize=True, leaky_relu, max pool, log_softmax."""

    def __init__(self, f, c, w=32):
        super().__init__()
        self.conv1, self.conv2 = SAGEConv(f, w), SAGEConv(w, w, normalize=True)
        self.lin1, self.lin2 = torch.nn.Linear(w, w), torch.nn.Linear(w, c)

    def forward(self, x, edge_index, batch):
        x = F.leaky_relu(self.conv1(x, edge_index), 0.1)
        x = F.leaky_relu(self.conv2(x, edge_index), 0.1)
        x = global_max_pool(x, batch)
        x = F.leaky_relu(self.lin1(x), 0.1)
        return F.log_softmax(self.lin2(x), dim=-1)

    CARD = {"format": "graph-ig-arch/1", "task": "graph", "layers": [
        sage_card("conv1"), {"op": "leaky_relu", "negative_slope": 0.1}, sage_card("conv2", True),
        {"op": "leaky_relu", "negative_slope": 0.1}, {"op": "global_max_pool"}, lin("lin1"),
        {"op": "leaky_relu", "negative_slope": 0.1}, lin("lin2"), {"op": "log_softmax"}]}


class GatNet(torch.nn.Module):
    """GATConv(4 heads, concat), GATConv(2 heads, mean), elu, mean pool; logits (no output op)."""

    def __init__(self, f, c):
        super().__init__()
        self.conv1 = GATConv(f, 8, heads=4)
        self.conv2 = GATConv(32, 32, heads=2, concat=False)
        self.lin1, self.lin2 = torch.nn.Linear(32, 32), torch.nn.Linear(32, c)

    def forward(self, x, edge_index, batch):
        x = F.elu(self.conv1(x, edge_index))
        x = F.elu(self.conv2(x, edge_index))
        x = global_mean_pool(x, batch)
        x = F.elu(self.lin1(x))
        return self.lin2(x)

    CARD = {"format": "graph-ig-arch/1", "task": "graph", "layers": [
        gat_card("conv1", 4, True), {"op": "elu", "alpha": 1.0}, gat_card("conv2", 2, False),
        {"op": "elu", "alpha": 1.0}, {"op": "global_mean_pool"}, lin("lin1"), {"op": "elu", "alpha": 1.0},
        lin("lin2")]}


class GraphConvNet(torch.nn.Module):
    """3 x GraphConv (add, mean, max aggregation) + tanh, max pool, a 3-layer head, log_softmax."""

    def __init__(self, f, c, w=24):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = GraphConv(f, w), GraphConv(w, w, aggr="mean"), GraphConv(w, w, aggr="max")
        self.lin1, self.lin2, self.lin3 = torch.nn.Linear(w, 16), torch.nn.Linear(16, 16), torch.nn.Linear(16, c)

    def forward(self, x, edge_index, batch):
        x = torch.tanh(self.conv1(x, edge_index))
        x = torch.tanh(self.conv2(x, edge_index))
        x = torch.tanh(self.conv3(x, edge_index))
        x = global_max_pool(x, batch)
        x = torch.sigmoid(self.lin1(x))
        x = torch.tanh(self.lin2(x))
        return F.log_softmax(self.lin3(x), dim=-1)

    CARD = {"format": "graph-ig-arch/1", "task": "graph", "layers": [
        {"op": "GraphConv", "prefix": "conv1", "aggr": "add"}, {"op": "tanh"},
        {"op": "GraphConv", "prefix": "conv2", "aggr": "mean"}, {"op": "tanh"},
        {"op": "GraphConv", "prefix": "conv3", "aggr": "max"}, {"op": "tanh"},
        {"op": "global_max_pool"}, lin("lin1"), {"op": "sigmoid"}, lin("lin2"), {"op": "tanh"}, lin("lin3"),
        {"op": "log_softmax"}]}


class MixedNet(torch.nn.Module):
    """GCNConv, GATConv, SAGEConv, GINConv, GraphConv, add pool, BatchNorm1d in the head, softmax."""

    def __init__(self, f, c, w=16):
        super().__init__()
        self.conv1 = GCNConv(f, w)
        self.conv2 = GATConv(w, 8, heads=2)
        self.conv3 = SAGEConv(w, w)
        self.conv4 = GINConv(mlp(w, w))
        self.conv5 = GraphConv(w, w)
        self.lin1, self.bn, self.lin2 = torch.nn.Linear(w, w), torch.nn.BatchNorm1d(w), torch.nn.Linear(w, c)

    def forward(self, x, edge_index, batch):
        x = F.relu(self.conv1(x, edge_index))
        x = F.elu(self.conv2(x, edge_index))
        x = torch.tanh(self.conv3(x, edge_index))
        x = self.conv4(x, edge_index)
        x = F.leaky_relu(self.conv5(x, edge_index))
        x = global_add_pool(x, batch)
        x = F.relu(self.bn(self.lin1(x)))
        return F.softmax(self.lin2(x), dim=-1)

    CARD = {"format": "graph-ig-arch/1", "task": "graph", "layers": [
        gcn_card("conv1"), {"op": "relu"}, gat_card("conv2", 2, True), {"op": "elu", "alpha": 1.0},
        sage_card("conv3"), {"op": "tanh"}, gin_card("conv4"), {"op": "GraphConv", "prefix": "conv5", "aggr": "add"},
        {"op": "leaky_relu", "negative_slope": 0.01}, {"op": "global_add_pool"}, lin("lin1"),
        {"op": "BatchNorm1d", "prefix": "bn", "eps": 1e-5}, {"op": "relu"}, lin("lin2"), {"op": "softmax"}]}


class NodeGcn(torch.nn.Module):
    """Kipf & Welling's GCN: dropout, GCNConv, ReLU, dropout, GCNConv, log_softmax."""

    def __init__(self, f, c, w=16):
        super().__init__()
        self.conv1, self.conv2 = GCNConv(f, w), GCNConv(w, c)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        x = F.relu(self.conv1(x, edge_index))
        x = F.dropout(x, p=0.5, training=self.training)
        return F.log_softmax(self.conv2(x, edge_index), dim=1)

    CARD = {"format": "graph-ig-arch/1", "task": "node", "layers": [
        {"op": "dropout", "p": 0.5}, gcn_card("conv1"), {"op": "relu"}, {"op": "dropout", "p": 0.5},
        gcn_card("conv2"), {"op": "log_softmax"}]}


class NodeGat(torch.nn.Module):
    """The GAT of Velickovic et al. (smaller hidden width): 8 heads concat, ELU, 1 head mean."""

    def __init__(self, f, c, hidden=8, heads=8):
        super().__init__()
        self.conv1 = GATConv(f, hidden, heads=heads, dropout=0.6)
        self.conv2 = GATConv(hidden * heads, c, heads=1, concat=False, dropout=0.6)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.6, training=self.training)
        x = F.elu(self.conv1(x, edge_index))
        x = F.dropout(x, p=0.6, training=self.training)
        return F.log_softmax(self.conv2(x, edge_index), dim=-1)

    @staticmethod
    def card(heads):
        return {"format": "graph-ig-arch/1", "task": "node", "layers": [
            {"op": "dropout", "p": 0.6}, gat_card("conv1", heads, True), {"op": "elu", "alpha": 1.0},
            {"op": "dropout", "p": 0.6}, gat_card("conv2", 1, False), {"op": "log_softmax"}]}


# ============================================================================ data


def load_mutagenicity():
    t = load_file(str(MUTAG))
    ptr, x, ei, y = t["ptr"], t["x"], t["edge_index"], t["y"]
    src_graph = t["batch"][ei[0]]
    eptr = torch.zeros(len(ptr), dtype=torch.long)
    eptr[1:] = torch.cumsum(torch.bincount(src_graph, minlength=len(ptr) - 1), 0)
    data = []
    for g in range(len(ptr) - 1):
        a, b = int(ptr[g]), int(ptr[g + 1])
        e0, e1 = int(eptr[g]), int(eptr[g + 1])
        data.append(Data(x=x[a:b].clone(), edge_index=(ei[:, e0:e1] - a).clone(), y=y[g:g + 1].clone()))
    return data


def load_cora():
    t = load_file(str(CORA))
    return Data(x=t["x"], edge_index=t["edge_index"], y=t["y"], train_mask=t["train_mask"],
                val_mask=t["val_mask"], test_mask=t["test_mask"])


def synthetic_node_graph():
    """30 nodes, 6 features: a hub (node 0, 12 in-edges), isolated nodes 27..29, input self-loops on
    nodes 3, 7, 11, a duplicated edge, random symmetric edges; 3 classes."""
    g = torch.Generator().manual_seed(SEED + 7)
    n, f = 30, 6
    x = torch.randn(n, f, generator=g)
    edges = []
    for v in range(1, 13):
        edges += [(v, 0), (0, v)]
    pairs = torch.randint(1, 27, (40, 2), generator=g).tolist()
    for s, d in pairs:
        if s != d:
            edges += [(s, d), (d, s)]
    edges += [(3, 3), (7, 7), (11, 11), (5, 6), (5, 6)]
    perm = torch.randperm(len(edges), generator=g).tolist()
    edges = [edges[i] for i in perm]
    ei = torch.tensor(edges, dtype=torch.long).t().contiguous()
    y = torch.randint(0, 3, (n,), generator=g)
    return Data(x=x, edge_index=ei, y=y)


def graph_stats(d):
    n = d.num_nodes
    deg = torch.zeros(n, dtype=torch.long)
    ei = d.edge_index
    if ei.numel():
        deg.index_add_(0, ei[0], torch.ones(ei.size(1), dtype=torch.long))
        deg.index_add_(0, ei[1], torch.ones(ei.size(1), dtype=torch.long))
    parent = list(range(n))

    def find(u):
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u
    for s, t in ei.t().tolist():
        parent[find(s)] = find(t)
    return {"isolated": int((deg == 0).sum()), "components": len({find(u) for u in range(n)})}


def pick_graphs(data, k=20):
    """~k real graphs: the largest, the smallest, some with isolated nodes, some with several
    components, the rest at random (seeded)."""
    stats = [graph_stats(d) for d in data]
    sizes = [d.num_nodes for d in data]
    chosen, why = [], {}

    def add(g, reason):
        if g not in why:
            chosen.append(g)
            why[g] = reason
    add(int(np.argmax(sizes)), "largest")
    add(int(np.argmin(sizes)), "smallest")
    rng = np.random.default_rng(SEED)
    iso = [g for g, s in enumerate(stats) if s["isolated"] > 0 and sizes[g] < 60]
    multi = [g for g, s in enumerate(stats) if s["components"] > 1 and s["isolated"] == 0 and sizes[g] < 60]
    for g in rng.choice(iso, 4, replace=False):
        add(int(g), "isolated nodes")
    for g in rng.choice(multi, 4, replace=False):
        add(int(g), "several components")
    while len(chosen) < k:
        add(int(rng.integers(len(data))), "random")
    return chosen, why, stats


def onehot(types, f=14):
    x = torch.zeros(len(types), f)
    x[torch.arange(len(types)), torch.tensor(types)] = 1.0
    return x


def handmade_graphs():
    """Edge cases, in an edge order that is not sorted. Atom types: C=0 O=1 Cl=2 H=3 N=4."""
    out = []
    out.append(("single node, no edges", Data(x=onehot([0]), edge_index=torch.zeros((2, 0), dtype=torch.long))))
    out.append(("no edges", Data(x=onehot([0, 1, 4, 3]), edge_index=torch.zeros((2, 0), dtype=torch.long))))
    chain = [(0, 1), (1, 0), (2, 2), (1, 2), (2, 1), (2, 3), (3, 2), (0, 0), (3, 4), (4, 3), (3, 5), (5, 3)]
    out.append(("input self-loops (nodes 0 and 2)",
                Data(x=onehot([0, 0, 1, 4, 3, 3]), edge_index=torch.tensor(chain).t().contiguous())))
    ring = [(0, 1), (1, 0), (0, 1), (1, 2), (2, 1), (2, 3), (3, 2), (2, 3), (3, 4), (4, 3), (4, 0), (0, 4), (0, 1)]
    out.append(("duplicate edges (0->1 three times, 2->3 twice)",
                Data(x=onehot([0, 0, 4, 1, 1]), edge_index=torch.tensor(ring).t().contiguous())))
    star = []
    for v in range(1, 25):
        star += [(0, v), (v, 0)]
    star += [(1, 2), (2, 1), (5, 6), (6, 5)]
    out.append(("hub (node 0, degree 24)",
                Data(x=onehot([4] + [1 if v % 2 else 0 for v in range(1, 25)]),
                     edge_index=torch.tensor(star).t().contiguous())))
    return out


# ============================================================================ training


def train_graph_model(model, data, epochs, seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(data), generator=g).tolist()
    cut = int(0.85 * len(data))
    train, test = [data[i] for i in perm[:cut]], [data[i] for i in perm[cut:]]
    loader = DataLoader(train, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    out_kind = model.CARD["layers"][-1]["op"]
    for _ in range(epochs):
        model.train()
        for b in loader:
            opt.zero_grad()
            out = model(b.x, b.edge_index, b.batch)
            if out_kind == "log_softmax":
                loss = F.nll_loss(out, b.y)
            elif out_kind == "softmax":
                loss = F.nll_loss(torch.log(out.clamp_min(1e-12)), b.y)
            else:
                loss = F.cross_entropy(out, b.y)
            loss.backward()
            opt.step()
    model.eval()

    def acc(items):
        correct = 0
        with torch.no_grad():
            for b in DataLoader(items, batch_size=256):
                correct += int((model(b.x, b.edge_index, b.batch).argmax(-1) == b.y).sum())
        return correct / len(items)
    return {"train_acc": round(acc(train), 4), "test_acc": round(acc(test), 4),
            "split": "seeded permutation, first 85% train", "epochs": epochs, "lr": 0.005, "batch_size": 64}


def train_node_model(model, d, epochs, seed, lr=0.01, wd=5e-4, masks=True):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    train = d.train_mask if masks else torch.ones(d.num_nodes, dtype=torch.bool)
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        out = model(d.x, d.edge_index)
        F.nll_loss(out[train], d.y[train]).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(d.x, d.edge_index).argmax(-1)
    res = {"epochs": epochs, "lr": lr, "weight_decay": wd}
    if masks:
        for k in ("train", "val", "test"):
            m = getattr(d, f"{k}_mask")
            res[f"{k}_acc"] = round(float((pred[m] == d.y[m]).float().mean()), 4)
    else:
        res["train_acc_all_nodes"] = round(float((pred == d.y).float().mean()), 4)
    return res


def save_or_load(name, model, card, train_fn, retrain):
    mdir = OUT / "models"
    mdir.mkdir(parents=True, exist_ok=True)
    path, card_path, info_path = mdir / f"{name}.safetensors", mdir / f"{name}.json", mdir / f"{name}.train.json"
    if path.exists() and info_path.exists() and not retrain:
        sd = load_file(str(path))
        model.load_state_dict(sd)
        model.eval()
        info = json.loads(info_path.read_text())
        print(f"  {name}: loaded {path}")
    else:
        t0 = time.time()
        info = train_fn(model)
        # (no timing in the record: the files must not change from run to run)
        print(f"  {name}: trained in {time.time() - t0:.1f} s: {info}")
        info_path.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    model.eval()
    traced = export_model(model, path, card=card)
    assert traced == card, f"{name}: exporter card differs from the hand-written one"
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        assert json.loads(f.metadata()[CARD_KEY]) == json.loads(card_path.read_text())
    return info


# ============================================================================ explanations


def return_type(card):
    return {"log_softmax": "log_probs", "softmax": "probs"}.get(card["layers"][-1]["op"], "raw")


def make_explainer(model, card, method, edge, node):
    return Explainer(model, algorithm=CaptumExplainer(method), explanation_type="model",
                     edge_mask_type="object" if edge else None, node_mask_type="attributes" if node else None,
                     model_config=dict(mode="multiclass_classification", task_level=card["task"],
                                       return_type=return_type(card)))


def forward_with_mask(model, x, ei, extra, mask):
    """The model's output with every conv's messages multiplied by `mask` (None: plain forward),
    exactly as CaptumModel does (set_masks, apply_sigmoid=False)."""
    if mask is not None:
        set_masks(model, mask, ei, apply_sigmoid=False)
    try:
        with torch.no_grad():
            return model(x, ei, *extra)
    finally:
        clear_masks(model)


def explain_all(model, card, x, ei, extra, index=None):
    """Edge IG, node IG, joint IG, both saliencies, outputs, target and deltas for one graph (or
    one target node `index` of the whole graph)."""
    kw = {} if index is None else {"index": index}
    row = 0 if index is None else index
    n_e = ei.size(1)
    out = forward_with_mask(model, x, ei, extra, None)
    target = int(out[row].argmax())
    res = {"log_probs": out[row].clone(), "target": target}

    def call(method, edge, node):
        expl = make_explainer(model, card, method, edge, node)(x, ei, **kw, **({"batch": extra[0]} if extra else {}))
        assert int(expl.target[row] if index is None else expl.target[index]) == target
        return (expl.get("edge_mask"), expl.get("node_mask"))

    ones, zeros = torch.ones(n_e), torch.zeros(n_e)
    f_full = float(forward_with_mask(model, x, ei, extra, ones)[row, target])
    f_plain = float(out[row, target])
    f_edges_off = float(forward_with_mask(model, x, ei, extra, zeros)[row, target])
    f_x_zero = float(forward_with_mask(model, torch.zeros_like(x), ei, extra, None)[row, target])
    f_all_zero = float(forward_with_mask(model, torch.zeros_like(x), ei, extra, zeros)[row, target])
    assert f_full == f_plain, "a mask of ones must not change the output"
    res.update(f_full=f_full, f_edges_off=f_edges_off, f_x_zero=f_x_zero, f_all_zero=f_all_zero)

    # captum takes an empty edge mask (E = 0) as it is: empty edge attributions, and the joint
    # call's node part equals node IG (checked).
    e_ig, _ = call("IntegratedGradients", True, False)
    res["edge_ig"] = e_ig
    res["edge_ig_delta"] = float(e_ig.detach().sum()) - (f_full - f_edges_off)
    je, jn = call("IntegratedGradients", True, True)
    res["joint_edge_ig"], res["joint_node_ig"] = je, jn
    res["joint_delta"] = float(je.detach().sum() + jn.detach().sum()) - (f_full - f_all_zero)
    es, _ = call("Saliency", True, False)
    res["edge_saliency"] = es
    _, n_ig = call("IntegratedGradients", False, True)
    res["node_ig"] = n_ig
    res["node_ig_delta"] = float(n_ig.detach().sum()) - (f_plain - f_x_zero)
    if n_e == 0:
        assert torch.equal(jn, n_ig)
    _, ns = call("Saliency", False, True)
    res["node_saliency"] = ns
    return res


# Models with a global max pool over nodes that can tie exactly (the two O atoms of an NO2 group
# have equal embeddings): torch's GEMM rounds identical rows differently depending on where they
# sit in the matrix, which breaks true ties, and scatter_reduce('amax') then sends the whole
# gradient to one of them instead of splitting it. Their references are computed with every
# linear layer row-invariant (each output row a function of its input row alone: the same
# numbers up to rounding, ties kept); the stock numbers are kept under `pyg_batched.*`.
# Even then, a large graph can hold near-ties (two nodes within rounding of each other in a
# channel at some step) that rounding alone decides: a second row-invariant product (one GEMV
# per row) and the stock one give other, equally valid, numbers. `rounding_spread.KEY` [G] is
# the largest relative L2 distance between the three for each graph: how far rounding alone
# moves the reference (0 where the graph has no such near-tie).
ROW_INVARIANT = {"sage", "graphconv"}
SPREAD_KEYS = ("edge_ig", "node_ig", "joint_edge_ig", "joint_node_ig", "edge_saliency", "node_saliency")


class RowInvariantLinear:
    """Replaces torch.nn.functional.linear (which torch.nn.Linear and PyG's Linear call) by a
    row-by-row product while active."""

    def __enter__(self):
        self.orig = torch.nn.functional.linear

        def linear(x, weight, bias=None):
            y = (x.unsqueeze(-2) * weight).sum(-1)
            return y if bias is None else y + bias

        torch.nn.functional.linear = linear
        return self

    def __exit__(self, *exc):
        torch.nn.functional.linear = self.orig
        return False


class PerRowGemvLinear(RowInvariantLinear):
    """Another row-invariant product: one x_i W^T per row (another summation order)."""

    def __enter__(self):
        self.orig = torch.nn.functional.linear

        def linear(x, weight, bias=None):
            rows = x.reshape(-1, x.size(-1))
            y = torch.stack([rows[i] @ weight.t() for i in range(rows.size(0))]) if rows.size(0) else \
                rows.new_zeros(0, weight.size(0))
            y = y.reshape(*x.shape[:-1], weight.size(0))
            return y if bias is None else y + bias

        torch.nn.functional.linear = linear
        return self


def rel_l2(a, b, floor=1e-9):
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / max(float(b.norm()), floor))


def pack(meta, tensors, path):
    """One metadata key (a JSON string), so the header, and the file, are deterministic."""
    t = {k: (v.contiguous() if torch.is_tensor(v) else torch.tensor(v)) for k, v in tensors.items()}
    save_file(t, str(path), metadata={"zoo": json.dumps(meta, sort_keys=True)})


def graph_fixture(name, model, card, items, info):
    """items: (label, dataset_index or -1, Data). Writes OUT/NAME.safetensors."""
    model = model.double()
    rows = {k: [] for k in ("x", "edge_index", "edge_ig", "node_ig", "joint_edge_ig", "joint_node_ig",
                            "edge_saliency", "node_saliency", "log_probs", "nz_node", "nz_feat")}
    nz_ptr, n0 = [0], 0
    spread = {}
    scal = {k: [] for k in ("target", "edge_ig_delta", "node_ig_delta", "joint_delta", "f_full", "f_edges_off",
                            "f_x_zero", "f_all_zero", "dataset_index", "num_nodes", "num_edges")}
    labels = []
    for label, gi, d in items:
        x = d.x.double()
        ei = d.edge_index
        batch = torch.zeros(d.num_nodes, dtype=torch.long)
        if name in ROW_INVARIANT:
            stock = explain_all(model, card, x, ei, (batch,))
            with RowInvariantLinear():
                r = explain_all(model, card, x, ei, (batch,))
            with PerRowGemvLinear():
                other = explain_all(model, card, x, ei, (batch,))
            assert r["target"] == stock["target"] == other["target"], \
                f"{name} {label}: the rounding changed the target"
            for k in SPREAD_KEYS:
                spread.setdefault(k, []).append(max(rel_l2(stock[k], r[k]), rel_l2(other[k], r[k])))
            nz0 = (x != 0).nonzero()
            for k in ("edge_ig", "node_ig"):
                v = stock[k].detach()
                rows.setdefault(f"pyg_batched.{k}", []).append(v[nz0[:, 0], nz0[:, 1]] if k == "node_ig" else v)
        else:
            r = explain_all(model, card, x, ei, (batch,))
        # Node IG is (x - 0) * mean gradient: exactly 0 where x = 0; keep the entries where x != 0.
        nz = (x != 0).nonzero()
        for k in ("node_ig", "joint_node_ig"):
            assert (r[k].detach()[x == 0] == 0).all(), f"{name} {label}: {k} is not 0 where x = 0"
            r[k] = r[k].detach()[nz[:, 0], nz[:, 1]]
        r["nz_node"], r["nz_feat"] = nz[:, 0] + n0, nz[:, 1]
        n0 += d.num_nodes
        nz_ptr.append(nz_ptr[-1] + len(nz))
        for k in rows:
            if k in ("nz_node", "nz_feat"):
                rows[k].append(r[k])
            elif k == "x":
                rows[k].append(d.x.float())
            elif k == "edge_index":
                rows[k].append(ei)
            elif k == "log_probs":
                rows[k].append(r[k].view(1, -1))
            elif k.startswith("pyg_batched."):
                pass
            else:
                rows[k].append(r[k].detach().double())
        for k in scal:
            scal[k].append({"dataset_index": gi, "num_nodes": d.num_nodes, "num_edges": ei.size(1)}.get(k, r.get(k)))
        labels.append(label)
        # Self-loops that GCNConv/GATConv replace by their own: exactly 0 (edge IG, joint, saliency).
        loops = (ei[0] == ei[1])
        if loops.any() and all(op["op"] in ("GCNConv", "GATConv") for op in card["layers"] if "Conv" in op["op"]):
            for k in ("edge_ig", "joint_edge_ig", "edge_saliency"):
                assert (r[k][loops] == 0).all(), f"{name} {label}: {k} of an input self-loop is not 0"
    t = {k: torch.cat(v, 1 if k == "edge_index" else 0) for k, v in rows.items()}
    t["nz_ptr"] = torch.tensor(nz_ptr, dtype=torch.long)
    t["node_ptr"] = torch.tensor([0] + np.cumsum(scal["num_nodes"]).tolist(), dtype=torch.long)
    t["edge_ptr"] = torch.tensor([0] + np.cumsum(scal["num_edges"]).tolist(), dtype=torch.long)
    for k in ("target", "dataset_index"):
        t[k] = torch.tensor(scal[k], dtype=torch.long)
    for k, v in spread.items():
        t[f"rounding_spread.{k}"] = torch.tensor(v, dtype=torch.float64)
    for k in ("edge_ig_delta", "node_ig_delta", "joint_delta", "f_full", "f_edges_off", "f_x_zero", "f_all_zero"):
        t[k] = torch.tensor(scal[k], dtype=torch.float64)
    meta = {"model": f"models/{name}.safetensors", "task": "graph", "card": card, "graphs": labels,
            "data": "../shared/data/Mutagenicity/pyg/Mutagenicity.safetensors", "data_sha256": sha256(MUTAG),
            "n_steps": N_STEPS, "method": "gausslegendre", "target": "predicted", "versions": versions(),
            "train": info}
    pack(meta, t, OUT / f"{name}.safetensors")
    model.float()
    return max(abs(v) for v in scal["edge_ig_delta"] + scal["node_ig_delta"] + scal["joint_delta"])


def khop(ei, n, v, hops):
    """Distance (following edges towards v) of every node from v, capped at hops+1."""
    dist = torch.full((n,), hops + 1, dtype=torch.long)
    dist[v] = 0
    by_target = {}
    for k, (s, t) in enumerate(ei.t().tolist()):
        by_target.setdefault(t, []).append(s)
    q = deque([v])
    while q:
        u = q.popleft()
        if dist[u] >= hops:
            continue
        for s in by_target.get(u, []):
            if dist[s] > dist[u] + 1:
                dist[s] = dist[u] + 1
                q.append(s)
    return dist


def node_fixture(name, model, card, d, targets, info, data_ref=None, whole=True):
    """Per-target PyG Explainer(index=v) results on the whole graph, in the CSR layout of
    pyg-interchange.md section 4 (only the computation subgraph; the rest asserted to be 0)."""
    model = model.double()
    x, ei = d.x.double(), d.edge_index
    n, f = x.shape
    L = sum(1 for op in card["layers"] if "Conv" in op["op"])
    cols = {k: [] for k in ("edge_id", "edge_ig", "joint_edge_ig", "edge_saliency", "node_id", "nz_node", "nz_feat",
                            "node_ig", "joint_node_ig", "sal_node_id", "node_saliency", "log_probs")}
    ptrs = {k: [0] for k in ("edge_ptr", "node_ptr", "nz_ptr", "sal_ptr")}
    scal = {k: [] for k in ("target", "edge_ig_delta", "node_ig_delta", "joint_delta", "f_full", "f_edges_off",
                            "f_x_zero", "f_all_zero")}
    for v in targets:
        t0 = time.time()
        r = explain_all(model, card, x, ei, (), index=v)
        dist = khop(ei, n, v, L)
        e_in = (dist[ei[1]] <= L - 1) if ei.numel() else torch.zeros(0, dtype=torch.bool)
        n_in = dist <= L
        for k in ("edge_ig", "joint_edge_ig", "edge_saliency"):
            assert (r[k][~e_in] == 0).all(), f"{name} node {v}: {k} outside the computation subgraph"
        for k in ("node_ig", "joint_node_ig", "node_saliency"):
            assert (r[k][~n_in] == 0).all(), f"{name} node {v}: {k} outside the computation subgraph"
        eid = e_in.nonzero().view(-1)
        cols["edge_id"].append(eid)
        for k in ("edge_ig", "joint_edge_ig", "edge_saliency"):
            cols[k].append(r[k][eid].detach())
        nid = n_in.nonzero().view(-1)
        cols["node_id"].append(nid)
        # Node IG is (x - 0) * mean gradient: exactly 0 where x = 0. Keep the entries where x != 0.
        nz = (x[nid] != 0).nonzero()
        for k in ("node_ig", "joint_node_ig"):
            full = r[k].detach()
            assert (full[x == 0] == 0).all()
            cols[k].append(full[nid][nz[:, 0], nz[:, 1]])
        cols["nz_node"].append(nid[nz[:, 0]])
        cols["nz_feat"].append(nz[:, 1])
        # Saliency is dense: the rows of the subgraph's nodes if small, else the target's row only.
        sal_nodes = nid if len(nid) * f <= 4096 else torch.tensor([v])
        cols["sal_node_id"].append(sal_nodes)
        cols["node_saliency"].append(r["node_saliency"].detach()[sal_nodes])
        cols["log_probs"].append(r["log_probs"].view(1, -1))
        ptrs["edge_ptr"].append(ptrs["edge_ptr"][-1] + len(eid))
        ptrs["node_ptr"].append(ptrs["node_ptr"][-1] + len(nid))
        ptrs["nz_ptr"].append(ptrs["nz_ptr"][-1] + len(nz))
        ptrs["sal_ptr"].append(ptrs["sal_ptr"][-1] + len(sal_nodes))
        for k in scal:
            scal[k].append(r[k])
        print(f"    {name} node {v}: {len(eid)} edges, {len(nid)} nodes, {time.time() - t0:.1f} s")
    t = {k: torch.cat(v, 0) for k, v in cols.items()}
    t.update({k: torch.tensor(v, dtype=torch.long) for k, v in ptrs.items()})
    t["target_node"] = torch.tensor(targets, dtype=torch.long)
    t["target"] = torch.tensor(scal.pop("target"), dtype=torch.long)
    t.update({k: torch.tensor(v, dtype=torch.float64) for k, v in scal.items()})
    if whole:
        t["x"], t["edge_index"] = d.x.float(), ei
    meta = {"model": f"models/{name}.safetensors", "task": "node", "card": card, "num_layers": L,
            "n_steps": N_STEPS, "method": "gausslegendre", "target": "predicted", "versions": versions(),
            "train": info, "data": data_ref or "x and edge_index in this file",
            "data_sha256": sha256(CORA) if data_ref else None}
    model.float()
    return t, meta


def attention(model, d, loops_graph=None):
    """GATConv coefficients as return_attention_weights=True gives them (float64 run), entropies,
    and PyG's AttentionExplainer on a few nodes."""
    model = model.double()
    x, ei = d.x.double(), d.edge_index
    out = {}
    with torch.no_grad():
        h = x
        convs = [model.conv1, model.conv2]
        for i, conv in enumerate(convs):
            h, (ei2, alpha) = conv(h, ei, return_attention_weights=True)
            p = f"conv{i + 1}"
            if i == 0:
                out[f"{p}.edge_index"] = ei2
            else:  # the same list for every GATConv: stored once, under conv1
                assert torch.equal(ei2, out["conv1.edge_index"])
            out[f"{p}.alpha"] = alpha.float()
            n = x.size(0)
            ent = torch.zeros(n, alpha.size(1), dtype=torch.float64)
            ent.index_add_(0, ei2[1], -alpha * torch.log(alpha))
            deg = torch.bincount(ei2[1], minlength=n).double()
            out[f"{p}.entropy"] = ent.float()
            out[f"{p}.uniform_entropy"] = torch.log(deg).float()
            if i == 0:
                h = F.elu(h)
    model.float()
    return out


def attention_explainer(model, d, nodes, reduce="max"):
    """PyG's AttentionExplainer edge masks for `nodes` (float64), and what the value would be
    with the coefficients matched to their edges (alpha[:E] misaligns when the input has
    self-loops: GATConv drops them and appends its own loops after the other edges)."""
    model = model.double()
    x, ei = d.x.double(), d.edge_index
    e = ei.size(1)
    res = {}
    pyg, correct = [], []
    for v in nodes:
        ex = Explainer(model, algorithm=AttentionExplainer(reduce=reduce), explanation_type="model",
                       edge_mask_type="object", node_mask_type=None,
                       model_config=dict(mode="multiclass_classification", task_level="node", return_type="log_probs"))
        m = ex(x, ei, index=v).edge_mask.detach()
        pyg.append(m)
        # The correct reduction: each input edge gets its own coefficient; an input self-loop
        # gets the coefficient of the loop GATConv put in its place.
        alphas = []
        with torch.no_grad():
            h = x
            for i, conv in enumerate([model.conv1, model.conv2]):
                h, (ei2, a) = conv(h, ei, return_attention_weights=True)
                key = {(s, t): k for k, (s, t) in enumerate(ei2.t().tolist())}
                idx = torch.tensor([key[(s, t)] for s, t in ei.t().tolist()], dtype=torch.long)
                a = a[idx]
                a = a.max(dim=-1).values if reduce == "max" else a.mean(dim=-1)
                alphas.append(a)
                if i == 0:
                    h = F.elu(h)
        a = torch.stack(alphas, -1)
        a = a.max(dim=-1).values if reduce == "max" else a.mean(dim=-1)
        from torch_geometric.utils import k_hop_subgraph
        _, _, _, hard = k_hop_subgraph(v, 2, ei, num_nodes=x.size(0))
        a[~hard] = 0
        correct.append(a)
    res["attention_explainer.nodes"] = torch.tensor(nodes, dtype=torch.long)
    res["attention_explainer.pyg"] = torch.stack(pyg).float()
    res["attention_explainer.correct"] = torch.stack(correct).float()
    loops = (ei[0] == ei[1])
    res["attention_explainer.input_loops"] = torch.tensor(int(loops.sum()))
    model.float()
    assert e == pyg[0].numel()
    return res


# ============================================================================ main


def main():
    global OUT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--retrain", action="store_true", help="train even where a model file exists")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--epochs", type=int, default=20, help="Mutagenicity training epochs")
    ap.add_argument("--graphs", type=int, default=20, help="real Mutagenicity graphs per model")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default tests/fixtures/zoo)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    OUT = args.out
    torch.use_deterministic_algorithms(True)
    only = set(filter(None, args.only.split(",")))
    want = lambda n: not only or n in only  # noqa: E731
    OUT.mkdir(parents=True, exist_ok=True)
    summary = {}

    print("Mutagenicity:")
    data = load_mutagenicity()
    picked, why, stats = pick_graphs(data, args.graphs)
    items = [(f"mutagenicity[{g}] ({why[g]}: {data[g].num_nodes} nodes, {data[g].edge_index.size(1)} edges, "
              f"{stats[g]['isolated']} isolated, {stats[g]['components']} components)", g, data[g]) for g in picked]
    items += [(label, -1, d) for label, d in handmade_graphs()]
    zoo = [("gcn", GcnNet), ("gin", GinNet), ("sage", SageNet), ("gat", GatNet), ("graphconv", GraphConvNet),
           ("mixed", MixedNet)]
    for i, (name, cls) in enumerate(zoo):
        if not want(name):
            continue
        torch.set_default_dtype(torch.float32)
        torch.manual_seed(SEED + i)
        model = cls(14, 2)
        info = save_or_load(name, model, cls.CARD, lambda m: train_graph_model(m, data, args.epochs, SEED + i),
                            args.retrain)
        torch.set_default_dtype(torch.float64)
        t0 = time.time()
        worst = graph_fixture(name, model, cls.CARD, items, info)
        summary[name] = info
        print(f"  {name}: fixtures in {time.time() - t0:.1f} s, largest |delta| {worst:.2e}")

    torch.set_default_dtype(torch.float32)
    cora = load_cora()
    n = cora.num_nodes
    indeg = torch.bincount(cora.edge_index[1], minlength=n)
    hub = int(indeg.argmax())
    deg1 = [int(v) for v in (indeg == 1).nonzero().view(-1)[:2]]
    cora_targets = sorted({hub, *deg1, 0, 5, 140, 333, 641, 1708, 1800, 2000, 2707})
    print(f"Cora: hub {hub} (in-degree {int(indeg[hub])}), targets {cora_targets}")
    node_zoo = [("cora_gcn", lambda: NodeGcn(1433, 7), NodeGcn.CARD, 200),
                ("cora_gat", lambda: NodeGat(1433, 7, hidden=8, heads=8), NodeGat.card(8), 200)]
    for i, (name, make, card, epochs) in enumerate(node_zoo):
        if not want(name):
            continue
        torch.set_default_dtype(torch.float32)
        torch.manual_seed(SEED + 10 + i)
        model = make()
        lr = 0.005 if "gat" in name else 0.01
        info = save_or_load(name, model, card, lambda m: train_node_model(m, cora, epochs, SEED + 10 + i, lr=lr),
                            args.retrain)
        torch.set_default_dtype(torch.float64)
        t0 = time.time()
        t, meta = node_fixture(name, model, card, cora, cora_targets, info,
                               data_ref="../shared/data/Planetoid/Cora.safetensors", whole=False)
        if "gat" in name:
            t.update(attention(model, cora))
            t.update(attention_explainer(model, cora, [hub, deg1[0], 1708]))
        pack(meta, t, OUT / f"{name}.safetensors")
        summary[name] = info
        print(f"  {name}: fixtures in {time.time() - t0:.1f} s")

    torch.set_default_dtype(torch.float32)
    syn = synthetic_node_graph()
    syn_zoo = [("synth_node_gcn", lambda: NodeGcn(6, 3, w=8), {**NodeGcn.CARD}),
               ("synth_node_gat", lambda: NodeGat(6, 3, hidden=4, heads=3), NodeGat.card(3))]
    for i, (name, make, card) in enumerate(syn_zoo):
        if not want(name):
            continue
        torch.set_default_dtype(torch.float32)
        torch.manual_seed(SEED + 20 + i)
        model = make()
        info = save_or_load(name, model, card,
                            lambda m: train_node_model(m, syn, 100, SEED + 20 + i, wd=0.0, masks=False), args.retrain)
        torch.set_default_dtype(torch.float64)
        t, meta = node_fixture(name, model, card, syn, list(range(syn.num_nodes)), info)
        if "gat" in name:
            t.update(attention(model, syn))
            t.update(attention_explainer(model, syn, [0, 3, 7, 11, 28]))
        pack(meta, t, OUT / f"{name}.safetensors")
        summary[name] = info
    torch.set_default_dtype(torch.float32)
    print(json.dumps(summary, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
