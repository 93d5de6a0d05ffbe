#!/usr/bin/env python3
"""Reference values of PyG's explanation metrics for graph-ig's `tests/metrics.rs`.

For a few Mutagenicity graphs and seeded edge attributions (some tied, one
graph all zero), this builds hard top-k edge masks independently of graph-ig
(numpy lexsort, exact decimal arithmetic for floor((1 - sparsity) * E)) and
evaluates them with PyG 2.8.1's own functions on the built-in tutorial model
in float64:

* `torch_geometric.explain.metric.fidelity` through a real `Explainer`
  (`get_masked_prediction`, i.e. PyG's own `set_masks` on GraphConv), for
  model and phenomenon explanations, at the mask and along the curve;
* `characterization_score` (default weights) and `fidelity_curve_auc`;
* the masked log-probabilities themselves.

It writes `tests/fixtures/metrics_reference.json`: graph indices (0-based) and
numbers only; no dataset file is copied.

Usage:  python scripts/metrics_reference.py [--data ../shared/data/Mutagenicity/raw]
"""

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torch_geometric
from torch_geometric.explain import Explainer, Explanation
from torch_geometric.explain.algorithm import DummyExplainer
from torch_geometric.explain.metric import characterization_score, fidelity, fidelity_curve_auc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import NUM_ATOM_TYPES, REPO_ROOT, RawTU, load_model  # noqa: E402

SPARSITY = "0.7"
CURVE = ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
SEED = 7


def top_k_masks(attr_per_graph, fraction):
    """Per graph: the top floor(fraction * E) edges by |attr|, ties to the lower index."""
    masks = []
    for a in attr_per_graph:
        e = a.size
        k = int(Fraction(fraction) * e)  # exact floor for non-negative values
        order = np.lexsort((np.arange(e), -np.abs(a)))
        m = np.zeros(e)
        m[order[:k]] = 1.0
        masks.append(m)
    return masks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO_ROOT.parent / "shared/data/Mutagenicity/raw"))
    ap.add_argument("--out", default=str(REPO_ROOT / "tests/fixtures/metrics_reference.json"))
    args = ap.parse_args()

    raw = RawTU(args.data, "Mutagenicity")
    model, _ = load_model(REPO_ROOT / "models/mutagenicity_graphconv.safetensors",
                          NUM_ATOM_TYPES, 2, dim=32, layers=5, pool="add")
    model = model.double().eval()

    rng = np.random.default_rng(SEED)
    graphs = sorted(set(rng.choice(raw.num_graphs, 14, replace=False).tolist()))
    graphs.append(int(np.argmin(raw.num_edges)))  # the graph with the fewest edges
    no2 = [g for g in range(raw.num_graphs) if raw.has_no2(g)]
    graphs += [int(g) for g in rng.choice(no2, 5, replace=False)]

    xs, eis, batch_vec, attrs = [], [], [], []
    offset = 0
    for i, g in enumerate(graphs):
        n = int(raw.num_nodes[g])
        xs.append(F.one_hot(torch.from_numpy(raw.labels_of(g)), NUM_ATOM_TYPES).double())
        eis.append(torch.from_numpy(raw.edges(g)) + offset)
        batch_vec.append(torch.full((n,), i, dtype=torch.long))
        offset += n
        e = int(raw.num_edges[g])
        if i == 3:
            a = np.zeros(e)  # all-zero attributions
        elif i % 2 == 0:
            a = np.round(rng.normal(size=e), 1)  # many ties
        else:
            a = rng.normal(size=e)
        attrs.append(a)
    x = torch.cat(xs)
    edge_index = torch.cat(eis, dim=1)
    batch = torch.cat(batch_vec)
    labels = torch.from_numpy(raw.graph_labels[graphs] - raw.graph_labels.min())

    explainers = {
        t: Explainer(model=model, algorithm=DummyExplainer(), explanation_type=t,
                     edge_mask_type="object",
                     model_config=dict(mode="multiclass_classification", task_level="graph",
                                       return_type="log_probs"))
        for t in ("model", "phenomenon")
    }
    ex = explainers["model"]
    with torch.no_grad():
        lp_full = ex.get_prediction(x, edge_index, batch=batch)
    pred = lp_full.argmax(-1)

    def pyg_fidelity(kind, mask):
        target = pred if kind == "model" else labels
        expl = Explanation(x=x, edge_index=edge_index, edge_mask=torch.from_numpy(mask),
                           target=target, batch=batch)
        expl._model_args = ["batch"]
        with torch.no_grad():
            return fidelity(explainers[kind], expl)

    fraction = str(Fraction(1) - Fraction(SPARSITY))
    masks = top_k_masks(attrs, fraction)
    mask = np.concatenate(masks)
    with torch.no_grad():
        lp_kept = ex.get_masked_prediction(x, edge_index, None, torch.from_numpy(mask), batch=batch)
        lp_removed = ex.get_masked_prediction(x, edge_index, None, torch.from_numpy(1.0 - mask),
                                              batch=batch)
    out = {
        "note": "written by scripts/metrics_reference.py: PyG's explain metrics on Mutagenicity "
                "graphs (indices below) with the built-in model in float64",
        "versions": {"torch": torch.__version__, "torch_geometric": torch_geometric.__version__},
        "graphs": graphs,
        "sparsity": float(SPARSITY),
        "curve": [float(c) for c in CURVE],
        "attr": [a.tolist() for a in attrs],
        "target": pred.tolist(),
        "labels": labels.tolist(),
        "kept_edges": [int(m.sum()) for m in masks],
        "log_probs_full": lp_full.tolist(),
        "log_probs_kept": lp_kept.tolist(),
        "log_probs_removed": lp_removed.tolist(),
        "pyg": {},
    }
    for kind in ("model", "phenomenon"):
        fp, fm = pyg_fidelity(kind, mask)
        ch = characterization_score(torch.tensor(fp, dtype=torch.float64),
                                    torch.tensor(fm, dtype=torch.float64))
        out["pyg"][kind] = {"fid_plus": fp, "fid_minus": fm, "characterization": float(ch)}
        fps, fms = [], []
        for c in CURVE:
            fpc, fmc = pyg_fidelity(kind, np.concatenate(top_k_masks(attrs, c)))
            fps.append(fpc)
            fms.append(fmc)
        try:
            auc = float(fidelity_curve_auc(torch.tensor(fps, dtype=torch.float64),
                                           torch.tensor(fms, dtype=torch.float64),
                                           torch.tensor([float(c) for c in CURVE],
                                                        dtype=torch.float64)))
        except ValueError:
            auc = None
        out["pyg"][f"curve_{kind}"] = {"fid_plus": fps, "fid_minus": fms, "auc": auc}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}: {len(graphs)} graphs, model fid+ {out['pyg']['model']['fid_plus']:.4f}, "
          f"fid- {out['pyg']['model']['fid_minus']:.4f}")


if __name__ == "__main__":
    main()
