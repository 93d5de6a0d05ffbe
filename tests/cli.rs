//! The `graph-ig` binary end to end: `synth`, `explain` and its output file,
//! graph ranges, clean errors, and resuming interrupted sweeps (through the
//! CLI and through `graph_ig::sweep::Sweep`).

mod common;
mod sweeps;

use common::{run_cli, text};
use graph_ig::graph::source::{GraphSource, InMemory};
use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::output::ReadBack;
use graph_ig::sweep::{Sweep, CHUNK_GRAPHS};
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::{Device, Error, ExplainConfig, GraphConvNet};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;
use sweeps::{assert_clean_error, write_data};

const F: usize = 14;
const NAME: &str = "Synthetic";

// ---------------------------------------------------------------- helpers

fn run(args: &[&str]) -> Output {
    run_cli(args)
}

fn assert_success(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: graph-ig failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn p(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn partial_of(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Deterministic values in about [-0.6, 0.6].
fn values(n: usize, seed: u64) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let k = (i as u64 + 1)
                .wrapping_mul(2654435761)
                .wrapping_add(seed.wrapping_mul(40503))
                % 10007;
            (k as f32 / 10007.0 - 0.5) * 1.2
        })
        .collect()
}

/// A small random GraphConv model: F = 14, two conv layers of width 8, lin1 8 → 8, 2 classes.
fn model_bytes(seed: u64) -> Vec<u8> {
    let w = 8;
    let specs: Vec<(&str, Vec<usize>)> = vec![
        ("conv1.lin_rel.weight", vec![w, F]),
        ("conv1.lin_rel.bias", vec![w]),
        ("conv1.lin_root.weight", vec![w, F]),
        ("conv2.lin_rel.weight", vec![w, w]),
        ("conv2.lin_rel.bias", vec![w]),
        ("conv2.lin_root.weight", vec![w, w]),
        ("lin1.weight", vec![w, w]),
        ("lin1.bias", vec![w]),
        ("lin2.weight", vec![2, w]),
        ("lin2.bias", vec![2]),
    ];
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = specs
        .iter()
        .enumerate()
        .map(|(i, (k, s))| {
            let n = s.iter().product();
            let v = values(n, seed * 100 + i as u64);
            (
                k.to_string(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(k, s, b)| {
            (
                k.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).expect("valid view"),
            )
        })
        .collect();
    safetensors::serialize(views, &None).expect("serialize the model")
}

fn write_model(dir: &Path, seed: u64) -> (PathBuf, Vec<u8>) {
    let path = dir.join(format!("model{seed}.safetensors"));
    let bytes = model_bytes(seed);
    std::fs::write(&path, &bytes).expect("write the model");
    (path, bytes)
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The common `explain` arguments for a dataset, a model and an output file.
fn explain_args<'a>(data: &'a Path, model: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "explain",
        "--data",
        p(data),
        "--name",
        NAME,
        "--model",
        p(model),
        "--out",
        p(out),
        "--quiet",
        "--device",
        "cpu",
    ]
}

fn explain(data: &Path, model: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut a = explain_args(data, model, out);
    a.extend_from_slice(extra);
    run(&a)
}

fn read(out: &Path) -> ReadBack {
    ReadBack::open(out).unwrap_or_else(|e| panic!("read back {}: {e}", out.display()))
}

fn f64s(r: &ReadBack, name: &str) -> Vec<f64> {
    r.f64s(name)
        .expect("readable")
        .unwrap_or_else(|| panic!("tensor {name} is missing"))
}

fn i64s(r: &ReadBack, name: &str) -> Vec<i64> {
    r.i64s(name)
        .expect("readable")
        .unwrap_or_else(|| panic!("tensor {name} is missing"))
}

fn shape(r: &ReadBack, name: &str) -> Vec<usize> {
    r.shape(name)
        .expect("readable")
        .unwrap_or_else(|| panic!("tensor {name} is missing"))
}

fn dtype(path: &Path, name: &str) -> Dtype {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let d = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("tensor {name} is missing"))
        .dtype();
    d
}

fn as_i64(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// Rewrites a safetensors file with `f(name, values)` applied to its f32 tensors, keeping the metadata.
fn rewrite_f32(path: &Path, f: impl Fn(&str, &mut Vec<f32>)) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut data: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in st.tensors() {
        let mut raw = t.data().to_vec();
        if t.dtype() == Dtype::F32 {
            let mut v: Vec<f32> = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            f(&name, &mut v);
            raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        }
        data.push((name, t.dtype(), t.shape().to_vec(), raw));
    }
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(k, d, s, b)| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, &meta).unwrap()).unwrap();
}

fn chunk_files(partial: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(partial)
        .unwrap_or_else(|e| panic!("{}: {e}", partial.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("chunk-") && n.ends_with(".safetensors"))
        .collect();
    v.sort();
    v
}

fn chunk_name(start: usize, end: usize) -> String {
    format!("chunk-{start:09}-{end:09}.safetensors")
}

// ---------------------------------------------------------------- synth

#[test]
fn synth_writes_a_loadable_tu_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synth");
    let o = run(&[
        "synth",
        "--out",
        p(&out),
        "--num-graphs",
        "20",
        "--seed",
        "3",
    ]);
    assert_success(&o, "synth");
    assert!(
        text(&o.stdout).contains("wrote 20 graphs"),
        "stdout: {}",
        text(&o.stdout)
    );
    for suffix in [
        "A",
        "graph_indicator",
        "node_labels",
        "edge_labels",
        "edge_gt",
        "graph_labels",
    ] {
        assert!(
            out.join(format!("{NAME}_{suffix}.txt")).exists(),
            "{suffix} written"
        );
    }
    let b = load_tu(&out, NAME, F, &TuOptions::default()).expect("the written dataset loads");
    assert_eq!(b.num_graphs(), 20);
    // It is exactly the library's dataset (graph labels are 0/1 already, so remapping keeps them).
    let want = generate(&SyntheticConfig {
        num_graphs: 20,
        seed: 3,
    })
    .unwrap()
    .batch;
    assert_eq!(b, want, "the TU round trip reproduces the generated batch");

    // --name changes the file prefix.
    let out2 = dir.path().join("synth2");
    let o = run(&[
        "synth",
        "--out",
        p(&out2),
        "--num-graphs",
        "5",
        "--name",
        "Mol",
    ]);
    assert_success(&o, "synth --name");
    assert_eq!(
        load_tu(&out2, "Mol", F, &TuOptions::default())
            .unwrap()
            .num_graphs(),
        5
    );
}

#[test]
fn synth_with_zero_graphs_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "synth",
        "--out",
        p(&dir.path().join("s")),
        "--num-graphs",
        "0",
    ]);
    assert_clean_error(&o, &["at least one graph"], "synth 0 graphs");
}

// ---------------------------------------------------------------- explain output

#[test]
fn explain_edges_writes_the_documented_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), 20, 3);
    let (model, model_raw) = write_model(dir.path(), 1);
    let out = dir.path().join("out.safetensors");
    let o = explain(&data, &model, &out, &[]);
    assert_success(&o, "explain");
    assert!(
        text(&o.stdout).contains("wrote"),
        "stdout: {}",
        text(&o.stdout)
    );
    assert!(
        !partial_of(&out).exists(),
        "the partial folder is removed after success"
    );

    let batch = load_tu(&data, NAME, F, &TuOptions::default()).unwrap();
    let (g, n, e) = (batch.num_graphs(), batch.num_nodes(), batch.num_edges());
    assert_eq!(g, 20);
    let r = read(&out);

    // Shapes and dtypes.
    for (name, shp, dt) in [
        ("edge_attr", vec![e], Dtype::F32),
        ("edge_ptr", vec![g + 1], Dtype::I64),
        ("node_ptr", vec![g + 1], Dtype::I64),
        ("edge_index", vec![2, e], Dtype::I64),
        ("graph_index", vec![g], Dtype::I64),
        ("log_probs", vec![g, 2], Dtype::F32),
        ("target", vec![g], Dtype::I64),
        ("delta", vec![g], Dtype::F32),
        ("steps", vec![g], Dtype::I64),
        ("edge_gt", vec![e], Dtype::U8),
    ] {
        assert_eq!(shape(&r, name), shp, "shape of {name}");
        assert_eq!(dtype(&out, name), dt, "dtype of {name}");
    }
    assert_eq!(dtype(&out, "undirected_edge_attr"), Dtype::F32);
    assert!(
        r.f64s("node_attr").unwrap().is_none(),
        "no node_attr with --wrt edges"
    );

    // Structure.
    assert_eq!(i64s(&r, "edge_ptr"), as_i64(batch.edge_ptr()));
    assert_eq!(i64s(&r, "node_ptr"), as_i64(batch.node_ptr()));
    assert_eq!(*i64s(&r, "node_ptr").last().unwrap(), n as i64);
    let ei = i64s(&r, "edge_index");
    let want_ei: Vec<i64> = batch
        .src()
        .iter()
        .chain(batch.dst())
        .map(|&v| v as i64)
        .collect();
    assert_eq!(ei, want_ei, "edge_index follows the A file's order");
    assert_eq!(i64s(&r, "graph_index"), (0..20).collect::<Vec<i64>>());
    assert_eq!(
        i64s(&r, "edge_gt"),
        batch
            .edge_gt()
            .unwrap()
            .iter()
            .map(|&m| m as i64)
            .collect::<Vec<_>>()
    );

    // Probabilities and targets.
    let lp = f64s(&r, "log_probs");
    let target = i64s(&r, "target");
    for gi in 0..g {
        let row = &lp[2 * gi..2 * gi + 2];
        let s: f64 = row.iter().map(|v| v.exp()).sum();
        assert!(
            (s - 1.0).abs() < 1e-5,
            "graph {gi}: probabilities sum to {s}"
        );
        let pred = if row[1] > row[0] { 1 } else { 0 };
        assert_eq!(
            target[gi], pred,
            "graph {gi}: the default target is the predicted class"
        );
    }
    assert!(
        i64s(&r, "steps").iter().all(|&s| s == 50),
        "50 steps everywhere"
    );
    assert!(
        f64s(&r, "delta").iter().all(|d| d.is_finite()),
        "finite deltas"
    );

    // Attributions.
    let ea = f64s(&r, "edge_attr");
    assert!(ea.iter().all(|v| v.is_finite()));
    assert!(ea.iter().any(|&v| v != 0.0), "some edge matters");
    let ua = f64s(&r, "undirected_edge_attr");
    let (se, su): (f64, f64) = (ea.iter().sum(), ua.iter().sum());
    assert!(
        (se - su).abs() <= 1e-4 * (1.0 + se.abs()),
        "undirected sum {su} vs directed sum {se}"
    );
    let up = i64s(&r, "undirected_edge_ptr");
    assert_eq!(up.len(), g + 1);
    assert_eq!(*up.last().unwrap() as usize, ua.len());
    assert_eq!(shape(&r, "undirected_edge_index"), vec![2, ua.len()]);

    // The same numbers as the library.
    let m = GraphConvNet::from_safetensors(&model).unwrap();
    let lib = graph_ig::explain(&m, &batch, &ExplainConfig::default(), Device::Cpu).unwrap();
    let lib_edge: Vec<f64> = lib.edge.unwrap().iter().map(|&v| v as f32 as f64).collect();
    assert_close(&ea, &lib_edge, 1e-6, "edge_attr vs library");

    // Metadata.
    let meta = r.metadata().unwrap();
    let want: [(&str, String); 9] = [
        ("method", "ig".into()),
        ("rule", "gauss-legendre".into()),
        ("steps", "50".into()),
        ("model_sha256", sha256(&model_raw)),
        ("dataset", NAME.into()),
        ("wrt", "edges".into()),
        ("target", "predicted".into()),
        ("graphs", "0..20".into()),
        ("device", "cpu".into()),
    ];
    for (k, v) in want {
        assert_eq!(meta.get(k), Some(&v), "metadata {k} (all: {meta:?})");
    }
}

#[test]
fn explain_wrt_both_and_nodes_write_node_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), 12, 5);
    let (model, _) = write_model(dir.path(), 2);
    let batch = load_tu(&data, NAME, F, &TuOptions::default()).unwrap();
    let (g, n, e) = (batch.num_graphs(), batch.num_nodes(), batch.num_edges());

    // Both, as two separate attributions.
    let out = dir.path().join("both.safetensors");
    assert_success(
        &explain(&data, &model, &out, &["--wrt", "separate"]),
        "--wrt separate",
    );
    let r = read(&out);
    assert_eq!(shape(&r, "node_attr"), vec![n, F]);
    assert_eq!(dtype(&out, "node_attr"), Dtype::F32);
    assert_eq!(shape(&r, "node_delta"), vec![g]);
    assert_eq!(shape(&r, "node_steps"), vec![g]);
    assert!(i64s(&r, "node_steps").iter().all(|&s| s == 50));
    assert_eq!(shape(&r, "edge_attr"), vec![e]);
    assert_eq!(shape(&r, "delta"), vec![g]);
    assert!(i64s(&r, "steps").iter().all(|&s| s == 50));
    assert_eq!(
        r.metadata().unwrap().get("wrt").map(String::as_str),
        Some("separate")
    );
    let both_edges = f64s(&r, "edge_attr");
    let both_nodes = f64s(&r, "node_attr");
    // IG x (x - 0): a feature that is 0 gets exactly 0.
    for (i, (a, x)) in both_nodes.iter().zip(batch.features()).enumerate() {
        if *x == 0.0 {
            assert_eq!(*a, 0.0, "node feature {i} is 0, so is its attribution");
        }
    }

    // Nodes only: delta/steps describe the node attributions, no edge tensors.
    let out = dir.path().join("nodes.safetensors");
    assert_success(
        &explain(&data, &model, &out, &["--wrt", "nodes"]),
        "--wrt nodes",
    );
    let r = read(&out);
    assert_eq!(shape(&r, "node_attr"), vec![n, F]);
    assert_eq!(shape(&r, "delta"), vec![g]);
    assert_eq!(shape(&r, "steps"), vec![g]);
    for absent in [
        "edge_attr",
        "undirected_edge_attr",
        "node_delta",
        "node_steps",
    ] {
        assert!(
            r.f64s(absent).unwrap().is_none(),
            "{absent} should be absent with --wrt nodes"
        );
    }
    assert_close(
        &f64s(&r, "node_attr"),
        &both_nodes,
        1e-6,
        "node_attr nodes vs both",
    );

    // Edges only agrees with both.
    let out = dir.path().join("edges.safetensors");
    assert_success(
        &explain(&data, &model, &out, &["--wrt", "edges"]),
        "--wrt edges",
    );
    assert_close(
        &f64s(&read(&out), "edge_attr"),
        &both_edges,
        1e-6,
        "edge_attr edges vs both",
    );
}

#[test]
fn graph_range_matches_the_slice_of_a_full_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), 20, 3);
    let (model, _) = write_model(dir.path(), 1);
    let full = dir.path().join("full.safetensors");
    let part = dir.path().join("part.safetensors");
    assert_success(&explain(&data, &model, &full, &[]), "full run");
    assert_success(
        &explain(&data, &model, &part, &["--graphs", "5..9"]),
        "--graphs 5..9",
    );

    let (rf, rp) = (read(&full), read(&part));
    assert_eq!(i64s(&rp, "graph_index"), vec![5, 6, 7, 8]);
    assert_eq!(shape(&rp, "log_probs"), vec![4, 2]);
    let fe = i64s(&rf, "edge_ptr");
    let fnp = i64s(&rf, "node_ptr");
    let (e0, e1) = (fe[5] as usize, fe[9] as usize);
    let (n0, n1) = (fnp[5], fnp[9]);
    // Offsets and node ids are renumbered from 0.
    assert_eq!(
        i64s(&rp, "edge_ptr"),
        fe[5..=9].iter().map(|v| v - fe[5]).collect::<Vec<_>>()
    );
    assert_eq!(
        i64s(&rp, "node_ptr"),
        fnp[5..=9].iter().map(|v| v - n0).collect::<Vec<_>>()
    );
    let fei = i64s(&rf, "edge_index");
    let ef = fe[20] as usize;
    let want_ei: Vec<i64> = fei[e0..e1]
        .iter()
        .chain(&fei[ef + e0..ef + e1])
        .map(|v| v - n0)
        .collect();
    assert_eq!(i64s(&rp, "edge_index"), want_ei);
    assert!(want_ei.iter().all(|&v| v >= 0 && v < n1 - n0));

    assert_close(
        &f64s(&rp, "edge_attr"),
        &f64s(&rf, "edge_attr")[e0..e1],
        1e-6,
        "edge_attr slice",
    );
    assert_close(
        &f64s(&rp, "log_probs"),
        &f64s(&rf, "log_probs")[10..18],
        1e-6,
        "log_probs slice",
    );
    assert_eq!(i64s(&rp, "target"), i64s(&rf, "target")[5..9].to_vec());
    assert_close(
        &f64s(&rp, "delta"),
        &f64s(&rf, "delta")[5..9],
        1e-6,
        "delta slice",
    );
    assert_eq!(
        rp.metadata().unwrap().get("graphs").map(String::as_str),
        Some("5..9")
    );

    // Open-ended ranges.
    let tail = dir.path().join("tail.safetensors");
    assert_success(
        &explain(&data, &model, &tail, &["--graphs", "18.."]),
        "--graphs 18..",
    );
    assert_eq!(i64s(&read(&tail), "graph_index"), vec![18, 19]);
    let head = dir.path().join("head.safetensors");
    assert_success(
        &explain(&data, &model, &head, &["--graphs", "..2"]),
        "--graphs ..2",
    );
    assert_eq!(i64s(&read(&head), "graph_index"), vec![0, 1]);
}

// ---------------------------------------------------------------- errors

#[test]
fn bad_arguments_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), 20, 3);
    let (model, _) = write_model(dir.path(), 1);
    let out = dir.path().join("out.safetensors");
    let cases: Vec<(Vec<&str>, Vec<&str>, &str)> = vec![
        (
            vec!["--graphs", "9..5"],
            vec!["--graphs", "9..5"],
            "reversed range",
        ),
        (
            vec!["--graphs", "0..999"],
            vec!["0..999", "20 graphs"],
            "range beyond the data",
        ),
        (vec!["--graphs", "a..b"], vec!["a..b"], "unparsable range"),
        (vec!["--graphs", "5"], vec!["A..B"], "range without dots"),
        (
            vec!["--method", "foo"],
            vec!["method", "\"foo\""],
            "unknown method",
        ),
        (
            vec!["--rule", "foo"],
            vec!["rule", "\"foo\""],
            "unknown rule",
        ),
        (
            vec!["--wrt", "foo"],
            vec!["\"foo\"", "edges, nodes, both"],
            "unknown wrt",
        ),
        (
            vec!["--pool", "foo"],
            vec!["pooling", "\"foo\""],
            "unknown pool",
        ),
        (
            vec!["--target", "foo"],
            vec!["target", "\"foo\""],
            "unknown target",
        ),
        (
            vec!["--steps", "1", "--rule", "riemann-left"],
            vec!["riemann-left", "at least 2 steps"],
            "too few steps",
        ),
        (vec!["--steps", "0"], vec!["at least 1 steps"], "zero steps"),
        (
            vec!["--target", "7"],
            vec!["target class 7", "2 classes"],
            "target class beyond the model",
        ),
        (
            vec!["--max-steps", "100"],
            vec!["--max-steps", "--delta-tol"],
            "max-steps without delta-tol",
        ),
        (
            vec!["--delta-tol=-1"],
            vec!["tolerance", "-1"],
            "negative tolerance",
        ),
        (
            vec!["--delta-tol", "0.1", "--max-steps", "10"],
            vec!["max steps 10", "50"],
            "max steps below steps",
        ),
    ];
    for (extra, parts, what) in cases {
        let o = explain(&data, &model, &out, &extra);
        assert_clean_error(&o, &parts, what);
        assert!(!out.exists(), "{what}: no output written");
        assert!(
            !partial_of(&out).exists(),
            "{what}: no partial folder left behind"
        );
    }
}

#[test]
fn cuda_device_without_a_gpu_is_a_clean_error() {
    #[cfg(feature = "cuda")]
    if graph_ig::cuda::driver::device_count() > 0 {
        println!("notice: a CUDA GPU is present; the no-GPU error cannot be checked here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), 3, 3);
    let (model, _) = write_model(dir.path(), 1);
    let out = dir.path().join("out.safetensors");
    for dev in ["cuda", "cuda:1"] {
        let mut a = explain_args(&data, &model, &out);
        let last = a.len() - 1;
        a[last] = dev;
        let o = run(&a);
        let err = assert_clean_error(&o, &["CUDA"], dev);
        assert!(
            err.contains("--device cpu"),
            "{dev}: the error suggests the CPU: {err}"
        );
        assert!(!out.exists());
    }
    let mut a = explain_args(&data, &model, &out);
    let last = a.len() - 1;
    a[last] = "tpu";
    assert_clean_error(&run(&a), &["unknown device", "\"tpu\""], "unknown device");
}

#[test]
fn dataset_and_model_problems_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), 5, 3);
    let (model, _) = write_model(dir.path(), 1);
    let out = dir.path().join("out.safetensors");
    let o_ = p(&out);

    let o = run(&[
        "explain",
        "--name",
        NAME,
        "--model",
        p(&model),
        "--out",
        o_,
        "--quiet",
        "--device",
        "cpu",
    ]);
    assert_clean_error(&o, &["--name needs --data"], "--name without --data");

    let o = run(&[
        "explain",
        "--data",
        p(&data),
        "--model",
        p(&model),
        "--out",
        o_,
        "--quiet",
        "--device",
        "cpu",
    ]);
    assert_clean_error(&o, &["--data needs --name"], "--data without --name");

    let missing = dir.path().join("nope.safetensors");
    let o = explain(&data, &missing, &out, &[]);
    assert_clean_error(&o, &["nope.safetensors"], "missing model file");

    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a model").unwrap();
    let o = explain(&data, &junk, &out, &[]);
    assert_clean_error(&o, &["junk.safetensors", "safetensors"], "junk model file");

    let o = run(&[
        "explain",
        "--data",
        p(&data),
        "--name",
        "Other",
        "--model",
        p(&model),
        "--out",
        o_,
        "--quiet",
        "--device",
        "cpu",
    ]);
    assert_clean_error(&o, &["Other_graph_indicator.txt"], "unknown dataset name");

    let o = run(&[
        "explain",
        "--data",
        p(&data),
        "--name",
        NAME,
        "--out",
        o_,
        "--quiet",
        "--device",
        "cpu",
    ]);
    assert_clean_error(
        &o,
        &["no built-in model", NAME, "--model"],
        "no model for a custom dataset",
    );

    // A malformed dataset file: the error names file and line.
    std::fs::write(data.join(format!("{NAME}_A.txt")), "1, 2\n2; 1\n").unwrap();
    let o = explain(&data, &model, &out, &[]);
    assert_clean_error(&o, &[&format!("{NAME}_A.txt:2:")], "malformed A file");
    assert!(!out.exists());
}

// ---------------------------------------------------------------- resume through the CLI

/// Runs a sweep whose final write fails (OUT is an existing directory), which
/// leaves a complete `OUT.partial/` with the CLI's own manifest; then removes OUT.
fn leave_partial(data: &Path, model: &Path, out: &Path, extra: &[&str]) {
    std::fs::create_dir_all(out.join("blocker")).unwrap();
    let o = explain(data, model, out, extra);
    assert_clean_error(&o, &[p(out)], "final write onto a directory");
    std::fs::remove_dir_all(out).unwrap();
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    let _ = std::fs::remove_file(PathBuf::from(tmp));
}

#[test]
fn cli_resume_reuses_finished_chunks_and_recomputes_corrupt_ones() {
    let dir = tempfile::tempdir().unwrap();
    let c = CHUNK_GRAPHS;
    let g = 2 * c + 88; // three chunks, the last one partial
    let data = write_data(dir.path(), g, 11);
    let (model, _) = write_model(dir.path(), 4);
    let steps = ["--steps", "8"];

    // A reference run from scratch.
    let reference = dir.path().join("ref.safetensors");
    assert_success(&explain(&data, &model, &reference, &steps), "reference run");
    let want = f64s(&read(&reference), "edge_attr");
    let edge_ptr = i64s(&read(&reference), "edge_ptr");

    let out = dir.path().join("out.safetensors");
    leave_partial(&data, &model, &out, &steps);
    let partial = partial_of(&out);
    assert!(
        partial.join("manifest.json").exists(),
        "the manifest is written"
    );
    let chunks = chunk_files(&partial);
    assert_eq!(
        chunks,
        vec![chunk_name(0, c), chunk_name(c, 2 * c), chunk_name(2 * c, g)]
    );

    // Tamper with a finished chunk: a reused chunk carries the tampered value into the output.
    rewrite_f32(&partial.join(&chunks[0]), |name, v| {
        if name == "edge_attr" {
            v[0] = 12345.0;
        }
    });
    // Corrupt another: it must be recomputed, not trusted.
    std::fs::write(partial.join(&chunks[1]), b"garbage").unwrap();

    let o = explain(&data, &model, &out, &steps);
    assert_success(&o, "resumed run");
    let stdout = text(&o.stdout);
    let resumed = c + (g - 2 * c);
    assert!(
        stdout.contains("resumed:")
            && stdout.contains(&format!(" {resumed} graphs from an earlier run")),
        "stdout should report {resumed} resumed graphs:\n{stdout}"
    );
    assert!(
        !partial.exists(),
        "the partial folder is removed after success"
    );

    let got = f64s(&read(&out), "edge_attr");
    assert_eq!(got[0], 12345.0, "chunk 0 was reused, not recomputed");
    assert_eq!(
        &got[1..],
        &want[1..],
        "every other value equals a fresh run (chunk 1 recomputed)"
    );
    let (e_c, e_2c) = (edge_ptr[c] as usize, edge_ptr[2 * c] as usize);
    assert!(
        e_c > 1 && e_c < e_2c && e_2c < got.len(),
        "the recomputed chunk has edges"
    );
}

#[test]
fn cli_resume_with_other_settings_needs_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), CHUNK_GRAPHS + 44, 12);
    let (model, _) = write_model(dir.path(), 5);
    let out = dir.path().join("out.safetensors");
    leave_partial(&data, &model, &out, &["--steps", "8"]);
    let partial = partial_of(&out);
    assert_eq!(chunk_files(&partial).len(), 2);

    // Other settings: refused, and the partial results are kept.
    let o = explain(&data, &model, &out, &["--steps", "6"]);
    assert_clean_error(
        &o,
        &[p(&partial), "other settings", "--restart"],
        "other steps",
    );
    assert!(
        partial.exists(),
        "a refused resume keeps the partial folder"
    );
    assert!(!out.exists());

    // Another model: refused too.
    let (model2, _) = write_model(dir.path(), 6);
    let o = explain(&data, &model2, &out, &["--steps", "8"]);
    assert_clean_error(&o, &["--restart"], "other model");

    // --restart discards them.
    let o = explain(&data, &model, &out, &["--steps", "6", "--restart"]);
    assert_success(&o, "--restart");
    assert!(
        !text(&o.stdout).contains("resumed:"),
        "nothing resumed after --restart"
    );
    assert!(i64s(&read(&out), "steps").iter().all(|&s| s == 6));
    assert!(!partial.exists());

    // A foreign manifest is refused as well.
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("manifest.json"), "{}").unwrap();
    std::fs::remove_file(&out).unwrap();
    let o = explain(&data, &model, &out, &["--steps", "6"]);
    assert_clean_error(&o, &["--restart"], "foreign manifest");
}

#[test]
fn cli_partial_folder_without_manifest_fails_cleanly_and_restart_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), 4, 13);
    let (model, _) = write_model(dir.path(), 1);
    let out = dir.path().join("out.safetensors");
    let partial = partial_of(&out);
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("notes.txt"), "someone else's").unwrap();
    let o = explain(&data, &model, &out, &[]);
    assert_clean_error(
        &o,
        &["manifest.json", "notes.txt", "--restart"],
        "partial folder without a manifest",
    );
    assert!(
        partial.join("notes.txt").exists(),
        "a refusal touches nothing"
    );
    let o = explain(&data, &model, &out, &["--restart"]);
    assert_success(&o, "--restart over a partial folder without a manifest");
    assert!(!partial.exists());
    assert_eq!(i64s(&read(&out), "graph_index"), vec![0, 1, 2, 3]);

    // An empty partial folder (a run killed as it started) holds nothing to lose: it is used.
    std::fs::remove_file(&out).unwrap();
    std::fs::create_dir_all(&partial).unwrap();
    assert_success(
        &explain(&data, &model, &out, &[]),
        "over an empty partial folder",
    );
    assert!(!partial.exists());
}

// ---------------------------------------------------------------- resume through the library

/// A small model built in memory (same layout as `model_bytes`).
fn lib_model() -> GraphConvNet {
    GraphConvNet::from_safetensors_bytes(&model_bytes(7), "<memory>").unwrap()
}

fn sweep<'a>(
    model: &'a GraphConvNet,
    source: &'a InMemory<'a>,
    config: &'a ExplainConfig,
    tag: &str,
) -> Sweep<'a> {
    let mut metadata = BTreeMap::new();
    metadata.insert("tag".to_string(), tag.to_string());
    metadata.insert("steps".to_string(), config.steps.to_string());
    Sweep {
        model,
        source,
        rows: 0..source.num_graphs(),
        config,
        devices: vec![Device::Cpu],
        metadata,
        whole: None,
    }
}

/// Runs a sweep that is interrupted (by a panic in the progress callback) once
/// `stop_after` graphs have finished; returns whether it was interrupted.
fn run_interrupted(s: &Sweep<'_>, out: &Path, stop_after: usize) -> bool {
    let done = std::sync::atomic::AtomicUsize::new(0);
    let progress = |k: usize| {
        if done.fetch_add(k, std::sync::atomic::Ordering::SeqCst) + k > stop_after {
            // resume_unwind skips the panic hook: no noise in the test output.
            std::panic::resume_unwind(Box::new("simulated interruption"));
        }
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.run(out, false, &progress)
    }));
    r.is_err()
}

#[test]
fn library_sweep_resumes_after_an_interruption() {
    let model = lib_model();
    let c = CHUNK_GRAPHS;
    let g = 2 * c + 88;
    let batch = generate(&SyntheticConfig {
        num_graphs: g,
        seed: 21,
    })
    .unwrap()
    .batch;
    let src = InMemory::new(&batch);
    let config = ExplainConfig {
        steps: 8,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();

    // Reference: an uninterrupted sweep.
    let reference = dir.path().join("ref.safetensors");
    let full = sweep(&model, &src, &config, "a")
        .run(&reference, false, &|_| {})
        .expect("full sweep");
    assert_eq!(full.graphs, g);
    assert_eq!(full.resumed_graphs, 0);
    let want = f64s(&read(&reference), "edge_attr");

    // Interrupted in the second chunk: the first chunk and the manifest are on disk.
    let out = dir.path().join("out.safetensors");
    let s = sweep(&model, &src, &config, "a");
    assert!(
        run_interrupted(&s, &out, CHUNK_GRAPHS + 10),
        "the sweep was interrupted"
    );
    let partial = partial_of(&out);
    assert!(!out.exists(), "no output after an interruption");
    assert!(partial.join("manifest.json").exists());
    assert_eq!(chunk_files(&partial), vec![chunk_name(0, c)]);

    // Tamper with the finished chunk; the rerun must reuse it.
    rewrite_f32(&partial.join(chunk_name(0, c)), |name, v| {
        if name == "edge_attr" {
            v[3] = -777.0;
        }
    });
    let summary = s.run(&out, false, &|_| {}).expect("resumed sweep");
    assert_eq!(summary.resumed_graphs, c);
    assert_eq!(summary.graphs, g);
    assert!(!partial.exists());
    let got = f64s(&read(&out), "edge_attr");
    assert_eq!(got[3], -777.0, "the finished chunk was reused");
    let mut want_tampered = want.clone();
    want_tampered[3] = -777.0;
    assert_eq!(
        got, want_tampered,
        "everything else equals the uninterrupted sweep"
    );
}

#[test]
fn library_sweep_refuses_a_partial_of_other_settings_unless_restarted() {
    let model = lib_model();
    let batch = generate(&SyntheticConfig {
        num_graphs: CHUNK_GRAPHS + 44,
        seed: 22,
    })
    .unwrap()
    .batch;
    let src = InMemory::new(&batch);
    let config = ExplainConfig {
        steps: 8,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    assert!(run_interrupted(
        &sweep(&model, &src, &config, "a"),
        &out,
        CHUNK_GRAPHS + 1
    ));
    let partial = partial_of(&out);
    assert_eq!(chunk_files(&partial), vec![chunk_name(0, CHUNK_GRAPHS)]);

    // Other metadata.
    match sweep(&model, &src, &config, "b").run(&out, false, &|_| {}) {
        Err(Error::Resume { path, message }) => {
            assert_eq!(path, partial);
            assert!(message.contains("--restart"), "{message}");
        }
        other => panic!("expected Error::Resume, got {other:?}"),
    }
    // Other data (same metadata).
    let other_batch = generate(&SyntheticConfig {
        num_graphs: CHUNK_GRAPHS + 44,
        seed: 23,
    })
    .unwrap()
    .batch;
    let other_src = InMemory::new(&other_batch);
    match sweep(&model, &other_src, &config, "a").run(&out, false, &|_| {}) {
        Err(Error::Resume { .. }) => {}
        other => panic!("other data: expected Error::Resume, got {other:?}"),
    }
    // Other first_graph.
    let mut s = sweep(&model, &src, &config, "a");
    s.rows = 5..batch.num_graphs();
    assert!(
        matches!(s.run(&out, false, &|_| {}), Err(Error::Resume { .. })),
        "other first_graph"
    );
    assert!(
        partial.join(chunk_name(0, CHUNK_GRAPHS)).exists(),
        "refusals keep the partial results"
    );

    // restart = true discards them and computes everything.
    let summary = sweep(&model, &src, &config, "b")
        .run(&out, true, &|_| {})
        .expect("restart");
    assert_eq!(summary.resumed_graphs, 0);
    assert!(!partial.exists());
    assert_eq!(
        read(&out)
            .metadata()
            .unwrap()
            .get("tag")
            .map(String::as_str),
        Some("b")
    );
}

#[test]
fn library_sweep_recomputes_a_corrupt_chunk() {
    let model = lib_model();
    let batch = generate(&SyntheticConfig {
        num_graphs: CHUNK_GRAPHS + 44,
        seed: 24,
    })
    .unwrap()
    .batch;
    let src = InMemory::new(&batch);
    let config = ExplainConfig {
        steps: 8,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.safetensors");
    sweep(&model, &src, &config, "a")
        .run(&reference, false, &|_| {})
        .unwrap();
    let want = read(&reference);

    let out = dir.path().join("out.safetensors");
    let s = sweep(&model, &src, &config, "a");
    assert!(run_interrupted(&s, &out, CHUNK_GRAPHS + 1));
    let chunk = partial_of(&out).join(chunk_name(0, CHUNK_GRAPHS));
    // Truncate the finished chunk: unreadable, so it is recomputed.
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() / 2]).unwrap();
    let summary = s
        .run(&out, false, &|_| {})
        .expect("resume with a corrupt chunk");
    assert_eq!(
        summary.resumed_graphs, 0,
        "the corrupt chunk is not counted as resumed"
    );
    let got = read(&out);
    for name in ["edge_attr", "log_probs", "delta", "undirected_edge_attr"] {
        assert_eq!(
            f64s(&got, name),
            f64s(&want, name),
            "{name} equals a fresh run"
        );
    }

    // A chunk with a tensor of the wrong length is also recomputed.
    let out2 = dir.path().join("out2.safetensors");
    assert!(run_interrupted(&s, &out2, CHUNK_GRAPHS + 1));
    let chunk2 = partial_of(&out2).join(chunk_name(0, CHUNK_GRAPHS));
    shorten_tensor(&chunk2, "delta");
    let summary = s
        .run(&out2, false, &|_| {})
        .expect("resume with a short tensor");
    assert_eq!(summary.resumed_graphs, 0);
    assert_eq!(f64s(&read(&out2), "delta"), f64s(&want, "delta"));
}

/// Rewrites one f32 tensor of a safetensors file one element shorter (shape included).
fn shorten_tensor(path: &Path, target: &str) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta: Option<HashMap<String, String>> = meta.metadata().clone();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let data: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let mut shape = t.shape().to_vec();
            let mut raw = t.data().to_vec();
            if name == target {
                shape[0] -= 1;
                raw.truncate(raw.len() - 4);
            }
            (name, t.dtype(), shape, raw)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(k, d, s, b)| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, &meta).unwrap()).unwrap();
}

// ---------------------------------------------------------------- the embedded default

#[test]
fn embedded_default_model_and_data() {
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/synthetic_graphconv.safetensors");
    if !model.exists() {
        println!(
            "skipping: {} not found; the embedded default model is unavailable",
            model.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("default.safetensors");
    let o = run(&["explain", "--out", p(&out), "--quiet", "--graphs", "0..20"]);
    assert_success(&o, "embedded default");
    let r = read(&out);
    assert_eq!(i64s(&r, "graph_index"), (0..20).collect::<Vec<i64>>());
    let meta = r.metadata().unwrap();
    assert_eq!(meta.get("dataset").map(String::as_str), Some("Synthetic"));
    assert_eq!(
        meta.get("model").map(String::as_str),
        Some("built-in:synthetic")
    );
    let bytes = std::fs::read(&model).unwrap();
    assert_eq!(
        meta.get("model_sha256"),
        Some(&sha256(&bytes)),
        "the embedded model is the file in models/"
    );
}
