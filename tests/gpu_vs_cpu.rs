//! The GPU path against the CPU reference, on fresh random batches with edge
//! cases. Every test runs on each device present: interpret mode (the real
//! kernels and host code on the CPU, always) and CUDA GPUs (skipped with a
//! printed notice when there is none).
//!
//! Bound: relative L2 error ≤ 1e-4 per graph (f32 on the device, f64 on the CPU).

#![cfg(all(feature = "cpu-ref", feature = "interpret"))]

mod common;

use common::{edge_case_batch, random_graph, random_model, rng};
use graph_ig::cuda::attribute::explain as gpu_explain;
use graph_ig::cuda::interpret::InterpretGpu;
use graph_ig::{
    explain, Adaptive, Attributions, Device, ExplainConfig, GpuKernel, GraphBatch, GraphConvNet,
    GraphParts, Method, NodeBaseline, Pool, Rule, Target, Wrt,
};

const BOUND: f64 = 1e-4;

/// The devices to test: interpret mode always, CUDA when present.
fn devices() -> Vec<Device> {
    let mut d = vec![Device::Interpret];
    #[cfg(feature = "cuda")]
    {
        if graph_ig::cuda::driver::device_count() > 0 {
            d.push(Device::Cuda(0));
        } else {
            println!("notice: no CUDA GPU; the GPU tests run in interpret mode only");
        }
    }
    d
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Compares a device's results with the CPU's, graph by graph.
fn compare(what: &str, batch: &GraphBatch, gpu: &Attributions, cpu: &Attributions) -> f64 {
    assert_eq!(gpu.target, cpu.target, "{what}: targets");
    let mut worst: f64 = 0.0;
    let mut check = |kind: &str,
                     ptr: &[usize],
                     width: usize,
                     a: &Option<Vec<f64>>,
                     b: &Option<Vec<f64>>,
                     da: &Option<Vec<f64>>,
                     db: &Option<Vec<f64>>| {
        let (Some(a), Some(b)) = (a, b) else {
            assert!(
                a.is_none() && b.is_none(),
                "{what}: {kind} present on one side only"
            );
            return;
        };
        // The joint attribution (`--wrt both`) has one delta, reported with the edges.
        assert_eq!(
            da.is_some(),
            db.is_some(),
            "{what}: {kind} delta on one side only"
        );
        for g in 0..batch.num_graphs() {
            let r = ptr[g] * width..ptr[g + 1] * width;
            let (x, y) = (&a[r.clone()], &b[r]);
            let diff: Vec<f64> = x.iter().zip(y).map(|(p, q)| p - q).collect();
            let err = norm(&diff) / norm(y).max(1e-5);
            worst = worst.max(err);
            assert!(
                err <= BOUND,
                "{what}: {kind} of graph {g}: relative L2 error {err:.3e}\n gpu {x:?}\n cpu {y:?}"
            );
            if let (Some(da), Some(db)) = (da, db) {
                let scale = y.iter().map(|v| v.abs()).sum::<f64>() + 1.0;
                assert!(
                    (da[g] - db[g]).abs() <= BOUND * scale,
                    "{what}: {kind} delta of graph {g}: {} vs {}",
                    da[g],
                    db[g]
                );
            }
        }
    };
    check(
        "edges",
        batch.edge_ptr(),
        1,
        &gpu.edge,
        &cpu.edge,
        &gpu.edge_delta,
        &cpu.edge_delta,
    );
    check(
        "nodes",
        batch.node_ptr(),
        batch.num_features(),
        &gpu.node,
        &cpu.node,
        &gpu.node_delta,
        &cpu.node_delta,
    );
    for (k, (p, q)) in gpu.log_probs.iter().zip(&cpu.log_probs).enumerate() {
        assert!(
            (p - q).abs() <= BOUND * (1.0 + q.abs()),
            "{what}: log_probs[{k}] {p} vs {q}"
        );
    }
    worst
}

/// Compares both GPU paths (fused where it fits, and layered only) with the CPU.
fn check_all(what: &str, model: &GraphConvNet, batch: &GraphBatch, cfg: &ExplainConfig) {
    let cpu = explain(model, batch, cfg, Device::Cpu).unwrap();
    for d in devices() {
        for kernel in [GpuKernel::Auto, GpuKernel::Layered] {
            let c = ExplainConfig {
                gpu_kernel: kernel,
                ..cfg.clone()
            };
            let gpu = explain(model, batch, &c, d).unwrap_or_else(|e| panic!("{what} on {d}: {e}"));
            let worst = compare(&format!("{what} on {d} ({kernel:?})"), batch, &gpu, &cpu);
            assert_eq!(gpu.edge_steps, cpu.edge_steps, "{what} on {d}: steps");
            println!("{what} on {d} ({kernel:?}): worst relative L2 {worst:.2e}");
        }
    }
}

fn cfg(method: Method, wrt: Wrt, rule: Rule, steps: usize) -> ExplainConfig {
    ExplainConfig {
        method,
        wrt,
        rule,
        steps,
        target: Target::Predicted,
        ..Default::default()
    }
}

#[test]
fn every_method_rule_and_pool_matches_the_cpu_on_edge_cases() {
    for (seed, pool) in [(1u64, Pool::Add), (2, Pool::Mean), (3, Pool::Max)] {
        let mut r = rng(seed);
        let model = random_model(&mut r, 5, &[16, 12, 8], 16, 3, pool);
        let batch = edge_case_batch(&mut r, 5);
        let ig = Method::IntegratedGradients;
        check_all(
            &format!("{pool:?} ig separate"),
            &model,
            &batch,
            &cfg(ig, Wrt::Separate, Rule::GaussLegendre, 12),
        );
        check_all(
            &format!("{pool:?} ig joint"),
            &model,
            &batch,
            &cfg(ig, Wrt::Both, Rule::GaussLegendre, 12),
        );
        for rule in [
            Rule::RiemannLeft,
            Rule::RiemannRight,
            Rule::RiemannMiddle,
            Rule::RiemannTrapezoid,
        ] {
            check_all(
                &format!("{pool:?} ig {rule}"),
                &model,
                &batch,
                &cfg(ig, Wrt::Edges, rule, 7),
            );
        }
        check_all(
            &format!("{pool:?} saliency"),
            &model,
            &batch,
            &cfg(Method::Saliency, Wrt::Separate, Rule::GaussLegendre, 1),
        );
        check_all(
            &format!("{pool:?} input x gradient"),
            &model,
            &batch,
            &cfg(
                Method::InputXGradient,
                Wrt::Separate,
                Rule::GaussLegendre,
                1,
            ),
        );
    }
}

/// Symmetric leaves have bit-identical embeddings, so max pooling ties and the
/// gradient must be split evenly, on the device as on the CPU.
#[test]
fn max_pool_ties_split_like_the_cpu() {
    let mut r = rng(4);
    let f = 3;
    let model = random_model(&mut r, f, &[8, 8], 8, 2, Pool::Max);
    // A star: center 0 with four identical leaves, and a second star with two.
    let leaf = [0.5f32, -0.25, 1.0];
    let mut x = vec![1.0f32, 0.0, -1.0];
    for _ in 0..4 {
        x.extend_from_slice(&leaf);
    }
    let star: Vec<(usize, usize)> = (1..5).flat_map(|i| [(0, i), (i, 0)]).collect();
    let batch = GraphBatch::builder(f)
        .graph(&x, &star)
        .graph(&x[..9], &[(0, 1), (1, 0), (0, 2), (2, 0)])
        .build()
        .unwrap();
    check_all(
        "max ties",
        &model,
        &batch,
        &cfg(
            Method::IntegratedGradients,
            Wrt::Separate,
            Rule::GaussLegendre,
            16,
        ),
    );
}

#[test]
fn very_large_graph_in_an_uneven_mix() {
    let mut r = rng(5);
    let f = 4;
    let model = random_model(&mut r, f, &[8, 8], 8, 2, Pool::Add);
    let mut b = GraphBatch::builder(f);
    for &(n, e) in &[(1usize, 0usize), (3000, 9000), (2, 2), (40, 100), (1, 1)] {
        let (x, edges) = random_graph(&mut r, n, e, f);
        b = b.graph(&x, &edges);
    }
    let batch = b.build().unwrap();
    check_all(
        "large graph",
        &model,
        &batch,
        &cfg(
            Method::IntegratedGradients,
            Wrt::Edges,
            Rule::GaussLegendre,
            6,
        ),
    );
}

#[test]
fn baselines_targets_and_adaptive_steps_match_the_cpu() {
    let mut r = rng(6);
    let model = random_model(&mut r, 4, &[8, 8], 8, 3, Pool::Add);
    let batch = edge_case_batch(&mut r, 4);
    let base: Vec<f32> = (0..batch.num_nodes() * 4)
        .map(|i| (i % 5) as f32 * 0.2 - 0.4)
        .collect();
    let with = |c: ExplainConfig| c;
    check_all(
        "tensor baseline, label targets",
        &model,
        &batch,
        &with(ExplainConfig {
            node_baseline: NodeBaseline::Tensor(base),
            target: Target::Label,
            ..cfg(
                Method::IntegratedGradients,
                Wrt::Nodes,
                Rule::RiemannMiddle,
                9,
            )
        }),
    );
    check_all(
        "constant baseline, per-graph targets",
        &model,
        &batch,
        &with(ExplainConfig {
            node_baseline: NodeBaseline::Constant(0.1),
            target: Target::PerGraph((0..batch.num_graphs()).map(|g| g % 3).collect()),
            ..cfg(
                Method::IntegratedGradients,
                Wrt::Separate,
                Rule::GaussLegendre,
                9,
            )
        }),
    );
    check_all(
        "per-graph baseline, no multiply_by_inputs, corrected trapezoid",
        &model,
        &batch,
        &ExplainConfig {
            node_baseline: NodeBaseline::PerGraph(
                (0..batch.num_graphs() * 4)
                    .map(|i| (i % 3) as f32 * 0.3)
                    .collect(),
            ),
            multiply_by_inputs: false,
            ..cfg(
                Method::IntegratedGradients,
                Wrt::Separate,
                Rule::Trapezoid,
                9,
            )
        },
    );
    // Adaptive: the tolerance is far from the deltas' f32 noise, so CPU and device
    // choose the same steps.
    check_all(
        "adaptive",
        &model,
        &batch,
        &ExplainConfig {
            adaptive: Some(Adaptive {
                tol: 0.05,
                max_steps: 64,
            }),
            ..cfg(
                Method::IntegratedGradients,
                Wrt::Edges,
                Rule::GaussLegendre,
                4,
            )
        },
    );
}

/// Chunking the graphs, splitting the steps over several launches and the grid
/// size change nothing, bit for bit; two runs are identical.
#[test]
fn chunking_step_splitting_and_grid_size_do_not_change_a_bit() {
    let mut r = rng(7);
    let model = random_model(&mut r, 4, &[8, 6], 8, 2, Pool::Max);
    let batch = edge_case_batch(&mut r, 4);
    let c = cfg(
        Method::IntegratedGradients,
        Wrt::Separate,
        Rule::GaussLegendre,
        10,
    );
    c.validate(&model, &batch).unwrap();
    let run_with = |gpu: &InterpretGpu, budget: Option<usize>, kernel: GpuKernel| {
        let c = ExplainConfig {
            memory_budget: budget,
            gpu_kernel: kernel,
            ..c.clone()
        };
        gpu_explain(gpu, &model, &batch, &c, &|_| {}).unwrap()
    };
    // The fused path: deterministic and independent of the grid.
    let fused = run_with(&InterpretGpu::default(), None, GpuKernel::Auto);
    assert_eq!(
        fused,
        run_with(&InterpretGpu::default(), None, GpuKernel::Auto),
        "two fused runs differ"
    );
    assert_eq!(
        fused,
        run_with(&InterpretGpu::new(1, 1 << 30), None, GpuKernel::Auto),
        "fused, grid of 1"
    );
    assert_eq!(
        fused,
        run_with(&InterpretGpu::new(5, 1 << 30), None, GpuKernel::Auto),
        "fused, grid of 5"
    );
    // The layered path: also independent of chunking and of splitting the steps.
    let run = |gpu: &InterpretGpu, budget: Option<usize>| run_with(gpu, budget, GpuKernel::Layered);
    let reference = run(&InterpretGpu::default(), None);
    assert_eq!(
        reference,
        run(&InterpretGpu::default(), None),
        "two runs differ"
    );
    assert_eq!(
        reference,
        run(&InterpretGpu::new(1, 1 << 30), None),
        "grid of 1 block"
    );
    assert_eq!(
        reference,
        run(&InterpretGpu::new(9, 1 << 30), None),
        "grid of 9 blocks"
    );
    // The largest graph's one step is about 9 KB: this budget forces small chunks and
    // several launches for the largest graph.
    assert_eq!(
        reference,
        run(&InterpretGpu::default(), Some(60_000)),
        "tiny memory budget"
    );
    let small = ExplainConfig {
        memory_budget: Some(100),
        gpu_kernel: GpuKernel::Layered,
        ..c.clone()
    };
    let e = gpu_explain(&InterpretGpu::default(), &model, &batch, &small, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("budget"), "{e}");
}

#[test]
fn cuda_device_errors_are_clean_without_a_gpu() {
    #[cfg(feature = "cuda")]
    if graph_ig::cuda::driver::device_count() == 0 {
        let mut r = rng(8);
        let model = random_model(&mut r, 2, &[4], 4, 2, Pool::Add);
        let batch = edge_case_batch(&mut r, 2);
        let e = explain(&model, &batch, &ExplainConfig::default(), Device::Cuda(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CUDA") || e.contains("cuda"), "{e}");
        let e = explain(&model, &batch, &ExplainConfig::default(), Device::Cuda(7))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CUDA") || e.contains("cuda"), "{e}");
        let (d, note) = Device::auto().unwrap();
        assert_eq!(d, Device::Cpu);
        assert!(note.unwrap().contains("CPU"));
    }
}

/// The fused kernel against the layered kernels, and its edge-mode shortcut (layer 1
/// computed once per graph) against the plain per-step computation: the same numbers
/// up to float32 rounding.
#[test]
fn fused_kernel_and_its_shortcut_match_the_layered_path() {
    let mut r = rng(9);
    for pool in [Pool::Add, Pool::Max] {
        let model = random_model(&mut r, 5, &[16, 16, 8], 12, 2, pool);
        let batch = edge_case_batch(&mut r, 5);
        for wrt in [Wrt::Edges, Wrt::Nodes] {
            let c = cfg(Method::IntegratedGradients, wrt, Rule::GaussLegendre, 10);
            let run = |k| {
                explain(
                    &model,
                    &batch,
                    &ExplainConfig {
                        gpu_kernel: k,
                        ..c.clone()
                    },
                    Device::Interpret,
                )
                .unwrap()
            };
            let (auto, plain, layered) = (
                run(GpuKernel::Auto),
                run(GpuKernel::FusedWithoutShortcut),
                run(GpuKernel::Layered),
            );
            let w1 = compare(
                &format!("{pool:?} {wrt:?} fused vs layered"),
                &batch,
                &auto,
                &layered,
            );
            let w2 = compare(
                &format!("{pool:?} {wrt:?} shortcut vs none"),
                &batch,
                &auto,
                &plain,
            );
            assert!(
                w1 < 1e-5 && w2 < 1e-5,
                "{pool:?} {wrt:?}: {w1:.2e} {w2:.2e}"
            );
            if wrt == Wrt::Nodes {
                assert_eq!(auto, plain, "the shortcut is for edge mode only");
            }
        }
    }
}

/// The batch with every feature made non-negative (one-hot-like inputs), for Excitation
/// Backprop: with mixed-sign inputs its first-layer normalisers can cancel to almost 0,
/// where f32 and f64 legitimately part ways.
fn nonnegative(b: &GraphBatch) -> GraphBatch {
    GraphBatch::from_parts(GraphParts {
        num_features: b.num_features(),
        x: b.features().iter().map(|v| v.abs()).collect(),
        src: b.src().iter().map(|&v| v as usize).collect(),
        dst: b.dst().iter().map(|&v| v as usize).collect(),
        node_ptr: b.node_ptr().to_vec(),
        edge_ptr: b.edge_ptr().to_vec(),
        graph_labels: b.graph_labels().map(<[i64]>::to_vec),
        ..Default::default()
    })
    .unwrap()
}

/// Compares the node scores of the node-level methods, graph by graph: relative L2 error
/// against `max(‖cpu‖, floor)`.
fn compare_scores(
    what: &str,
    batch: &GraphBatch,
    gpu: &Attributions,
    cpu: &Attributions,
    floor: f64,
) -> f64 {
    assert_eq!(gpu.target, cpu.target, "{what}: targets");
    let (a, b) = (
        gpu.node_score.as_ref().unwrap(),
        cpu.node_score.as_ref().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "{what}: score length");
    assert!(
        gpu.edge.is_none() && gpu.node.is_none(),
        "{what}: extra outputs"
    );
    let mut worst: f64 = 0.0;
    for g in 0..batch.num_graphs() {
        let r = batch.node_ptr()[g]..batch.node_ptr()[g + 1];
        let (x, y) = (&a[r.clone()], &b[r]);
        let diff: Vec<f64> = x.iter().zip(y).map(|(p, q)| p - q).collect();
        let err = norm(&diff) / norm(y).max(floor);
        worst = worst.max(err);
        assert!(
            err <= BOUND,
            "{what}: scores of graph {g}: relative L2 error {err:.3e}\n gpu {x:?}\n cpu {y:?}"
        );
    }
    for (k, (p, q)) in gpu.log_probs.iter().zip(&cpu.log_probs).enumerate() {
        assert!(
            (p - q).abs() <= BOUND * (1.0 + q.abs()),
            "{what}: log_probs[{k}] {p} vs {q}"
        );
    }
    worst
}

/// Grad-CAM (each layer and averaged), the contrastive gradient, EB and c-EB on the GPU
/// path match the CPU reference on the edge cases, for every pooling and several targets.
#[test]
fn node_level_methods_match_the_cpu_on_edge_cases() {
    for (seed, pool) in [(11u64, Pool::Add), (12, Pool::Mean), (13, Pool::Max)] {
        let mut r = rng(seed);
        let model = random_model(&mut r, 5, &[16, 12, 8], 16, 3, pool);
        let batch = nonnegative(&edge_case_batch(&mut r, 5));
        for method in [
            Method::GradCam(None),
            Method::GradCam(Some(1)),
            Method::GradCam(Some(3)),
            Method::ContrastiveGradient,
            Method::ExcitationBackprop,
            Method::ContrastiveEb,
        ] {
            // Excitation Backprop moves a unit of mass: its scores (and c-EB's differences of
            // two such flows, which cancel to 0 on a single node) are measured against it.
            let floor = match method {
                Method::ExcitationBackprop | Method::ContrastiveEb => 1.0,
                _ => 1e-5,
            };
            let targets = if pool == Pool::Max {
                vec![Target::Predicted, Target::Class(2)]
            } else {
                vec![Target::Predicted]
            };
            for target in targets {
                let c = ExplainConfig {
                    method,
                    target: target.clone(),
                    ..Default::default()
                };
                let cpu = explain(&model, &batch, &c, Device::Cpu).unwrap();
                let what = format!("{} {pool:?} {target:?}", method.cli_name());
                for d in devices() {
                    let gpu = explain(&model, &batch, &c, d)
                        .unwrap_or_else(|e| panic!("{what} on {d}: {e}"));
                    let worst =
                        compare_scores(&format!("{what} on {d}"), &batch, &gpu, &cpu, floor);
                    println!("{what} on {d}: worst relative L2 {worst:.2e}");
                }
            }
        }
    }
}

/// SmoothGrad and VarGrad on the GPU path (layered kernels with per-edge noisy weights,
/// or noisy features) match the CPU reference: the same noise, the same moments.
#[test]
fn smoothgrad_and_vargrad_match_the_cpu() {
    for (seed, pool) in [(21u64, Pool::Add), (22, Pool::Max)] {
        let mut r = rng(seed);
        let model = random_model(&mut r, 5, &[12, 8], 12, 3, pool);
        let batch = edge_case_batch(&mut r, 5);
        for method in [Method::SmoothGrad, Method::VarGrad] {
            let mut c = cfg(method, Wrt::Separate, Rule::GaussLegendre, 1);
            c.smoothing.samples = 6;
            c.smoothing.sigma = 0.2;
            c.smoothing.seed = seed;
            // Both kernel choices take the layered kernels here: compare one.
            let what = format!("{} {pool:?}", method.cli_name());
            let cpu = explain(&model, &batch, &c, Device::Cpu).unwrap();
            for d in devices() {
                let gpu =
                    explain(&model, &batch, &c, d).unwrap_or_else(|e| panic!("{what} on {d}: {e}"));
                let worst = compare(&format!("{what} on {d}"), &batch, &gpu, &cpu);
                assert_eq!(gpu.edge_steps, cpu.edge_steps, "{what} on {d}: samples");
                println!("{what} on {d}: worst relative L2 {worst:.2e}");
            }
        }
    }
}

/// Node-level scores and VarGrad (SmoothGrad shares its code) do not depend on chunking,
/// on splitting the samples over launches or on the grid, bit for bit.
#[test]
fn new_gpu_methods_do_not_depend_on_chunking() {
    let mut r = rng(31);
    let model = random_model(&mut r, 4, &[8, 6], 8, 2, Pool::Mean);
    let batch = nonnegative(&edge_case_batch(&mut r, 4));
    for method in [
        Method::GradCam(None),
        Method::ContrastiveEb,
        Method::VarGrad,
    ] {
        let c = ExplainConfig {
            method,
            wrt: Wrt::Separate,
            ..Default::default()
        };
        let run = |gpu: &InterpretGpu, budget: Option<usize>| {
            let c = ExplainConfig {
                memory_budget: budget,
                ..c.clone()
            };
            gpu_explain(gpu, &model, &batch, &c, &|_| {}).unwrap()
        };
        let reference = run(&InterpretGpu::default(), None);
        let what = method.cli_name();
        assert_eq!(
            reference,
            run(&InterpretGpu::new(1, 1 << 30), None),
            "{what}: grid of 1"
        );
        assert_eq!(
            reference,
            run(&InterpretGpu::new(7, 1 << 30), None),
            "{what}: grid of 7"
        );
        assert_eq!(
            reference,
            run(&InterpretGpu::default(), Some(60_000)),
            "{what}: tiny budget"
        );
    }
}
