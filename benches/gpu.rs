//! GPU benchmarks (plain harness: `cargo bench --bench gpu`): the layered and the
//! fused path on all of Mutagenicity (when present) and on synthetic batches of
//! growing size. Needs a CUDA GPU; without one it prints a notice and exits.
//! Timings are wall-clock from host arrays to host results (context creation and
//! kernel loading excluded by a warm-up run), best of the repetitions. Never run
//! this in interpret mode: interpret timings mean nothing.

use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::{explain, Device, ExplainConfig, GpuKernel, GraphBatch, GraphConvNet, Wrt};
use std::path::PathBuf;
use std::time::Instant;

fn time(model: &GraphConvNet, batch: &GraphBatch, cfg: &ExplainConfig, reps: usize) -> f64 {
    explain(model, batch, cfg, Device::Cuda(0)).expect("warm-up run");
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(
                explain(model, batch, cfg, Device::Cuda(0)).expect("benchmark run"),
            );
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
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
    let model = graph_ig::default_model::mutagenicity().expect("built-in model");
    println!(
        "{:34} {:>6} {:>9} {:>9} {:>10} {:>10}",
        "name", "graphs", "nodes", "edges", "ms", "graphs/s"
    );
    let row = |name: &str, b: &GraphBatch, secs: f64| {
        println!(
            "{name:34} {:>6} {:>9} {:>9} {:>10.2} {:>10.0}",
            b.num_graphs(),
            b.num_nodes(),
            b.num_edges(),
            secs * 1e3,
            b.num_graphs() as f64 / secs
        )
    };
    let dir = std::env::var_os("GRAPH_IG_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/Mutagenicity/raw")
        });
    for kernel in [GpuKernel::Layered, GpuKernel::Auto] {
        let cfg = ExplainConfig {
            wrt: Wrt::Edges,
            gpu_kernel: kernel,
            ..Default::default()
        };
        let name = if kernel == GpuKernel::Auto {
            "fused"
        } else {
            "layered"
        };
        if dir.join("Mutagenicity_A.txt").exists() {
            let data = load_tu(&dir, "Mutagenicity", 14, &TuOptions::default())
                .expect("Mutagenicity loads");
            row(
                &format!("cuda_{name}_mutagenicity_ig_edges"),
                &data,
                time(&model, &data, &cfg, 5),
            );
        }
        for g in [256usize, 1024, 4096, 16384] {
            let data = generate(&SyntheticConfig {
                num_graphs: g,
                seed: 1,
            })
            .expect("synthetic")
            .batch;
            row(
                &format!("cuda_{name}_synthetic_{g}"),
                &data,
                time(&model, &data, &cfg, 3),
            );
        }
    }
}
