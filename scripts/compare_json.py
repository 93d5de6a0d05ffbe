#!/usr/bin/env python3
"""Compare two `graph-ig eval --json` reports number by number (standard library only).

Usage: compare_json.py A.json B.json [--bound 1e-4]
Walks both reports in step: the same keys, lengths and strings, numbers within the bound
relative to 1 + |b|. Timings and the device are skipped. Prints the largest difference
and where it is; exits 1 when a difference is above the bound or the structures differ.
"""
import argparse
import json
import sys

SKIP = {"seconds", "device"}


def walk(a, b, at, out):
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) - SKIP != set(b) - SKIP:
            raise ValueError(f"{at}: keys differ")
        for k in a:
            if k not in SKIP:
                walk(a[k], b[k], f"{at}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            raise ValueError(f"{at}: lengths {len(a)} and {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, f"{at}[{i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        out["n"] += 1
        d = abs(a - b) / (1.0 + abs(b))
        if d > out["worst"]:
            out["worst"], out["where"] = d, at
    elif a != b:
        raise ValueError(f"{at}: {a!r} vs {b!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b", help="the reference (usually the CPU's report)")
    p.add_argument("--bound", type=float, default=1e-4)
    o = p.parse_args()
    with open(o.a) as f:
        a = json.load(f)
    with open(o.b) as f:
        b = json.load(f)
    out = {"n": 0, "worst": 0.0, "where": "-"}
    try:
        walk(a, b, "", out)
    except ValueError as e:
        print(f"DISAGREE: {e}")
        sys.exit(1)
    ok = out["worst"] <= o.bound
    print(f"{out['n']} numbers; largest relative difference {out['worst']:.2e} at {out['where']}")
    print("AGREE" if ok else "DISAGREE", f"(bound {o.bound:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
