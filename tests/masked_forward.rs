//! Masked forward passes (`graph_ig::forward`), the engine of the explanation metrics,
//! against an independent computation: a mask of 0/1 edge weights must give the
//! log-probabilities of the graph with those edges deleted, and an occluded node those
//! of the graph with its features zeroed. The GPU path (interpret mode, CUDA when
//! present) must agree with the CPU reference.

mod common;

use common::{edge_case_batch, random_model, rng};
use graph_ig::forward::{masked_log_probs, MaskedInputs};
use graph_ig::{explain, Device, ExplainConfig, GraphBatch, GraphConvNet, Method, Pool};
use rand::Rng;

/// Log-probabilities of every graph of `batch` at the real input (the `explain` path).
fn plain_log_probs(model: &GraphConvNet, batch: &GraphBatch) -> Vec<f64> {
    let cfg = ExplainConfig {
        method: Method::Saliency,
        ..Default::default()
    };
    explain(model, batch, &cfg, Device::Cpu).unwrap().log_probs
}

/// `batch` with the edges where `keep` is false deleted, and node `i`'s features scaled
/// by `node_keep[i]`.
fn rebuilt(batch: &GraphBatch, keep: &[bool], node_keep: &[f32]) -> GraphBatch {
    let f = batch.num_features();
    let mut b = GraphBatch::builder(f);
    for gr in batch.graphs() {
        let x: Vec<f32> = batch.features()[gr.nodes.start * f..gr.nodes.end * f]
            .chunks(f)
            .zip(&node_keep[gr.nodes.clone()])
            .flat_map(|(row, &k)| row.iter().map(move |&v| v * k))
            .collect();
        let n0 = gr.nodes.start;
        let edges: Vec<(usize, usize)> = gr
            .edges
            .clone()
            .filter(|&e| keep[e])
            .map(|e| (batch.src()[e] as usize - n0, batch.dst()[e] as usize - n0))
            .collect();
        b = b.graph(&x, &edges);
    }
    b.build().unwrap()
}

fn devices() -> Vec<Device> {
    let mut d = vec![Device::Cpu];
    #[cfg(feature = "interpret")]
    d.push(Device::Interpret);
    #[cfg(feature = "cuda")]
    if graph_ig::cuda::driver::device_count() > 0 {
        d.push(Device::Cuda(0));
    } else {
        println!("notice: no CUDA GPU; the masked forward runs on the CPU and in interpret mode");
    }
    d
}

#[test]
fn masks_equal_deleted_edges_and_zeroed_nodes_on_every_device() {
    for (seed, pool) in [(1u64, Pool::Add), (2, Pool::Mean), (3, Pool::Max)] {
        let mut r = rng(seed);
        let model = random_model(&mut r, 5, &[12, 8], 12, 3, pool);
        let batch = edge_case_batch(&mut r, 5);
        let (e, n, g) = (batch.num_edges(), batch.num_nodes(), batch.num_graphs());
        // Variant 0: everything; 1: all edges removed; 2, 3: random edge masks; 4: random
        // edge mask and occluded nodes.
        let mut keeps: Vec<Vec<bool>> = vec![vec![true; e], vec![false; e]];
        let mut nodes: Vec<Vec<f32>> = vec![vec![1.0; n]; 4];
        for _ in 0..3 {
            keeps.push((0..e).map(|_| r.gen_bool(0.5)).collect());
        }
        nodes.push(
            (0..n)
                .map(|_| if r.gen_bool(0.3) { 0.0 } else { 1.0 })
                .collect(),
        );
        let s = keeps.len();
        let inputs = MaskedInputs {
            variants: s,
            edge_weight: keeps
                .iter()
                .flatten()
                .map(|&k| f32::from(u8::from(k)))
                .collect(),
            node_keep: Some(nodes.concat()),
        };
        let c = model.num_classes();
        let expected: Vec<Vec<f64>> = (0..s)
            .map(|v| plain_log_probs(&model, &rebuilt(&batch, &keeps[v], &nodes[v])))
            .collect();
        assert_eq!(expected[0], plain_log_probs(&model, &batch));
        for d in devices() {
            let got = masked_log_probs(&model, &batch, &inputs, d, None).unwrap();
            assert_eq!(got.len(), g * s * c);
            let bound = if d == Device::Cpu { 1e-12 } else { 1e-4 };
            let mut worst: f64 = 0.0;
            for gi in 0..g {
                for v in 0..s {
                    for j in 0..c {
                        let (a, b) = (got[(gi * s + v) * c + j], expected[v][gi * c + j]);
                        worst = worst.max((a - b).abs() / (1.0 + b.abs()));
                        assert!(
                            (a - b).abs() <= bound * (1.0 + b.abs()),
                            "{pool:?} on {d}: graph {gi}, variant {v}, class {j}: {a} vs {b}"
                        );
                    }
                }
            }
            println!("{pool:?} on {d}: worst relative error {worst:.2e}");
        }
    }
}

#[test]
fn variants_split_over_launches_and_chunks_change_nothing() {
    let mut r = rng(9);
    let model = random_model(&mut r, 4, &[8, 6], 8, 2, Pool::Max);
    let batch = edge_case_batch(&mut r, 4);
    let s = 7;
    let inputs = MaskedInputs {
        variants: s,
        edge_weight: (0..s * batch.num_edges())
            .map(|_| r.gen_range(0.0..1.0))
            .collect(),
        node_keep: None,
    };
    let whole = masked_log_probs(&model, &batch, &inputs, Device::Interpret, None).unwrap();
    let split = masked_log_probs(&model, &batch, &inputs, Device::Interpret, Some(30_000)).unwrap();
    assert_eq!(whole, split, "a small memory budget changed the results");
}

#[test]
fn bad_masked_inputs_are_clear_errors() {
    let mut r = rng(4);
    let model = random_model(&mut r, 4, &[8], 8, 2, Pool::Add);
    let batch = edge_case_batch(&mut r, 4);
    let e = batch.num_edges();
    let short = MaskedInputs {
        variants: 2,
        edge_weight: vec![1.0; e],
        node_keep: None,
    };
    let msg = masked_log_probs(&model, &batch, &short, Device::Cpu, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("edge weights") && msg.contains(&format!("{}", 2 * e)),
        "{msg}"
    );
    let nan = MaskedInputs {
        variants: 1,
        edge_weight: vec![f32::NAN; e],
        node_keep: None,
    };
    let msg = masked_log_probs(&model, &batch, &nan, Device::Cpu, None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not finite"), "{msg}");
    let nodes = MaskedInputs {
        variants: 1,
        edge_weight: vec![1.0; e],
        node_keep: Some(vec![1.0; 3]),
    };
    let msg = masked_log_probs(&model, &batch, &nodes, Device::Cpu, None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("node multipliers"), "{msg}");
}
