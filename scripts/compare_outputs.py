#!/usr/bin/env python3
"""Compare two graph-ig output files graph by graph (numpy only, no safetensors package).

Usage: compare_outputs.py A.safetensors B.safetensors [--bound 1e-4] [--floor 1e-5]
Prints the worst per-graph relative L2 error of edge_attr / node_attr / node_score
(the node-level methods), the worst log-prob and delta differences, and exits 1 when an
error is above the bound. Norms are floored at 1e-5, and at 1 for Excitation Backprop
(`--floor 1`: its scores are shares of a unit mass, and c-EB's cancel to 0 on some graphs).
"""
import argparse
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "U8": np.uint8}


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
    return out


def main():
    p = argparse.ArgumentParser(description="Compare two graph-ig output files graph by graph.")
    p.add_argument("a")
    p.add_argument("b", help="the reference (usually the CPU's file)")
    p.add_argument("--bound", type=float, default=1e-4)
    p.add_argument("--floor", type=float, default=1e-5)
    opts = p.parse_args()
    bound, floor = opts.bound, opts.floor
    a, b = load(opts.a), load(opts.b)
    for key in ("graph_index", "edge_ptr", "node_ptr"):
        if not np.array_equal(a[key], b[key]):
            print(f"DISAGREE: the files hold different graphs ({key} differs)")
            sys.exit(1)
    ok = True
    for key, ptr_key in (("edge_attr", "edge_ptr"), ("node_attr", "node_ptr"), ("node_score", "node_ptr")):
        if key not in a and key not in b:
            continue
        x, y = a[key].astype(np.float64), b[key].astype(np.float64)
        ptr = b[ptr_key]
        x = x.reshape(x.shape[0], -1)
        y = y.reshape(y.shape[0], -1)
        worst, where = 0.0, -1
        for g in range(len(ptr) - 1):
            d = np.linalg.norm(x[ptr[g]:ptr[g + 1]] - y[ptr[g]:ptr[g + 1]])
            r = d / max(np.linalg.norm(y[ptr[g]:ptr[g + 1]]), floor)
            if r > worst:
                worst, where = r, g
        ok &= worst <= bound
        print(f"{key}: worst per-graph relative L2 {worst:.2e} (graph {where}) over {len(ptr) - 1} graphs")
    lp = np.abs(a["log_probs"].astype(np.float64) - b["log_probs"]).max()
    same_t = bool((a["target"] == b["target"]).all())
    if "delta" in b:
        dl = np.abs(a["delta"].astype(np.float64) - b["delta"]).max()
        print(f"log_probs: max abs diff {lp:.2e}; delta: max abs diff {dl:.2e}; targets equal: {same_t}")
    else:
        print(f"log_probs: max abs diff {lp:.2e}; targets equal: {same_t}")
    ok &= same_t
    print("AGREE" if ok else "DISAGREE", f"(bound {bound:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
