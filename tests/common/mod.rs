//! Helpers shared by the integration tests: random models and graphs, data paths, error measures.
#![allow(dead_code)]

use graph_ig::model::{Conv, GraphConv, Linear, Op};
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
        convs.push((linear(rng, d, w, true), linear(rng, d, w, false)));
        d = w;
    }
    let lin1 = linear(rng, d, hidden, true);
    let lin2 = linear(rng, hidden, classes, true);
    GraphConvNet::tutorial(convs, lin1, lin2, pool).expect("a valid tutorial model")
}

/// The tutorial model's parts: its GraphConvs, `lin1` and `lin2` ([`GraphConvNet::tutorial_parts`]).
pub fn tutorial_parts(m: &GraphConvNet) -> (Vec<&GraphConv>, &Linear, &Linear) {
    let t = m.tutorial_parts().expect("a tutorial-family model");
    (t.convs, t.lin1, t.lin2)
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

/// The environment variables `graph-ig explain` takes a shard from.
pub const SCHEDULER_VARS: [&str; 9] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "JOB_COMPLETION_INDEX",
    "SLURM_JOB_ID",
];

/// Runs the `graph-ig` binary with `args` (without the scheduler's variables).
pub fn run_cli(args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_graph-ig"));
    // A test run inside a SLURM job or Kubernetes Indexed Job must not shard its runs.
    for k in SCHEDULER_VARS {
        c.env_remove(k);
    }
    c.args(args).output().expect("the graph-ig binary runs")
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

/// The conv families of the model zoo, for tests that cover every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zoo {
    /// GraphConv with mean aggregation, then max.
    Graph,
    /// GCNConv (plain, then `improved`).
    Gcn,
    /// GINConv with a Linear–BatchNorm–ReLU–Linear MLP.
    Gin,
    /// SAGEConv (mean, root weight), then with `normalize`.
    Sage,
    /// GATConv with 3 concatenated heads, then 2 averaged heads.
    Gat,
    /// One of each, mixed.
    Mixed,
}

impl Zoo {
    /// Every family.
    pub const ALL: [Zoo; 6] = [
        Zoo::Graph,
        Zoo::Gcn,
        Zoo::Gin,
        Zoo::Sage,
        Zoo::Gat,
        Zoo::Mixed,
    ];
}

fn rand_vec(rng: &mut ChaCha8Rng, n: usize, s: f64) -> Vec<f64> {
    (0..n).map(|_| rng.gen_range(-s..s)).collect()
}

/// One random conv of `family` from width `d` (its output width is returned too).
pub fn random_conv(
    rng: &mut ChaCha8Rng,
    family: Zoo,
    d: usize,
    k: usize,
    second: bool,
) -> (graph_ig::model::Conv, usize) {
    use graph_ig::model::{Aggr, BatchNorm, GatConv, GcnConv, GinConv, SageConv};
    match family {
        Zoo::Graph => (
            Conv::Graph(GraphConv {
                aggr: if second { Aggr::Max } else { Aggr::Mean },
                lin_rel: linear(rng, d, k, true),
                lin_root: linear(rng, d, k, false),
            }),
            k,
        ),
        Zoo::Gcn => (
            Conv::Gcn(GcnConv {
                lin: linear(rng, d, k, false),
                bias: rand_vec(rng, k, 0.3),
                improved: second,
                add_self_loops: true,
                normalize: true,
            }),
            k,
        ),
        Zoo::Gin => {
            let bn = BatchNorm {
                scale: (0..k).map(|_| rng.gen_range(0.5..1.5)).collect(),
                shift: rand_vec(rng, k, 0.3),
            };
            let nn = vec![
                Op::Linear {
                    prefix: "nn.0".into(),
                    lin: linear(rng, d, k, true),
                },
                Op::BatchNorm {
                    prefix: "nn.1".into(),
                    bn,
                },
                Op::Act(graph_ig::model::Act::Relu),
                Op::Linear {
                    prefix: "nn.3".into(),
                    lin: linear(rng, k, k, true),
                },
            ];
            (
                Conv::Gin(GinConv {
                    eps: if second { 0.3 } else { 0.0 },
                    nn,
                }),
                k,
            )
        }
        Zoo::Sage => (
            Conv::Sage(SageConv {
                aggr: Aggr::Mean,
                lin_l: linear(rng, d, k, true),
                lin_r: Some(linear(rng, d, k, false)),
                normalize: second,
            }),
            k,
        ),
        Zoo::Gat => {
            let (heads, concat) = if second { (2, false) } else { (3, true) };
            let c = if concat { k.div_ceil(heads) } else { k };
            let out = if concat { heads * c } else { c };
            (
                Conv::Gat(GatConv {
                    lin: linear(rng, d, heads * c, false),
                    att_src: rand_vec(rng, heads * c, 0.6),
                    att_dst: rand_vec(rng, heads * c, 0.6),
                    bias: rand_vec(rng, out, 0.3),
                    heads,
                    channels: c,
                    concat,
                    negative_slope: 0.2,
                    add_self_loops: true,
                }),
                out,
            )
        }
        Zoo::Mixed => unreachable!("a mixed stack draws its convs from the other families"),
    }
}

/// A random graph-classification model of `family`: two convs with activations,
/// `pool`, a Linear–ReLU–Linear head and `output`.
pub fn random_zoo_model(
    rng: &mut ChaCha8Rng,
    family: Zoo,
    f: usize,
    classes: usize,
    pool: Pool,
    output: graph_ig::model::Output,
) -> GraphConvNet {
    use graph_ig::model::{Act, Readout, Task};
    let families: Vec<Zoo> = match family {
        Zoo::Mixed => vec![Zoo::Gcn, Zoo::Gat, Zoo::Sage, Zoo::Gin, Zoo::Graph],
        z => vec![z, z],
    };
    let acts = [Act::Relu, Act::Elu(1.0), Act::LeakyRelu(0.1), Act::Tanh];
    let mut body = Vec::new();
    let mut d = f;
    for (i, fam) in families.iter().enumerate() {
        let (conv, out) = random_conv(rng, *fam, d, 6 + i, i % 2 == 1);
        body.push(Op::Conv {
            prefix: format!("conv{}", i + 1),
            conv,
        });
        body.push(Op::Act(acts[(i + families.len()) % acts.len()]));
        d = out;
    }
    let head = vec![
        Op::Linear {
            prefix: "lin1".into(),
            lin: linear(rng, d, 7, true),
        },
        Op::Act(Act::Relu),
        Op::Linear {
            prefix: "lin2".into(),
            lin: linear(rng, 7, classes, true),
        },
    ];
    GraphConvNet::new(Task::Graph, body, Readout::Pool(pool), head, output)
        .expect("a valid zoo model")
}

/// A random node-classification model of `family`: convs with activations (three for
/// the mixed stack, else two), then either a Linear (`linear_head`) or nothing, so that
/// the last conv gives the logits, and `output`.
pub fn random_node_model(
    rng: &mut ChaCha8Rng,
    family: Zoo,
    f: usize,
    classes: usize,
    linear_head: bool,
    output: graph_ig::model::Output,
) -> GraphConvNet {
    use graph_ig::model::{Act, Readout, Task};
    let families: Vec<Zoo> = match family {
        Zoo::Mixed => vec![Zoo::Gcn, Zoo::Gat, Zoo::Sage],
        z => vec![z, z],
    };
    let mut body = Vec::new();
    let mut d = f;
    let last = families.len() - 1;
    for (i, fam) in families.iter().enumerate() {
        let width = if i == last && !linear_head {
            classes
        } else {
            5 + i
        };
        let (conv, mut out) = random_conv(rng, *fam, d, width, i % 2 == 1);
        if i == last && !linear_head && out != classes {
            // A GAT's concatenated heads round the width up: retry with averaged heads.
            let (c, o) = random_conv(rng, *fam, d, width, true);
            body.push(Op::Conv {
                prefix: format!("conv{}", i + 1),
                conv: c,
            });
            out = o;
        } else {
            body.push(Op::Conv {
                prefix: format!("conv{}", i + 1),
                conv,
            });
        }
        d = out;
        if i < last || linear_head {
            body.push(Op::Act(if i % 2 == 0 { Act::Relu } else { Act::Elu(1.0) }));
        }
    }
    if linear_head {
        body.push(Op::Dropout);
        body.push(Op::Linear {
            prefix: "lin".into(),
            lin: linear(rng, d, classes, true),
        });
    }
    GraphConvNet::new(Task::Node, body, Readout::Node, Vec::new(), output)
        .expect("a valid node model")
}

/// A random graph for node tasks: `n` nodes, random edges in both directions, a hub,
/// isolated nodes, self-loops and a duplicate edge.
pub fn node_task_graph(rng: &mut ChaCha8Rng, n: usize, f: usize, edge_weights: bool) -> GraphBatch {
    let x: Vec<f32> = (0..n * f).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let mut edges = Vec::new();
    // Nodes n-3.. stay isolated.
    let live = n - 3;
    for _ in 0..2 * n {
        let (a, b) = (rng.gen_range(0..live), rng.gen_range(0..live));
        edges.push((a, b));
        edges.push((b, a));
    }
    // A hub: node 0 linked with a third of the nodes.
    for v in (1..live).step_by(3) {
        edges.push((v, 0));
        edges.push((0, v));
    }
    edges.push((5, 5));
    edges.push((7, 7));
    edges.push((2, 3));
    let mut b = GraphBatch::builder(f).graph(&x, &edges).build().unwrap();
    if edge_weights {
        let w: Vec<f32> = (0..b.num_edges())
            .map(|_| rng.gen_range(0.2f32..2.0))
            .collect();
        let mut p = graph_ig::GraphParts {
            num_features: f,
            x: b.features().to_vec(),
            src: b.src().iter().map(|&v| v as usize).collect(),
            dst: b.dst().iter().map(|&v| v as usize).collect(),
            node_ptr: b.node_ptr().to_vec(),
            edge_ptr: b.edge_ptr().to_vec(),
            ..Default::default()
        };
        p.edge_weight = Some(w);
        b = GraphBatch::from_parts(p).unwrap();
    }
    b
}

/// An SVG rasterised by resvg (panics when it does not parse).
pub fn rasterise(svg: &str) -> resvg::tiny_skia::Pixmap {
    let tree = resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default())
        .expect("resvg parses the SVG");
    let size = tree.size().to_int_size();
    let mut pm = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pm.as_mut(),
    );
    pm
}
