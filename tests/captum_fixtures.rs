//! The CPU reference against captum's float64 results on PyG models
//! (fixtures written by `scripts/make_fixtures.py`).
//!
//! Bound checked here, per graph and per output: relative L2 error ≤ 1e-6 for
//! attributions and log-probabilities, absolute error ≤ 1e-9 for convergence
//! deltas. The worst errors seen are printed (run with `--nocapture`).

mod common;

use common::{mutagenicity_dir, rel_l2, repo_root};
use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::output::ReadBack;
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::{
    explain, Device, ExplainConfig, GraphBatch, GraphConvNet, Method, Rule, Target, Wrt,
};
use std::cell::RefCell;
use std::collections::BTreeMap;

const REL_BOUND: f64 = 1e-6;
const DELTA_BOUND: f64 = 1e-9;

struct Checker {
    worst: RefCell<BTreeMap<String, f64>>,
}

impl Checker {
    fn rel(&self, what: &str, graph: i64, ours: &[f64], theirs: &[f64]) {
        assert_eq!(ours.len(), theirs.len(), "graph {graph} {what}: length");
        let err = rel_l2(ours, theirs, 1e-30);
        // An all-zero reference (e.g. no edges) must be matched exactly.
        let err = if theirs.iter().all(|v| *v == 0.0) {
            ours.iter().map(|v| v.abs()).fold(0.0, f64::max)
        } else {
            err
        };
        self.note(what, err);
        assert!(
            err <= REL_BOUND,
            "graph {graph} {what}: relative L2 error {err:.3e} > {REL_BOUND:e}"
        );
    }
    fn abs(&self, what: &str, graph: i64, ours: f64, theirs: f64) {
        let err = (ours - theirs).abs();
        self.note(what, err);
        assert!(
            err <= DELTA_BOUND,
            "graph {graph} {what}: {ours} vs captum {theirs} (error {err:.3e})"
        );
    }
    fn note(&self, what: &str, err: f64) {
        let mut w = self.worst.borrow_mut();
        let e = w.entry(what.to_string()).or_insert(0.0);
        *e = e.max(err);
    }
}

fn run(fixture: &str, full: &GraphBatch) {
    let path = repo_root().join("tests/fixtures").join(fixture);
    let fx = ReadBack::open(&path).expect("fixture is readable");
    let meta = fx.metadata().unwrap();
    let model = GraphConvNet::from_safetensors(repo_root().join(&meta["model"]))
        .expect("fixture model loads")
        .with_pool(meta["pool"].parse().unwrap());
    let steps: usize = meta["steps"].parse().unwrap();
    let get = |k: &str| {
        fx.f64s(k)
            .unwrap()
            .unwrap_or_else(|| panic!("{fixture}: missing {k}"))
    };
    let ck = Checker {
        worst: RefCell::new(BTreeMap::new()),
    };
    let graphs = fx.i64s("graphs").unwrap().unwrap();
    for &gi in &graphs {
        let g = gi as usize;
        let batch = full.subset(g..g + 1).unwrap();
        // The fixture's edges are in _A.txt order: check the alignment first.
        let ei = fx.i64s(&format!("g{gi}.edge_index")).unwrap().unwrap();
        let e = batch.num_edges();
        assert_eq!(ei.len(), 2 * e, "graph {gi}: edge count");
        for k in 0..e {
            assert_eq!(
                (ei[k], ei[e + k]),
                (batch.src()[k] as i64, batch.dst()[k] as i64),
                "graph {gi} edge {k}"
            );
        }
        let target = get(&format!("g{gi}.target"))[0] as usize;
        let cfg = |method, wrt, rule, steps| ExplainConfig {
            method,
            wrt,
            rule,
            steps,
            target: Target::Class(target),
            ..Default::default()
        };
        let ig = Method::IntegratedGradients;
        for rule in Rule::CAPTUM {
            let name = rule.captum_name();
            let a = explain(
                &model,
                &batch,
                &cfg(ig, Wrt::Edges, rule, steps),
                Device::Cpu,
            )
            .unwrap();
            if rule == Rule::GaussLegendre {
                ck.rel(
                    "log_probs",
                    gi,
                    &a.log_probs,
                    &get(&format!("g{gi}.log_probs")),
                );
            }
            ck.rel(
                &format!("edge_ig.{name}"),
                gi,
                a.edge.as_ref().unwrap(),
                &get(&format!("g{gi}.edge_ig.{name}")),
            );
            ck.abs(
                &format!("edge_ig_delta.{name}"),
                gi,
                a.edge_delta.as_ref().unwrap()[0],
                get(&format!("g{gi}.edge_ig_delta.{name}"))[0],
            );
        }
        for n in [7usize, 200] {
            if let Some(want) = fx
                .f64s(&format!("g{gi}.edge_ig_steps{n}.gausslegendre"))
                .unwrap()
            {
                let a = explain(
                    &model,
                    &batch,
                    &cfg(ig, Wrt::Edges, Rule::GaussLegendre, n),
                    Device::Cpu,
                )
                .unwrap();
                ck.rel(
                    &format!("edge_ig_steps{n}"),
                    gi,
                    a.edge.as_ref().unwrap(),
                    &want,
                );
            }
        }
        // Max-pool fixtures also hold plain PyG's result, whose ties depend on its BLAS tiling:
        // report (not assert) how far it is from the tie-exact reference.
        if let Some(plain) = fx
            .f64s(&format!("g{gi}.edge_ig_plain_pyg.gausslegendre"))
            .unwrap()
        {
            let a = explain(
                &model,
                &batch,
                &cfg(ig, Wrt::Edges, Rule::GaussLegendre, steps),
                Device::Cpu,
            )
            .unwrap();
            let d = rel_l2(a.edge.as_ref().unwrap(), &plain, 1e-30);
            println!("  graph {gi}: distance to plain PyG (batched GEMM ties) {d:.2e}");
        }
        let a = explain(
            &model,
            &batch,
            &cfg(ig, Wrt::Nodes, Rule::GaussLegendre, steps),
            Device::Cpu,
        )
        .unwrap();
        ck.rel(
            "node_ig",
            gi,
            a.node.as_ref().unwrap(),
            &get(&format!("g{gi}.node_ig")),
        );
        ck.abs(
            "node_ig_delta",
            gi,
            a.node_delta.as_ref().unwrap()[0],
            get(&format!("g{gi}.node_ig_delta"))[0],
        );
        for (method, key) in [
            (Method::Saliency, "saliency"),
            (Method::InputXGradient, "ixg"),
        ] {
            let a = explain(
                &model,
                &batch,
                &cfg(method, Wrt::Separate, Rule::GaussLegendre, steps),
                Device::Cpu,
            )
            .unwrap();
            ck.rel(
                &format!("edge_{key}"),
                gi,
                a.edge.as_ref().unwrap(),
                &get(&format!("g{gi}.edge_{key}")),
            );
            ck.rel(
                &format!("node_{key}"),
                gi,
                a.node.as_ref().unwrap(),
                &get(&format!("g{gi}.node_{key}")),
            );
        }
    }
    println!(
        "{fixture}: {} graphs; worst errors (relative L2, or absolute for deltas):",
        graphs.len()
    );
    for (k, v) in ck.worst.borrow().iter() {
        println!("  {k:32} {v:.2e}");
    }
}

fn mutagenicity() -> Option<GraphBatch> {
    let dir = mutagenicity_dir()?;
    Some(load_tu(dir, "Mutagenicity", 14, &TuOptions::default()).expect("Mutagenicity loads"))
}

#[test]
fn mutagenicity_add_pool_matches_captum() {
    if let Some(data) = mutagenicity() {
        run("mutagenicity_add.safetensors", &data);
    }
}

#[test]
fn mutagenicity_mean_pool_matches_captum() {
    if let Some(data) = mutagenicity() {
        run("mutagenicity_mean.safetensors", &data);
    }
}

#[test]
fn mutagenicity_max_pool_matches_captum() {
    if let Some(data) = mutagenicity() {
        run("mutagenicity_max.safetensors", &data);
    }
}

#[test]
fn synthetic_matches_captum() {
    let path = repo_root().join("tests/fixtures/synthetic_add.safetensors");
    assert!(
        path.exists(),
        "{} is missing: run scripts/make_fixtures.py",
        path.display()
    );
    let data = generate(&SyntheticConfig::default()).unwrap();
    run("synthetic_add.safetensors", &data.batch);
}

/// Our integration tables against the ones captum uses (alphas as captum
/// returns them, weights after IG's float32 cast).
#[test]
fn rule_tables_match_captum() {
    let fx = ReadBack::open(repo_root().join("tests/fixtures/captum_rules.safetensors")).unwrap();
    let meta = fx.metadata().unwrap();
    let rejected: Vec<&str> = meta["rejected"].split(',').collect();
    let mut checked = 0;
    for rule in Rule::CAPTUM {
        for n in meta["steps"].split(',') {
            let key = format!("{}:{n}", rule.captum_name());
            let n: usize = n.parse().unwrap();
            if rejected.contains(&key.as_str()) {
                assert!(
                    rule.table(n).is_err(),
                    "{key}: captum rejects it, so must we"
                );
                continue;
            }
            let t = rule.table(n).unwrap();
            let alphas = fx
                .f64s(&format!("rule.{}.{n}.alphas", rule.captum_name()))
                .unwrap()
                .unwrap();
            let weights = fx
                .f64s(&format!("rule.{}.{n}.weights", rule.captum_name()))
                .unwrap()
                .unwrap();
            for k in 0..n {
                let tol = if rule == Rule::GaussLegendre {
                    1e-14
                } else {
                    0.0
                };
                assert!(
                    (t.alphas[k] - alphas[k]).abs() <= tol,
                    "{key} alpha {k}: {} vs captum {}",
                    t.alphas[k],
                    alphas[k]
                );
                // Weights are float32 values: allow one float32 ulp for Gauss-Legendre,
                // whose float64 weights may differ from numpy's in the last bits.
                let ulp = if rule == Rule::GaussLegendre {
                    (weights[k] as f32).abs() as f64 * f32::EPSILON as f64
                } else {
                    0.0
                };
                assert!(
                    (t.weights[k] - weights[k]).abs() <= ulp,
                    "{key} weight {k}: {} vs captum {}",
                    t.weights[k],
                    weights[k]
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} tables checked");
}

/// The command itself (built-in Mutagenicity model, f32 output file) against captum.
#[test]
fn explain_command_output_matches_captum() {
    let Some(dir) = mutagenicity_dir() else {
        return;
    };
    let fx =
        ReadBack::open(repo_root().join("tests/fixtures/mutagenicity_add.safetensors")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for &g in fx.i64s("graphs").unwrap().unwrap().iter().take(4) {
        let out = tmp.path().join(format!("g{g}.safetensors"));
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_graph-ig"))
            .args(["explain", "--data"])
            .arg(&dir)
            .args([
                "--name",
                "Mutagenicity",
                "--device",
                "cpu",
                "--quiet",
                "--wrt",
                "separate",
                "--target",
                "label",
            ])
            .args(["--graphs", &format!("{g}..{}", g + 1), "--out"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "graph {g}: graph-ig explain failed");
        let r = ReadBack::open(&out).unwrap();
        for (ours, theirs) in [
            ("edge_attr", "edge_ig.gausslegendre"),
            ("node_attr", "node_ig"),
        ] {
            let a = r.f64s(ours).unwrap().unwrap();
            let b = fx.f64s(&format!("g{g}.{theirs}")).unwrap().unwrap();
            // f32 output: the bound is float32 rounding, well inside 1e-6.
            let err = rel_l2(&a, &b, 1e-30);
            assert!(
                err <= REL_BOUND,
                "graph {g} {ours}: relative L2 error {err:.2e}"
            );
        }
        let d = r.f64s("delta").unwrap().unwrap()[0];
        let want = fx
            .f64s(&format!("g{g}.edge_ig_delta.gausslegendre"))
            .unwrap()
            .unwrap()[0];
        assert!(
            (d - want).abs() <= 1e-6 * want.abs().max(1e-3),
            "graph {g} delta {d} vs {want}"
        );
    }
}
