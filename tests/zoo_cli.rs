//! `graph-ig explain --data Mutagenicity.safetensors --model M --arch card.json` for a
//! model of every conv type: the file it writes agrees with PyG's Explainer (the zoo
//! fixtures) on a real graph, on the CPU and through `--device interpret` (within 1e-4
//! of the CPU).

mod common;

use common::{cli_ok, rel_l2, repo_root};
use graph_ig::output::ReadBack;
use std::path::PathBuf;

/// Mutagenicity graph 11: row 19 of every graph fixture.
const GRAPH: usize = 11;

fn fixture_row() -> usize {
    let fx = ReadBack::open(repo_root().join("tests/fixtures/zoo/gcn.safetensors")).unwrap();
    let idx = fx.i64s("dataset_index").unwrap().unwrap();
    idx.iter().position(|&g| g == GRAPH as i64).unwrap()
}

fn explain(name: &str, wrt: &str, device: &str, steps: &str, out: &PathBuf) -> ReadBack {
    let data = repo_root().join("../shared/data/Mutagenicity/pyg/Mutagenicity.safetensors");
    let models = repo_root().join("tests/fixtures/zoo/models");
    let graphs = format!("{GRAPH}..{}", GRAPH + 1);
    cli_ok(&[
        "explain",
        "--data",
        data.to_str().unwrap(),
        "--model",
        models.join(format!("{name}.safetensors")).to_str().unwrap(),
        "--arch",
        models.join(format!("{name}.json")).to_str().unwrap(),
        "--graphs",
        &graphs,
        "--wrt",
        wrt,
        "--steps",
        steps,
        "--device",
        device,
        "--quiet",
        "--restart",
        "--out",
        out.to_str().unwrap(),
    ]);
    ReadBack::open(out).unwrap()
}

#[test]
fn every_conv_type_from_the_command_line_matches_pyg_and_interpret_matches_the_cpu() {
    if !repo_root()
        .join("../shared/data/Mutagenicity/pyg/Mutagenicity.safetensors")
        .exists()
    {
        println!("notice: skipping, the Mutagenicity PyG export is absent");
        return;
    }
    let row = fixture_row();
    let dir = tempfile::tempdir().unwrap();
    for name in ["gcn", "gin", "sage", "gat", "graphconv", "mixed"] {
        let fx = ReadBack::open(repo_root().join(format!("tests/fixtures/zoo/{name}.safetensors")))
            .unwrap();
        let edge_ptr = fx.i64s("edge_ptr").unwrap().unwrap();
        let (e0, e1) = (edge_ptr[row] as usize, edge_ptr[row + 1] as usize);
        let theirs = &fx.f64s("edge_ig").unwrap().unwrap()[e0..e1];
        let out = dir.path().join(format!("{name}.safetensors"));
        // --wrt separate: edge IG and node IG, each as PyG computes it alone.
        let cpu = explain(name, "separate", "cpu", "50", &out);
        let ours = cpu.f64s("edge_attr").unwrap().unwrap();
        // The CLI writes f32.
        let err = rel_l2(&ours, theirs, 1e-9);
        assert!(err < 1e-6, "{name}: edge IG vs PyG, relative L2 {err:.2e}");

        // Node IG at the fixture's non-zeros of x.
        let attr = cpu.f64s("node_attr").unwrap().unwrap();
        let (nz_ptr, nz_node, nz_feat) = (
            fx.i64s("nz_ptr").unwrap().unwrap(),
            fx.i64s("nz_node").unwrap().unwrap(),
            fx.i64s("nz_feat").unwrap().unwrap(),
        );
        let node_ptr = fx.i64s("node_ptr").unwrap().unwrap();
        let r = nz_ptr[row] as usize..nz_ptr[row + 1] as usize;
        let ours: Vec<f64> = r
            .clone()
            .map(|k| attr[(nz_node[k] - node_ptr[row]) as usize * 14 + nz_feat[k] as usize])
            .collect();
        let theirs = &fx.f64s("node_ig").unwrap().unwrap()[r];
        let err = rel_l2(&ours, theirs, 1e-9);
        assert!(err < 1e-6, "{name}: node IG vs PyG, relative L2 {err:.2e}");

        // Interpret mode runs every CUDA thread as a host thread: 10 steps keep it short.
        let dev = explain(name, "edges", "interpret", "10", &out);
        let on_device = dev.f64s("edge_attr").unwrap().unwrap();
        let cpu_edges = explain(name, "edges", "cpu", "10", &out)
            .f64s("edge_attr")
            .unwrap()
            .unwrap();
        let err = rel_l2(&on_device, &cpu_edges, 1e-9);
        assert!(
            err < 1e-4,
            "{name}: interpret vs CPU, relative L2 {err:.2e}"
        );
    }
}
