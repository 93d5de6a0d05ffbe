//! The zoo fixtures (`tests/fixtures/zoo`, written by `scripts/make_zoo_fixtures.py`) parse and
//! are self-consistent: shapes, CSR offsets, node ids, the graphs they name in the PyG
//! Mutagenicity file, and each model's card (metadata) against its hand-written JSON. The
//! comparison with graph-ig's own attributions lives with the network (not here).

use graph_ig::graph::pyg;
use graph_ig::GraphBatch;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::path::{Path, PathBuf};

const GRAPH_MODELS: &[&str] = &["gcn", "gin", "sage", "gat", "graphconv", "mixed"];
const NODE_MODELS: &[&str] = &["cora_gcn", "cora_gat", "synth_node_gcn", "synth_node_gat"];

fn zoo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zoo")
}

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel)
}

/// A parsed fixture file with typed accessors that panic with the key's name.
struct Fixture<'a> {
    name: String,
    st: SafeTensors<'a>,
}

impl<'a> Fixture<'a> {
    fn shape(&self, key: &str) -> Vec<usize> {
        self.st
            .tensor(key)
            .unwrap_or_else(|_| panic!("{}: missing {key}", self.name))
            .shape()
            .to_vec()
    }
    fn has(&self, key: &str) -> bool {
        self.st.tensor(key).is_ok()
    }
    fn raw(&self, key: &str, dtype: Dtype) -> Vec<u8> {
        let t = self
            .st
            .tensor(key)
            .unwrap_or_else(|_| panic!("{}: missing {key}", self.name));
        assert_eq!(t.dtype(), dtype, "{}: {key} dtype", self.name);
        t.data().to_vec()
    }
    fn i64(&self, key: &str) -> Vec<i64> {
        self.raw(key, Dtype::I64)
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }
    fn f64(&self, key: &str) -> Vec<f64> {
        self.raw(key, Dtype::F64)
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }
    fn f32(&self, key: &str) -> Vec<f32> {
        self.raw(key, Dtype::F32)
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The JSON string in metadata key `key` of a safetensors file.
fn metadata_json(bytes: &[u8], key: &str, what: &str) -> Value {
    let (_, meta) = SafeTensors::read_metadata(bytes).expect("a safetensors header");
    let text = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(key))
        .unwrap_or_else(|| panic!("{what}: no metadata key {key}"))
        .clone();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {key} is not JSON: {e}"))
}

fn check_ptr(name: &str, key: &str, ptr: &[i64], count: usize, total: usize) {
    assert_eq!(ptr.len(), count + 1, "{name}: {key} length");
    assert_eq!(ptr[0], 0, "{name}: {key} starts at 0");
    assert!(
        ptr.windows(2).all(|w| w[0] <= w[1]),
        "{name}: {key} decreases"
    );
    assert_eq!(
        *ptr.last().unwrap() as usize,
        total,
        "{name}: {key} ends at the total"
    );
}

fn finite(name: &str, key: &str, v: &[f64]) {
    assert!(
        v.iter().all(|x| x.is_finite()),
        "{name}: {key} has a non-finite value"
    );
}

#[test]
fn model_cards_match_their_json() {
    for name in GRAPH_MODELS.iter().chain(NODE_MODELS) {
        let dir = zoo().join("models");
        let bytes = read(&dir.join(format!("{name}.safetensors")));
        let card = metadata_json(&bytes, "graph_ig.arch", name);
        let json: Value = serde_json::from_slice(&read(&dir.join(format!("{name}.json")))).unwrap();
        assert_eq!(
            card, json,
            "{name}: the exported card differs from NAME.json"
        );
        assert_eq!(card["format"], "graph-ig-arch/1");
        let task = if NODE_MODELS.contains(name) {
            "node"
        } else {
            "graph"
        };
        assert_eq!(card["task"], task, "{name}");
        // Every prefix of the card has weights in the file.
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let names: Vec<String> = st.names().into_iter().cloned().collect();
        fn prefixes(layers: &Value, out: &mut Vec<String>) {
            for op in layers.as_array().unwrap() {
                if let Some(p) = op.get("prefix").and_then(Value::as_str) {
                    out.push(p.to_string());
                }
                if let Some(nn) = op.get("nn") {
                    prefixes(nn, out);
                }
            }
        }
        let mut ps = Vec::new();
        prefixes(&card["layers"], &mut ps);
        for p in ps {
            assert!(
                names.iter().any(|k| k.starts_with(&format!("{p}."))),
                "{name}: no weights under prefix {p}"
            );
        }
    }
}

#[test]
fn graph_fixtures_are_self_consistent() {
    let mutag = pyg::load(shared("Mutagenicity/pyg/Mutagenicity.safetensors")).unwrap();
    let mb = &mutag.batch;
    for name in GRAPH_MODELS {
        let bytes = read(&zoo().join(format!("{name}.safetensors")));
        let meta = metadata_json(&bytes, "zoo", name);
        let fx = Fixture {
            name: name.to_string(),
            st: SafeTensors::deserialize(&bytes).unwrap(),
        };
        assert_eq!(meta["task"], "graph");
        assert_eq!(meta["n_steps"], 50);
        let target = fx.i64("target");
        let g = target.len();
        assert!(g >= 20, "{name}: {g} graphs");
        assert_eq!(meta["graphs"].as_array().map(Vec::len), Some(g));
        let (n, f) = {
            let s = fx.shape("x");
            (s[0], s[1])
        };
        assert_eq!(f, 14);
        let e = fx.shape("edge_index")[1];
        assert_eq!(fx.shape("edge_index")[0], 2);
        let node_ptr = fx.i64("node_ptr");
        let edge_ptr = fx.i64("edge_ptr");
        check_ptr(name, "node_ptr", &node_ptr, g, n);
        check_ptr(name, "edge_ptr", &edge_ptr, g, e);
        let x = fx.f32("x");
        let ei = fx.i64("edge_index");
        let lp = fx.f64("log_probs");
        assert_eq!(fx.shape("log_probs"), vec![g, 2]);
        finite(name, "log_probs", &lp);
        for key in ["edge_ig", "joint_edge_ig", "edge_saliency"] {
            assert_eq!(fx.shape(key), vec![e], "{name}: {key}");
            finite(name, key, &fx.f64(key));
        }
        assert_eq!(
            fx.shape("node_saliency"),
            vec![n, f],
            "{name}: node_saliency"
        );
        finite(name, "node_saliency", &fx.f64("node_saliency"));
        // Node IG: the entries where x != 0 (it is exactly 0 elsewhere).
        let nz_ptr = fx.i64("nz_ptr");
        let nz_node = fx.i64("nz_node");
        let nz_feat = fx.i64("nz_feat");
        check_ptr(name, "nz_ptr", &nz_ptr, g, nz_node.len());
        for key in ["node_ig", "joint_node_ig"] {
            assert_eq!(fx.shape(key), vec![nz_node.len()], "{name}: {key}");
            finite(name, key, &fx.f64(key));
        }
        for key in [
            "edge_ig_delta",
            "node_ig_delta",
            "joint_delta",
            "f_full",
            "f_edges_off",
            "f_x_zero",
            "f_all_zero",
        ] {
            assert_eq!(fx.shape(key), vec![g], "{name}: {key}");
            finite(name, key, &fx.f64(key));
        }
        // Saliency is an absolute value.
        assert!(fx.f64("edge_saliency").iter().all(|&v| v >= 0.0));
        let dataset_index = fx.i64("dataset_index");
        let mut builder = GraphBatch::builder(f);
        for gi in 0..g {
            let (n0, n1) = (node_ptr[gi] as usize, node_ptr[gi + 1] as usize);
            let (e0, e1) = (edge_ptr[gi] as usize, edge_ptr[gi + 1] as usize);
            let edges: Vec<(usize, usize)> = (e0..e1)
                .map(|k| (ei[k] as usize, ei[e + k] as usize))
                .collect();
            assert!(
                edges.iter().all(|&(s, d)| s < n1 - n0 && d < n1 - n0),
                "{name}: graph {gi} has a node id out of range"
            );
            // The target is the arg-max of the output row.
            let row = &lp[gi * 2..gi * 2 + 2];
            let argmax = if row[1] > row[0] { 1 } else { 0 };
            assert_eq!(target[gi], argmax, "{name}: graph {gi} target");
            let xs = &x[n0 * f..n1 * f];
            let nz: Vec<(usize, usize)> = (nz_ptr[gi] as usize..nz_ptr[gi + 1] as usize)
                .map(|k| (nz_node[k] as usize, nz_feat[k] as usize))
                .collect();
            let want: Vec<(usize, usize)> = (n0 * f..n1 * f)
                .filter(|&i| x[i] != 0.0)
                .map(|i| (i / f, i % f))
                .collect();
            assert_eq!(
                nz, want,
                "{name}: graph {gi}: nz entries are the non-zeros of x, row-major"
            );
            builder = builder.graph(xs, &edges);
            // Real graphs: the same features and edges, in the same order, as the PyG file.
            let di = dataset_index[gi];
            if di >= 0 {
                let r = mb.graph(di as usize);
                assert_eq!(
                    r.num_nodes(),
                    n1 - n0,
                    "{name}: graph {gi} = mutagenicity[{di}]"
                );
                assert_eq!(&mb.features()[r.nodes.start * f..r.nodes.end * f], xs);
                let file_edges: Vec<(usize, usize)> = r
                    .edges
                    .clone()
                    .map(|k| {
                        (
                            mb.src()[k] as usize - r.nodes.start,
                            mb.dst()[k] as usize - r.nodes.start,
                        )
                    })
                    .collect();
                assert_eq!(file_edges, edges, "{name}: graph {gi} edge order");
            } else {
                assert_eq!(di, -1);
            }
        }
        let batch = builder
            .build()
            .expect("the fixture's graphs form a valid batch");
        assert_eq!(batch.num_edges(), e);
        // Edge cases present: a graph with one node, one with no edges, input self-loops.
        assert!((0..g)
            .any(|gi| node_ptr[gi + 1] - node_ptr[gi] == 1 && edge_ptr[gi + 1] == edge_ptr[gi]));
        assert!(
            (0..e).any(|k| ei[k] == ei[e + k]),
            "{name}: no input self-loop"
        );
        assert!(dataset_index.iter().filter(|&&d| d >= 0).count() >= 20);
    }
}

#[test]
fn node_fixtures_are_self_consistent() {
    let cora = pyg::load(shared("Planetoid/Cora.safetensors")).unwrap();
    for name in NODE_MODELS {
        let bytes = read(&zoo().join(format!("{name}.safetensors")));
        let meta = metadata_json(&bytes, "zoo", name);
        let fx = Fixture {
            name: name.to_string(),
            st: SafeTensors::deserialize(&bytes).unwrap(),
        };
        assert_eq!(meta["task"], "node");
        let layers = meta["num_layers"].as_u64().unwrap() as usize;
        // The graph: Cora (by reference) or the synthetic graph stored in the file.
        let (n, f, x, src, dst): (usize, usize, Vec<f32>, Vec<usize>, Vec<usize>) = if fx.has("x") {
            let s = fx.shape("x");
            let ei = fx.i64("edge_index");
            let e = ei.len() / 2;
            (
                s[0],
                s[1],
                fx.f32("x"),
                ei[..e].iter().map(|&v| v as usize).collect(),
                ei[e..].iter().map(|&v| v as usize).collect(),
            )
        } else {
            assert_eq!(meta["data"], "../shared/data/Planetoid/Cora.safetensors");
            let b = &cora.batch;
            (
                b.num_nodes(),
                b.num_features(),
                b.features().to_vec(),
                b.src().iter().map(|&v| v as usize).collect(),
                b.dst().iter().map(|&v| v as usize).collect(),
            )
        };
        let e = src.len();
        assert!(src.iter().chain(&dst).all(|&v| v < n));
        let targets = fx.i64("target_node");
        let t = targets.len();
        assert!(t >= 10, "{name}: {t} targets");
        let edge_ptr = fx.i64("edge_ptr");
        let node_ptr = fx.i64("node_ptr");
        let nz_ptr = fx.i64("nz_ptr");
        let sal_ptr = fx.i64("sal_ptr");
        let edge_id = fx.i64("edge_id");
        let node_id = fx.i64("node_id");
        check_ptr(name, "edge_ptr", &edge_ptr, t, edge_id.len());
        check_ptr(name, "node_ptr", &node_ptr, t, node_id.len());
        check_ptr(name, "nz_ptr", &nz_ptr, t, fx.shape("nz_node")[0]);
        check_ptr(name, "sal_ptr", &sal_ptr, t, fx.shape("sal_node_id")[0]);
        for key in ["edge_ig", "joint_edge_ig", "edge_saliency"] {
            assert_eq!(fx.shape(key), vec![edge_id.len()], "{name}: {key}");
            finite(name, key, &fx.f64(key));
        }
        for key in ["node_ig", "joint_node_ig"] {
            assert_eq!(fx.shape(key), fx.shape("nz_node"), "{name}: {key}");
        }
        assert_eq!(
            fx.shape("node_saliency"),
            vec![fx.shape("sal_node_id")[0], f]
        );
        let classes = fx.shape("log_probs")[1];
        assert_eq!(fx.shape("log_probs"), vec![t, classes]);
        let nz_node = fx.i64("nz_node");
        let nz_feat = fx.i64("nz_feat");
        for ti in 0..t {
            let v = targets[ti] as usize;
            // The computation subgraph, recomputed: nodes within L hops (towards v), edges
            // whose target is within L-1 hops.
            let mut dist = vec![usize::MAX; n];
            dist[v] = 0;
            for hop in 0..layers {
                for k in 0..e {
                    if dist[dst[k]] == hop && dist[src[k]] == usize::MAX {
                        dist[src[k]] = hop + 1;
                    }
                }
            }
            let want_edges: Vec<i64> = (0..e)
                .filter(|&k| dist[dst[k]] < layers)
                .map(|k| k as i64)
                .collect();
            let want_nodes: Vec<i64> = (0..n)
                .filter(|&u| dist[u] <= layers)
                .map(|u| u as i64)
                .collect();
            let (e0, e1) = (edge_ptr[ti] as usize, edge_ptr[ti + 1] as usize);
            let (n0, n1) = (node_ptr[ti] as usize, node_ptr[ti + 1] as usize);
            assert_eq!(&edge_id[e0..e1], &want_edges[..], "{name}: node {v} edges");
            assert_eq!(&node_id[n0..n1], &want_nodes[..], "{name}: node {v} nodes");
            let nz: Vec<(i64, i64)> = (nz_ptr[ti] as usize..nz_ptr[ti + 1] as usize)
                .map(|k| (nz_node[k], nz_feat[k]))
                .collect();
            let want: Vec<(i64, i64)> = want_nodes
                .iter()
                .flat_map(|&u| (0..f).map(move |j| (u, j as i64)))
                .filter(|&(u, j)| x[u as usize * f + j as usize] != 0.0)
                .collect();
            assert_eq!(
                nz, want,
                "{name}: node {v}: nz entries are the non-zeros of x"
            );
            let sal = fx.i64("sal_node_id");
            let s = &sal[sal_ptr[ti] as usize..sal_ptr[ti + 1] as usize];
            assert!(
                s == [v as i64] || s == &want_nodes[..],
                "{name}: node {v}: saliency rows"
            );
        }
        if name.contains("gat") {
            let card = &meta["card"]["layers"];
            let heads: Vec<usize> = card
                .as_array()
                .unwrap()
                .iter()
                .filter(|op| op["op"] == "GATConv")
                .map(|op| op["heads"].as_u64().unwrap() as usize)
                .collect();
            let loops = (0..e).filter(|&k| src[k] == dst[k]).count();
            for (i, h) in heads.iter().enumerate() {
                let p = format!("conv{}", i + 1);
                let e2 = e - loops + n;
                // One edge list for every GATConv (they are identical), under conv1: the input
                // edges without self-loops in input order, then one loop per node.
                assert_eq!(fx.shape("conv1.edge_index"), vec![2, e2], "{name}: {p}");
                assert!(!fx.has("conv2.edge_index"));
                let ei2 = fx.i64("conv1.edge_index");
                let want: Vec<(usize, usize)> = (0..e)
                    .filter(|&k| src[k] != dst[k])
                    .map(|k| (src[k], dst[k]))
                    .chain((0..n).map(|u| (u, u)))
                    .collect();
                let got: Vec<(usize, usize)> = (0..e2)
                    .map(|k| (ei2[k] as usize, ei2[e2 + k] as usize))
                    .collect();
                assert_eq!(got, want, "{name}: conv1.edge_index");
                assert_eq!(fx.shape(&format!("{p}.alpha")), vec![e2, *h], "{name}: {p}");
                assert_eq!(fx.shape(&format!("{p}.entropy")), vec![n, *h]);
                assert_eq!(fx.shape(&format!("{p}.uniform_entropy")), vec![n]);
                // Each target's coefficients sum to 1 per head.
                let alpha = fx.f32(&format!("{p}.alpha"));
                let mut sums = vec![0f64; n * h];
                for k in 0..e2 {
                    for j in 0..*h {
                        sums[ei2[e2 + k] as usize * h + j] += alpha[k * h + j] as f64;
                    }
                }
                assert!(
                    sums.iter().all(|s| (s - 1.0).abs() < 1e-5),
                    "{name}: {p} softmax"
                );
            }
            let nodes = fx.i64("attention_explainer.nodes");
            assert_eq!(fx.shape("attention_explainer.pyg"), vec![nodes.len(), e]);
            assert_eq!(
                fx.shape("attention_explainer.correct"),
                vec![nodes.len(), e]
            );
        }
    }
}
