//! Helpers shared by the integration tests: random models and graphs, data paths, error measures.
#![allow(dead_code)]

use graph_ig::model::{GraphConvLayer, Linear};
use graph_ig::{GraphBatch, GraphConvNet, Pool};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

/// A seeded RNG.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn linear(rng: &mut ChaCha8Rng, in_dim: usize, out_dim: usize, bias: bool) -> Linear {
    let s = 1.0 / (in_dim as f64).sqrt();
    Linear {
        out_dim,
        in_dim,
        weight: (0..out_dim * in_dim)
            .map(|_| rng.gen_range(-s..s))
            .collect(),
        bias: (0..out_dim)
            .map(|_| if bias { rng.gen_range(-s..s) } else { 0.0 })
            .collect(),
    }
}

/// A random GraphConv network with the given conv widths.
pub fn random_model(
    rng: &mut ChaCha8Rng,
    f: usize,
    widths: &[usize],
    hidden: usize,
    classes: usize,
    pool: Pool,
) -> GraphConvNet {
    let mut convs = Vec::new();
    let mut d = f;
    for &w in widths {
        convs.push(GraphConvLayer {
            lin_rel: linear(rng, d, w, true),
            lin_root: linear(rng, d, w, false),
        });
        d = w;
    }
    GraphConvNet {
        convs,
        lin1: linear(rng, d, hidden, true),
        lin2: linear(rng, hidden, classes, true),
        pool,
    }
}

/// One random graph: `n` nodes with features in [-1, 1], `e` random edges (self-loops allowed).
pub fn random_graph(
    rng: &mut ChaCha8Rng,
    n: usize,
    e: usize,
    f: usize,
) -> (Vec<f32>, Vec<(usize, usize)>) {
    let x = (0..n * f).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let edges = (0..e)
        .map(|_| (rng.gen_range(0..n), rng.gen_range(0..n)))
        .collect();
    (x, edges)
}

/// A batch of edge cases: a single node, a graph with no edges, isolated
/// nodes, self-loops, duplicate edges, and ordinary random graphs of mixed sizes.
pub fn edge_case_batch(rng: &mut ChaCha8Rng, f: usize) -> GraphBatch {
    let mut b = GraphBatch::builder(f);
    // A single node, no edges.
    let (x, _) = random_graph(rng, 1, 0, f);
    b = b.labelled_graph(&x, &[], 0, None);
    // A single node with a self-loop.
    let (x, _) = random_graph(rng, 1, 0, f);
    b = b.labelled_graph(&x, &[(0, 0)], 1, None);
    // Several nodes, no edges.
    let (x, _) = random_graph(rng, 5, 0, f);
    b = b.labelled_graph(&x, &[], 1, None);
    // Isolated nodes (4 and 5), a self-loop and a duplicate edge.
    let (x, _) = random_graph(rng, 6, 0, f);
    let edges = [
        (0, 1),
        (1, 0),
        (1, 2),
        (2, 1),
        (2, 2),
        (0, 3),
        (3, 0),
        (0, 1),
    ];
    b = b.labelled_graph(&x, &edges, 0, None);
    // Ordinary random graphs of uneven sizes.
    for &(n, e) in &[(3usize, 4usize), (17, 40), (40, 120), (9, 30)] {
        let (x, edges) = random_graph(rng, n, e, f);
        let label = rng.gen_range(0..2);
        b = b.labelled_graph(&x, &edges, label, None);
    }
    b.build().expect("edge-case batch is valid")
}

/// Relative L2 error `‖a − b‖ / max(‖b‖, floor)`.
pub fn rel_l2(a: &[f64], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    num / den.max(floor)
}

/// The repository root (for fixtures and models): `$GRAPH_IG_REPO` when set (test
/// binaries run on another machine), else the crate's folder.
pub fn repo_root() -> PathBuf {
    std::env::var_os("GRAPH_IG_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The Mutagenicity raw folder: `$GRAPH_IG_DATA` or `../shared/data/Mutagenicity/raw`.
/// `None`, with a printed notice, when it is absent.
pub fn mutagenicity_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GRAPH_IG_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data/Mutagenicity/raw"));
    if dir.join("Mutagenicity_A.txt").exists() {
        Some(dir)
    } else {
        println!(
            "notice: skipping, Mutagenicity not found at {} (set GRAPH_IG_DATA)",
            dir.display()
        );
        None
    }
}

/// Runs the `graph-ig` binary with `args`.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_graph-ig"))
        .args(args)
        .output()
        .expect("the graph-ig binary runs")
}

/// Command output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `graph-ig args`, asserts success and returns its stdout.
pub fn cli_ok(args: &[&str]) -> String {
    let o = run_cli(args);
    assert!(
        o.status.success(),
        "graph-ig {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Runs `graph-ig args`, asserts a clean failure (exit 1, `graph-ig: error:`, no panic)
/// whose message contains every one of `parts`.
pub fn cli_fails(args: &[&str], parts: &[&str]) {
    let o = run_cli(args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "graph-ig {args:?}: {err}");
    assert!(err.starts_with("graph-ig: error:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for p in parts {
        assert!(
            err.contains(p),
            "graph-ig {args:?}: {err:?} should contain {p:?}"
        );
    }
}

/// ROC-AUC from scratch: the fraction of (positive, negative) pairs where the
/// positive scores higher, ties counting 1/2. `None` without both kinds.
pub fn pairwise_auc(s: &[f64], marks: &[u8]) -> Option<f64> {
    let (mut num, mut pairs) = (0.0, 0usize);
    for i in (0..s.len()).filter(|&i| marks[i] != 0) {
        for j in (0..s.len()).filter(|&j| marks[j] == 0) {
            pairs += 1;
            num += if s[i] > s[j] {
                1.0
            } else if s[i] == s[j] {
                0.5
            } else {
                0.0
            };
        }
    }
    (pairs > 0).then(|| num / pairs as f64)
}
