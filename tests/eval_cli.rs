//! `graph-ig eval` end to end: on files made by `graph-ig explain` over the
//! built-in data, its JSON against the library's `evaluate`, contrastivity
//! with a second file, and clean errors.

mod common;

use common::{run_cli, text};
use graph_ig::metrics::evaluate::Explanation;
use graph_ig::metrics::{evaluate, EvalConfig};
use graph_ig::output::ReadBack;
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
            "signed",
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
        &["no tensor edge_attr", "--wrt edges"],
        "node attributions",
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
