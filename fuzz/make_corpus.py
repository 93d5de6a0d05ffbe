#!/usr/bin/env python3
"""Builds the seed corpus of the fuzz targets from the real files.

    python3 fuzz/make_corpus.py [--data ../shared/data] [--out fuzz/corpus]

Writes OUT/TARGET/NAME for the targets of graph_ig::fuzzing (tu, model, pyg, card,
attributions, args). Seeds are small slices of the real data, not copies of big
files:
- tu: the first graphs of Mutagenicity (every file, renumbered from 1, the label
  readme as it is), in the container of graph_ig::fuzzing::tu: one byte (feature
  width 14), then the files separated by 0xFF bytes; and a few edge cases;
- model: the built-in models, shrunk to a hidden width of 4, in f32, f64, f16 and
  with metadata; and the full built-in model;
- attributions: attribution files (the tensors of graph-ig explain) for the first
  Mutagenicity graphs, with edge, node and bond tensors;
- pyg: the first graphs of the Mutagenicity PyG export (x, edge_index, batch, ptr,
  y, edge_gt), a node-task file with masks, and edge cases (no edges, a u8 x);
- card: every architecture card of tests/fixtures/zoo/models, and the tutorial
  family's card of the built-in Mutagenicity model (the one the target checks
  cards against);
- args: lines of the values the command line takes.

Only the standard library is used (safetensors is written by hand: an 8-byte
little-endian header size, the JSON header, the data).
"""

import argparse
import json
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DTYPES = {"F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "I64": ("q", 8), "U8": ("B", 1)}


def safetensors(tensors, metadata=None):
    """Bytes of a safetensors file; tensors: name -> (dtype, shape, flat values)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        dtype, shape, values = tensors[name]
        code, size = DTYPES[dtype]
        blob = struct.pack("<%d%s" % (len(values), code), *values)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def read_safetensors(path):
    """name -> (dtype, shape, flat values) of a safetensors file."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        code, size = DTYPES[info["dtype"]]
        a, b = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], list(struct.unpack("<%d%s" % ((b - a) // size, code), data[a:b])))
    return out


def read_safetensors_lazy(path):
    """name -> (dtype, shape, raw bytes) of a safetensors file, without decoding."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0] : v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}


def pyg_slice(full, graphs):
    """The first `graphs` graphs of a PyG batch export (x, edge_index, batch, ptr, y, edge_gt)."""
    def ints(name):
        dtype, shape, raw = full[name]
        return list(struct.unpack("<%dq" % (len(raw) // 8), raw)), shape
    ptr, _ = ints("ptr")
    n = ptr[graphs]
    (ei, (_, e_all)) = ints("edge_index")
    keep = [k for k in range(e_all) if ei[e_all + k] < n and ei[k] < n]
    f = full["x"][1][1]
    x = list(struct.unpack("<%df" % (n * f), full["x"][2][: 4 * n * f]))
    out = {
        "x": ("F32", [n, f], x),
        "edge_index": ("I64", [2, len(keep)], [ei[k] for k in keep] + [ei[e_all + k] for k in keep]),
        "batch": ("I64", [n], ints("batch")[0][:n]),
        "ptr": ("I64", [graphs + 1], ptr[: graphs + 1]),
        "y": ("I64", [graphs], ints("y")[0][:graphs]),
    }
    if "edge_gt" in full:
        gt = full["edge_gt"][2]
        out["edge_gt"] = ("U8", [len(keep)], [gt[k] for k in keep])
    return out


def shrink(tensors, hidden):
    """The model with every hidden width cut to `hidden` (inputs and classes kept)."""
    out = {}
    for name, (dtype, shape, values) in tensors.items():
        rows, cols = (shape + [1])[:2]
        keep_rows = rows if name.startswith("lin2") else min(rows, hidden)
        keep_cols = cols if name.startswith("conv1.") or len(shape) == 1 else min(cols, hidden)
        if len(shape) == 1:
            out[name] = ("F32", [keep_rows], values[:keep_rows])
        else:
            v = [values[r * cols + c] for r in range(keep_rows) for c in range(keep_cols)]
            out[name] = ("F32", [keep_rows, keep_cols], v)
    return out


def tu_slice(raw, name, graphs):
    """The TU files of the first `graphs` graphs, renumbered from 1: suffix -> text."""
    def lines(suffix):
        p = raw / f"{name}_{suffix}.txt"
        return p.read_text().splitlines() if p.exists() else None

    indicator = lines("graph_indicator")
    nodes = next((i for i, g in enumerate(indicator) if int(g) > graphs), len(indicator))
    files = {"graph_indicator": indicator[:nodes]}
    edges = []
    for k, line in enumerate(lines("A")):
        s, d = (int(v) for v in line.split(","))
        if s > nodes:
            break
        edges.append(k)
        files.setdefault("A", []).append(f"{s}, {d}")
    for suffix in ["node_labels", "node_attributes"]:
        v = lines(suffix)
        if v is not None:
            files[suffix] = v[:nodes]
    for suffix in ["edge_labels", "edge_gt"]:
        v = lines(suffix)
        if v is not None:
            files[suffix] = [v[k] for k in edges]
    v = lines("graph_labels")
    if v is not None:
        files["graph_labels"] = v[:graphs]
    readme = raw / f"{name}_label_readme.txt"
    text = {k: "\n".join(v) + "\n" for k, v in files.items()}
    if readme.exists():
        text["label_readme"] = readme.read_text()
    return text


TU_FILES = ["graph_indicator", "A", "node_labels", "node_attributes", "edge_labels", "edge_gt", "graph_labels", "label_readme"]


def tu_input(first_byte, files):
    """The container of graph_ig::fuzzing::tu (absent trailing files are left out)."""
    parts = [files.get(k, "").encode() for k in TU_FILES]
    while parts and not parts[-1]:
        parts.pop()
    return bytes([first_byte]) + b"\xff".join(parts)


def attributions(files, classes=2):
    """An attribution file (graph-ig explain's tensors) for a TU slice."""
    indicator = [int(g) for g in files["graph_indicator"].split()]
    g = indicator[-1]
    node_ptr = [0]
    for i in range(1, len(indicator)):
        if indicator[i] != indicator[i - 1]:
            node_ptr.append(i)
    node_ptr.append(len(indicator))
    src, dst, edge_ptr = [], [], [0] * (g + 1)
    for line in files["A"].splitlines():
        s, d = (int(v) - 1 for v in line.split(","))
        src.append(s)
        dst.append(d)
        edge_ptr[indicator[s]] += 1
    for i in range(g):
        edge_ptr[i + 1] += edge_ptr[i]
    e, n = len(src), len(indicator)
    pairs = {}
    for k, (s, d) in enumerate(zip(src, dst)):
        pairs.setdefault((min(s, d), max(s, d)), []).append(k)
    bonds = sorted(pairs)
    uptr = [0] * (g + 1)
    for s, _ in bonds:
        uptr[indicator[s]] += 1
    for i in range(g):
        uptr[i + 1] += uptr[i]
    attr = [((k * 37) % 11 - 5) / 7.0 for k in range(e)]
    gt = [int(v) for v in files.get("edge_gt", "").split()] or [0] * e
    return safetensors(
        {
            "node_ptr": ("I64", [g + 1], node_ptr),
            "edge_ptr": ("I64", [g + 1], edge_ptr),
            "edge_index": ("I64", [2, e], src + dst),
            "graph_index": ("I64", [g], list(range(g))),
            "log_probs": ("F32", [g, classes], [-0.1, -2.3] * g),
            "target": ("I64", [g], [0] * g),
            "edge_attr": ("F32", [e], attr),
            "delta": ("F32", [g], [1e-4] * g),
            "steps": ("I64", [g], [50] * g),
            "edge_gt": ("U8", [e], gt),
            "node_score": ("F32", [n], [(i % 5) / 4.0 for i in range(n)]),
            "undirected_edge_attr": ("F32", [len(bonds)], [sum(attr[k] for k in pairs[b]) for b in bonds]),
            "undirected_edge_index": ("I64", [2, len(bonds)], [b[0] for b in bonds] + [b[1] for b in bonds]),
            "undirected_edge_ptr": ("I64", [g + 1], uptr),
        },
        {"method": "ig", "dataset": "Mutagenicity", "steps": "50"},
    )


ARGS = [
    "0..10", "5..", "..3", "..", "3..2", "0..18446744073709551615", "-1..4", " 7 .. 9 ",
    "0,1,2", "4", "", "0.1,0.2,0.3,0.5,0.9", "0.5,0.5", "1,nan", "inf,-inf", "1e308,1e-308",
    "ig", "saliency", "input-x-gradient", "smoothgrad", "vargrad", "grad-cam", "grad-cam:2",
    "grad-cam:0", "grad-cam:18446744073709551616", "contrastive-gradient", "eb", "c-eb",
    "edges", "nodes", "both", "gauss-legendre", "riemann-middle", "riemann_trapezoid", "trapezoid",
    "predicted", "label", "1", "add", "mean", "max", "f32", "bf16", "f16", "auto", "layered",
    "cpu", "cuda", "cuda:0", "cuda:99999999999999999999", "interpret", "abs", "signed", "value",
    "50", "1 0.01 800 gauss-legendre 0.5", "4 1e-3 16 riemann-left", "2 -1 1", "1048576",
    "1048577", "4294967296", "18446744073709551615", "7 nan 8 trapezoid nan", "0 0 0",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "fuzz" / "corpus")
    a = ap.parse_args()
    seeds = {t: {} for t in ["tu", "model", "pyg", "card", "attributions", "args"]}

    raw = a.data / "Mutagenicity" / "raw"
    if (raw / "Mutagenicity_A.txt").exists():
        for graphs in [1, 3, 12]:
            files = tu_slice(raw, "Mutagenicity", graphs)
            seeds["tu"][f"mutagenicity-{graphs}"] = tu_input(14, files)
            seeds["attributions"][f"mutagenicity-{graphs}"] = attributions(files)
        files = tu_slice(raw, "Mutagenicity", 2)
        seeds["tu"]["mutagenicity-2-attrs"] = tu_input(14 | 0x40, files)
        seeds["tu"]["mutagenicity-2-no-labels"] = tu_input(0, {k: files[k] for k in ["graph_indicator", "A"]})
    else:
        print(f"warning: {raw} not found; the tu and attributions seeds are the edge cases only", file=sys.stderr)
    seeds["tu"]["one-node"] = tu_input(1, {"graph_indicator": "1\n", "A": "", "node_labels": "0\n"})
    seeds["tu"]["self-loop"] = tu_input(2, {"graph_indicator": "1\n1\n", "A": "1, 1\n2, 1\n", "node_labels": "0\n1\n", "graph_labels": "3\n"})
    seeds["tu"]["two-columns"] = tu_input(5, {"graph_indicator": "1\n2\n", "A": "", "node_labels": "0, 1\n2, 0\n"})

    for name in ["mutagenicity_graphconv", "synthetic_graphconv"]:
        p = ROOT / "models" / f"{name}.safetensors"
        if not p.exists():
            continue
        full = read_safetensors(p)
        small = shrink(full, 4)
        seeds["model"][f"{name}-4"] = safetensors(small)
        seeds["model"][f"{name}-4-meta"] = safetensors(small, {"graph_ig.no_bias": "lin2", "format": "pt"})
        seeds["model"][f"{name}-4-f64"] = safetensors({k: ("F64", s, v) for k, (_, s, v) in small.items()})
        seeds["model"][f"{name}-4-f16"] = safetensors({k: ("F16", s, v) for k, (_, s, v) in small.items()})
        seeds["model"][f"{name}-4-no-lin2-bias"] = safetensors({k: v for k, v in small.items() if k != "lin2.bias"})
        seeds["model"][f"{name}-full"] = p.read_bytes()
    export = a.data / "Mutagenicity" / "pyg" / "Mutagenicity.safetensors"
    if export.exists():
        full = read_safetensors_lazy(export)
        for graphs in [1, 4]:
            seeds["pyg"][f"mutagenicity-{graphs}"] = safetensors(pyg_slice(full, graphs))
    else:
        print(f"warning: {export} not found; the pyg seeds are the edge cases only", file=sys.stderr)
    seeds["pyg"]["node-task"] = safetensors({
        "x": ("F32", [4, 2], [1, 0, 0, 1, 1, 1, 0, 0]),
        "edge_index": ("I64", [2, 4], [0, 1, 2, 3, 1, 2, 3, 3]),
        "y": ("I64", [4], [0, 1, 1, 0]),
        "train_mask": ("U8", [4], [1, 1, 0, 0]),
        "test_mask": ("U8", [4], [0, 0, 1, 1]),
    })
    seeds["pyg"]["no-edges-u8"] = safetensors({
        "x": ("U8", [3, 2], [1, 0, 0, 1, 1, 1]),
        "edge_index": ("I64", [2, 0], []),
    })
    for card in sorted((ROOT / "tests" / "fixtures" / "zoo" / "models").glob("*.json")):
        if card.name.endswith(".train.json"):
            continue
        seeds["card"][card.stem] = card.read_bytes()
    tutorial = [x for k in range(1, 6) for x in ({"op": "GraphConv", "prefix": f"conv{k}", "aggr": "add"}, {"op": "relu"})]
    tutorial += [{"op": "global_add_pool"}, {"op": "Linear", "prefix": "lin1"}, {"op": "relu"},
                 {"op": "Linear", "prefix": "lin2"}, {"op": "log_softmax"}]
    seeds["card"]["tutorial-mutagenicity"] = json.dumps(
        {"format": "graph-ig-arch/1", "task": "graph", "layers": tutorial}, indent=1).encode()
    seeds["args"] = {f"line-{i:02}": s.encode() for i, s in enumerate(ARGS)}
    seeds["args"]["all"] = "\n".join(ARGS).encode()

    for target, files in seeds.items():
        d = a.out / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (d / name).write_bytes(data)
        print(f"{d}: {len(files)} seeds")


if __name__ == "__main__":
    main()
