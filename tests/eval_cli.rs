//! `graph-ig eval` end to end: on files made by `graph-ig explain` over the
//! built-in data, its JSON against the library's `evaluate` (and
//! `evaluate_nodes` for node-level files, with a from-scratch AUC),
//! contrastivity with a second file, and clean errors.

mod common;

use common::{pairwise_auc, run_cli, text};
use graph_ig::metrics::evaluate::Explanation;
use graph_ig::metrics::nodes::{evaluate_nodes, NodeExplanation};
use graph_ig::metrics::{edge_scores_from_nodes, evaluate, EvalConfig};
use graph_ig::output::{write_safetensors, ReadBack, Tensor};
use graph_ig::synthetic::{generate, SyntheticConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// A clean failure: exit code 1, `graph-ig: error:`, no panic, and every part in stderr.
fn clean_error(o: &Output, parts: &[&str], what: &str) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{what}: stderr:\n{err}");
    assert!(err.starts_with("graph-ig: error:"), "{what}:\n{err}");
    assert!(!err.contains("panicked"), "{what}:\n{err}");
    for p in parts {
        assert!(
            err.contains(p),
            "{what}: stderr should contain {p:?}:\n{err}"
        );
    }
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// `graph-ig explain` on graphs 0..20 of the built-in data, with extra flags.
fn explain(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec![
        "explain",
        "--graphs",
        "0..20",
        "--quiet",
        "--device",
        "cpu",
        "--out",
        p(&out),
    ];
    args.extend_from_slice(extra);
    ok(&run_cli(&args), &format!("explain {name}"));
    out
}

/// Equal JSON values, numbers within 1e-12 relative (serde_json's float
/// parsing is not always correctly rounded in the last bit).
fn same(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{at}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                same(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}: keys"
            );
            for (k, v) in x {
                same(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("JSON written")).expect("valid JSON")
}

#[test]
fn eval_on_explain_output() {
    let tmp = tempfile::tempdir().unwrap();
    let attr = explain(tmp.path(), "ig.safetensors", &[]);
    let json = tmp.path().join("eval.json");
    let stdout = ok(
        &run_cli(&["eval", "--attr", p(&attr), "--json", p(&json)]),
        "eval",
    );
    for row in [
        "on Synthetic, 20 graphs",
        "Pope et al. 2019",
        "contrastivity",
        "needs --attr-other",
        "Fidelity+ (model)",
        "Fidelity- (phenomenon)",
        "characterization",
        "fidelity-curve AUC (model)",
        "DIG",
        "Ground truth",
        "label 0",
        "wrote:",
    ] {
        assert!(stdout.contains(row), "stdout lacks {row:?}:\n{stdout}");
    }
    let v = read_json(&json);
    assert_eq!(v["graphs"], 20);
    assert_eq!(v["settings"]["mask"]["sparsity"], 0.7);
    assert_eq!(v["input"]["dataset"], "Synthetic");
    assert_eq!(v["input"]["model"], "built-in:synthetic");
    assert_eq!(v["per_graph"]["kept_edges"].as_array().unwrap().len(), 20);

    // The same numbers from the library, on the same graphs and attributions.
    let data = generate(&SyntheticConfig::default()).unwrap();
    let batch = data.batch.subset(0..20).unwrap();
    let model = graph_ig::default_model::synthetic().unwrap();
    let r = ReadBack::open(&attr).unwrap();
    let edge_attr = r.f64s("edge_attr").unwrap().unwrap();
    let target: Vec<usize> = r
        .i64s("target")
        .unwrap()
        .unwrap()
        .iter()
        .map(|&t| t as usize)
        .collect();
    let lib = evaluate(
        &model,
        &batch,
        &Explanation {
            edge_attr: &edge_attr,
            target: &target,
        },
        None,
        &EvalConfig::default(),
    )
    .unwrap()
    .to_json();
    for key in [
        "pope",
        "pyg",
        "dig",
        "ground_truth",
        "per_graph",
        "accuracy",
    ] {
        same(&v[key], &lib[key], key);
    }
    assert_eq!(v["edge_scores"], "edge_attr");
    assert_eq!(v["edge_scores_derived"], false);
    assert_eq!(v["node_level"], Value::Null);
    // The ground-truth AUC is the one `explain` reports (|IG| of the same file).
    let gt = &v["ground_truth"]["all"];
    assert!(gt["graphs"].as_u64().unwrap() > 0);
    assert!(gt["mean_auc"].as_f64().unwrap() > 0.8, "{gt}");
}

#[test]
fn eval_contrastivity_and_options() {
    let tmp = tempfile::tempdir().unwrap();
    let a0 = explain(tmp.path(), "t0.safetensors", &["--target", "0"]);
    let a1 = explain(
        tmp.path(),
        "t1.safetensors",
        &["--target", "1", "--method", "saliency"],
    );
    let json = tmp.path().join("c.json");
    let stdout = ok(
        &run_cli(&[
            "eval",
            "--attr",
            p(&a0),
            "--attr-other",
            p(&a1),
            "--fraction",
            "0.25",
            "--ranking",
            "value",
            "--curve",
            "0.2,0.5,0.8",
            "--charact-weights",
            "0.25,0.75",
            "--json",
            p(&json),
        ]),
        "eval with a second file",
    );
    assert!(stdout.contains("20 graphs, against"), "{stdout}");
    let v = read_json(&json);
    assert_eq!(v["pope"]["contrastivity_graphs"], 20);
    let c = v["pope"]["contrastivity"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&c), "{c}");
    assert_eq!(v["settings"]["ranking"], "signed");
    assert_eq!(v["settings"]["mask"]["fraction"], 0.25);
    assert_eq!(
        v["settings"]["charact_weights"],
        serde_json::json!([0.25, 0.75])
    );
    assert_eq!(v["pyg"]["curve_x"], serde_json::json!([0.2, 0.5, 0.8]));
    let e = v["per_graph"]["num_edges"].as_array().unwrap();
    let k = v["per_graph"]["kept_edges"].as_array().unwrap();
    for (e, k) in e.iter().zip(k) {
        assert_eq!(k.as_u64().unwrap(), e.as_u64().unwrap() / 4);
    }
    // A threshold mask.
    ok(
        &run_cli(&["eval", "--attr", p(&a0), "--threshold", "0.001"]),
        "threshold",
    );
}

#[test]
fn eval_errors_are_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let attr = explain(tmp.path(), "ig.safetensors", &[]);
    let nodes = explain(tmp.path(), "nodes.safetensors", &["--wrt", "nodes"]);
    clean_error(
        &run_cli(&["eval", "--attr", p(&tmp.path().join("missing.safetensors"))]),
        &["missing.safetensors"],
        "missing file",
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&nodes)]),
        &[
            "nodes.safetensors",
            "no tensor edge_attr or node_score",
            "node_attr",
            "--wrt edges",
            "grad-cam",
        ],
        "node attributions",
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&attr), "--ranking", "largest"]),
        &["--ranking", "abs or signed", "value"],
        "bad ranking",
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&attr), "--sparsity", "1.5"]),
        &["sparsity 1.5"],
        "bad sparsity",
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&attr), "--charact-weights", "0.5,0.6"]),
        &["sum up to 1"],
        "bad weights",
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&attr), "--curve", "0.5,0.1"]),
        &["ascending"],
        "bad curve",
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&attr), "--pool", "max"]),
        &["log-probabilities", "--pool"],
        "another pooling",
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&attr), "--data", p(tmp.path())]),
        &["--data needs --name"],
        "no name",
    );
    // Graphs 20..40 as the second file.
    let other = tmp.path().join("other.safetensors");
    ok(
        &run_cli(&[
            "explain",
            "--graphs",
            "20..40",
            "--quiet",
            "--device",
            "cpu",
            "--out",
            p(&other),
        ]),
        "explain 20..40",
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&attr), "--attr-other", p(&other)]),
        &["same graphs"],
        "other graphs",
    );
    // The file's graphs against other data of the same name: edge counts differ.
    let data = tmp.path().join("data");
    ok(
        &run_cli(&[
            "synth",
            "--out",
            p(&data),
            "--num-graphs",
            "30",
            "--seed",
            "12345",
        ]),
        "synth",
    );
    let model = common::repo_root().join("models/synthetic_graphconv.safetensors");
    clean_error(
        &run_cli(&[
            "eval",
            "--attr",
            p(&attr),
            "--data",
            p(&data),
            "--name",
            "Synthetic",
            "--model",
            p(&model),
        ]),
        &["edges", "other data"],
        "other data",
    );
    // Clap's own conflict check.
    let o = run_cli(&[
        "eval",
        "--attr",
        p(&attr),
        "--sparsity",
        "0.5",
        "--threshold",
        "0.1",
    ]);
    assert!(!o.status.success());
    assert!(!text(&o.stderr).contains("panicked"));
}

#[test]
fn eval_on_node_level_file() {
    let tmp = tempfile::tempdir().unwrap();
    let attr = explain(tmp.path(), "gc.safetensors", &["--method", "grad-cam"]);
    let json = tmp.path().join("gc.json");
    let stdout = ok(
        &run_cli(&["eval", "--attr", p(&attr), "--json", p(&json)]),
        "eval grad-cam",
    );
    for row in [
        "(grad-cam, target predicted) on Synthetic, 20 graphs",
        "nodes",
        "scores:      node_score",
        "derived from node_score: (s_u + s_v) / 2",
        "by |derived edge score|",
        "Pope et al. 2019 (salient: score / max score > 0.01) [derived edge scores]",
        "PyG (GraphFramEx), at the mask [derived edge scores]",
        "mask [derived edge scores]",
        "Node level (node_score",
        "salient nodes occluded",
        "sparsity: 1 - salient / N",
        "Ground truth at node level",
        "top floor((1 - 0.7) * N) nodes",
    ] {
        assert!(stdout.contains(row), "stdout lacks {row:?}:\n{stdout}");
    }
    let v = read_json(&json);
    assert_eq!(v["edge_scores_derived"], true);
    assert_eq!(v["edge_scores"], "derived from node_score: (s_u + s_v) / 2");

    // The library on the same graphs and scores.
    let data = generate(&SyntheticConfig::default()).unwrap();
    let batch = data.batch.subset(0..20).unwrap();
    let model = graph_ig::default_model::synthetic().unwrap();
    let r = ReadBack::open(&attr).unwrap();
    assert!(r.f64s("edge_attr").unwrap().is_none());
    let ns = r.f64s("node_score").unwrap().unwrap();
    let target: Vec<usize> = r
        .i64s("target")
        .unwrap()
        .unwrap()
        .iter()
        .map(|&t| t as usize)
        .collect();
    let cfg = EvalConfig::default();
    let derived = edge_scores_from_nodes(&ns, batch.src(), batch.dst());
    let lib = evaluate(
        &model,
        &batch,
        &Explanation {
            edge_attr: &derived,
            target: &target,
        },
        None,
        &cfg,
    )
    .unwrap()
    .to_json();
    for key in ["pope", "pyg", "dig", "ground_truth", "per_graph"] {
        same(&v[key], &lib[key], key);
    }
    let lib_n = evaluate_nodes(
        &model,
        &batch,
        &NodeExplanation {
            node_score: &ns,
            target: &target,
        },
        None,
        &cfg,
    )
    .unwrap()
    .to_json();
    same(&v["node_level"], &lib_n, "node_level");

    // Node-level ground-truth AUC from scratch: marks at the endpoints of the
    // file's marked edges, pairwise counts per graph.
    let gt = r.f64s("edge_gt").unwrap().unwrap();
    let ei = r.i64s("edge_index").unwrap().unwrap();
    let np = r.i64s("node_ptr").unwrap().unwrap();
    let e = gt.len();
    let mut marks = vec![0u8; ns.len()];
    for k in (0..e).filter(|&k| gt[k] != 0.0) {
        marks[ei[k] as usize] = 1;
        marks[ei[e + k] as usize] = 1;
    }
    let (mut sum, mut n) = (0.0, 0);
    let per = v["node_level"]["per_graph"]["gt_auc"].as_array().unwrap();
    for g in 0..20 {
        let r = np[g] as usize..np[g + 1] as usize;
        let s: Vec<f64> = ns[r.clone()].iter().map(|x| x.abs()).collect();
        let want = pairwise_auc(&s, &marks[r]);
        match (want, per[g].as_f64()) {
            (Some(a), Some(b)) => {
                assert!((a - b).abs() < 1e-12, "graph {g}: {a} vs {b}");
                sum += a;
                n += 1;
            }
            (None, None) => {}
            (a, b) => panic!("graph {g}: {a:?} vs {b:?}"),
        }
    }
    assert!(n > 0);
    let mean = v["node_level"]["ground_truth"]["all"]["mean_auc"]
        .as_f64()
        .unwrap();
    assert!((mean - sum / n as f64).abs() < 1e-12);

    // Two node-level files: contrastivity at node level too.
    let other = explain(
        tmp.path(),
        "gc1.safetensors",
        &["--method", "grad-cam", "--target", "1"],
    );
    let json2 = tmp.path().join("gc2.json");
    let stdout = ok(
        &run_cli(&[
            "eval",
            "--attr",
            p(&attr),
            "--attr-other",
            p(&other),
            "--json",
            p(&json2),
        ]),
        "eval two grad-cam files",
    );
    assert!(!stdout.contains("needs --attr-other"), "{stdout}");
    let v2 = read_json(&json2);
    assert!(
        v2["node_level"]["pope"]["contrastivity_graphs"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// Copies the explain output `src` to `dst` with only the tensors `keep`,
/// `node_score` truncated to `node_score_len` values when given.
fn rewrite(src: &Path, dst: &Path, keep: &[&str], node_score_len: Option<usize>) {
    let r = ReadBack::open(src).unwrap();
    let mut t = Vec::new();
    for &name in keep {
        let shape = r.shape(name).unwrap().unwrap();
        let tensor = if name == "node_score" {
            let mut v = r.f64s(name).unwrap().unwrap();
            if let Some(n) = node_score_len {
                v.truncate(n);
            }
            Tensor::f32(vec![v.len()], v)
        } else if name == "log_probs" {
            Tensor::f32(shape, r.f64s(name).unwrap().unwrap())
        } else {
            Tensor::i64(shape, r.i64s(name).unwrap().unwrap())
        };
        t.push((name.to_string(), tensor));
    }
    write_safetensors(dst, &t, &r.metadata().unwrap()).unwrap();
}

#[test]
fn eval_node_level_errors_are_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let gc = explain(tmp.path(), "gc.safetensors", &["--method", "grad-cam"]);
    let base = [
        "node_ptr",
        "edge_ptr",
        "edge_index",
        "graph_index",
        "target",
    ];
    let short = tmp.path().join("short.safetensors");
    let mut keep = base.to_vec();
    keep.push("node_score");
    rewrite(&gc, &short, &keep, Some(7));
    clean_error(
        &run_cli(&["eval", "--attr", p(&short)]),
        &[
            "short.safetensors",
            "tensor node_score has 7 values, expected",
        ],
        "node_score of the wrong length",
    );
    let none = tmp.path().join("none.safetensors");
    rewrite(&gc, &none, &base, None);
    clean_error(
        &run_cli(&["eval", "--attr", p(&none)]),
        &["none.safetensors", "no tensor edge_attr or node_score"],
        "no scores",
    );
    let untargeted = tmp.path().join("untargeted.safetensors");
    rewrite(
        &gc,
        &untargeted,
        &[
            "node_ptr",
            "edge_ptr",
            "edge_index",
            "graph_index",
            "node_score",
        ],
        None,
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&untargeted)]),
        &["untargeted.safetensors", "no tensor target"],
        "no target",
    );
    // A second file of other graphs.
    let other = tmp.path().join("other.safetensors");
    ok(
        &run_cli(&[
            "explain",
            "--graphs",
            "20..40",
            "--quiet",
            "--device",
            "cpu",
            "--method",
            "grad-cam",
            "--out",
            p(&other),
        ]),
        "explain 20..40",
    );
    clean_error(
        &run_cli(&["eval", "--attr", p(&gc), "--attr-other", p(&other)]),
        &["other.safetensors", "same graphs"],
        "other graphs",
    );
}
