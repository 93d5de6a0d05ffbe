//! Barnes-Hut t-SNE (`graph_ig::tsne`) against the exact formulas, and `graph-ig embed`.

mod common;

use common::{cli_fails, cli_ok, rng};
use graph_ig::output::ReadBack;
use graph_ig::tsne::{affinities, gradient, tsne, TsneConfig};
use rand::Rng;

/// The exact t-SNE gradient, written from the formula
/// `dC/dy_i = 4 Σ_j (p_ij − q_ij) (y_i − y_j) / (1 + |y_i − y_j|²)`.
fn exact_gradient(p: &[Vec<(usize, f64)>], y: &[f64], n: usize) -> Vec<f64> {
    let mut dense = vec![0.0; n * n];
    for (i, row) in p.iter().enumerate() {
        for &(j, v) in row {
            dense[i * n + j] = v;
        }
    }
    let kernel = |i: usize, j: usize| {
        let (dx, dy) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
        1.0 / (1.0 + dx * dx + dy * dy)
    };
    let z: f64 = (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| kernel(i, j))
        .sum();
    let mut g = vec![0.0; 2 * n];
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i) {
            let w = kernel(i, j);
            let f = 4.0 * (dense[i * n + j] - w / z) * w;
            g[2 * i] += f * (y[2 * i] - y[2 * j]);
            g[2 * i + 1] += f * (y[2 * i + 1] - y[2 * j + 1]);
        }
    }
    g
}

fn points(n: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut r = rng(seed);
    (0..n * d).map(|_| r.gen_range(-1.0..1.0)).collect()
}

#[test]
fn affinities_are_symmetric_sum_to_one_and_have_the_perplexity() {
    let (n, d, perp) = (60, 5, 10.0);
    let x = points(n, d, 1);
    let p = affinities(&x, n, d, perp);
    let total: f64 = p.iter().flatten().map(|e| e.1).sum();
    assert!((total - 1.0).abs() < 1e-12, "sum {total}");
    for (i, row) in p.iter().enumerate() {
        for &(j, v) in row {
            let back = p[j].iter().find(|e| e.0 == i).map(|e| e.1);
            assert_eq!(back, Some(v), "p[{i}][{j}] is symmetric");
            assert!(j != i && v > 0.0);
        }
    }
}

#[test]
fn barnes_hut_gradient_equals_the_exact_one_at_theta_zero_and_is_close_at_half() {
    for seed in 0..3 {
        let (n, d) = (50, 4);
        let x = points(n, d, 10 + seed);
        let p = affinities(&x, n, d, 8.0);
        let mut y = points(n, 2, 20 + seed);
        // Two coincident points: the tree keeps them in one leaf.
        y[2] = y[0];
        y[3] = y[1];
        let exact = exact_gradient(&p, &y, n);
        let bh0 = gradient(&p, &y, n, 0.0, 1.0);
        let err0 = common::rel_l2(&bh0, &exact, 1e-300);
        assert!(err0 < 1e-12, "theta 0: relative error {err0:.2e}");
        let bh = gradient(&p, &y, n, 0.5, 1.0);
        let err = common::rel_l2(&bh, &exact, 1e-300);
        assert!(err < 0.05, "theta 0.5: relative error {err:.2e}");
        assert!(err > 0.0, "theta 0.5 approximates");
    }
}

#[test]
fn separated_clusters_stay_separated_and_the_seed_decides_the_result() {
    // Three clusters of 30 points in 8 dimensions, 20 apart, with unit noise.
    let (k, m, d) = (3, 30, 8);
    let n = k * m;
    let mut r = rng(5);
    let x: Vec<f64> = (0..n)
        .flat_map(|i| (0..d).map(move |c| (i, c)))
        .map(|(i, c)| if c == i / m { 20.0 } else { 0.0 } + r.gen_range(-1.0..1.0))
        .collect();
    let cfg = TsneConfig {
        perplexity: 10.0,
        iterations: 500,
        ..Default::default()
    };
    let y = tsne(&x, n, d, &cfg).unwrap();
    // Every point's nearest embedded neighbour is of its own cluster.
    for i in 0..n {
        let nearest = (0..n)
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                let da = (y[2 * i] - y[2 * a]).powi(2) + (y[2 * i + 1] - y[2 * a + 1]).powi(2);
                let db = (y[2 * i] - y[2 * b]).powi(2) + (y[2 * i + 1] - y[2 * b + 1]).powi(2);
                da.total_cmp(&db)
            })
            .unwrap();
        assert_eq!(nearest / m, i / m, "point {i}");
    }
    assert_eq!(
        y,
        tsne(&x, n, d, &cfg).unwrap(),
        "the same seed, the same result"
    );
    let other = tsne(
        &x,
        n,
        d,
        &TsneConfig {
            seed: 1,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert_ne!(y, other, "another seed, another start");
}

#[test]
fn degenerate_inputs_are_handled_or_refused() {
    let cfg = TsneConfig::default();
    assert_eq!(tsne(&[], 0, 3, &cfg).unwrap(), Vec::<f64>::new());
    assert_eq!(tsne(&[1.0, 2.0], 1, 2, &cfg).unwrap(), vec![0.0, 0.0]);
    let two = tsne(&[0.0, 1.0], 2, 1, &cfg).unwrap();
    assert!(two.iter().all(|v| v.is_finite()));
    assert!(tsne(&[1.0, 2.0, 3.0], 2, 2, &cfg).is_err());
    assert!(tsne(&[f64::NAN, 0.0], 2, 1, &cfg).is_err());
    let bad = TsneConfig {
        perplexity: 0.0,
        ..Default::default()
    };
    assert!(tsne(&[0.0, 1.0], 2, 1, &bad).is_err());
}

#[test]
fn embed_writes_node_and_graph_embeddings_and_a_picture() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("emb.safetensors");
    let svg = dir.path().join("pics/tsne.svg");
    let stdout = cli_ok(&[
        "embed",
        "--layer",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
        "--perplexity",
        "10",
        "--iterations",
        "300",
    ]);
    assert!(stdout.contains("conv block 1"), "{stdout}");
    let f = ReadBack::open(&out).unwrap();
    let nodes = f.shape("node_embedding").unwrap().unwrap();
    let graphs = f.shape("graph_embedding").unwrap().unwrap();
    assert_eq!(graphs[0], 1000, "the built-in data's graphs");
    assert_eq!(nodes[1], graphs[1]);
    assert_eq!(f.shape("tsne").unwrap().unwrap(), vec![1000, 2]);
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let dots = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    assert!(dots >= 1000, "{dots} circles");

    // The graph embedding is the model's pool (add) of the node embeddings.
    let ne = f.f64s("node_embedding").unwrap().unwrap();
    let ge = f.f64s("graph_embedding").unwrap().unwrap();
    let data = graph_ig::synthetic::generate(&Default::default()).unwrap();
    let ptr = data.batch.node_ptr();
    let d = nodes[1];
    for g in [0, 500, 999] {
        for c in 0..d {
            let s: f64 = (ptr[g]..ptr[g + 1]).map(|i| ne[i * d + c]).sum();
            assert!(
                (s - ge[g * d + c]).abs() <= 1e-4 * (1.0 + s.abs()),
                "graph {g}"
            );
        }
    }
    cli_fails(
        &["embed", "--layer", "9", "--out", out.to_str().unwrap()],
        &["--layer 9", "conv blocks 1..="],
    );
}
