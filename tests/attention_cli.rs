//! `graph-ig attention`: the file it writes holds PyG's coefficients, entropies and
//! uniform entropies (the cora_gat and synth_node_gat fixtures, from PyG's
//! `return_attention_weights=True`), its SVGs parse and rasterise to pictures that
//! are not blank, and its errors are clean.

mod common;

use common::rasterise;

use common::{cli_fails, cli_ok, repo_root};
use graph_ig::output::ReadBack;
use std::path::{Path, PathBuf};

fn zoo(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/zoo").join(name)
}

fn cora() -> Option<PathBuf> {
    let p = repo_root().join("../shared/data/Planetoid/Cora.safetensors");
    if p.exists() {
        Some(p)
    } else {
        println!("notice: skipping, {} is absent", p.display());
        None
    }
}

/// Every tensor of the fixture's layers equals the command's output (both f32; the
/// fixture is PyG's float64 run rounded to f32, ours graph-ig's f64 reference rounded).
fn compare(out: &Path, fixture: &Path, layers: &[(&str, usize)]) {
    let ours = ReadBack::open(out).unwrap();
    let theirs = ReadBack::open(fixture).unwrap();
    let ei = theirs.i64s("conv1.edge_index").unwrap().unwrap();
    for &(p, heads) in layers {
        assert_eq!(
            ours.i64s(&format!("{p}.edge_index")).unwrap().unwrap(),
            ei,
            "{p}: edge_index (PyG's order: input edges without loops, then one loop per node)"
        );
        assert_eq!(
            ours.shape(&format!("{p}.alpha")).unwrap().unwrap(),
            vec![ei.len() / 2, heads],
            "{p}: alpha is [E', H]"
        );
        for key in ["alpha", "entropy", "uniform_entropy"] {
            let k = format!("{p}.{key}");
            let a = ours.f64s(&k).unwrap().unwrap();
            let b = theirs.f64s(&k).unwrap().unwrap();
            assert_eq!(a.len(), b.len(), "{k}: length");
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f64, f64::max);
            assert!(worst <= 2e-6, "{k}: largest difference {worst:.2e}");
        }
    }
}

/// Pixels that are neither white nor transparent.
fn inked(pm: &resvg::tiny_skia::Pixmap) -> usize {
    pm.pixels()
        .iter()
        .filter(|p| p.alpha() > 0 && (p.red() < 240 || p.green() < 240 || p.blue() < 240))
        .count()
}

#[test]
fn cora_gat_attention_matches_pyg_and_its_pictures_render() {
    let Some(data) = cora() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("att.safetensors");
    let svg = dir.path().join("svg");
    let model = zoo("models/cora_gat.safetensors");
    let stdout = cli_ok(&[
        "attention",
        "--data",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
        "--node",
        "0,1358",
    ]);
    assert!(
        stdout.contains("conv1: 8 heads, conv2: 1 heads"),
        "{stdout}"
    );
    compare(
        &out,
        &zoo("cora_gat.safetensors"),
        &[("conv1", 8), ("conv2", 1)],
    );
    let meta = ReadBack::open(&out).unwrap().metadata().unwrap();
    assert_eq!(meta["graph_ig.layers"], "conv1,conv2");

    // 8 + 1 histograms and 2 nodes × 2 layers of neighbourhoods.
    let mut names: Vec<String> = std::fs::read_dir(&svg)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 13, "{names:?}");
    for n in &names {
        let text = std::fs::read_to_string(svg.join(n)).unwrap();
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{n}: {e}"));
        let ink = inked(&rasterise(&text));
        assert!(ink > 2000, "{n}: only {ink} inked pixels");
    }
    // The hub's picture has one line per in-neighbour (168 in Cora, under the cap).
    let hub = std::fs::read_to_string(svg.join("conv1.node1358.svg")).unwrap();
    let doc = roxmltree::Document::parse(&hub).unwrap();
    let lines = doc.descendants().filter(|n| n.has_tag_name("line")).count();
    assert_eq!(lines, 168, "the hub's in-neighbours");
}

#[test]
fn synthetic_node_gat_attention_matches_pyg_with_input_self_loops() {
    // The synthetic node graph (isolated nodes, input self-loops, duplicate edges, a hub)
    // as a PyG data file: x and edge_index from the fixture.
    let fx = ReadBack::open(zoo("synth_node_gat.safetensors")).unwrap();
    let x = fx.f64s("x").unwrap().unwrap();
    let ei = fx.i64s("edge_index").unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth.safetensors");
    let e = ei.len() / 2;
    let tensors = vec![
        (
            "x".to_string(),
            graph_ig::output::Tensor::f32(vec![30, x.len() / 30], x.iter().copied()),
        ),
        (
            "edge_index".to_string(),
            graph_ig::output::Tensor::i64(vec![2, e], ei.iter().copied()),
        ),
    ];
    graph_ig::output::write_safetensors(&data, &tensors, std::iter::empty()).unwrap();
    let out = dir.path().join("att.safetensors");
    let model = zoo("models/synth_node_gat.safetensors");
    cli_ok(&[
        "attention",
        "--data",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    compare(
        &out,
        &zoo("synth_node_gat.safetensors"),
        &[("conv1", 3), ("conv2", 1)],
    );
}

#[test]
fn attention_errors_are_clean() {
    let Some(data) = cora() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("att.safetensors");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let gat = zoo("models/cora_gat.safetensors");
    let gcn = zoo("models/cora_gcn.safetensors");
    cli_fails(
        &[
            "attention",
            "--data",
            d,
            "--model",
            gcn.to_str().unwrap(),
            "--out",
            o,
        ],
        &["has no GATConv"],
    );
    cli_fails(
        &[
            "attention",
            "--data",
            d,
            "--model",
            gat.to_str().unwrap(),
            "--out",
            o,
            "--node",
            "2708",
        ],
        &["--node 2708 is out of range", "2708 nodes"],
    );
    assert!(!out.exists(), "no output after an error");
}
