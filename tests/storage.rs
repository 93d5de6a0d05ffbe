//! Narrow activation storage in the fused kernel (`--storage bf16|f16`).
//!
//! 1. The kernels' rounding (`gi_store`/`gi_load` in `kernels/prelude.cuh`) is
//!    bit for bit the `half` crate's, over special values and random bit patterns.
//! 2. The fused kernel with bf16 or f16 activations stays within a bound of the
//!    CPU reference that fits the storage's precision, and really differs from
//!    the f32 result (so the option is not silently ignored).
//! 3. Narrow storage is refused where it does not apply.
//!
//! Runs in interpret mode (and on a CUDA GPU when one is present).

#![cfg(all(feature = "cpu-ref", feature = "interpret"))]

mod common;

use common::{edge_case_batch, rel_l2, rng};
use graph_ig::cuda::interpret::InterpretGpu;
use graph_ig::cuda::storage::round_through;
use graph_ig::{explain, Device, ExplainConfig, GpuKernel, Method, Storage, Wrt};
use half::{bf16, f16};
use rand::Rng;

/// Values where rounding is delicate: zeros, ties, f16 subnormals and limits,
/// f32 subnormals, overflow, infinities and NaNs.
fn special_values() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        65504.0,
        65519.99,
        65520.0,
        -65520.0,
        6.1035156e-5,
        f32::from_bits(0x387f_c000), // the largest f16 subnormal (6.0975552e-5)
        5.9604645e-8,
        2.9802322e-8,
        2.9802326e-8,
        1.0e-9,
        f32::MIN_POSITIVE,
        1.0e-40,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::from_bits(0x7f80_0001),
        f32::from_bits(0xffc0_1234),
    ];
    // Exact ties and near-ties for both formats.
    for base in [
        0x3f80_0000u32,
        0x4049_0fdb,
        0x3c00_0000,
        0x3880_0000,
        0x3380_0000,
    ] {
        for low in [
            0x7fffu32, 0x8000, 0x8001, 0x1_8000, 0x0fff, 0x1000, 0x1001, 0x3000,
        ] {
            v.push(f32::from_bits(base | low));
            v.push(f32::from_bits((base | low) ^ 0x8000_0000));
        }
    }
    v
}

fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits()
}

#[test]
fn kernel_rounding_is_the_half_crates_bit_for_bit() {
    let mut r = rng(11);
    let mut x = special_values();
    x.extend((0..200_000).map(|_| f32::from_bits(r.gen::<u32>())));
    // Values around the sizes activations take.
    x.extend((0..50_000).map(|_| r.gen_range(-8.0f32..8.0)));
    let gpu = InterpretGpu::default();
    let b = round_through(&gpu, &x, Storage::Bf16).unwrap();
    let h = round_through(&gpu, &x, Storage::F16).unwrap();
    let f = round_through(&gpu, &x, Storage::F32).unwrap();
    for (k, &v) in x.iter().enumerate() {
        let want_b = bf16::from_f32(v).to_f32();
        let want_h = f16::from_f32(v).to_f32();
        assert!(
            same_bits(b[k], want_b),
            "bf16 of {v:e} ({:#010x}): kernel {:#010x}, half crate {:#010x}",
            v.to_bits(),
            b[k].to_bits(),
            want_b.to_bits()
        );
        assert!(
            same_bits(h[k], want_h),
            "f16 of {v:e} ({:#010x}): kernel {:#010x}, half crate {:#010x}",
            v.to_bits(),
            h[k].to_bits(),
            want_h.to_bits()
        );
        assert!(same_bits(f[k], v), "f32 storage changed {v:e}");
    }
}

/// The per-graph relative L2 errors of `a` against `b` (edges or node features),
/// sorted; graphs without values are left out.
fn graph_errors(
    batch: &graph_ig::GraphBatch,
    wrt: Wrt,
    a: &graph_ig::Attributions,
    b: &graph_ig::Attributions,
) -> Vec<f64> {
    let f = batch.num_features();
    let (a, b, p): (&[f64], &[f64], Vec<usize>) = match wrt {
        Wrt::Edges => (
            a.edge.as_deref().unwrap(),
            b.edge.as_deref().unwrap(),
            batch.edge_ptr().to_vec(),
        ),
        _ => (
            a.node.as_deref().unwrap(),
            b.node.as_deref().unwrap(),
            batch.node_ptr().iter().map(|&v| v * f).collect(),
        ),
    };
    let mut e: Vec<f64> = (0..batch.num_graphs())
        .filter(|&g| p[g + 1] > p[g])
        .map(|g| rel_l2(&a[p[g]..p[g + 1]], &b[p[g]..p[g + 1]], 1e-5))
        .collect();
    e.sort_by(f64::total_cmp);
    e
}

fn devices() -> Vec<Device> {
    let mut d = vec![Device::Interpret];
    #[cfg(feature = "cuda")]
    {
        if graph_ig::cuda::driver::device_count() > 0 {
            d.push(Device::Cuda(0));
        } else {
            println!("notice: no CUDA GPU; the storage tests run in interpret mode only");
        }
    }
    d
}

#[test]
fn narrow_storage_stays_within_its_precision_of_the_cpu() {
    // The committed synthetic model on its own data, and a random model on edge cases.
    let data = graph_ig::synthetic::generate(&graph_ig::synthetic::SyntheticConfig {
        num_graphs: 16,
        ..Default::default()
    })
    .unwrap();
    let trained = graph_ig::default_model::synthetic().unwrap();
    let mut r = rng(5);
    let random = common::random_model(&mut r, 5, &[16, 12, 8], 16, 3, graph_ig::Pool::Max);
    let cases = [
        ("synthetic", &trained, data.batch.clone()),
        ("edge cases", &random, edge_case_batch(&mut r, 5)),
    ];
    for (name, model, batch) in &cases {
        for (method, wrt) in [
            (Method::IntegratedGradients, Wrt::Edges),
            (Method::IntegratedGradients, Wrt::Nodes),
            (Method::Saliency, Wrt::Edges),
        ] {
            let cfg = ExplainConfig {
                method,
                wrt,
                steps: 8,
                ..Default::default()
            };
            let cpu = explain(model, batch, &cfg, Device::Cpu).unwrap();
            for d in devices() {
                let f32r = explain(model, batch, &cfg, d).unwrap();
                // Bounds on the median and the worst graph. The worst graphs are the
                // near-certain ones (log-probability ≈ 0), whose tiny gradients come
                // from cancellation (docs/performance.md has the measured spread).
                for (storage, median_bound, worst_bound) in
                    [(Storage::Bf16, 2e-2, 0.5), (Storage::F16, 2e-3, 0.2)]
                {
                    let c = ExplainConfig {
                        storage,
                        ..cfg.clone()
                    };
                    let narrow = explain(model, batch, &c, d).unwrap();
                    let errs = graph_errors(batch, wrt, &narrow, &cpu);
                    let (median, worst) = (errs[errs.len() / 2], errs[errs.len() - 1]);
                    let changed = narrow.edge != f32r.edge || narrow.node != f32r.node;
                    println!(
                        "{name}, {} {wrt:?} on {d}, {}: relative L2 per graph vs the CPU: median {median:.2e}, worst {worst:.2e}",
                        method.cli_name(),
                        storage.cli_name()
                    );
                    assert!(
                        median <= median_bound && worst <= worst_bound,
                        "{name}, {method:?} {wrt:?}, {storage:?} on {d}: relative L2 median {median:.3e}, worst {worst:.3e}"
                    );
                    assert!(
                        changed,
                        "{name}, {method:?} {wrt:?}, {storage:?} on {d}: identical to f32, storage ignored?"
                    );
                    assert_eq!(narrow.target, cpu.target);
                }
            }
        }
    }
}

#[test]
fn narrow_storage_is_refused_where_it_does_not_apply() {
    let data = graph_ig::synthetic::generate(&graph_ig::synthetic::SyntheticConfig {
        num_graphs: 2,
        ..Default::default()
    })
    .unwrap();
    let model = graph_ig::default_model::synthetic().unwrap();
    let bf = |cfg: ExplainConfig| ExplainConfig {
        storage: Storage::Bf16,
        ..cfg
    };
    let err = |cfg: &ExplainConfig, d: Device| {
        explain(&model, &data.batch, cfg, d)
            .expect_err("narrow storage must be refused here")
            .to_string()
    };
    let msg = err(&bf(ExplainConfig::default()), Device::Cpu);
    assert!(msg.contains("storage bf16") && msg.contains("CPU"), "{msg}");
    let layered = bf(ExplainConfig {
        gpu_kernel: GpuKernel::Layered,
        ..Default::default()
    });
    let msg = err(&layered, Device::Interpret);
    assert!(msg.contains("layered"), "{msg}");
    let smooth = bf(ExplainConfig {
        method: Method::SmoothGrad,
        ..Default::default()
    });
    let msg = err(&smooth, Device::Interpret);
    assert!(msg.contains("smoothgrad"), "{msg}");
}
