//! Excitation Backprop and contrastive EB: a case computed by hand, mass
//! conservation, and c-EB from its definition (EB with the class row negated).

mod common;

use common::{edge_case_batch, random_model, rng};
use graph_ig::model::Linear;
use graph_ig::{explain, Device, ExplainConfig, GraphBatch, GraphConvNet, Method, Pool, Target};

fn lin(out_dim: usize, in_dim: usize, weight: Vec<f64>, bias: Vec<f64>) -> Linear {
    Linear {
        out_dim,
        in_dim,
        weight,
        bias,
    }
}

fn eb(model: &GraphConvNet, batch: &GraphBatch, m: Method, c: usize) -> Vec<f64> {
    let cfg = ExplainConfig {
        method: m,
        target: Target::Class(c),
        ..Default::default()
    };
    explain(model, batch, &cfg, Device::Cpu)
        .unwrap()
        .node_score
        .unwrap()
}

/// Two nodes, x = [1, 2], one edge 0 → 1; W_rel = 0.5, W_root = 1, b = 0.1; add pooling;
/// lin1 = 1·p; lin2 = [1, −1]. Then h = [1.1, 2.6]; the pooled mass splits 1.1 : 2.6
/// between the nodes; node 0 keeps all of its share; node 1 passes 0.5·1 : 1·2 of
/// its share to x_0 : x_1. So EB = [(1.1 + 2.6·0.2) / 3.7, 2.6·0.8 / 3.7].
#[test]
fn excitation_backprop_matches_a_hand_computation() {
    let model = GraphConvNet::tutorial(
        vec![(
            lin(1, 1, vec![0.5], vec![0.1]),
            lin(1, 1, vec![1.0], vec![0.0]),
        )],
        lin(1, 1, vec![1.0], vec![0.0]),
        lin(2, 1, vec![1.0, -1.0], vec![0.0, 0.0]),
        Pool::Add,
    )
    .unwrap();
    let batch = GraphBatch::builder(1)
        .graph(&[1.0, 2.0], &[(0, 1)])
        .build()
        .unwrap();
    let got = eb(&model, &batch, Method::ExcitationBackprop, 0);
    let want = [(1.1 + 2.6 * 0.2) / 3.7, 2.6 * 0.8 / 3.7];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
    }
    // Class 1's row is negative: no excitation reaches the graph.
    assert_eq!(
        eb(&model, &batch, Method::ExcitationBackprop, 1),
        vec![0.0, 0.0]
    );
    // Contrastive: the negated class-1 row is positive, so c-EB(1) = 0 − EB(class 0's flow).
    let c1 = eb(&model, &batch, Method::ContrastiveEb, 1);
    for (g, w) in c1.iter().zip(want) {
        assert!((g + w).abs() < 1e-12, "{c1:?}");
    }
}

/// With non-negative inputs and weights no parent lacks excitation, so every
/// graph's scores sum to 1 (for each pooling).
#[test]
fn excitation_mass_is_conserved() {
    for (seed, pool) in [(1u64, Pool::Add), (2, Pool::Mean), (3, Pool::Max)] {
        let mut r = rng(seed);
        let mut model = random_model(&mut r, 3, &[5, 4], 4, 2, pool);
        for l in model.linears_mut() {
            l.weight.iter_mut().for_each(|w| *w = w.abs() + 0.01);
            l.bias.iter_mut().for_each(|b| *b = b.abs());
        }
        let batch = edge_case_batch(&mut r, 3);
        let f: Vec<f32> = batch.features().iter().map(|v| v.abs() + 0.1).collect();
        let mut b = GraphBatch::builder(3);
        for g in batch.graphs() {
            let edges: Vec<(usize, usize)> = g
                .edges
                .clone()
                .map(|e| {
                    (
                        (batch.src()[e] as usize) - g.nodes.start,
                        (batch.dst()[e] as usize) - g.nodes.start,
                    )
                })
                .collect();
            b = b.graph(&f[g.nodes.start * 3..g.nodes.end * 3], &edges);
        }
        let batch = b.build().unwrap();
        let s = eb(&model, &batch, Method::ExcitationBackprop, 1);
        for g in batch.graphs() {
            let total: f64 = s[g.nodes.clone()].iter().sum();
            assert!(
                (total - 1.0).abs() < 1e-12,
                "{pool:?} graph {}: mass {total}",
                g.index
            );
            assert!(s[g.nodes].iter().all(|&v| v >= 0.0));
        }
    }
}

#[test]
fn contrastive_eb_is_eb_minus_eb_of_the_negated_classifier() {
    let mut r = rng(4);
    let model = random_model(&mut r, 3, &[6, 5], 6, 3, Pool::Add);
    let batch = edge_case_batch(&mut r, 3);
    for c in 0..3 {
        let mut neg = model.clone();
        let lin2 = neg.classifier_mut().unwrap();
        let h = lin2.in_dim;
        lin2.weight[c * h..(c + 1) * h]
            .iter_mut()
            .for_each(|w| *w = -*w);
        let want: Vec<f64> = eb(&model, &batch, Method::ExcitationBackprop, c)
            .iter()
            .zip(eb(&neg, &batch, Method::ExcitationBackprop, c))
            .map(|(a, b)| a - b)
            .collect();
        assert_eq!(
            eb(&model, &batch, Method::ContrastiveEb, c),
            want,
            "class {c}"
        );
    }
    assert_eq!("c-eb".parse::<Method>().unwrap(), Method::ContrastiveEb);
    assert_eq!("eb".parse::<Method>().unwrap(), Method::ExcitationBackprop);
}
