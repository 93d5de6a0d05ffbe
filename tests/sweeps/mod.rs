//! Helpers for the tests that run `graph-ig explain` as a child process: data,
//! model, runs, waits and checks.
#![allow(dead_code)]

use graph_ig::synthetic::{generate, SyntheticConfig};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The dataset name of [`write_data`].
pub const NAME: &str = "Synthetic";

/// The `graph-ig` binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_graph-ig")
}

/// A path as `&str` (temporary paths are UTF-8).
pub fn p(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Lossy UTF-8.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `n` synthetic molecules as TU files in `dir/data`.
pub fn write_data(dir: &Path, n: usize, seed: u64) -> PathBuf {
    let data = dir.join("data");
    generate(&SyntheticConfig {
        num_graphs: n,
        seed,
    })
    .expect("generate")
    .write_tu(&data, NAME)
    .expect("write TU files");
    data
}

/// The built-in synthetic model, written to `dir/model.safetensors`.
pub fn write_model(dir: &Path) -> PathBuf {
    let path = dir.join("model.safetensors");
    let bytes = graph_ig::default_model::bytes("synthetic").expect("the built-in model");
    std::fs::write(&path, bytes).expect("write the model");
    path
}

/// A dataset and a model in `dir`.
pub struct Setup {
    /// The TU folder.
    pub data: PathBuf,
    /// The model file.
    pub model: PathBuf,
}

impl Setup {
    /// `n` graphs and the synthetic model.
    pub fn new(dir: &Path, n: usize, seed: u64) -> Setup {
        Setup {
            data: write_data(dir, n, seed),
            model: write_model(dir),
        }
    }

    /// `graph-ig explain` on this data into `out` (CPU), then `extra`.
    pub fn command(&self, out: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args([
            "explain",
            "--data",
            p(&self.data),
            "--name",
            NAME,
            "--model",
            p(&self.model),
            "--out",
            p(out),
            "--device",
            "cpu",
        ]);
        c.args(extra);
        c
    }

    /// Runs it to the end.
    pub fn run(&self, out: &Path, extra: &[&str]) -> Output {
        self.command(out, extra).output().expect("run graph-ig")
    }

    /// Starts it with stdout and stderr piped.
    pub fn spawn(&self, out: &Path, extra: &[&str]) -> Child {
        self.command(out, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start graph-ig")
    }
}

/// Asserts success, showing the output otherwise.
pub fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: graph-ig failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// Asserts a clean failure (status 1, `graph-ig: error:` first, no panic) whose
/// stderr holds every one of `parts`; returns stderr.
pub fn assert_clean_error(o: &Output, parts: &[&str], what: &str) -> String {
    let err = text(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{what}: exit status; stderr:\n{err}"
    );
    assert!(
        err.starts_with("graph-ig: error:"),
        "{what}: stderr should start with 'graph-ig: error:':\n{err}"
    );
    assert!(!err.contains("panicked"), "{what}: panicked:\n{err}");
    for part in parts {
        assert!(
            err.contains(part),
            "{what}: stderr should contain {part:?}:\n{err}"
        );
    }
    err
}

/// The SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The partial-results folder of `out`.
pub fn partial_of(out: &Path) -> PathBuf {
    graph_ig::sweep::partial_dir(out)
}

/// The names of the files in `dir`, sorted (empty if it does not exist).
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The chunk files of a partial folder.
pub fn chunks_in(partial: &Path) -> Vec<String> {
    files_in(partial)
        .into_iter()
        .filter(|f| f.starts_with("chunk-") && f.ends_with(".safetensors"))
        .collect()
}

/// Waits (at most `limit`) until `cond` holds; returns whether it did.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Sends `signal` (`TERM`, `INT`, `KILL`) to a process with `kill(1)`.
pub fn send_signal(pid: u32, signal: &str) {
    let s = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(s.success(), "kill -{signal} {pid}");
}
