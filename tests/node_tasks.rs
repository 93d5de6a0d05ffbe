//! Node tasks: each target's computation subgraph gives exactly the prediction of the
//! whole graph (bit for bit on the CPU, for every conv family, with GCN's and the
//! means' whole-graph degrees), and its attributions equal the whole graph's, whose
//! edges outside the subgraph get exactly 0.

mod common;

use common::{node_task_graph, random_node_model, rng, Zoo};
use graph_ig::cpu::network::LocalGraph;
use graph_ig::cpu::Cpu;
use graph_ig::graph::khop::node_instances;
use graph_ig::model::Output;
use graph_ig::nn::{Instances, Mask, Network, Seed, Want};
use graph_ig::GraphBatch;

/// The whole graph as one structure, explaining node `v`.
fn whole(batch: &GraphBatch, v: usize) -> LocalGraph {
    let mut g = LocalGraph::from_batch(batch, 0);
    g.center = Some([v as u32]);
    g
}

fn x_of(b: &GraphBatch, g: usize) -> Vec<f64> {
    let r = b.graph(g);
    let f = b.num_features();
    b.features()[r.nodes.start * f..r.nodes.end * f]
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

#[test]
fn subgraph_outputs_equal_the_whole_graph_bit_for_bit() {
    for (k, family) in Zoo::ALL.iter().enumerate() {
        for weights in [false, true] {
            let mut r = rng(300 + k as u64);
            let f = 4;
            let model = random_node_model(&mut r, *family, f, 3, k % 2 == 0, Output::LogSoftmax);
            let batch = node_task_graph(&mut r, 60, f, weights);
            let net = Network::new(&Cpu, &model).unwrap();
            let targets: Vec<usize> = (0..batch.num_nodes()).collect();
            let (inst, stats) = node_instances(&batch, &targets, model.num_layers(), None).unwrap();
            assert_eq!(inst.num_graphs(), targets.len());
            assert!(stats.edges > 0);
            let x = x_of(&batch, 0);
            for &v in &targets {
                let g = whole(&batch, v);
                let want = net
                    .graph_outputs(&g, x.clone(), &vec![1.0; g.src.len()])
                    .unwrap();
                let lg = LocalGraph::from_batch(&inst, v);
                let got = net
                    .graph_outputs(&lg, x_of(&inst, v), &vec![1.0; lg.src.len()])
                    .unwrap();
                let bits = |a: &[f64]| a.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{family:?} (edge weights {weights}) node {v}: {got:?} vs {want:?}"
                );
            }
            // The trap is real: without the whole-graph degrees a GCN's outputs change.
            if *family == Zoo::Gcn {
                let mut differs = false;
                for &v in &targets {
                    let mut lg = LocalGraph::from_batch(&inst, v);
                    lg.degrees = None;
                    let got = net
                        .graph_outputs(&lg, x_of(&inst, v), &vec![1.0; lg.src.len()])
                        .unwrap();
                    let g = whole(&batch, v);
                    let want = net
                        .graph_outputs(&g, x.clone(), &vec![1.0; g.src.len()])
                        .unwrap();
                    differs |= got != want;
                }
                assert!(differs, "GCN on subgraphs without whole-graph degrees");
            }
        }
    }
}

#[test]
fn subgraph_gradients_equal_the_whole_graph() {
    for (k, family) in Zoo::ALL.iter().enumerate() {
        let mut r = rng(400 + k as u64);
        let f = 3;
        let model = random_node_model(&mut r, *family, f, 3, k % 2 == 1, Output::Logits);
        let batch = node_task_graph(&mut r, 40, f, k % 3 == 0);
        let net = Network::new(&Cpu, &model).unwrap();
        let targets = [0usize, 1, 5, 7, 39];
        let (inst, _) = node_instances(&batch, &targets, model.num_layers(), None).unwrap();
        let task = inst.node_task().unwrap();
        for (t, &v) in targets.iter().enumerate() {
            let grads = |g: &LocalGraph, x: Vec<f64>| {
                let st = net.structure(&Cpu, g).unwrap();
                let w = vec![1.0; g.src.len()];
                let i = Instances { graph: g, steps: 1 };
                let tape = net.forward(&Cpu, i, &st, x, Mask::Edge(&w)).unwrap();
                let want = Want {
                    x: true,
                    mask: true,
                    blocks: false,
                };
                net.backward(
                    &Cpu,
                    i,
                    &st,
                    &tape,
                    Mask::Edge(&w),
                    Seed::Output,
                    &vec![1],
                    want,
                )
                .unwrap()
            };
            let full = grads(&whole(&batch, v), x_of(&batch, 0));
            let sub = grads(&LocalGraph::from_batch(&inst, t), x_of(&inst, t));
            let (fm, sm) = (full.mask.unwrap(), sub.mask.unwrap());
            let r = inst.graph(t);
            let mut inside = vec![false; batch.num_edges()];
            for (j, e) in r.edges.clone().enumerate() {
                let id = task.edge_id[e] as usize;
                inside[id] = true;
                assert!(
                    (sm[j] - fm[id]).abs() <= 1e-12 * (1.0 + fm[id].abs()),
                    "{family:?} node {v} edge {id}: {} vs {}",
                    sm[j],
                    fm[id]
                );
            }
            for (id, &g) in fm.iter().enumerate() {
                if !inside[id] {
                    assert_eq!(g, 0.0, "{family:?} node {v}: edge {id} is outside");
                }
            }
            let (fx, sx) = (full.x.unwrap(), sub.x.unwrap());
            for (j, u) in r.nodes.clone().enumerate() {
                let id = task.node_id[u] as usize;
                for c in 0..f {
                    let (a, b) = (sx[j * f + c], fx[id * f + c]);
                    assert!(
                        (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                        "{family:?} node {v}"
                    );
                }
            }
        }
    }
}
