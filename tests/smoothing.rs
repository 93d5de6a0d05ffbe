//! SmoothGrad and VarGrad against an independent computation: the noise
//! regenerated here from the documented scheme (`graph_ig::Smoothing`), and the
//! gradients by central finite differences of the log-probabilities.

mod common;

use common::{edge_case_batch, random_model, rng};
use graph_ig::cpu::network::{outputs, LocalGraph};
use graph_ig::{explain, Device, ExplainConfig, GraphBatch, Method, Pool, Smoothing, Target, Wrt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The documented noise stream of one graph: FNV-1a over the features' f64 bits,
/// then each edge as `src << 32 | dst`, then the input length.
fn noise(
    seed: u64,
    x: &[f64],
    g: &LocalGraph,
    len: usize,
    sigma: f64,
    samples: usize,
) -> Vec<Vec<f64>> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |v: u64| {
        for b in v.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for v in x {
        mix(v.to_bits());
    }
    for (&a, &b) in g.src.iter().zip(&g.dst) {
        mix(u64::from(a) << 32 | u64::from(b));
    }
    mix(len as u64);
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(h);
    (0..samples)
        .map(|_| {
            (0..len)
                .map(|_| {
                    let (u1, u2): (f64, f64) = (r.gen(), r.gen());
                    sigma
                        * (-2.0 * (1.0 - u1).ln()).sqrt()
                        * (2.0 * std::f64::consts::PI * u2).cos()
                })
                .collect()
        })
        .collect()
}

fn graph_inputs(b: &GraphBatch, g: usize) -> (LocalGraph, Vec<f64>) {
    let gr = b.graph(g);
    let f = b.num_features();
    let x = b.features()[gr.nodes.start * f..gr.nodes.end * f]
        .iter()
        .map(|&v| v as f64)
        .collect();
    (LocalGraph::from_batch(b, g), x)
}

#[test]
fn smoothgrad_and_vargrad_match_an_independent_computation() {
    let mut r = rng(11);
    let model = random_model(&mut r, 3, &[6, 5], 6, 2, Pool::Mean);
    let batch = edge_case_batch(&mut r, 3);
    let sm = Smoothing {
        samples: 4,
        sigma: 0.2,
        seed: 9,
    };
    let cfg = |m| ExplainConfig {
        method: m,
        wrt: Wrt::Separate,
        smoothing: sm,
        target: Target::Class(1),
        ..Default::default()
    };
    let smooth = explain(&model, &batch, &cfg(Method::SmoothGrad), Device::Cpu).unwrap();
    let var = explain(&model, &batch, &cfg(Method::VarGrad), Device::Cpu).unwrap();
    assert_eq!(smooth.edge_steps.as_ref().unwrap()[0], 4);
    let h = 1e-6;
    for g in 0..batch.num_graphs() {
        let (lg, x) = graph_inputs(&batch, g);
        let e = lg.src.len();
        let f1 = |x: &[f64], w: &[f64]| outputs(&model, &lg, x, w).unwrap()[1];
        for (kind, len) in [("edges", e), ("nodes", x.len())] {
            let samples = noise(9, &x, &lg, len, 0.2, 4);
            let grads: Vec<Vec<f64>> = samples
                .iter()
                .map(|nz| {
                    let (mut xs, mut ws) = (x.clone(), vec![1.0; e]);
                    let point = if kind == "edges" { &mut ws } else { &mut xs };
                    for (p, n) in point.iter_mut().zip(nz) {
                        *p += n;
                    }
                    (0..len)
                        .map(|k| {
                            let (mut xp, mut xm, mut wp, mut wm) =
                                (xs.clone(), xs.clone(), ws.clone(), ws.clone());
                            if kind == "edges" {
                                wp[k] += h;
                                wm[k] -= h;
                            } else {
                                xp[k] += h;
                                xm[k] -= h;
                            }
                            (f1(&xp, &wp) - f1(&xm, &wm)) / (2.0 * h)
                        })
                        .collect()
                })
                .collect();
            let (ptr, width) = if kind == "edges" {
                (batch.edge_ptr(), 1)
            } else {
                (batch.node_ptr(), 3)
            };
            let r0 = ptr[g] * width;
            let (s_got, v_got) = if kind == "edges" {
                (smooth.edge.as_ref().unwrap(), var.edge.as_ref().unwrap())
            } else {
                (smooth.node.as_ref().unwrap(), var.node.as_ref().unwrap())
            };
            for k in 0..len {
                let mean = grads.iter().map(|gr| gr[k]).sum::<f64>() / 4.0;
                let variance = grads.iter().map(|gr| (gr[k] - mean).powi(2)).sum::<f64>() / 4.0;
                let (sg, vg) = (s_got[r0 + k], v_got[r0 + k]);
                assert!(
                    (sg - mean).abs() <= 1e-6 * (1.0 + mean.abs()),
                    "graph {g} {kind} {k}: smoothgrad {sg} vs {mean}"
                );
                assert!(
                    (vg - variance).abs() <= 1e-6 * (1e-3 + variance.abs()),
                    "graph {g} {kind} {k}: vargrad {vg} vs {variance}"
                );
            }
        }
    }
}

#[test]
fn without_noise_smoothgrad_is_the_gradient_and_vargrad_vanishes() {
    let mut r = rng(12);
    let model = random_model(&mut r, 3, &[5], 5, 2, Pool::Add);
    let batch = edge_case_batch(&mut r, 3);
    let cfg = |m| ExplainConfig {
        method: m,
        wrt: Wrt::Edges,
        smoothing: Smoothing {
            samples: 3,
            sigma: 0.0,
            seed: 1,
        },
        target: Target::Class(0),
        ..Default::default()
    };
    let s = explain(&model, &batch, &cfg(Method::SmoothGrad), Device::Cpu).unwrap();
    // Input × gradient of the edge mask (input 1) is the gradient itself.
    let g = explain(&model, &batch, &cfg(Method::InputXGradient), Device::Cpu).unwrap();
    for (a, b) in s.edge.unwrap().iter().zip(g.edge.unwrap()) {
        assert!((a - b).abs() <= 1e-15 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let v = explain(&model, &batch, &cfg(Method::VarGrad), Device::Cpu).unwrap();
    assert!(v.edge.unwrap().iter().all(|v| v.abs() < 1e-15));
}

#[test]
fn noise_does_not_depend_on_batching_and_settings_are_checked() {
    let mut r = rng(13);
    let model = random_model(&mut r, 3, &[5], 5, 2, Pool::Add);
    let batch = edge_case_batch(&mut r, 3);
    let cfg = ExplainConfig {
        method: Method::SmoothGrad,
        wrt: Wrt::Separate,
        ..Default::default()
    };
    let all = explain(&model, &batch, &cfg, Device::Cpu).unwrap();
    let mut parts = graph_ig::Attributions::default();
    for g in 0..batch.num_graphs() {
        parts.append(explain(&model, &batch.subset(g..g + 1).unwrap(), &cfg, Device::Cpu).unwrap());
    }
    assert_eq!(all, parts);
    let other = ExplainConfig {
        smoothing: Smoothing {
            seed: 1,
            ..cfg.smoothing
        },
        ..cfg.clone()
    };
    assert_ne!(
        all.edge,
        explain(&model, &batch, &other, Device::Cpu).unwrap().edge,
        "the seed changes the noise"
    );
    for sm in [
        Smoothing {
            samples: 0,
            ..cfg.smoothing
        },
        Smoothing {
            sigma: f64::NAN,
            ..cfg.smoothing
        },
        Smoothing {
            sigma: -1.0,
            ..cfg.smoothing
        },
    ] {
        let e = explain(
            &model,
            &batch,
            &ExplainConfig {
                smoothing: sm,
                ..cfg.clone()
            },
            Device::Cpu,
        )
        .unwrap_err();
        assert!(e.to_string().contains("smoothing"), "{e}");
    }
}
