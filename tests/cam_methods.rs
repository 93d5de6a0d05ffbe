//! Grad-CAM and the contrastive gradient (Pope et al. 2019) against an independent
//! computation: the gradients of the class score by central finite differences,
//! through a separately written tail of the network (Grad-CAM) or the forward pass
//! (contrastive gradient).

mod common;

use common::{edge_case_batch, random_model, rng, tutorial_parts as parts};
use graph_ig::cpu::network::LocalGraph;
use graph_ig::cpu::Cpu;
use graph_ig::nn::{Instances, Mask, Network};
use graph_ig::{explain, Device, ExplainConfig, GraphBatch, GraphConvNet, Method, Pool, Target};

/// What the library's forward pass gives: the conv blocks' outputs `h[1..=L]` (index 0
/// is the input) and the logits.
struct Activations {
    h: Vec<Vec<f64>>,
    logits: Vec<f64>,
}

/// Class scores from conv layer `l`'s output `h` [n, d_l] on: the remaining conv
/// layers, pooling and the head, written with plain loops from the weights.
fn tail_logits(m: &GraphConvNet, g: &LocalGraph, l: usize, h: &[f64]) -> Vec<f64> {
    let n = g.n;
    let mut h = h.to_vec();
    let (convs, lin1, lin2) = parts(m);
    for conv in &convs[l..] {
        let (din, dout) = (conv.lin_rel.in_dim, conv.lin_rel.out_dim);
        let mut agg = vec![0.0; n * din];
        for e in 0..g.src.len() {
            for c in 0..din {
                agg[g.dst[e] as usize * din + c] += h[g.src[e] as usize * din + c];
            }
        }
        let mut out = vec![0.0; n * dout];
        for i in 0..n {
            for o in 0..dout {
                let mut v = conv.lin_rel.bias[o];
                for c in 0..din {
                    v += conv.lin_rel.weight[o * din + c] * agg[i * din + c]
                        + conv.lin_root.weight[o * din + c] * h[i * din + c];
                }
                out[i * dout + o] = v.max(0.0);
            }
        }
        h = out;
    }
    let d = lin1.in_dim;
    let pooled: Vec<f64> = (0..d)
        .map(|c| {
            let col = (0..n).map(|i| h[i * d + c]);
            match m.pool().unwrap() {
                Pool::Add => col.sum(),
                Pool::Mean => col.sum::<f64>() / n as f64,
                Pool::Max => col.fold(f64::NEG_INFINITY, f64::max),
            }
        })
        .collect();
    let lin = |l: &graph_ig::model::Linear, x: &[f64], relu: bool| -> Vec<f64> {
        (0..l.out_dim)
            .map(|o| {
                let v = l.bias[o]
                    + (0..l.in_dim)
                        .map(|i| l.weight[o * l.in_dim + i] * x[i])
                        .sum::<f64>();
                if relu {
                    v.max(0.0)
                } else {
                    v
                }
            })
            .collect()
    };
    lin(lin2, &lin(lin1, &pooled, true), false)
}

fn activations(m: &GraphConvNet, b: &GraphBatch, g: usize) -> (LocalGraph, Vec<f64>, Activations) {
    let lg = LocalGraph::from_batch(b, g);
    let gr = b.graph(g);
    let f = b.num_features();
    let x: Vec<f64> = b.features()[gr.nodes.start * f..gr.nodes.end * f]
        .iter()
        .map(|&v| v as f64)
        .collect();
    let net = Network::new(&Cpu, m).unwrap();
    let st = net.structure(&Cpu, &lg).unwrap();
    let w = vec![1.0; lg.src.len()];
    let inst = Instances {
        graph: &lg,
        steps: 1,
    };
    let tape = net
        .forward(&Cpu, inst, &st, x.clone(), Mask::Edge(&w))
        .unwrap();
    let mut h = vec![x.clone()];
    h.extend(net.block_values(&tape).into_iter().map(|(v, _)| v.clone()));
    let act = Activations {
        h,
        logits: tape.logits().clone(),
    };
    (lg, x, act)
}

/// The logits at features `x` (edge mask 1).
fn activations_at(m: &GraphConvNet, lg: &LocalGraph, x: &[f64]) -> Vec<f64> {
    let net = Network::new(&Cpu, m).unwrap();
    let st = net.structure(&Cpu, lg).unwrap();
    let w = vec![1.0; lg.src.len()];
    let inst = Instances {
        graph: lg,
        steps: 1,
    };
    net.forward(&Cpu, inst, &st, x.to_vec(), Mask::Edge(&w))
        .unwrap()
        .logits()
        .clone()
}

#[test]
fn grad_cam_matches_finite_differences_on_every_layer_and_pool() {
    let eps = 1e-6;
    for (seed, pool) in [(1u64, Pool::Add), (2, Pool::Mean), (3, Pool::Max)] {
        let mut r = rng(seed);
        let model = random_model(&mut r, 4, &[6, 5, 4], 6, 3, pool);
        let batch = edge_case_batch(&mut r, 4);
        let cfg = |l| ExplainConfig {
            method: Method::GradCam(l),
            target: Target::Class(2),
            ..Default::default()
        };
        let per_layer: Vec<Vec<f64>> = (1..=3)
            .map(|l| {
                explain(&model, &batch, &cfg(Some(l)), Device::Cpu)
                    .unwrap()
                    .node_score
                    .unwrap()
            })
            .collect();
        let avg = explain(&model, &batch, &cfg(None), Device::Cpu)
            .unwrap()
            .node_score
            .unwrap();
        for g in 0..batch.num_graphs() {
            let (lg, _, act) = activations(&model, &batch, g);
            let n = lg.n;
            let gr = batch.graph(g);
            let mut mean = vec![0.0; n];
            for l in 1..=3 {
                let k = model.widths()[l];
                let h = &act.h[l];
                // Tail check: the separately written tail reproduces the library's scores.
                let base = tail_logits(&model, &lg, l, h);
                assert!(
                    (base[2] - act.logits[2]).abs() < 1e-9,
                    "graph {g} layer {l}: tail differs"
                );
                let alpha: Vec<f64> = (0..k)
                    .map(|c| {
                        (0..n)
                            .map(|i| {
                                let (mut hp, mut hm) = (h.clone(), h.clone());
                                hp[i * k + c] += eps;
                                hm[i * k + c] -= eps;
                                (tail_logits(&model, &lg, l, &hp)[2]
                                    - tail_logits(&model, &lg, l, &hm)[2])
                                    / (2.0 * eps)
                            })
                            .sum::<f64>()
                            / n as f64
                    })
                    .collect();
                for i in 0..n {
                    let want = (0..k)
                        .map(|c| alpha[c] * h[i * k + c])
                        .sum::<f64>()
                        .max(0.0);
                    let got = per_layer[l - 1][gr.nodes.start + i];
                    assert!(
                        (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                        "{pool:?} graph {g} layer {l} node {i}: {got} vs {want}"
                    );
                    mean[i] += want / 3.0;
                }
            }
            for i in 0..n {
                let got = avg[gr.nodes.start + i];
                assert!(
                    (got - mean[i]).abs() <= 1e-6 * (1.0 + mean[i].abs()),
                    "{pool:?} graph {g} average, node {i}"
                );
            }
        }
    }
}

#[test]
fn contrastive_gradient_matches_finite_differences() {
    let eps = 1e-6;
    let mut r = rng(4);
    let model = random_model(&mut r, 4, &[6, 5], 6, 2, Pool::Add);
    let batch = edge_case_batch(&mut r, 4);
    let cfg = ExplainConfig {
        method: Method::ContrastiveGradient,
        target: Target::Label,
        ..Default::default()
    };
    let a = explain(&model, &batch, &cfg, Device::Cpu).unwrap();
    let scores = a.node_score.unwrap();
    assert!(a.edge.is_none() && a.node.is_none() && a.edge_delta.is_none());
    for g in 0..batch.num_graphs() {
        let (lg, x, _) = activations(&model, &batch, g);
        let t = a.target[g];
        let logit = |x: &[f64]| activations_at(&model, &lg, x)[t];
        let f = batch.num_features();
        for i in 0..lg.n {
            let norm = (0..f)
                .map(|c| {
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp[i * f + c] += eps;
                    xm[i * f + c] -= eps;
                    ((logit(&xp) - logit(&xm)) / (2.0 * eps)).max(0.0).powi(2)
                })
                .sum::<f64>()
                .sqrt();
            let got = scores[batch.graph(g).nodes.start + i];
            assert!(
                (got - norm).abs() <= 1e-6 * (1.0 + norm),
                "graph {g} node {i}: {got} vs {norm}"
            );
        }
    }
}

#[test]
fn cam_and_bad_layers_are_clear_errors_and_gpu_paths_refuse() {
    let mut r = rng(5);
    let model = random_model(&mut r, 3, &[4, 4], 4, 2, Pool::Add);
    let batch = edge_case_batch(&mut r, 3);
    let run = |m, d| {
        explain(
            &model,
            &batch,
            &ExplainConfig {
                method: m,
                ..Default::default()
            },
            d,
        )
    };
    assert!(run(Method::Cam, Device::Cpu)
        .unwrap_err()
        .to_string()
        .contains("CAM needs global pooling followed directly"));
    assert!(run(Method::GradCam(Some(3)), Device::Cpu)
        .unwrap_err()
        .to_string()
        .contains("1..=2"));
    assert!(run(Method::GradCam(Some(0)), Device::Cpu).is_err());
    // CAM is refused with its reason on the GPU path too.
    assert!(run(Method::Cam, Device::Interpret)
        .unwrap_err()
        .to_string()
        .contains("CAM needs global pooling followed directly"));
    assert_eq!(
        "grad-cam:2".parse::<Method>().unwrap(),
        Method::GradCam(Some(2))
    );
    assert!("grad-cam:x".parse::<Method>().is_err());
}
