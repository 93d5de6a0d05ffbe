//! The CPU reference's dense products against plain loops written here: every
//! width (the vector paths and their tails), rows full of exact zeros (which the
//! products skip), and a conv layer of the prepared network.

mod common;

use graph_ig::cpu::dense::{linear_backward_input, rows_times_transposed};
use graph_ig::cpu::network::LocalGraph;
use graph_ig::cpu::Cpu;
use graph_ig::model::Linear;
use graph_ig::model::{Conv, Op};
use graph_ig::nn::{Instances, Mask, Network};
use graph_ig::Pool;
use rand::Rng;

/// Rows of `len` values, about a third of them exact zeros (as after a ReLU).
fn sparse_rows(rng: &mut impl Rng, len: usize) -> Vec<f64> {
    (0..len)
        .map(|_| {
            if rng.gen_bool(0.35) {
                0.0
            } else {
                rng.gen_range(-2.0..2.0)
            }
        })
        .collect()
}

fn random_linear(rng: &mut impl Rng, in_dim: usize, out_dim: usize) -> Linear {
    Linear {
        out_dim,
        in_dim,
        weight: (0..in_dim * out_dim)
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect(),
        bias: (0..out_dim).map(|_| rng.gen_range(-1.0..1.0)).collect(),
    }
}

const WIDTHS: [usize; 9] = [1, 2, 3, 4, 5, 7, 13, 32, 33];

#[test]
fn rows_times_transposed_sums_each_output_in_input_order() {
    let mut rng = common::rng(11);
    for &in_dim in &WIDTHS {
        for &out_dim in &WIDTHS {
            let rows = rng.gen_range(1..6);
            let wt: Vec<f64> = (0..in_dim * out_dim)
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let x = sparse_rows(&mut rng, rows * in_dim);
            let y0: Vec<f64> = (0..rows * out_dim)
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let mut y = y0.clone();
            rows_times_transposed(&wt, in_dim, out_dim, &x, rows, &mut y);
            for r in 0..rows {
                for o in 0..out_dim {
                    // Term by term, zeros included: adding an exact zero changes nothing,
                    // so the results must be equal, not merely close.
                    let mut want = y0[r * out_dim + o];
                    for i in 0..in_dim {
                        want += x[r * in_dim + i] * wt[i * out_dim + o];
                    }
                    assert_eq!(
                        y[r * out_dim + o],
                        want,
                        "in {in_dim}, out {out_dim}, row {r}, output {o}"
                    );
                }
            }
        }
    }
}

#[test]
fn rows_times_transposed_propagates_nan_and_skips_nothing_nonzero() {
    let (in_dim, out_dim) = (5, 9);
    let wt = vec![1.0; in_dim * out_dim];
    let mut x = vec![0.0; in_dim];
    x[3] = f64::NAN;
    let mut y = vec![0.0; out_dim];
    rows_times_transposed(&wt, in_dim, out_dim, &x, 1, &mut y);
    assert!(y.iter().all(|v| v.is_nan()), "{y:?}");
    // A tiny non-zero input is not skipped.
    let x = [0.0, 0.0, 0.0, 0.0, f64::MIN_POSITIVE];
    let mut y = vec![0.0; out_dim];
    rows_times_transposed(&wt, in_dim, out_dim, &x, 1, &mut y);
    assert!(y.iter().all(|&v| v == f64::MIN_POSITIVE), "{y:?}");
}

#[test]
fn transposed_and_input_gradient_match_plain_loops() {
    let mut rng = common::rng(12);
    for &in_dim in &WIDTHS {
        for &out_dim in &WIDTHS {
            let lin = random_linear(&mut rng, in_dim, out_dim);
            let t = lin.transposed();
            for o in 0..out_dim {
                for i in 0..in_dim {
                    assert_eq!(t[i * out_dim + o], lin.weight[o * in_dim + i]);
                }
            }
            let rows = 3;
            let dy = sparse_rows(&mut rng, rows * out_dim);
            let mut dx = vec![0.0; rows * in_dim];
            linear_backward_input(&lin, &dy, rows, &mut dx);
            for r in 0..rows {
                for i in 0..in_dim {
                    let want: f64 = (0..out_dim)
                        .map(|o| lin.weight[o * in_dim + i] * dy[r * out_dim + o])
                        .sum();
                    approx::assert_relative_eq!(
                        dx[r * in_dim + i],
                        want,
                        epsilon = 1e-13,
                        max_relative = 1e-12
                    );
                }
            }
        }
    }
}

/// The first conv layer of the prepared network against `W_rel Σ w_e x_src + W_root x + b`
/// written out here, with ReLU, on a graph with a self-loop, an isolated node and
/// repeated edges.
#[test]
fn prepared_network_first_layer_matches_the_graphconv_formula() {
    let mut rng = common::rng(13);
    for &(f, k) in &[(14, 32), (3, 5), (1, 1), (9, 33)] {
        let model = common::random_model(&mut rng, f, &[k, 4], 6, 2, Pool::Add);
        let n = 6;
        let (src, dst) = (vec![0u32, 1, 2, 2, 3, 3, 4], vec![1u32, 0, 2, 3, 4, 4, 3]);
        let g = LocalGraph::new(n, src.clone(), dst.clone());
        let x = sparse_rows(&mut rng, n * f);
        let w: Vec<f64> = (0..src.len()).map(|_| rng.gen_range(0.0..1.0)).collect();
        let net = Network::new(&Cpu, &model).unwrap();
        let st = net.structure(&Cpu, &g).unwrap();
        let inst = Instances {
            graph: &g,
            steps: 1,
        };
        let tape = net
            .forward(&Cpu, inst, &st, x.clone(), Mask::Edge(&w))
            .unwrap();
        let h1 = net.block_values(&tape)[0].0;
        let Op::Conv {
            conv: Conv::Graph(conv),
            ..
        } = &model.body[0]
        else {
            panic!("the tutorial model starts with a GraphConv");
        };
        for v in 0..n {
            let mut agg = vec![0.0; f];
            for e in (0..src.len()).filter(|&e| dst[e] as usize == v) {
                for j in 0..f {
                    agg[j] += w[e] * x[src[e] as usize * f + j];
                }
            }
            for o in 0..k {
                let mut z = conv.lin_rel.bias[o];
                for j in 0..f {
                    z += conv.lin_rel.weight[o * f + j] * agg[j]
                        + conv.lin_root.weight[o * f + j] * x[v * f + j];
                }
                approx::assert_relative_eq!(
                    h1[v * k + o],
                    z.max(0.0),
                    epsilon = 1e-13,
                    max_relative = 1e-12
                );
            }
        }
    }
}
