//! Benchmarks of the CPU reference path (plain harness: `cargo bench --bench cpu_ref`).
//!
//! - all of Mutagenicity (from `../shared/data`, or `$GRAPH_IG_DATA`), 50 steps,
//!   edge-mask IG with the built-in tutorial model, when the data is present;
//! - synthetic molecule batches of growing size, steps and width, to show how
//!   time scales.
//!
//! Set `GRAPH_IG_BENCH_QUICK=1` for a short run. Every result is named
//! `cpu_...`; timings are wall-clock seconds of `graph_ig::explain`, from host
//! arrays to host results, best of the repetitions.

use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::{Device, ExplainConfig, GraphBatch, GraphConvNet, Wrt};
use std::path::PathBuf;

mod util;

use util::{header, model, ring_batch, row};

/// Best seconds of `reps` runs on the CPU.
fn time(model: &GraphConvNet, batch: &GraphBatch, cfg: &ExplainConfig, reps: usize) -> f64 {
    util::time(Device::Cpu, model, batch, cfg, reps)
}

fn main() {
    let quick = std::env::var_os("GRAPH_IG_BENCH_QUICK").is_some();
    let threads = rayon::current_num_threads();
    println!(
        "cpu reference benchmarks ({threads} threads){}",
        if quick { ", quick" } else { "" }
    );
    header();
    let ig = |steps| ExplainConfig {
        steps,
        wrt: Wrt::Edges,
        ..Default::default()
    };

    let dir = std::env::var_os("GRAPH_IG_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/Mutagenicity/raw")
        });
    if dir.join("Mutagenicity_A.txt").exists() {
        let m = graph_ig::default_model::mutagenicity().expect("built-in model");
        let data =
            load_tu(&dir, "Mutagenicity", 14, &TuOptions::default()).expect("Mutagenicity loads");
        let data = if quick {
            data.subset(0..400).expect("subset")
        } else {
            data
        };
        let secs = time(&m, &data, &ig(50), 1);
        row("cpu_mutagenicity_ig_edges", &data, 50, 32, secs);
        for (name, method, evals) in util::other_methods() {
            let c = ExplainConfig { method, ..ig(50) };
            let secs = time(&m, &data, &c, 1);
            row(&format!("cpu_mutagenicity_{name}"), &data, evals, 32, secs);
        }
    } else {
        println!(
            "notice: Mutagenicity not found at {}; skipping that row",
            dir.display()
        );
    }

    let sizes: &[usize] = if quick {
        &[64, 256]
    } else {
        &[64, 256, 1024, 4096]
    };
    for &g in sizes {
        let data = generate(&SyntheticConfig {
            num_graphs: g,
            seed: 1,
        })
        .expect("synthetic")
        .batch;
        let secs = time(&model(32, 5), &data, &ig(50), if g <= 256 { 3 } else { 1 });
        row(&format!("cpu_synthetic_graphs_{g}"), &data, 50, 32, secs);
    }
    let data = generate(&SyntheticConfig {
        num_graphs: 256,
        seed: 1,
    })
    .expect("synthetic")
    .batch;
    for &steps in if quick {
        &[10usize, 100][..]
    } else {
        &[10usize, 25, 100, 200][..]
    } {
        let secs = time(&model(32, 5), &data, &ig(steps), 1);
        row(
            &format!("cpu_synthetic_steps_{steps}"),
            &data,
            steps,
            32,
            secs,
        );
    }
    for &width in if quick {
        &[16usize, 64][..]
    } else {
        &[16usize, 64, 128][..]
    } {
        let secs = time(&model(width, 5), &data, &ig(50), 1);
        row(
            &format!("cpu_synthetic_width_{width}"),
            &data,
            50,
            width,
            secs,
        );
    }
    // Nodes per graph: one big molecule-like graph made of many small ones glued together is
    // not needed; the synthetic generator's sizes vary 11..60, so use random graphs instead.
    for &n in if quick {
        &[100usize, 1000][..]
    } else {
        &[100usize, 1000, 10000][..]
    } {
        let data = ring_batch(n, 8);
        let secs = time(&model(32, 5), &data, &ig(50), 1);
        row(&format!("cpu_ring_nodes_{n}"), &data, 50, 32, secs);
    }
}
