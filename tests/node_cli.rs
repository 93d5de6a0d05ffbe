//! `graph-ig explain` on node tasks from the command line: the output's CSR layout
//! (one row per target, its edges and nodes with their ids in the input graph) and the
//! error paths (a node id out of range, `--nodes` on a graph-task model, `--graphs` on
//! a node-task model, a mask the data file lacks).

mod common;

use common::{cli_fails, cli_ok, repo_root};
use graph_ig::output::ReadBack;
use std::path::PathBuf;

fn model(name: &str) -> String {
    repo_root()
        .join("tests/fixtures/zoo/models")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn cora() -> Option<String> {
    let p = repo_root().join("../shared/data/Planetoid/Cora.safetensors");
    if p.exists() {
        Some(p.to_string_lossy().into_owned())
    } else {
        println!("notice: skipping, {} is absent", p.display());
        None
    }
}

fn out(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("out.safetensors")
}

#[test]
fn cora_targets_are_rows_with_their_input_ids() {
    let Some(data) = cora() else { return };
    let dir = tempfile::tempdir().unwrap();
    let o = out(&dir);
    let stdout = cli_ok(&[
        "explain",
        "--data",
        &data,
        "--model",
        &model("cora_gcn.safetensors"),
        "--nodes",
        "1358,0,2707",
        "--device",
        "cpu",
        "--wrt",
        "both",
        "--quiet",
        "--out",
        o.to_str().unwrap(),
    ]);
    assert!(stdout.contains("3 target nodes"), "{stdout}");
    assert!(stdout.contains("targets/second"), "{stdout}");
    let f = ReadBack::open(&o).unwrap();
    assert_eq!(f.i64s("target_node").unwrap().unwrap(), vec![1358, 0, 2707]);
    let (node_ptr, edge_ptr) = (
        f.i64s("node_ptr").unwrap().unwrap(),
        f.i64s("edge_ptr").unwrap().unwrap(),
    );
    assert_eq!((node_ptr.len(), edge_ptr.len()), (4, 4));
    let node_id = f.i64s("node_id").unwrap().unwrap();
    let edge_id = f.i64s("edge_id").unwrap().unwrap();
    let ei = f.i64s("edge_index").unwrap().unwrap();
    let e = edge_id.len();
    let whole = graph_ig::graph::pyg::load(std::path::Path::new(&data)).unwrap();
    let (src, dst) = (whole.batch.src(), whole.batch.dst());
    for t in 0..3 {
        let nodes = &node_id[node_ptr[t] as usize..node_ptr[t + 1] as usize];
        // Each row lists its target among its nodes, once.
        let v = [1358, 0, 2707][t];
        assert_eq!(nodes.iter().filter(|&&u| u == v).count(), 1, "target {v}");
        for k in edge_ptr[t] as usize..edge_ptr[t + 1] as usize {
            // edge_index holds input node ids, and edge_id the input edge it is.
            let id = edge_id[k] as usize;
            assert_eq!(
                (ei[k], ei[e + k]),
                (i64::from(src[id]), i64::from(dst[id])),
                "target {t}, edge {k}"
            );
            assert!(nodes.contains(&ei[k]) && nodes.contains(&ei[e + k]));
        }
    }
    assert_eq!(
        f.shape("node_attr").unwrap().unwrap(),
        vec![node_id.len(), 1433]
    );
}

#[test]
fn node_task_errors_name_the_flag_and_the_reason() {
    let Some(data) = cora() else { return };
    let dir = tempfile::tempdir().unwrap();
    let o = out(&dir);
    let o = o.to_str().unwrap();
    let gcn = model("cora_gcn.safetensors");
    let base = |extra: &[&str]| {
        let mut v = vec![
            "explain", "--data", &data, "--model", &gcn, "--device", "cpu", "--out", o,
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let fails = |extra: &[&str], parts: &[&str]| {
        let args = base(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli_fails(&args, parts);
    };
    fails(
        &["--nodes", "5,2708"],
        &["node 2708 does not exist", "0..2708"],
    );
    fails(
        &["--nodes", "2700..2709"],
        &["--nodes 2700..2709", "2708 nodes"],
    );
    fails(&["--nodes", "3,3"], &["3"]);
    fails(&["--nodes", "x"], &["--nodes"]);
    fails(
        &["--graphs", "0..2"],
        &["--graphs", "classifies nodes", "--nodes"],
    );
    assert!(!std::path::Path::new(o).exists());

    // A graph-task model with --nodes.
    let mutag = repo_root().join("../shared/data/Mutagenicity/pyg/Mutagenicity.safetensors");
    if mutag.exists() {
        // (stderr first notes the tensors the file has that graph-ig ignores)
        let o = common::run_cli(&[
            "explain",
            "--data",
            mutag.to_str().unwrap(),
            "--model",
            &model("gcn.safetensors"),
            "--nodes",
            "1",
            "--device",
            "cpu",
            "--out",
            o,
        ]);
        let err = common::text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        for part in [
            "error: invalid setting: --nodes 1",
            "classifies graphs",
            "node-task model",
        ] {
            assert!(err.contains(part), "{err:?} should contain {part:?}");
        }
    }
}

#[test]
fn a_mask_the_file_lacks_is_named() {
    // A node-task data file without train/val/test masks.
    let fx =
        ReadBack::open(repo_root().join("tests/fixtures/zoo/synth_node_gcn.safetensors")).unwrap();
    let x = fx.f64s("x").unwrap().unwrap();
    let ei = fx.i64s("edge_index").unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth.safetensors");
    let tensors = vec![
        (
            "x".to_string(),
            graph_ig::output::Tensor::f32(vec![30, x.len() / 30], x.iter().copied()),
        ),
        (
            "edge_index".to_string(),
            graph_ig::output::Tensor::i64(vec![2, ei.len() / 2], ei.iter().copied()),
        ),
    ];
    graph_ig::output::write_safetensors(&data, &tensors, std::iter::empty()).unwrap();
    let o = out(&dir);
    for mask in ["train", "val", "test"] {
        cli_fails(
            &[
                "explain",
                "--data",
                data.to_str().unwrap(),
                "--model",
                &model("synth_node_gcn.safetensors"),
                "--nodes",
                mask,
                "--device",
                "cpu",
                "--out",
                o.to_str().unwrap(),
            ],
            &[&format!("--nodes {mask}"), &format!("no {mask}_mask")],
        );
    }
    // Without --nodes every node is a target.
    let stdout = cli_ok(&[
        "explain",
        "--data",
        data.to_str().unwrap(),
        "--model",
        &model("synth_node_gcn.safetensors"),
        "--device",
        "cpu",
        "--quiet",
        "--out",
        o.to_str().unwrap(),
    ]);
    assert!(stdout.contains("30 target nodes"), "{stdout}");
}

/// Interpret mode (the CUDA kernels and host code, f32) agrees with the CPU (f64) on
/// real Cora targets within 1e-4 (relative L2 per target): a degree-1 node, a hub
/// (1358, whose 2-hop subgraph has 426 nodes), node 0 and the last node, for the
/// trained GCN and GAT, IG over the edge mask and the features jointly.
#[cfg(feature = "interpret")]
#[test]
fn interpret_mode_agrees_with_the_cpu_on_cora_targets() {
    let Some(data) = cora() else { return };
    let dir = tempfile::tempdir().unwrap();
    for m in ["cora_gcn", "cora_gat"] {
        let run = |device: &str| {
            let o = dir.path().join(format!("{m}_{device}.safetensors"));
            cli_ok(&[
                "explain",
                "--data",
                &data,
                "--model",
                &model(&format!("{m}.safetensors")),
                "--nodes",
                "0,2707,1,1358",
                "--wrt",
                "both",
                "--device",
                device,
                "--quiet",
                "--out",
                o.to_str().unwrap(),
            ]);
            ReadBack::open(&o).unwrap()
        };
        let (cpu, gpu) = (run("cpu"), run("interpret"));
        let t = |f: &ReadBack, name: &str| f.f64s(name).unwrap().unwrap();
        assert_eq!(
            t(&cpu, "target"),
            t(&gpu, "target"),
            "{m}: the explained classes"
        );
        let edge_ptr = cpu.i64s("edge_ptr").unwrap().unwrap();
        let node_ptr = cpu.i64s("node_ptr").unwrap().unwrap();
        let f = 1433;
        for (name, ptr, width) in [("edge_attr", &edge_ptr, 1), ("node_attr", &node_ptr, f)] {
            let (a, b) = (t(&gpu, name), t(&cpu, name));
            assert_eq!(a.len(), b.len());
            let mut worst = 0.0f64;
            for k in 0..ptr.len() - 1 {
                let r = (ptr[k] as usize * width)..(ptr[k + 1] as usize * width);
                let err = common::rel_l2(&a[r.clone()], &b[r], 1e-12);
                assert!(err <= 1e-4, "{m} {name} target row {k}: rel L2 {err:.2e}");
                worst = worst.max(err);
            }
            println!("{m} {name}: worst rel L2 per target, interpret vs cpu, {worst:.2e}");
        }
    }
}
