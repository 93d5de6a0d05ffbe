"""Export PyTorch Geometric models and data for graph-ig.

Two functions, following the contract in ``pyg-interchange.md`` (sections 1 and 2):

``export_model(model, path, task=None)``
    Writes the model's ``state_dict`` as safetensors with the architecture card (JSON) in the
    metadata key ``graph_ig.arch``. The card is read off the model: ``model.forward`` is traced
    with ``torch.fx``, PyG's ``MessagePassing`` layers and ``torch.nn`` modules are leaves, and
    the traced graph must be one chain of ops from the card's list (convs, Linear, BatchNorm1d,
    activations, dropout, one global pool for graph tasks, log_softmax/softmax). Anything else
    raises ``ExportError`` naming the fx node, its target and why.

``export_data(dataset_or_batch, path, x_as_u8=False)``
    Writes a PyG ``Dataset`` (batched with ``Batch.from_data_list``), a list of ``Data``, a
    ``Batch`` or a single ``Data`` as the data file: every tensor attribute under its PyG name.

Only torch, torch_geometric and safetensors are needed (pinned in ``scripts/requirements.txt``).
"""

from __future__ import annotations

import json
import operator
from typing import Any, Dict, List, Optional

import torch
import torch.fx as fx
import torch.nn.functional as F
from safetensors.torch import save_file

import torch_geometric.nn as pyg_nn
import torch_geometric.nn.pool as pyg_pool
import torch_geometric.nn.pool.glob as pyg_glob
from torch_geometric.nn import MessagePassing
from torch_geometric.nn import GATConv, GCNConv, GINConv, GraphConv, SAGEConv

__all__ = ["ExportError", "arch_card", "export_model", "export_data", "CARD_KEY", "FORMAT"]

CARD_KEY = "graph_ig.arch"
FORMAT = "graph-ig-arch/1"

POOLS = {
    pyg_glob.global_add_pool: "global_add_pool",
    pyg_glob.global_mean_pool: "global_mean_pool",
    pyg_glob.global_max_pool: "global_max_pool",
}


class ExportError(ValueError):
    """The model cannot be described by an architecture card; the message says where and why."""


# --------------------------------------------------------------------------------------------
# Tracing


class _Tracer(fx.Tracer):
    """fx tracer with MessagePassing layers, torch.nn modules and PyG's Linear as leaves, and the
    global pools recorded as single call_function nodes."""

    def __init__(self):
        super().__init__(autowrap_functions=tuple(POOLS))

    def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
        if isinstance(m, (MessagePassing, pyg_nn.Linear)):
            return True
        return super().is_leaf_module(m, qualname)


class _PatchedPools:
    """Makes ``torch_geometric.nn.global_*_pool`` (reached as module attributes, which fx's
    autowrap does not see) record one call_function node while tracing."""

    MODULES = (pyg_nn, pyg_pool, pyg_glob)

    def __enter__(self):
        self.saved = []
        for fn, name in POOLS.items():
            def wrapper(*args, __fn=fn, **kwargs):
                for a in list(args) + list(kwargs.values()):
                    if isinstance(a, fx.Proxy):
                        return a.tracer.create_proxy("call_function", __fn, args, kwargs)
                return __fn(*args, **kwargs)

            for mod in self.MODULES:
                if getattr(mod, name, None) is fn:
                    self.saved.append((mod, name, fn))
                    setattr(mod, name, wrapper)

        # A pool reached through an attribute (`self.pool = global_add_pool`) runs the real
        # function, whose call to `scatter` gets the proxies: record the pool there.
        orig_scatter = pyg_glob.scatter
        by_reduce = {POOLS[f][len("global_"):-len("_pool")]: f for f in POOLS}
        by_reduce["sum"] = by_reduce.pop("add")

        def scatter(src, index, dim=0, dim_size=None, reduce="sum", **kw):
            if isinstance(src, fx.Proxy) or isinstance(index, fx.Proxy):
                pool = by_reduce.get(reduce)
                if pool is None or dim != -2 or dim_size is not None or kw:
                    raise ExportError(f"a global pool with reduce={reduce!r}, dim={dim}, size={dim_size} is not supported")
                return src.tracer.create_proxy("call_function", pool, (src, index), {})
            return orig_scatter(src, index, dim=dim, dim_size=dim_size, reduce=reduce, **kw)

        self.saved.append((pyg_glob, "scatter", orig_scatter))
        pyg_glob.scatter = scatter
        return self

    def __exit__(self, *exc):
        for mod, name, fn in self.saved:
            setattr(mod, name, fn)
        return False


def _trace(module: torch.nn.Module, what: str) -> fx.Graph:
    tracer = _Tracer()
    try:
        with _PatchedPools():
            return tracer.trace(module)
    except ExportError:
        raise
    except Exception as e:  # fx raises TraceError, TypeError, RuntimeError, ...
        raise ExportError(
            f"{what}: torch.fx cannot trace {type(module).__name__}.forward: {e} "
            "(a Python branch or loop on tensor values, or a call fx cannot follow; "
            "the card needs one fixed chain of ops)"
        ) from e


def _node_desc(node: fx.Node) -> str:
    t = node.target
    name = getattr(t, "__qualname__", None) or getattr(t, "__name__", None) or str(t)
    mod = getattr(t, "__module__", None)
    if node.op == "call_function" and mod:
        name = f"{mod}.{name}"
    return f"fx node '{node.name}' ({node.op} {name})"


# --------------------------------------------------------------------------------------------
# Ops


def _dim_ok(dim) -> bool:
    return dim in (-1, 1)


def _check_dim(node: fx.Node, dim, what: str):
    if not _dim_ok(dim):
        raise ExportError(f"{_node_desc(node)}: {what} over dim={dim!r}; only the class dimension (dim=-1 or 1) is supported")


def _arg(node: fx.Node, i: int, name: str, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


ACT_FUNCS = {
    F.relu: "relu", torch.relu: "relu",
    F.elu: "elu",
    F.leaky_relu: "leaky_relu",
    torch.tanh: "tanh", F.tanh: "tanh",
    torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
}
ACT_METHODS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}


def _activation(name: str, node: fx.Node, alpha=None, slope=None) -> Dict[str, Any]:
    if name == "elu":
        a = 1.0 if alpha is None else alpha
        if isinstance(a, fx.Node):
            raise ExportError(f"{_node_desc(node)}: elu's alpha must be a constant")
        return {"op": "elu", "alpha": float(a)}
    if name == "leaky_relu":
        s = 0.01 if slope is None else slope
        if isinstance(s, fx.Node):
            raise ExportError(f"{_node_desc(node)}: leaky_relu's negative_slope must be a constant")
        return {"op": "leaky_relu", "negative_slope": float(s)}
    return {"op": name}


def _conv_op(m: MessagePassing, prefix: str, node: fx.Node) -> Dict[str, Any]:
    where = f"{_node_desc(node)}, {type(m).__name__} '{prefix}'"

    def aggr_name():
        a = m.aggr
        if not isinstance(a, str):
            raise ExportError(f"{where}: aggregation {a!r} is not supported; use a single aggr string")
        return {"sum": "add"}.get(a, a)

    # Exact classes only: a subclass may change message() or forward().
    if type(m) is GraphConv:
        a = aggr_name()
        if a not in ("add", "mean", "max"):
            raise ExportError(f"{where}: aggr={a!r} is not supported (add, mean or max)")
        return {"op": "GraphConv", "prefix": prefix, "aggr": a}
    if type(m) is GCNConv:
        if aggr_name() != "add":
            raise ExportError(f"{where}: aggr={m.aggr!r} is not supported (GCNConv sums)")
        return {"op": "GCNConv", "prefix": prefix, "improved": bool(m.improved),
                "add_self_loops": bool(m.add_self_loops), "normalize": bool(m.normalize)}
    if type(m) is SAGEConv:
        a = aggr_name()
        if a != "mean":
            raise ExportError(f"{where}: aggr={a!r} is not supported (SAGEConv with mean aggregation only)")
        if m.project:
            raise ExportError(f"{where}: project=True is not supported")
        return {"op": "SAGEConv", "prefix": prefix, "aggr": a,
                "root_weight": bool(m.root_weight), "normalize": bool(m.normalize)}
    if type(m) is GINConv:
        if aggr_name() != "add":
            raise ExportError(f"{where}: aggr={m.aggr!r} is not supported (GINConv sums)")
        nn_ops = _chain(m.nn, f"{prefix}.nn", allow_convs=False, what=f"{where}: its nn")
        return {"op": "GINConv", "prefix": prefix, "nn": nn_ops}
    if type(m) is GATConv:
        if getattr(m, "lin", None) is None:
            raise ExportError(f"{where}: separate source/target weights (tuple in_channels) are not supported")
        if getattr(m, "edge_dim", None) is not None:
            raise ExportError(f"{where}: edge_dim={m.edge_dim} (edge features) is not supported")
        if getattr(m, "res", None) is not None:
            raise ExportError(f"{where}: residual=True is not supported")
        return {"op": "GATConv", "prefix": prefix, "heads": int(m.heads), "concat": bool(m.concat),
                "negative_slope": float(m.negative_slope), "add_self_loops": bool(m.add_self_loops)}
    raise ExportError(f"{where}: conv type {type(m).__name__} is not in the card's list "
                      "(GraphConv, GCNConv, SAGEConv, GINConv, GATConv)")


def _module_op(m: torch.nn.Module, prefix: str, node: fx.Node) -> Optional[Dict[str, Any]]:
    """The card op of a leaf module (None for an identity)."""
    if isinstance(m, (torch.nn.Linear, pyg_nn.Linear)):
        return {"op": "Linear", "prefix": prefix}
    if isinstance(m, torch.nn.BatchNorm1d):
        if not m.track_running_stats or m.running_mean is None:
            raise ExportError(f"{_node_desc(node)}: BatchNorm1d '{prefix}' without running statistics is not supported (eval mode needs them)")
        if not m.affine:
            raise ExportError(f"{_node_desc(node)}: BatchNorm1d '{prefix}' with affine=False is not supported")
        return {"op": "BatchNorm1d", "prefix": prefix, "eps": float(m.eps)}
    if isinstance(m, torch.nn.Dropout):
        return {"op": "dropout", "p": float(m.p)}
    if isinstance(m, torch.nn.Identity):
        return None
    if isinstance(m, torch.nn.ReLU):
        return {"op": "relu"}
    if isinstance(m, torch.nn.ELU):
        return {"op": "elu", "alpha": float(m.alpha)}
    if isinstance(m, torch.nn.LeakyReLU):
        return {"op": "leaky_relu", "negative_slope": float(m.negative_slope)}
    if isinstance(m, torch.nn.Tanh):
        return {"op": "tanh"}
    if isinstance(m, torch.nn.Sigmoid):
        return {"op": "sigmoid"}
    if isinstance(m, (torch.nn.LogSoftmax, torch.nn.Softmax)):
        _check_dim(node, m.dim, type(m).__name__)
        return {"op": "log_softmax" if isinstance(m, torch.nn.LogSoftmax) else "softmax"}
    raise ExportError(f"{_node_desc(node)}: module '{prefix}' of type {type(m).__name__} is not in the card's list "
                      "(Linear, BatchNorm1d, Dropout, ReLU, ELU, LeakyReLU, Tanh, Sigmoid, LogSoftmax, Softmax)")


def _chain(module: torch.nn.Module, prefix: str, allow_convs: bool, what: str):
    """Traces `module` and turns its graph into a list of card ops. Returns the ops (and, for the
    top level, the list of pool nodes) after checking that the graph is one chain."""
    graph = _trace(module, what)
    root = module
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if not placeholders:
        raise ExportError(f"{what}: forward takes no inputs")
    x_in = placeholders[0]
    edge_index = placeholders[1] if allow_convs and len(placeholders) > 1 else None
    batch = placeholders[2] if allow_convs and len(placeholders) > 2 else None
    for extra in placeholders[3 if allow_convs else 1:]:
        if extra.users:
            raise ExportError(f"{what}: forward input '{extra.name}' is used, but the card takes only x, edge_index and batch")

    ops: List[Dict[str, Any]] = []
    current = x_in  # the value the next op must consume
    pools = []

    def full(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    def consume(node: fx.Node, main):
        nonlocal current
        if main is not current:
            got = main.name if isinstance(main, fx.Node) else repr(main)
            raise ExportError(f"{what}: {_node_desc(node)} takes '{got}', not the output of the previous op "
                              f"'{current.name}': the card needs one chain of ops (no skip connections or branches)")
        if len([u for u in current.users]) != 1:
            users = ", ".join(sorted(u.name for u in current.users))
            raise ExportError(f"{what}: the value '{current.name}' is used by several nodes ({users}): "
                              "a branch the card cannot express")
        current = node

    for node in graph.nodes:
        if node.op == "placeholder":
            continue
        if node.op == "output":
            out = node.args[0]
            if out is not current:
                got = out.name if isinstance(out, fx.Node) else repr(out)
                raise ExportError(f"{what}: forward returns '{got}', not the end of the op chain '{current.name}' "
                                  "(a tuple or several outputs cannot be exported)")
            break
        if node.op == "get_attr":
            raise ExportError(f"{what}: {_node_desc(node)} reads a parameter or buffer directly; only modules and functions from the card's list are supported")
        if node.op == "call_module":
            m = root.get_submodule(node.target)
            p = full(node.target)
            if isinstance(m, MessagePassing):
                if not allow_convs:
                    raise ExportError(f"{what}: {_node_desc(node)}: a conv inside a GINConv's nn is not supported")
                if len(node.args) < 2 or node.args[1] is not edge_index or edge_index is None:
                    raise ExportError(f"{what}: {_node_desc(node)} must be called as conv(h, edge_index) with the forward's edge_index")
                if len(node.args) > 2 or node.kwargs:
                    raise ExportError(f"{what}: {_node_desc(node)} gets extra arguments (edge weights, edge features, size or return_attention_weights), which the card does not carry")
                consume(node, node.args[0])
                ops.append(_conv_op(m, p, node))
                continue
            if len(node.args) != 1 or node.kwargs:
                raise ExportError(f"{what}: {_node_desc(node)} takes {len(node.args)} positional and {len(node.kwargs)} keyword arguments; expected one tensor")
            consume(node, node.args[0])
            op = _module_op(m, p, node)
            if op is not None:
                ops.append(op)
            continue
        if node.op == "call_function":
            t = node.target
            if t in POOLS:
                if not allow_convs:
                    raise ExportError(f"{what}: {_node_desc(node)}: a pool inside a GINConv's nn is not supported")
                b = _arg(node, 1, "batch")
                if b is not batch or batch is None:
                    raise ExportError(f"{what}: {_node_desc(node)} must be called as pool(h, batch) with the forward's batch")
                if _arg(node, 2, "size") is not None or len(node.args) > 3:
                    raise ExportError(f"{what}: {_node_desc(node)}: the size argument is not supported")
                consume(node, node.args[0])
                ops.append({"op": POOLS[t]})
                pools.append(node)
                continue
            if t in ACT_FUNCS:
                name = ACT_FUNCS[t]
                extra = [a for a in list(node.args[1:]) + list(node.kwargs.values()) if isinstance(a, fx.Node)]
                if extra:
                    raise ExportError(f"{what}: {_node_desc(node)} takes a tensor-valued option")
                consume(node, node.args[0])
                ops.append(_activation(name, node, alpha=_arg(node, 1, "alpha"), slope=_arg(node, 1, "negative_slope")))
                continue
            if t is F.dropout:
                consume(node, node.args[0])
                ops.append({"op": "dropout", "p": float(_arg(node, 1, "p", 0.5))})
                continue
            if t in (F.log_softmax, torch.log_softmax, F.softmax, torch.softmax):
                _check_dim(node, _arg(node, 1, "dim"), "softmax")
                consume(node, node.args[0])
                ops.append({"op": "log_softmax" if t in (F.log_softmax, torch.log_softmax) else "softmax"})
                continue
            raise ExportError(f"{what}: {_node_desc(node)}: function not in the card's list "
                              "(F.relu/elu/leaky_relu/tanh/sigmoid, F.dropout, global_add/mean/max_pool, log_softmax, softmax)")
        if node.op == "call_method":
            t = node.target
            if t in ACT_METHODS and len(node.args) == 1 and not node.kwargs:
                consume(node, node.args[0])
                ops.append({"op": ACT_METHODS[t]})
                continue
            if t in ("log_softmax", "softmax"):
                _check_dim(node, _arg(node, 1, "dim"), t)
                consume(node, node.args[0])
                ops.append({"op": t})
                continue
            raise ExportError(f"{what}: {_node_desc(node)}: tensor method '.{t}()' is not in the card's list (relu, tanh, sigmoid, log_softmax, softmax)")
        raise ExportError(f"{what}: {_node_desc(node)} is not supported")
    if allow_convs:
        return ops, pools
    return ops


OUTPUTS = ("log_softmax", "softmax")


def arch_card(model: torch.nn.Module, task: Optional[str] = None) -> Dict[str, Any]:
    """The architecture card of `model` (a dict), read off its traced forward.

    `task` is "graph" or "node"; left out, it is "graph" when the forward has one global pool
    and "node" when it has none.
    """
    what = f"{type(model).__name__}"
    ops, pools = _chain(model, "", allow_convs=True, what=what)
    if task is None:
        task = "graph" if pools else "node"
    if task not in ("graph", "node"):
        raise ExportError(f"{what}: task must be 'graph' or 'node', not {task!r}")
    if task == "graph" and len(pools) != 1:
        where = ", ".join(_node_desc(p) for p in pools) or "none found"
        raise ExportError(f"{what}: a graph task needs exactly one global pool ({where})")
    if task == "node" and pools:
        raise ExportError(f"{what}: a node task has no pool, but {_node_desc(pools[0])} pools")
    if not any(op["op"] in ("GraphConv", "GCNConv", "SAGEConv", "GINConv", "GATConv") for op in ops):
        raise ExportError(f"{what}: the forward has no conv")
    for i, op in enumerate(ops):
        if op["op"] in OUTPUTS and i != len(ops) - 1:
            raise ExportError(f"{what}: {op['op']} must be the last op (it is op {i} of {len(ops)})")
    return {"format": FORMAT, "task": task, "layers": ops}


def export_model(model: torch.nn.Module, path, task: Optional[str] = None, card: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Writes `model.state_dict()` as safetensors with its card under the metadata key
    `graph_ig.arch`, and returns the card. A given `card` is checked against the traced one
    (they must be equal) and written; use `arch_card` to see what would be written."""
    traced = arch_card(model, task)
    if card is not None and json.loads(json.dumps(card)) != traced:
        raise ExportError(f"the given card differs from the traced one:\n given:  {json.dumps(card)}\n traced: {json.dumps(traced)}")
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={CARD_KEY: json.dumps(traced)})
    return traced


# --------------------------------------------------------------------------------------------
# Data


def export_data(dataset_or_batch, path, x_as_u8: bool = False) -> Dict[str, torch.Tensor]:
    """Writes the PyG data file (pyg-interchange.md section 1) and returns the tensors written.

    Accepts a PyG `Dataset` or a list of `Data` (batched with `Batch.from_data_list`), a `Batch`,
    or a single `Data` (one graph, no batch/ptr). With `x_as_u8`, `x` is stored as uint8, which
    requires every value of x to be 0 or 1 (graph-ig reads it back bit-identically)."""
    from torch_geometric.data import Batch, Data, Dataset

    d = dataset_or_batch
    if isinstance(d, (Dataset, list, tuple)):
        items = list(d)
        if not items:
            raise ValueError("export_data: the dataset is empty")
        if len(items) == 1 and not isinstance(d, Dataset):
            d = items[0]
        else:
            d = Batch.from_data_list(items)
    if not isinstance(d, Data):  # Batch is a Data too
        raise TypeError(f"export_data: expected a Dataset, a list of Data, a Batch or a Data, got {type(d).__name__}")
    tensors = {k: v.detach().contiguous() for k, v in d.to_dict().items() if torch.is_tensor(v)}
    for req in ("x", "edge_index"):
        if req not in tensors:
            raise ValueError(f"export_data: the data has no {req}")
    if x_as_u8:
        x = tensors["x"]
        bad = ~((x == 0) | (x == 1))
        if bad.any():
            i = int(bad.nonzero()[0][0])
            raise ValueError(f"export_data: x_as_u8 needs a 0/1 x, but node {i} has {x[i][bad[i]][0].item()}")
        tensors["x"] = x.to(torch.uint8)
    save_file(tensors, str(path))
    return tensors
