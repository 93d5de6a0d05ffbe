//! The CPU reference's gradients against central finite differences, in f64,
//! on random graphs with edge cases, for every pooling.

mod common;

use common::{edge_case_batch, random_model, rng};
use graph_ig::cpu::network::{gradients, outputs, LocalGraph};
use graph_ig::{GraphBatch, Pool};
use rand::Rng;

fn local(batch: &GraphBatch, g: usize) -> (LocalGraph, Vec<f64>) {
    let gr = batch.graph(g);
    let f = batch.num_features();
    let lg = LocalGraph::from_batch(batch, g);
    let x = batch.features()[gr.nodes.start * f..gr.nodes.end * f]
        .iter()
        .map(|&v| v as f64)
        .collect();
    (lg, x)
}

fn check_pool(pool: Pool, seed: u64) {
    let mut r = rng(seed);
    let f = 5;
    let model = random_model(&mut r, f, &[7, 6, 5], 8, 3, pool);
    check_model(&model, pool, seed);
}

/// Every conv family (with BatchNorm, L2 normalisation, several heads, self-loops of
/// its own, mean aggregations), every output op, against finite differences.
#[test]
fn every_conv_family_matches_finite_differences() {
    use common::{random_zoo_model, Zoo};
    use graph_ig::model::Output;
    let outputs = [Output::LogSoftmax, Output::Softmax, Output::Logits];
    let pools = [Pool::Add, Pool::Mean, Pool::Max];
    for (k, family) in Zoo::ALL.iter().enumerate() {
        let mut r = rng(100 + k as u64);
        let (pool, out) = (pools[k % 3], outputs[k % 3]);
        let model = random_zoo_model(&mut r, *family, 5, 3, pool, out);
        println!("{family:?}: {}", model.describe());
        check_model(&model, pool, 200 + k as u64);
    }
}

fn check_model(model: &graph_ig::Model, pool: Pool, seed: u64) {
    let mut r = rng(seed);
    let f = model.num_features();
    let batch = edge_case_batch(&mut r, f);
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for g in 0..batch.num_graphs() {
        let (lg, x) = local(&batch, g);
        let e = lg.src.len();
        // Edge weights away from 0 and 1 so that the check is generic.
        let w: Vec<f64> = (0..e).map(|_| r.gen_range(0.3..1.7)).collect();
        let target = r.gen_range(0..3);
        let (dx, dw) = gradients(model, &lg, &x, &w, target).unwrap();
        let f_at = |x: &[f64], w: &[f64]| outputs(model, &lg, x, w).unwrap()[target];
        for i in 0..e {
            let (mut wp, mut wm) = (w.clone(), w.clone());
            wp[i] += h;
            wm[i] -= h;
            let fd = (f_at(&x, &wp) - f_at(&x, &wm)) / (2.0 * h);
            let err = (fd - dw[i]).abs() / (1e-3 + fd.abs());
            worst = worst.max(err);
            assert!(
                err < 1e-5,
                "{pool:?} graph {g} edge {i}: analytic {} vs finite difference {fd}",
                dw[i]
            );
        }
        for i in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let fd = (f_at(&xp, &w) - f_at(&xm, &w)) / (2.0 * h);
            let err = (fd - dx[i]).abs() / (1e-3 + fd.abs());
            worst = worst.max(err);
            assert!(
                err < 1e-5,
                "{pool:?} graph {g} feature {i}: analytic {} vs finite difference {fd}",
                dx[i]
            );
        }
    }
    println!("{pool:?}: worst relative gradient error {worst:.2e}");
}

#[test]
fn gradients_match_finite_differences_add_pool() {
    check_pool(Pool::Add, 1);
}

#[test]
fn gradients_match_finite_differences_mean_pool() {
    check_pool(Pool::Mean, 2);
}

#[test]
fn gradients_match_finite_differences_max_pool() {
    check_pool(Pool::Max, 3);
}

/// With two bit-identical nodes, max pooling splits the gradient evenly (PyTorch's rule):
/// each tied node gets half of what a single maximum would get.
#[test]
fn max_pool_splits_gradient_among_ties() {
    use graph_ig::cpu::pooling::{pool_backward, pool_forward};
    // Three nodes (rows) of three channels.
    let h = [1.0, 5.0, 3.0, 5.0, 3.0, 0.0, 2.0, 5.0, 1.0];
    let (n, d) = (3, 3);
    assert_eq!(pool_forward(Pool::Max, &h, n, d), vec![5.0, 5.0, 3.0]);
    let mut dh = vec![0.0; 9];
    pool_backward(Pool::Max, &h, n, d, &[1.0, 2.0, 4.0], &mut dh);
    // Channel 0: the maximum is at node 1 only; channel 1: nodes 0 and 2 tie; channel 2: node 0.
    assert_eq!(dh, vec![0.0, 1.0, 4.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
}
