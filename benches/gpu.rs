//! GPU benchmarks (plain harness: `cargo bench --bench gpu`): the layered and the
//! fused path on all of Mutagenicity (when present) with f32, bf16 and f16
//! activation storage, and synthetic batches of growing size, steps, width and
//! nodes per graph. Needs a CUDA GPU; without one it prints a notice and exits.
//! Timings are wall-clock from host arrays to host results (context creation and
//! kernel loading excluded by a warm-up run), best of the repetitions. Never run
//! this in interpret mode: interpret timings mean nothing.

mod util;

use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::{Device, ExplainConfig, GpuKernel, GraphBatch, GraphConvNet, Storage, Wrt};
use std::path::PathBuf;
use util::{header, model, ring_batch, row};

/// Best seconds of `reps` runs on the first GPU.
fn time(model: &GraphConvNet, batch: &GraphBatch, cfg: &ExplainConfig, reps: usize) -> f64 {
    util::time(Device::Cuda(0), model, batch, cfg, reps)
}

fn main() {
    #[cfg(feature = "cuda")]
    let gpus = graph_ig::cuda::driver::device_count();
    #[cfg(not(feature = "cuda"))]
    let gpus = 0;
    if gpus == 0 {
        println!("notice: no CUDA GPU; the GPU benchmarks need one (interpret-mode timings mean nothing)");
        return;
    }
    let trained = graph_ig::default_model::mutagenicity().expect("built-in model");
    let cfg = |kernel, storage, steps| ExplainConfig {
        wrt: Wrt::Edges,
        gpu_kernel: kernel,
        storage,
        steps,
        ..Default::default()
    };
    header();
    let dir = std::env::var_os("GRAPH_IG_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/Mutagenicity/raw")
        });
    if dir.join("Mutagenicity_A.txt").exists() {
        let data =
            load_tu(&dir, "Mutagenicity", 14, &TuOptions::default()).expect("Mutagenicity loads");
        for (name, kernel, storage) in [
            ("layered", GpuKernel::Layered, Storage::F32),
            ("fused", GpuKernel::Auto, Storage::F32),
            ("fused_bf16", GpuKernel::Auto, Storage::Bf16),
            ("fused_f16", GpuKernel::Auto, Storage::F16),
        ] {
            let secs = time(&trained, &data, &cfg(kernel, storage, 50), 5);
            row(
                &format!("cuda_{name}_mutagenicity_ig_edges"),
                &data,
                50,
                32,
                secs,
            );
        }
        for (name, method, evals) in util::other_methods() {
            let c = ExplainConfig {
                method,
                ..cfg(GpuKernel::Auto, Storage::F32, 50)
            };
            let secs = time(&trained, &data, &c, 3);
            row(
                &format!("cuda_method_{name}_mutagenicity"),
                &data,
                evals,
                32,
                secs,
            );
        }
    }
    for kernel in [GpuKernel::Layered, GpuKernel::Auto] {
        let name = if kernel == GpuKernel::Auto {
            "fused"
        } else {
            "layered"
        };
        let c = cfg(kernel, Storage::F32, 50);
        for g in [256usize, 1024, 4096, 16384] {
            let data = generate(&SyntheticConfig {
                num_graphs: g,
                seed: 1,
            })
            .expect("synthetic")
            .batch;
            let secs = time(&model(32, 5), &data, &c, 3);
            row(&format!("cuda_{name}_graphs_{g}"), &data, 50, 32, secs);
        }
        let data = generate(&SyntheticConfig {
            num_graphs: 4096,
            seed: 1,
        })
        .expect("synthetic")
        .batch;
        for steps in [10usize, 25, 100, 200] {
            let secs = time(&model(32, 5), &data, &cfg(kernel, Storage::F32, steps), 3);
            row(
                &format!("cuda_{name}_steps_{steps}"),
                &data,
                steps,
                32,
                secs,
            );
        }
        for width in [16usize, 64, 128] {
            let secs = time(&model(width, 5), &data, &c, 3);
            row(
                &format!("cuda_{name}_width_{width}"),
                &data,
                50,
                width,
                secs,
            );
        }
        for n in [100usize, 1000, 10000] {
            let data = ring_batch(n, 64);
            let secs = time(&model(32, 5), &data, &c, 3);
            row(&format!("cuda_{name}_ring_nodes_{n}"), &data, 50, 32, secs);
        }
    }
}
