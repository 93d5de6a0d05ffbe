//! The attribution driver of the CPU reference on random graphs with edge cases:
//! it must equal a plain step loop over the network's gradients, not depend on
//! batching or threads, and honour targets, baselines and adaptive steps.

mod common;

use common::{edge_case_batch, random_graph, random_model, rel_l2, rng};
use graph_ig::cpu::network::{gradients, outputs, LocalGraph};
use graph_ig::explain::undirected::aggregate_edge_directions;
use graph_ig::{
    explain, Adaptive, Device, ExplainConfig, GraphBatch, GraphConvNet, Method, NodeBaseline, Pool,
    Rule, Target, Wrt,
};

fn features(batch: &GraphBatch, g: usize) -> Vec<f64> {
    let gr = batch.graph(g);
    let f = batch.num_features();
    batch.features()[gr.nodes.start * f..gr.nodes.end * f]
        .iter()
        .map(|&v| v as f64)
        .collect()
}

/// Edge-mask IG written as the textbook loop: Σ_k w_k ∂F/∂w (α_k · 1).
fn reference_edge_ig(
    model: &GraphConvNet,
    batch: &GraphBatch,
    g: usize,
    target: usize,
    rule: Rule,
    steps: usize,
) -> Vec<f64> {
    let lg = LocalGraph::from_batch(batch, g);
    let x = features(batch, g);
    let e = lg.src.len();
    let table = rule.table(steps).unwrap();
    let mut total = vec![0.0; e];
    for k in 0..steps {
        let w = vec![table.alphas[k]; e];
        let (_, dw) = gradients(model, &lg, &x, &w, target).unwrap();
        for i in 0..e {
            total[i] += table.weights[k] * dw[i];
        }
    }
    total
}

/// Node-feature IG as the textbook loop, with baseline `b`.
fn reference_node_ig(
    model: &GraphConvNet,
    batch: &GraphBatch,
    g: usize,
    target: usize,
    b: &[f64],
    steps: usize,
) -> Vec<f64> {
    let lg = LocalGraph::from_batch(batch, g);
    let x = features(batch, g);
    let w = vec![1.0; lg.src.len()];
    let table = Rule::GaussLegendre.table(steps).unwrap();
    let mut total = vec![0.0; x.len()];
    for k in 0..steps {
        let xa: Vec<f64> = x
            .iter()
            .zip(b)
            .map(|(&v, &b)| b + table.alphas[k] * (v - b))
            .collect();
        let (dx, _) = gradients(model, &lg, &xa, &w, target).unwrap();
        for i in 0..x.len() {
            total[i] += table.weights[k] * dx[i];
        }
    }
    total
        .iter()
        .zip(x.iter().zip(b))
        .map(|(t, (v, b))| t * (v - b))
        .collect()
}

fn ig(target: Target, wrt: Wrt, rule: Rule, steps: usize) -> ExplainConfig {
    ExplainConfig {
        method: Method::IntegratedGradients,
        wrt,
        rule,
        steps,
        target,
        ..Default::default()
    }
}

#[test]
fn edge_ig_equals_the_plain_step_loop_for_every_rule_and_pool() {
    for (seed, pool) in [(10, Pool::Add), (11, Pool::Mean), (12, Pool::Max)] {
        let mut r = rng(seed);
        let model = random_model(&mut r, 4, &[6, 5], 7, 3, pool);
        let batch = edge_case_batch(&mut r, 4);
        for rule in Rule::ALL {
            let a = explain(
                &model,
                &batch,
                &ig(Target::Class(2), Wrt::Edges, rule, 13),
                Device::Cpu,
            )
            .unwrap();
            let edge = a.edge.unwrap();
            for g in 0..batch.num_graphs() {
                let want = reference_edge_ig(&model, &batch, g, 2, rule, 13);
                let got = &edge[batch.edge_ptr()[g]..batch.edge_ptr()[g + 1]];
                assert!(
                    rel_l2(got, &want, 1e-300) < 1e-12,
                    "{pool:?} {rule} graph {g}"
                );
            }
        }
    }
}

#[test]
fn node_ig_equals_the_plain_step_loop_with_a_given_baseline() {
    let mut r = rng(20);
    let model = random_model(&mut r, 4, &[6, 5, 4], 7, 2, Pool::Add);
    let batch = edge_case_batch(&mut r, 4);
    let base: Vec<f32> = (0..batch.num_nodes() * 4)
        .map(|i| (i % 7) as f32 * 0.1 - 0.3)
        .collect();
    let cfg = ExplainConfig {
        node_baseline: NodeBaseline::Tensor(base.clone()),
        ..ig(Target::Class(1), Wrt::Nodes, Rule::GaussLegendre, 20)
    };
    let a = explain(&model, &batch, &cfg, Device::Cpu).unwrap();
    let node = a.node.unwrap();
    for g in 0..batch.num_graphs() {
        let gr = batch.graph(g);
        let b: Vec<f64> = base[gr.nodes.start * 4..gr.nodes.end * 4]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let want = reference_node_ig(&model, &batch, g, 1, &b, 20);
        assert!(
            rel_l2(&node[gr.nodes.start * 4..gr.nodes.end * 4], &want, 1e-300) < 1e-12,
            "graph {g}"
        );
        // Delta uses F at the given baseline.
        let lg = LocalGraph::from_batch(&batch, g);
        let w = vec![1.0; lg.src.len()];
        let df = outputs(&model, &lg, &features(&batch, g), &w).unwrap()[1]
            - outputs(&model, &lg, &b, &w).unwrap()[1];
        let d = want.iter().sum::<f64>() - df;
        assert!(
            (a.node_delta.as_ref().unwrap()[g] - d).abs() < 1e-12,
            "graph {g} delta"
        );
    }
    // A constant baseline is the same as a full tensor of that constant.
    let c = ExplainConfig {
        node_baseline: NodeBaseline::Constant(0.25),
        ..cfg.clone()
    };
    let t = ExplainConfig {
        node_baseline: NodeBaseline::Tensor(vec![0.25; base.len()]),
        ..cfg
    };
    assert_eq!(
        explain(&model, &batch, &c, Device::Cpu).unwrap(),
        explain(&model, &batch, &t, Device::Cpu).unwrap()
    );
}

#[test]
fn results_do_not_depend_on_batching_and_are_deterministic() {
    let mut r = rng(30);
    let model = random_model(&mut r, 3, &[8, 8], 8, 2, Pool::Max);
    let batch = edge_case_batch(&mut r, 3);
    let cfg = ig(Target::Predicted, Wrt::Separate, Rule::RiemannTrapezoid, 11);
    let all = explain(&model, &batch, &cfg, Device::Cpu).unwrap();
    assert_eq!(
        all,
        explain(&model, &batch, &cfg, Device::Cpu).unwrap(),
        "two runs differ"
    );
    let mut parts = graph_ig::Attributions::default();
    for g in 0..batch.num_graphs() {
        parts.append(explain(&model, &batch.subset(g..g + 1).unwrap(), &cfg, Device::Cpu).unwrap());
    }
    assert_eq!(all, parts, "one batch and one graph at a time differ");
}

/// A graph big enough that its steps run in parallel groups, with a skewed mix of sizes.
#[test]
fn very_large_graph_in_an_uneven_batch() {
    let mut r = rng(40);
    let f = 3;
    let model = random_model(&mut r, f, &[8, 8, 8], 8, 2, Pool::Add);
    let mut b = GraphBatch::builder(f);
    for &(n, e) in &[(1usize, 0usize), (6000, 24000), (2, 1), (30, 60)] {
        let (x, edges) = random_graph(&mut r, n, e, f);
        b = b.graph(&x, &edges);
    }
    let batch = b.build().unwrap();
    let a = explain(
        &model,
        &batch,
        &ig(Target::Class(0), Wrt::Edges, Rule::GaussLegendre, 24),
        Device::Cpu,
    )
    .unwrap();
    let edge = a.edge.unwrap();
    let want = reference_edge_ig(&model, &batch, 1, 0, Rule::GaussLegendre, 24);
    assert!(
        rel_l2(
            &edge[batch.edge_ptr()[1]..batch.edge_ptr()[2]],
            &want,
            1e-300
        ) < 1e-12
    );
}

#[test]
fn graphs_without_edges_have_empty_edge_attributions_and_zero_delta() {
    let mut r = rng(50);
    let model = random_model(&mut r, 2, &[4], 4, 2, Pool::Mean);
    let batch = GraphBatch::builder(2)
        .graph(&[0.5, -0.5], &[])
        .graph(&[1.0, 2.0, 3.0, 4.0], &[])
        .build()
        .unwrap();
    let a = explain(
        &model,
        &batch,
        &ig(Target::Class(1), Wrt::Edges, Rule::GaussLegendre, 50),
        Device::Cpu,
    )
    .unwrap();
    assert!(a.edge.as_ref().unwrap().is_empty());
    assert_eq!(a.edge_delta.unwrap(), vec![0.0, 0.0]);
}

#[test]
fn saliency_and_input_x_gradient_are_the_gradient_at_the_input() {
    let mut r = rng(60);
    let model = random_model(&mut r, 4, &[6, 6], 6, 3, Pool::Add);
    let batch = edge_case_batch(&mut r, 4);
    let cfg = |m| ExplainConfig {
        method: m,
        wrt: Wrt::Separate,
        target: Target::Class(0),
        ..Default::default()
    };
    let sal = explain(&model, &batch, &cfg(Method::Saliency), Device::Cpu).unwrap();
    let ixg = explain(&model, &batch, &cfg(Method::InputXGradient), Device::Cpu).unwrap();
    for g in 0..batch.num_graphs() {
        let lg = LocalGraph::from_batch(&batch, g);
        let x = features(&batch, g);
        let w = vec![1.0; lg.src.len()];
        let (dx, dw) = gradients(&model, &lg, &x, &w, 0).unwrap();
        let gr = batch.graph(g);
        let es = &sal.edge.as_ref().unwrap()[gr.edges.clone()];
        let ns = &sal.node.as_ref().unwrap()[gr.nodes.start * 4..gr.nodes.end * 4];
        let ei = &ixg.edge.as_ref().unwrap()[gr.edges.clone()];
        let ni = &ixg.node.as_ref().unwrap()[gr.nodes.start * 4..gr.nodes.end * 4];
        for i in 0..dw.len() {
            assert_eq!(es[i], dw[i].abs());
            assert_eq!(ei[i], dw[i]);
        }
        for i in 0..dx.len() {
            assert_eq!(ns[i], dx[i].abs());
            assert_eq!(ni[i], dx[i] * x[i]);
        }
    }
    assert_eq!(sal.edge_steps.unwrap(), vec![1; batch.num_graphs()]);
}

#[test]
fn targets_predicted_label_and_per_graph() {
    let mut r = rng(70);
    let model = random_model(&mut r, 3, &[5], 5, 3, Pool::Add);
    let batch = edge_case_batch(&mut r, 3);
    let run = |t| {
        explain(
            &model,
            &batch,
            &ig(t, Wrt::Edges, Rule::GaussLegendre, 4),
            Device::Cpu,
        )
        .unwrap()
    };
    let p = run(Target::Predicted);
    for g in 0..batch.num_graphs() {
        let lp = &p.log_probs[3 * g..3 * g + 3];
        let best = (0..3).fold(0, |b, c| if lp[c] > lp[b] { c } else { b });
        assert_eq!(p.target[g], best);
    }
    let labels: Vec<usize> = batch
        .graph_labels()
        .unwrap()
        .iter()
        .map(|&l| l as usize)
        .collect();
    assert_eq!(run(Target::Label).target, labels);
    let per: Vec<usize> = (0..batch.num_graphs()).map(|g| g % 3).collect();
    let a = run(Target::PerGraph(per.clone()));
    assert_eq!(a.target, per);
    // The explained class changes the attributions.
    assert_ne!(run(Target::Class(0)).edge, run(Target::Class(1)).edge);
}

#[test]
fn adaptive_steps_reach_the_tolerance_or_the_cap() {
    let mut r = rng(80);
    let model = random_model(&mut r, 4, &[8, 8, 8], 8, 2, Pool::Add);
    let batch = edge_case_batch(&mut r, 4);
    let tol = 1e-4;
    let cfg = ExplainConfig {
        adaptive: Some(Adaptive {
            tol,
            max_steps: 1600,
        }),
        ..ig(Target::Class(0), Wrt::Separate, Rule::GaussLegendre, 25)
    };
    let a = explain(&model, &batch, &cfg, Device::Cpu).unwrap();
    let fixed = explain(
        &model,
        &batch,
        &ig(Target::Class(0), Wrt::Separate, Rule::GaussLegendre, 25),
        Device::Cpu,
    )
    .unwrap();
    for (kind, delta, steps, fixed_delta) in [
        (
            "edges",
            a.edge_delta.as_ref().unwrap(),
            a.edge_steps.as_ref().unwrap(),
            fixed.edge_delta.as_ref().unwrap(),
        ),
        (
            "nodes",
            a.node_delta.as_ref().unwrap(),
            a.node_steps.as_ref().unwrap(),
            fixed.node_delta.as_ref().unwrap(),
        ),
    ] {
        for g in 0..batch.num_graphs() {
            let s = steps[g];
            assert!(
                [25, 50, 100, 200, 400, 800, 1600].contains(&s),
                "{kind} graph {g}: {s} steps"
            );
            // F(input) − F(baseline) = Σ attr − delta.
            let lg = LocalGraph::from_batch(&batch, g);
            let x = features(&batch, g);
            let (ones, zeros) = (vec![1.0; lg.src.len()], vec![0.0; lg.src.len()]);
            let df = if kind == "edges" {
                outputs(&model, &lg, &x, &ones).unwrap()[0]
                    - outputs(&model, &lg, &x, &zeros).unwrap()[0]
            } else {
                outputs(&model, &lg, &x, &ones).unwrap()[0]
                    - outputs(&model, &lg, &vec![0.0; x.len()], &ones).unwrap()[0]
            };
            assert!(
                delta[g].abs() <= tol * df.abs() || s == 1600,
                "{kind} graph {g}: |delta| {} after {s} steps",
                delta[g]
            );
            if s == 25 {
                assert_eq!(delta[g], fixed_delta[g]);
            } else {
                assert!(
                    fixed_delta[g].abs() > tol * df.abs(),
                    "{kind} graph {g} doubled needlessly"
                );
            }
        }
    }
    assert!(
        a.edge_steps.unwrap().iter().any(|&s| s > 25),
        "no graph needed more steps: the test is too easy"
    );
}

#[test]
fn undirected_view_sums_both_directions() {
    let batch = GraphBatch::builder(1)
        .graph(&[1.0, 2.0, 3.0], &[(0, 1), (1, 0), (2, 2), (1, 2), (0, 1)])
        .graph(&[1.0, 1.0], &[(1, 0), (0, 1)])
        .build()
        .unwrap();
    let u =
        aggregate_edge_directions(&batch, &[1.0, 10.0, 100.0, 1000.0, 10000.0, 5.0, 7.0]).unwrap();
    assert_eq!(u.index, vec![(0, 1), (2, 2), (1, 2), (3, 4)]);
    assert_eq!(u.attr, vec![10011.0, 100.0, 1000.0, 12.0]);
    assert_eq!(u.ptr, vec![0, 3, 4]);
    assert!(aggregate_edge_directions(&batch, &[1.0]).is_err());
}

#[test]
fn invalid_settings_are_clear_errors() {
    let mut r = rng(90);
    let model = random_model(&mut r, 3, &[4], 4, 2, Pool::Add);
    let batch = edge_case_batch(&mut r, 3);
    let bad = |cfg: ExplainConfig, needle: &str| {
        let e = explain(&model, &batch, &cfg, Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e:?} does not mention {needle:?}");
    };
    bad(
        ig(Target::Class(2), Wrt::Edges, Rule::GaussLegendre, 50),
        "target class 2",
    );
    bad(
        ig(Target::Class(0), Wrt::Edges, Rule::RiemannLeft, 1),
        "at least 2 steps",
    );
    bad(
        ig(Target::Class(0), Wrt::Edges, Rule::GaussLegendre, 0),
        "at least 1 steps",
    );
    bad(
        ig(
            Target::PerGraph(vec![0]),
            Wrt::Edges,
            Rule::GaussLegendre,
            5,
        ),
        "per-graph targets",
    );
    bad(
        ExplainConfig {
            node_baseline: NodeBaseline::Tensor(vec![0.0; 3]),
            ..Default::default()
        },
        "node baseline",
    );
    bad(
        ExplainConfig {
            node_baseline: NodeBaseline::Constant(f32::NAN),
            ..Default::default()
        },
        "not finite",
    );
    bad(
        ExplainConfig {
            adaptive: Some(Adaptive {
                tol: -1.0,
                max_steps: 100,
            }),
            ..Default::default()
        },
        "tolerance",
    );
    bad(
        ExplainConfig {
            adaptive: Some(Adaptive {
                tol: 0.01,
                max_steps: 10,
            }),
            ..Default::default()
        },
        "max steps",
    );
    let wide = random_model(&mut r, 5, &[4], 4, 2, Pool::Add);
    let e = explain(&wide, &batch, &ExplainConfig::default(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("3 node features") && e.contains("takes 5"),
        "{e}"
    );
    let e = explain(&model, &batch, &ExplainConfig::default(), Device::Cuda(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("CUDA"), "{e}");
}

#[test]
fn ig_options_multiply_by_inputs_per_graph_baseline_and_corrected_trapezoid() {
    let mut r = rng(100);
    let model = random_model(&mut r, 3, &[6, 5], 6, 2, Pool::Add);
    let batch = edge_case_batch(&mut r, 3);
    let g = batch.num_graphs();
    let rows: Vec<f32> = (0..g * 3).map(|i| (i % 7) as f32 * 0.15 - 0.4).collect();
    let per_graph = ExplainConfig {
        node_baseline: NodeBaseline::PerGraph(rows.clone()),
        ..ig(Target::Class(1), Wrt::Separate, Rule::GaussLegendre, 16)
    };
    // A per-graph baseline is the full tensor with each graph's row repeated.
    let full: Vec<f32> = batch
        .graphs()
        .flat_map(|gr| {
            gr.nodes
                .flat_map(|_| rows[gr.index * 3..gr.index * 3 + 3].to_vec())
                .collect::<Vec<_>>()
        })
        .collect();
    let tensor = ExplainConfig {
        node_baseline: NodeBaseline::Tensor(full.clone()),
        ..per_graph.clone()
    };
    let a = explain(&model, &batch, &per_graph, Device::Cpu).unwrap();
    assert_eq!(a, explain(&model, &batch, &tensor, Device::Cpu).unwrap());
    // Without multiply_by_inputs the node attributions are the integrated gradients
    // themselves; edge masks (input − baseline = 1) do not change.
    let plain = explain(
        &model,
        &batch,
        &ExplainConfig {
            multiply_by_inputs: false,
            ..per_graph.clone()
        },
        Device::Cpu,
    )
    .unwrap();
    assert_eq!(plain.edge, a.edge);
    let x = batch.features();
    for (k, (p, m)) in plain
        .node
        .as_ref()
        .unwrap()
        .iter()
        .zip(a.node.as_ref().unwrap())
        .enumerate()
    {
        let diff = x[k] as f64 - full[k] as f64;
        assert!(
            (p * diff - m).abs() <= 1e-12 * (1.0 + m.abs()),
            "feature {k}: {p} * {diff} vs {m}"
        );
    }
    // The corrected trapezoid: captum's points, weights summing to 1, exact on linear paths.
    for n in [2usize, 3, 10, 50] {
        let t = Rule::Trapezoid.table(n).unwrap();
        assert_eq!(t.alphas, Rule::RiemannTrapezoid.table(n).unwrap().alphas);
        let sum: f64 = t.weights.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "n = {n}: weights sum to {sum}");
        let integral: f64 = t
            .alphas
            .iter()
            .zip(&t.weights)
            .map(|(a, w)| w * (2.0 * a + 1.0))
            .sum();
        assert!(
            (integral - 2.0).abs() < 1e-6,
            "n = {n}: ∫(2a+1) = {integral}"
        );
    }
    assert!(Rule::Trapezoid.table(1).is_err());
    // Invalid per-graph baselines.
    let bad = ExplainConfig {
        node_baseline: NodeBaseline::PerGraph(vec![0.0; 5]),
        ..per_graph.clone()
    };
    assert!(explain(&model, &batch, &bad, Device::Cpu)
        .unwrap_err()
        .to_string()
        .contains("G*F"));
    let mut nan = rows.clone();
    nan[4] = f32::NAN;
    let bad = ExplainConfig {
        node_baseline: NodeBaseline::PerGraph(nan),
        ..per_graph
    };
    assert!(explain(&model, &batch, &bad, Device::Cpu)
        .unwrap_err()
        .to_string()
        .contains("graph 1"));
}
