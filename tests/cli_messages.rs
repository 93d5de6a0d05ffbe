//! Inputs and surroundings that used to crash graph-ig or mislead its user, each
//! answered now by a clean message: huge step counts and sizes, closed pipes, a
//! misspelled dataset, outputs on virtual or read-only filesystems, and a model
//! file that lost a bias.

mod sweeps;

use graph_ig::explain::rules::MAX_STEPS;
use graph_ig::model::NO_BIAS_KEY;
use graph_ig::GraphConvNet;
use safetensors::tensor::TensorView;
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use sweeps::*;

// ---------------------------------------------------------------- sizes from the input

#[test]
fn huge_step_counts_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 3, 1);
    let out = dir.path().join("out.safetensors");
    let limit = MAX_STEPS.to_string();
    for (extra, what) in [
        (vec!["--steps", "4294967296"], "2^32 steps"),
        (vec!["--steps", "18446744073709551615"], "u64::MAX steps"),
        (
            vec!["--steps", "1048577", "--rule", "riemann-middle"],
            "2^20 + 1 steps",
        ),
        (
            vec!["--delta-tol", "0.01", "--max-steps", "18446744073709551615"],
            "u64::MAX max steps",
        ),
    ] {
        let mut args = vec!["--quiet"];
        args.extend(extra);
        let o = s.run(&out, &args);
        assert_clean_error(&o, &[&limit, "limit"], what);
        assert!(
            !out.exists() && !partial_of(&out).exists(),
            "{what}: nothing written"
        );
    }
    let o = s.run(
        &out,
        &[
            "--quiet",
            "--method",
            "smoothgrad",
            "--samples",
            "18446744073709551615",
        ],
    );
    assert_clean_error(&o, &[&limit, "samples"], "u64::MAX samples");
    // Beyond u64: clap's own usage error (status 2), not a panic.
    let o = s.run(&out, &["--steps", "18446744073709551616"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[test]
fn a_dataset_too_large_for_the_disk_is_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(bin())
        .args(["synth", "--num-graphs", "1000000000000000", "--out"])
        .arg(dir.path().join("huge"))
        .output()
        .unwrap();
    let err = assert_clean_error(
        &o,
        &[
            "writing 1000000000000000 molecules needs about",
            "of disk",
            "--num-graphs",
        ],
        "synth --num-graphs 10^15",
    );
    assert!(err.contains("are free there"), "{err}");
    assert!(!dir.path().join("huge").exists(), "nothing written");
}

#[test]
fn results_too_large_for_memory_are_a_named_error_with_what_would_fit() {
    // A ceiling for this process (the other tests here run child processes).
    graph_ig::memory::set_ceiling(Some(64 << 10));
    let batch = graph_ig::synthetic::generate(&graph_ig::synthetic::SyntheticConfig {
        num_graphs: 200,
        seed: 3,
    })
    .unwrap()
    .batch;
    let model = graph_ig::default_model::synthetic().unwrap();
    let config = graph_ig::ExplainConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    let r = graph_ig::sweep::Sweep {
        model: &model,
        source: &graph_ig::graph::source::InMemory::new(&batch),
        rows: 0..batch.num_graphs(),
        config: &config,
        devices: vec![graph_ig::Device::Cpu],
        metadata: Default::default(),
        whole: None,
    }
    .run(&out, false, &|_| {});
    graph_ig::memory::set_ceiling(None);
    let e = r.unwrap_err().to_string();
    for part in [
        "holding the results of a chunk of 200 graphs needs",
        "64.0 KiB is available",
        "one chunk of graphs at a time",
    ] {
        assert!(e.contains(part), "{part:?} in {e}");
    }
    assert!(
        !partial_of(&out).exists() && !out.exists(),
        "nothing written"
    );
}

// ---------------------------------------------------------------- closed pipes

/// Which pipe a child gets closed.
enum Pipe {
    Stdout,
    Stderr,
}

/// Runs `c` with its stdout or stderr pipe closed before the child writes to it.
fn with_closed(c: &mut Command, pipe: Pipe) -> std::process::Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    match pipe {
        Pipe::Stdout => drop(child.stdout.take()),
        Pipe::Stderr => drop(child.stderr.take()),
    }
    child.wait_with_output().unwrap()
}

/// An attribution file of a few graphs, and the setup that made it.
fn attribution_file(dir: &Path) -> (Setup, std::path::PathBuf) {
    let s = Setup::new(dir, 600, 2);
    let attr = dir.join("attr.safetensors");
    assert_ok(&s.run(&attr, &["--quiet", "--steps", "4"]), "explain");
    (s, attr)
}

#[test]
fn a_closed_stdout_ends_the_program_quietly_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let (s, attr) = attribution_file(dir.path());
    // `graph-ig top ... | head -0`: the reader is gone before the first line.
    let o = with_closed(
        Command::new(bin()).args(["top", "--attr", p(&attr), "--k", "3"]),
        Pipe::Stdout,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "", "quiet");

    // `| head -1`: the reader goes away after one line (the output is far larger
    // than a pipe's buffer, so the writer meets the closed pipe).
    let mut child = Command::new(bin())
        .args(["top", "--attr", p(&attr), "--k", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let n = std::io::Read::read(&mut stdout, &mut first).unwrap();
    assert!(
        text(&first[..n]).starts_with("graph 0"),
        "{}",
        text(&first[..n])
    );
    drop(stdout);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));

    // explain's summary into a closed stdout: the file is written, status 0.
    let out = dir.path().join("out.safetensors");
    let o = with_closed(
        &mut s.command(&out, &["--steps", "4", "--quiet"]),
        Pipe::Stdout,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(out.exists());

    // --help too.
    let o = with_closed(
        Command::new(bin()).args(["explain", "--help"]),
        Pipe::Stdout,
    );
    assert_ne!(o.status.code(), Some(101), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
}

#[test]
fn a_closed_stderr_drops_messages_and_the_work_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 300, 3);
    let out = dir.path().join("out.safetensors");
    // Progress lines every 50 ms into a closed stderr.
    let o = with_closed(
        s.command(&out, &["--steps", "40"])
            .env("GRAPH_IG_PROGRESS_SECONDS", "0.05"),
        Pipe::Stderr,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(out.exists(), "the file is written");
    assert!(text(&o.stdout).contains("wrote:"));

    // An error with nobody to read it still fails with status 1, not a panic's 101.
    let o = with_closed(
        Command::new(bin())
            .args(["top", "--attr"])
            .arg(dir.path().join("missing.safetensors")),
        Pipe::Stderr,
    );
    assert_eq!(o.status.code(), Some(1));
}

// ---------------------------------------------------------------- names and places

#[test]
fn a_misspelled_dataset_name_says_the_files_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 3, 4);
    let out = dir.path().join("out.safetensors");
    for model in [Some(&s.model), None] {
        let mut c = Command::new(bin());
        c.args([
            "explain",
            "--data",
            p(&s.data),
            "--name",
            "Synthtic",
            "--out",
            p(&out),
            "--device",
            "cpu",
        ]);
        if let Some(m) = model {
            c.args(["--model", p(m)]);
        }
        let o = c.output().unwrap();
        let err = assert_clean_error(
            &o,
            &[
                "Synthtic_graph_indicator.txt",
                "not found",
                "the folder holds dataset Synthetic",
            ],
            "misspelled --name",
        );
        assert!(!err.contains("no built-in model"), "{err}");
    }
    // The real case of the issue, when the data is here.
    let raw = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/Mutagenicity/raw");
    if raw.exists() {
        let o = Command::new(bin())
            .args([
                "explain",
                "--data",
                p(&raw),
                "--name",
                "Mutagenicty",
                "--out",
                p(&out),
                "--device",
                "cpu",
            ])
            .output()
            .unwrap();
        assert_clean_error(
            &o,
            &[
                "Mutagenicty_graph_indicator.txt",
                "not found",
                "Mutagenicity",
            ],
            "--name Mutagenicty",
        );
    }
    // eval reads the dataset the same way.
    assert_ok(
        &s.run(&out, &["--quiet", "--steps", "4"]),
        "an attribution file",
    );
    let o = Command::new(bin())
        .args([
            "eval",
            "--attr",
            p(&out),
            "--data",
            p(&s.data),
            "--name",
            "Synthtic",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert_clean_error(&o, &["Synthtic_graph_indicator.txt", "not found"], "eval");
}

#[test]
fn outputs_on_virtual_filesystems_get_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 3, 5);
    for (out, fs) in [
        ("/proc/graph-ig-test/out.safetensors", "proc"),
        ("/proc/out.safetensors", "proc"),
        ("/sys/out.safetensors", "sysfs"),
    ] {
        if !Path::new(out)
            .parent()
            .unwrap()
            .ancestors()
            .any(|a| a.exists() && a != Path::new("/"))
        {
            continue;
        }
        let o = s.run(Path::new(out), &["--quiet"]);
        assert_clean_error(
            &o,
            &[
                out,
                &format!("is on {fs}, a virtual filesystem"),
                "writable disk",
            ],
            out,
        );
    }
    let o = Command::new(bin())
        .args(["synth", "--out", "/proc/graph-ig-synth"])
        .output()
        .unwrap();
    assert_clean_error(&o, &["virtual filesystem"], "synth under /proc");
}

#[test]
fn outputs_on_a_read_only_filesystem_get_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 3, 6);
    let script = format!(
        "MNT=$(mktemp -d) && mount -t tmpfs -o ro,size=64k tmpfs \"$MNT\" || exit 97; \
         \"$BIN\" explain --data {} --name {NAME} --model {} --device cpu --quiet \
         --out \"$MNT/sub/out.safetensors\"",
        p(&s.data),
        p(&s.model)
    );
    let Ok(o) = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .env("BIN", bin())
        .output()
    else {
        eprintln!("skipped: no unshare");
        return;
    };
    if o.status.code() == Some(97) || text(&o.stderr).starts_with("unshare") {
        eprintln!("skipped: cannot mount a tmpfs here: {}", text(&o.stderr));
        return;
    }
    assert_clean_error(
        &o,
        &["read-only filesystem", "writable disk"],
        "read-only output",
    );
}

#[test]
fn missing_output_folders_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 3, 7);
    let out = dir.path().join("a").join("b").join("out.safetensors");
    assert_ok(&s.run(&out, &["--quiet", "--steps", "4"]), "nested output");
    assert!(out.exists());
}

// ---------------------------------------------------------------- a lost bias

/// The built-in synthetic model without `drop`, with `metadata`.
fn model_without(drop: &[&str], metadata: Option<HashMap<String, String>>) -> Vec<u8> {
    let bytes = graph_ig::default_model::bytes("synthetic").unwrap();
    let st = SafeTensors::deserialize(bytes).unwrap();
    let views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()))
        .collect();
    safetensors::serialize(views, &metadata).unwrap()
}

#[test]
fn a_bias_missing_among_biased_layers_is_an_error_unless_the_file_says_so() {
    let lost = model_without(&["lin2.bias"], None);
    let e = GraphConvNet::from_safetensors_bytes(&lost, "m.safetensors")
        .unwrap_err()
        .to_string();
    for part in [
        "m.safetensors",
        "missing key lin2.bias",
        "lin1",
        NO_BIAS_KEY,
    ] {
        assert!(e.contains(part), "{part:?} in {e}");
    }
    let conv = model_without(&["conv2.lin_rel.bias"], None);
    let e = GraphConvNet::from_safetensors_bytes(&conv, "m")
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing key conv2.lin_rel.bias"), "{e}");

    // Declared in the metadata: loads, with a zero bias.
    for declared in ["lin2", "conv1.lin_rel, lin2", "*"] {
        let meta = HashMap::from([(NO_BIAS_KEY.to_string(), declared.to_string())]);
        let m =
            GraphConvNet::from_safetensors_bytes(&model_without(&["lin2.bias"], Some(meta)), "m")
                .unwrap_or_else(|e| panic!("{declared}: {e}"));
        assert!(m.classifier().unwrap().bias.iter().all(|&b| b == 0.0));
    }
    // Declaring another layer does not excuse this one.
    let meta = HashMap::from([(NO_BIAS_KEY.to_string(), "lin1".to_string())]);
    assert!(
        GraphConvNet::from_safetensors_bytes(&model_without(&["lin2.bias"], Some(meta)), "m")
            .is_err()
    );
    // No bias anywhere is a consistent model (PyG layers all made with bias=False).
    let st =
        SafeTensors::deserialize(graph_ig::default_model::bytes("synthetic").unwrap()).unwrap();
    let biases: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| n.ends_with(".bias"))
        .cloned()
        .collect();
    let biases: Vec<&str> = biases.iter().map(String::as_str).collect();
    let none = model_without(&biases, None);
    let st = SafeTensors::deserialize(&none).unwrap();
    assert!(
        st.names().iter().all(|n| !n.ends_with(".bias")),
        "{:?}",
        st.names()
    );
    GraphConvNet::from_safetensors_bytes(&none, "m").expect("a model without biases");

    // Through the command line.
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 3, 8);
    std::fs::write(&s.model, &lost).unwrap();
    let o = s.run(&dir.path().join("out.safetensors"), &["--quiet"]);
    assert_clean_error(&o, &["missing key lin2.bias", NO_BIAS_KEY], "CLI");
}
