"""Tests of graph_ig_export (run with pytest where torch and torch_geometric are installed:
`pip install -r scripts/requirements.txt`, then `pytest python/`)."""

import json
import os
import sys

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch_geometric.nn as pnn  # noqa: E402
from torch_geometric.data import Data  # noqa: E402
from torch_geometric.nn import (GATConv, GCNConv, GINConv, GraphConv, SAGEConv,  # noqa: E402
                                global_add_pool, global_max_pool, global_mean_pool)

from graph_ig_export import CARD_KEY, ExportError, arch_card, export_data, export_model  # noqa: E402


def mlp(i, o):
    return torch.nn.Sequential(torch.nn.Linear(i, o), torch.nn.BatchNorm1d(o), torch.nn.ReLU(), torch.nn.Linear(o, o))


class Stack(torch.nn.Module):
    """convs, activation, pool, head: the common shape of a PyG graph classifier."""

    def __init__(self, convs, act=F.relu, pool=global_add_pool, head_act=F.relu, out=F.log_softmax):
        super().__init__()
        self.convs = torch.nn.ModuleList(convs)
        self.act, self.pool, self.head_act, self.out = act, pool, head_act, out
        self.lin1 = torch.nn.Linear(16, 16)
        self.lin2 = torch.nn.Linear(16, 2)

    def forward(self, x, edge_index, batch):
        for conv in self.convs:
            x = self.act(conv(x, edge_index))
        x = self.pool(x, batch)
        x = self.head_act(self.lin1(x))
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.lin2(x)
        return x if self.out is None else self.out(x, dim=-1)


def head(pool, act="relu"):
    return [{"op": pool}, {"op": "Linear", "prefix": "lin1"}, {"op": act}, {"op": "dropout", "p": 0.5},
            {"op": "Linear", "prefix": "lin2"}]


def card(layers, task="graph"):
    return {"format": "graph-ig-arch/1", "task": task, "layers": layers}


def test_gcn():
    m = Stack([GCNConv(14, 16), GCNConv(16, 16, improved=True)])
    assert arch_card(m) == card([
        {"op": "GCNConv", "prefix": "convs.0", "improved": False, "add_self_loops": True, "normalize": True},
        {"op": "relu"},
        {"op": "GCNConv", "prefix": "convs.1", "improved": True, "add_self_loops": True, "normalize": True},
        {"op": "relu"}] + head("global_add_pool") + [{"op": "log_softmax"}])
    m = Stack([GCNConv(14, 16, normalize=False)], act=torch.tanh, pool=global_mean_pool, out=None)
    assert arch_card(m) == card([
        {"op": "GCNConv", "prefix": "convs.0", "improved": False, "add_self_loops": False, "normalize": False},
        {"op": "tanh"}] + head("global_mean_pool"))


def test_gin_nested_nn():
    m = Stack([GINConv(mlp(14, 16)), GINConv(mlp(16, 16), train_eps=True)], act=F.elu, pool=global_max_pool)
    gin = lambda p: {"op": "GINConv", "prefix": p, "nn": [  # noqa: E731
        {"op": "Linear", "prefix": f"{p}.nn.0"}, {"op": "BatchNorm1d", "prefix": f"{p}.nn.1", "eps": 1e-5},
        {"op": "relu"}, {"op": "Linear", "prefix": f"{p}.nn.3"}]}
    assert arch_card(m) == card([gin("convs.0"), {"op": "elu", "alpha": 1.0}, gin("convs.1"),
                                 {"op": "elu", "alpha": 1.0}] + head("global_max_pool") + [{"op": "log_softmax"}])


def test_sage():
    m = Stack([SAGEConv(14, 16), SAGEConv(16, 16, normalize=True, root_weight=False)],
              act=lambda x: F.leaky_relu(x, 0.1))
    got = arch_card(m)
    assert got["layers"][:4] == [
        {"op": "SAGEConv", "prefix": "convs.0", "aggr": "mean", "root_weight": True, "normalize": False},
        {"op": "leaky_relu", "negative_slope": 0.1},
        {"op": "SAGEConv", "prefix": "convs.1", "aggr": "mean", "root_weight": False, "normalize": True},
        {"op": "leaky_relu", "negative_slope": 0.1}]


def test_gat():
    m = Stack([GATConv(14, 8, heads=2), GATConv(16, 16, heads=3, concat=False, negative_slope=0.1)], act=F.elu)
    assert arch_card(m)["layers"][:4] == [
        {"op": "GATConv", "prefix": "convs.0", "heads": 2, "concat": True, "negative_slope": 0.2, "add_self_loops": True},
        {"op": "elu", "alpha": 1.0},
        {"op": "GATConv", "prefix": "convs.1", "heads": 3, "concat": False, "negative_slope": 0.1, "add_self_loops": True},
        {"op": "elu", "alpha": 1.0}]


def test_graphconv_and_module_activations():
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = GraphConv(14, 16, aggr="mean")
            self.act = torch.nn.LeakyReLU(0.2)
            self.bn = torch.nn.BatchNorm1d(16, eps=1e-3)
            self.drop = torch.nn.Dropout(0.25)
            self.lin = torch.nn.Linear(16, 3)
            self.out = torch.nn.LogSoftmax(dim=1)

        def forward(self, x, edge_index, batch):
            x = self.act(self.conv(x, edge_index)).sigmoid()
            x = pnn.global_mean_pool(x, batch)  # reached as a module attribute
            return self.out(self.lin(self.drop(self.bn(x))))

    assert arch_card(M()) == card([
        {"op": "GraphConv", "prefix": "conv", "aggr": "mean"}, {"op": "leaky_relu", "negative_slope": 0.2},
        {"op": "sigmoid"}, {"op": "global_mean_pool"}, {"op": "BatchNorm1d", "prefix": "bn", "eps": 1e-3},
        {"op": "dropout", "p": 0.25}, {"op": "Linear", "prefix": "lin"}, {"op": "log_softmax"}])


def test_mixed_stack_and_the_contract_example():
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GCNConv(14, 16)
            self.conv2 = GATConv(16, 4, heads=4)
            self.conv3 = SAGEConv(16, 16)
            self.conv4 = GINConv(mlp(16, 16))
            self.conv5 = GraphConv(16, 16)
            self.lin1 = torch.nn.Linear(16, 16)
            self.lin2 = torch.nn.Linear(16, 2)

        def forward(self, x, edge_index, batch):
            x = self.conv1(x, edge_index).relu()
            x = F.elu(self.conv2(x, edge_index))
            x = self.conv3(x, edge_index)
            x = self.conv4(x, edge_index)
            x = self.conv5(x, edge_index)
            x = global_mean_pool(x, batch)
            x = F.relu(self.lin1(x))
            x = F.dropout(x, p=0.5, training=self.training)
            return F.log_softmax(self.lin2(x), dim=-1)

    # The example card of pyg-interchange.md, section 2.
    want = {"format": "graph-ig-arch/1", "task": "graph", "layers": [
        {"op": "GCNConv", "prefix": "conv1", "improved": False, "add_self_loops": True, "normalize": True},
        {"op": "relu"},
        {"op": "GATConv", "prefix": "conv2", "heads": 4, "concat": True, "negative_slope": 0.2, "add_self_loops": True},
        {"op": "elu", "alpha": 1.0},
        {"op": "SAGEConv", "prefix": "conv3", "aggr": "mean", "root_weight": True, "normalize": False},
        {"op": "GINConv", "prefix": "conv4", "nn": [
            {"op": "Linear", "prefix": "conv4.nn.0"}, {"op": "BatchNorm1d", "prefix": "conv4.nn.1", "eps": 1e-5},
            {"op": "relu"}, {"op": "Linear", "prefix": "conv4.nn.3"}]},
        {"op": "GraphConv", "prefix": "conv5", "aggr": "add"},
        {"op": "global_mean_pool"},
        {"op": "Linear", "prefix": "lin1"}, {"op": "relu"}, {"op": "dropout", "p": 0.5},
        {"op": "Linear", "prefix": "lin2"},
        {"op": "log_softmax"}]}
    assert arch_card(M()) == want


def test_node_task():
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GCNConv(10, 16)
            self.conv2 = GCNConv(16, 3)

        def forward(self, x, edge_index):
            x = F.dropout(x, p=0.5, training=self.training)
            x = F.relu(self.conv1(x, edge_index))
            return F.log_softmax(self.conv2(x, edge_index), dim=1)

    c = arch_card(M())
    assert c["task"] == "node"
    assert [op["op"] for op in c["layers"]] == ["dropout", "GCNConv", "relu", "GCNConv", "log_softmax"]
    with pytest.raises(ExportError, match="exactly one global pool"):
        arch_card(M(), task="graph")


def test_export_model_writes_weights_and_card(tmp_path):
    m = Stack([GINConv(mlp(14, 16)), GATConv(16, 16, heads=1)])
    p = tmp_path / "m.safetensors"
    c = export_model(m, p)
    with safe_open(str(p), "pt") as f:
        meta = f.metadata()
    assert json.loads(meta[CARD_KEY]) == c == arch_card(m)
    w = load_file(str(p))
    sd = m.state_dict()
    assert set(w) == set(sd)
    for k in sd:
        assert torch.equal(w[k], sd[k]), k
    assert w["convs.0.nn.1.num_batches_tracked"].dtype == torch.int64
    assert w["convs.0.eps"].shape == (1,)
    # A hand-written card must equal the traced one.
    export_model(m, p, card=c)
    bad = json.loads(json.dumps(c))
    bad["layers"][0]["prefix"] = "conv1"
    with pytest.raises(ExportError, match="differs from the traced one"):
        export_model(m, p, card=bad)


class Fn(torch.nn.Module):
    """A GCN graph model whose forward is `body`."""

    def __init__(self, body, conv=None):
        super().__init__()
        self.conv = conv if conv is not None else GCNConv(4, 16)
        self.conv2 = GCNConv(16, 16)
        self.lin = torch.nn.Linear(16, 2)
        self.body = body

    def forward(self, x, edge_index, batch):
        return self.body(self, x, edge_index, batch)


def fails(body, *match, conv=None, task=None):
    with pytest.raises(ExportError) as e:
        arch_card(Fn(body, conv), task)
    for m in match:
        assert m in str(e.value), f"{m!r} not in {e.value}"
    return str(e.value)


def test_failure_unknown_function():
    fails(lambda s, x, ei, b: s.lin(global_add_pool(torch.flatten(s.conv(x, ei), 1), b)),
          "fx node 'flatten'", "not in the card's list")
    fails(lambda s, x, ei, b: s.lin(global_add_pool(torch.cat([s.conv(x, ei), s.conv(x, ei)], -1), b)),
          "several nodes (conv, conv_1)")
    fails(lambda s, x, ei, b: s.lin(global_add_pool(s.conv(x, ei) * 2, b)), "'mul'", "not in the card's list")
    fails(lambda s, x, ei, b: s.lin(global_add_pool(s.conv(x, ei).abs(), b)), "'.abs()'")


def test_failure_branch():
    def body(s, x, ei, b):
        h = s.conv(x, ei)
        if h.sum() > 0:
            h = h.relu()
        return s.lin(global_add_pool(h, b))
    fails(body, "cannot trace", "branch")


def test_failure_skip_connection():
    def body(s, x, ei, b):
        h = s.conv(x, ei)
        h = h + s.conv2(h, ei)
        return s.lin(global_add_pool(h, b))
    fails(body, "several nodes", "branch")


def test_failure_unsupported_conv_and_options():
    fails(lambda s, x, ei, b: s.lin(global_add_pool(s.conv(x, ei), b)), "ChebConv", "not in the card's list",
          conv=pnn.ChebConv(4, 16, K=2))
    fails(lambda s, x, ei, b: s.lin(global_add_pool(s.conv(x, ei), b)), "aggr='max'", conv=SAGEConv(4, 16, aggr="max"))
    fails(lambda s, x, ei, b: s.lin(global_add_pool(s.conv(x, ei), b)), "edge_dim", conv=GATConv(4, 16, edge_dim=3))
    fails(lambda s, x, ei, b: s.lin(global_add_pool(s.conv(x, ei, size=None), b)), "extra arguments")


def test_failure_pools():
    fails(lambda s, x, ei, b: s.lin(global_add_pool(global_add_pool(s.conv(x, ei), b), b)),
          "exactly one global pool", "global_add_pool_1")
    fails(lambda s, x, ei, b: s.lin(s.conv(x, ei)), "exactly one global pool", "none found", task="graph")
    fails(lambda s, x, ei, b: s.lin(global_add_pool(s.conv(x, ei), b)), "node task has no pool", task="node")


def test_failure_output():
    fails(lambda s, x, ei, b: F.log_softmax(s.lin(global_add_pool(s.conv(x, ei), b)), dim=0), "dim=0")
    fails(lambda s, x, ei, b: F.log_softmax(global_add_pool(s.conv(x, ei), b), dim=-1).relu(), "must be the last op")
    fails(lambda s, x, ei, b: (s.lin(global_add_pool(s.conv(x, ei), b)), b), "forward returns")


def test_export_data(tmp_path):
    g1 = Data(x=torch.tensor([[1., 0.], [0., 1.], [1., 1.]]), edge_index=torch.tensor([[0, 1, 2], [1, 0, 2]]),
              y=torch.tensor([1]))
    g2 = Data(x=torch.tensor([[0., 0.]]), edge_index=torch.zeros((2, 0), dtype=torch.long), y=torch.tensor([0]))
    p = tmp_path / "d.safetensors"
    t = export_data([g1, g2], p)
    back = load_file(str(p))
    assert set(back) == {"x", "edge_index", "y", "batch", "ptr"} == set(t)
    assert back["ptr"].tolist() == [0, 3, 4] and back["batch"].tolist() == [0, 0, 0, 1]
    assert back["edge_index"].tolist() == [[0, 1, 2], [1, 0, 2]]
    export_data([g1, g2], p, x_as_u8=True)
    back = load_file(str(p))
    assert back["x"].dtype == torch.uint8 and back["x"].tolist() == [[1, 0], [0, 1], [1, 1], [0, 0]]
    # One Data: no batch, no ptr.
    export_data(g1, p)
    assert set(load_file(str(p))) == {"x", "edge_index", "y"}
    g1.x[0, 0] = 0.5
    with pytest.raises(ValueError, match="0/1"):
        export_data(g1, p, x_as_u8=True)
