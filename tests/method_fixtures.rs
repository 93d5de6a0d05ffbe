//! The node-level methods of Pope et al. (CVPR 2019) on the CPU reference path
//! against independent float64 references written by
//! `scripts/make_method_fixtures.py` (`tests/fixtures/methods.safetensors`):
//! Grad-CAM per conv layer and averaged, by captum's `LayerGradCam`; the
//! contrastive gradient by torch autograd; Excitation Backprop and contrastive EB
//! by a modified-backprop implementation in the script (`Z = W⁺a`, `R = P/Z`,
//! `P_child = a ⊙ (∂Z/∂a)ᵀ R`), not the per-neuron loops of `cpu::excitation`.
//!
//! Every case (real Mutagenicity and synthetic graphs, hand-made edge cases;
//! add, mean and max pooling) carries its own features and edges, so no dataset
//! and no Python are needed. Bound, per case and method: relative L2 error
//! ≤ 1e-9, with the reference norm floored at 1e-6 (an all-zero reference must be
//! matched to 1e-15). The explained class is the predicted one. The worst errors
//! are printed (run with `--nocapture`).

mod common;

use common::{rel_l2, repo_root};
use graph_ig::output::ReadBack;
use graph_ig::{explain, Device, ExplainConfig, GraphBatch, GraphConvNet, Method, Target};
use std::collections::BTreeMap;

const REL_BOUND: f64 = 1e-9;
/// Floor of the reference norm in the relative error.
const NORM_FLOOR: f64 = 1e-6;
/// Log-probabilities: same model, same input, float64 on both sides.
const LOGP_BOUND: f64 = 1e-12;

fn fixture() -> ReadBack {
    let path = repo_root().join("tests/fixtures/methods.safetensors");
    assert!(
        path.exists(),
        "{} is missing: run scripts/make_method_fixtures.py",
        path.display()
    );
    ReadBack::open(&path).expect("fixture is readable")
}

fn error(ours: &[f64], theirs: &[f64]) -> f64 {
    assert_eq!(ours.len(), theirs.len(), "length");
    rel_l2(ours, theirs, NORM_FLOOR)
}

/// The methods checked, with the fixture key of their expected scores.
fn methods(num_layers: usize) -> Vec<(Method, String)> {
    let mut m: Vec<(Method, String)> = (1..=num_layers)
        .map(|l| (Method::GradCam(Some(l)), format!("grad_cam.{l}")))
        .collect();
    m.push((Method::GradCam(None), "grad_cam.mean".into()));
    m.push((Method::ContrastiveGradient, "contrastive_gradient".into()));
    m.push((Method::ExcitationBackprop, "eb".into()));
    m.push((Method::ContrastiveEb, "c_eb".into()));
    m
}

/// One fixture case: its graph and model.
struct Case {
    name: String,
    batch: GraphBatch,
    model_path: String,
    pool: String,
}

fn case(fx: &ReadBack, meta: &BTreeMap<String, String>, k: i64) -> Case {
    let f = |key: &str| {
        fx.f64s(&format!("c{k}.{key}"))
            .unwrap()
            .unwrap_or_else(|| panic!("case {k}: missing {key}"))
    };
    let shape = fx.shape(&format!("c{k}.x")).unwrap().unwrap();
    let (n, nf) = (shape[0], shape[1]);
    let x: Vec<f32> = f("x").iter().map(|&v| v as f32).collect();
    assert_eq!(x.len(), n * nf);
    let ei = fx.i64s(&format!("c{k}.edge_index")).unwrap().unwrap();
    let e = ei.len() / 2;
    let edges: Vec<(usize, usize)> = (0..e)
        .map(|j| (ei[j] as usize, ei[e + j] as usize))
        .collect();
    let batch = GraphBatch::builder(nf)
        .graph(&x, &edges)
        .build()
        .expect("case graph is valid");
    let m = |key: &str| meta[&format!("c{k}.{key}")].clone();
    Case {
        name: format!("case {k} ({}, {}: {})", m("pool"), m("source"), m("reason")),
        batch,
        model_path: m("model"),
        pool: m("pool"),
    }
}

fn scores(model: &GraphConvNet, batch: &GraphBatch, method: Method) -> (Vec<f64>, Vec<f64>, usize) {
    let cfg = ExplainConfig {
        method,
        target: Target::Predicted,
        ..Default::default()
    };
    let a = explain(model, batch, &cfg, Device::Cpu).expect("explain runs");
    (a.node_score.expect("node scores"), a.log_probs, a.target[0])
}

#[test]
fn node_methods_match_independent_references() {
    let fx = fixture();
    let meta: BTreeMap<String, String> = fx.metadata().unwrap().into_iter().collect();
    let cases = fx.i64s("cases").unwrap().unwrap();
    let mut models: BTreeMap<(String, String), GraphConvNet> = BTreeMap::new();
    let mut worst: BTreeMap<String, (f64, String)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut pools = BTreeMap::new();
    for &k in &cases {
        let c = case(&fx, &meta, k);
        *pools.entry(c.pool.clone()).or_insert(0) += 1;
        let model = models
            .entry((c.model_path.clone(), c.pool.clone()))
            .or_insert_with(|| {
                GraphConvNet::from_safetensors(repo_root().join(&c.model_path))
                    .expect("fixture model loads")
                    .with_pool(c.pool.parse().unwrap())
            });
        let get = |key: &str| {
            fx.f64s(&format!("c{k}.{key}"))
                .unwrap()
                .unwrap_or_else(|| panic!("{}: missing {key}", c.name))
        };
        let target = get("target")[0] as usize;
        let mut note = |what: &str, err: f64, bound: f64| {
            let w = worst
                .entry(what.to_string())
                .or_insert((0.0, String::new()));
            if err > w.0 || w.1.is_empty() {
                *w = (err, c.name.clone());
            }
            if err.is_nan() || err > bound {
                failures.push(format!("{}: {what}: error {err:.3e} > {bound:e}", c.name));
            }
        };
        for (method, key) in methods(model.num_layers()) {
            let (ours, log_probs, t) = scores(model, &c.batch, method);
            assert_eq!(t, target, "{}: {key}: predicted class", c.name);
            note(
                "log_probs",
                error(&log_probs, &get("log_probs")),
                LOGP_BOUND,
            );
            note(&key, error(&ours, &get(&key)), REL_BOUND);
        }
    }
    println!(
        "methods.safetensors: {} cases (pools {pools:?}); worst relative L2 error per method:",
        cases.len()
    );
    for (k, (v, at)) in &worst {
        println!("  {k:22} {v:.2e}  at {at}");
    }
    assert!(
        ["add", "mean", "max"]
            .iter()
            .all(|p| pools.contains_key(*p)),
        "every pooling is covered: {pools:?}"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The bound is tight enough to see a change in the 9th digit of one score.
#[test]
fn a_perturbed_reference_is_rejected() {
    let fx = fixture();
    let meta: BTreeMap<String, String> = fx.metadata().unwrap().into_iter().collect();
    let c = case(&fx, &meta, 0);
    let model = GraphConvNet::from_safetensors(repo_root().join(&c.model_path))
        .unwrap()
        .with_pool(c.pool.parse().unwrap());
    let (ours, _, _) = scores(&model, &c.batch, Method::ExcitationBackprop);
    let mut want = fx.f64s("c0.eb").unwrap().unwrap();
    assert!(error(&ours, &want) <= REL_BOUND);
    let norm = want.iter().map(|v| v * v).sum::<f64>().sqrt();
    want[0] += 1e-8 * norm;
    assert!(error(&ours, &want) > REL_BOUND);
}
