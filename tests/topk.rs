//! Top-k selection against a full sort, the per-graph helpers of `AttrFile`,
//! the label-map parser, and `graph-ig top` end to end on a small file made
//! by `graph-ig explain` on the built-in data.

mod common;

use common::{cli_fails, cli_ok};
use graph_ig::labels::{LabelMap, LabeledGraphs, NodeLabels};
use graph_ig::output::ReadBack;
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::topk::{top_k, AttrFile, Ranking};
use graph_ig::Error;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// ---------------------------------------------------------------- top_k

/// The reference: a full stable sort (ties keep index order), NaN last.
fn reference(scores: &[f64], k: usize, order: Ranking) -> Vec<(usize, f64)> {
    let key = |v: f64| match order {
        Ranking::Abs => v.abs(),
        Ranking::Signed => v,
    };
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (key(scores[a]), key(scores[b]));
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => y.partial_cmp(&x).unwrap(),
        }
    });
    idx.into_iter().take(k).map(|i| (i, scores[i])).collect()
}

fn same(a: &[(usize, f64)], b: &[(usize, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
}

#[test]
fn top_k_matches_a_full_sort_on_random_data() {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut sizes: Vec<usize> = (0..40).collect();
    sizes.extend([63, 64, 65, 100, 257, 1000, 4096]);
    let mut cases = 0;
    for &n in &sizes {
        for kind in 0..4 {
            let scores: Vec<f64> = (0..n)
                .map(|_| match kind {
                    // Continuous values.
                    0 => rng.gen_range(-1.0..1.0),
                    // Many ties, both signs (|x| ties between x and -x too).
                    1 => rng.gen_range(-3i32..=3) as f64,
                    // NaNs, infinities and signed zeros mixed in.
                    2 => match rng.gen_range(0..8) {
                        0 => f64::NAN,
                        1 => f64::INFINITY,
                        2 => f64::NEG_INFINITY,
                        3 => 0.0,
                        4 => -0.0,
                        _ => rng.gen_range(-1.0..1.0),
                    },
                    // All equal.
                    _ => 0.5,
                })
                .collect();
            let mut ks = vec![0, 1, 2, 3, n / 2, n.saturating_sub(1), n, n + 1, n + 7];
            ks.dedup();
            for k in ks {
                for order in [Ranking::Abs, Ranking::Signed] {
                    let got = top_k(&scores, k, order);
                    let want = reference(&scores, k, order);
                    assert!(
                        same(&got, &want),
                        "n {n} kind {kind} k {k} {order:?}\n got {got:?}\nwant {want:?}"
                    );
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 1000);
}

#[test]
fn top_k_small_cases() {
    let s = [0.1, -0.7, 0.3, f64::NAN, 0.3, -0.3];
    assert_eq!(
        top_k(&s, 3, Ranking::Abs),
        vec![(1, -0.7), (2, 0.3), (4, 0.3)]
    );
    assert_eq!(top_k(&s, 2, Ranking::Signed), vec![(2, 0.3), (4, 0.3)]);
    // NaN ranks last in both orders; k beyond n gives everything, ranked.
    let all = top_k(&s, 100, Ranking::Signed);
    assert_eq!(all.len(), 6);
    assert_eq!(all[5].0, 3);
    assert_eq!(top_k(&s, 6, Ranking::Abs)[5].0, 3);
    assert!(top_k(&s, 0, Ranking::Abs).is_empty());
    assert!(top_k(&[], 3, Ranking::Abs).is_empty());
    // Signed zeros tie, and the lower index wins.
    assert_eq!(top_k(&[-0.0, 0.0], 1, Ranking::Signed)[0].0, 0);
    assert_eq!("abs".parse::<Ranking>().unwrap(), Ranking::Abs);
    assert_eq!("value".parse::<Ranking>().unwrap(), Ranking::Signed);
    assert_eq!("signed".parse::<Ranking>().unwrap(), Ranking::Signed);
    assert_eq!(Ranking::Signed.to_string(), "signed");
    assert_eq!(Ranking::Abs.key(-2.0), 2.0);
    assert_eq!(Ranking::Signed.key(-2.0), -2.0);
    assert!("largest".parse::<Ranking>().is_err());
}

// ---------------------------------------------------------------- label maps

const MUTAG_README: &str = "Node labels:\t\t[chem]\n\nEdge labels:\t\t[valence]\n\n\
Node labels were converted to integer values using this map:\n\nComponent 0:\n\
\t0\tC\n\t1\tO\n\t2\tCl\n\t3\tH\n\t4\tN\n\t5\tF\n\t6\tBr\n\t7\tS\n\t8\tP\n\t9\tI\n\
\t10\tNa\n\t11\tK\n\t12\tLi\n\t13\tCa\n\n\n\n\
Edge labels were converted to integer values using this map:\n\nComponent 0:\n\
\t0\t1\n\t1\t2\n\t2\t3\n\n\n\n\
Class labels were converted to integer values using this map:\n\n\
\t0\tmutagen\n\t1\tnonmutagen\n\n\n\
#############################\nMutagenicity_edge_gt.txt\n\
0: \t\tEdges outside motifs.\n1: \t\tEdges inside motifs (NO2 and NH2)\n";

fn check_mutagenicity_map(m: &LabelMap) {
    assert_eq!(m.node.len(), 14);
    assert_eq!(m.node_name(0), Some("C"));
    assert_eq!(m.node_name(4), Some("N"));
    assert_eq!(m.node_name(13), Some("Ca"));
    assert_eq!(m.node_name(14), None);
    assert_eq!(m.edge.len(), 3);
    assert_eq!(m.edge_kind.as_deref(), Some("valence"));
    assert_eq!(m.bond_order(0), Some(1));
    assert_eq!(m.bond_name(1).as_deref(), Some("double"));
    assert_eq!(m.bond_name(2).as_deref(), Some("triple"));
    assert_eq!(m.class_name(0), Some("mutagen"));
    assert_eq!(m.class_name(1), Some("nonmutagen"));
}

#[test]
fn label_map_reads_the_tu_format() {
    let m = LabelMap::parse(MUTAG_README, Path::new("x_label_readme.txt")).unwrap();
    check_mutagenicity_map(&m);
    // Windows line ends and spaces instead of tabs.
    let crlf = MUTAG_README.replace('\n', "\r\n").replace('\t', "  ");
    assert_eq!(
        LabelMap::parse(&crlf, Path::new("x")).unwrap(),
        m,
        "CRLF and spaces"
    );
    // The real file, where this machine has it.
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/Mutagenicity/raw");
    if real.exists() {
        let m = LabelMap::read_tu(&real, "Mutagenicity").unwrap().unwrap();
        check_mutagenicity_map(&m);
    }
}

#[test]
fn label_map_errors_name_file_and_line() {
    let path = Path::new("bad_label_readme.txt");
    for (text, line, part) in [
        (
            "Node labels were converted to integer values using this map:\n\nComponent 0:\n\t0\tC\n\tx\tO\n",
            5,
            "expected '<integer label> <name>'",
        ),
        (
            "Node labels were converted to integer values using this map:\n\t0\tC\n\t1\n",
            3,
            "label 1 has no name",
        ),
        (
            "Edge labels were converted to integer values using this map:\n\t0\t1\n\t0\t2\n",
            3,
            "given twice",
        ),
        (
            "Node labels were converted to integer values using this map:\nComponent x:\n",
            2,
            "component number",
        ),
    ] {
        match LabelMap::parse(text, path) {
            Err(Error::Parse {
                path: p,
                line: l,
                message,
            }) => {
                assert_eq!(p, path);
                assert_eq!(l, line, "{message}");
                assert!(message.contains(part), "{message:?} should contain {part:?}");
                let shown = Error::Parse {
                    path: p,
                    line: l,
                    message,
                }
                .to_string();
                assert!(shown.starts_with(&format!("bad_label_readme.txt:{line}:")));
            }
            other => panic!("{text:?}: expected a parse error, got {other:?}"),
        }
    }
    // A missing file is not an error.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(LabelMap::read_tu(dir.path(), "Nothing").unwrap(), None);
    assert_eq!(NodeLabels::read_tu(dir.path(), "Nothing").unwrap(), None);
    // Free text outside the maps is fine.
    let m = LabelMap::parse("Some notes.\n  indented notes\n", path).unwrap();
    assert!(m.node.is_empty());
}

#[test]
fn node_labels_and_the_synth_readme() {
    let d = generate(&SyntheticConfig {
        num_graphs: 12,
        seed: 3,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    d.write_tu(dir.path(), "S").unwrap();
    let raw = NodeLabels::read_tu(dir.path(), "S").unwrap().unwrap();
    let want: Vec<i64> = d.node_labels.iter().map(|&l| l as i64).collect();
    assert_eq!(raw.0, want);
    assert_eq!(NodeLabels::from_one_hot(&d.batch, 0).0, want);
    // The readme graph-ig synth writes is understood too.
    let m = LabelMap::read_tu(dir.path(), "S").unwrap().unwrap();
    assert_eq!(m.node, LabelMap::synthetic().node);
    assert_eq!(m.bond_name(1).as_deref(), Some("double"));
    let lg = LabeledGraphs::load_tu(dir.path(), "S").unwrap();
    assert_eq!(lg.batch.num_graphs(), 12);
    let n = d.node_labels.iter().position(|&l| l == 4).unwrap();
    assert_eq!(lg.atom_symbol(n), "N");
}

// ---------------------------------------------------------------- files

struct Fixture {
    /// IG over edges, built-in data, graphs 0..5.
    edges: PathBuf,
    /// IG over edges and nodes, graphs 2..6.
    both: PathBuf,
    /// Node attributions only, graphs 0..3.
    nodes: PathBuf,
    /// The built-in data as TU files (name Synthetic).
    data: PathBuf,
    /// Another synthetic dataset (other seed) as TU files (name Synthetic).
    other: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("topk-tests");
        std::fs::create_dir_all(&root).unwrap();
        let f = Fixture {
            edges: root.join("edges.safetensors"),
            both: root.join("both.safetensors"),
            nodes: root.join("nodes.safetensors"),
            data: root.join("data"),
            other: root.join("other"),
        };
        for (out, graphs, wrt) in [
            (&f.edges, "0..5", "edges"),
            (&f.both, "2..6", "both"),
            (&f.nodes, "0..3", "nodes"),
        ] {
            cli_ok(&[
                "explain",
                "--graphs",
                graphs,
                "--wrt",
                wrt,
                "--quiet",
                "--device",
                "cpu",
                "--out",
                out.to_str().unwrap(),
            ]);
        }
        generate(&SyntheticConfig::default())
            .unwrap()
            .write_tu(&f.data, "Synthetic")
            .unwrap();
        generate(&SyntheticConfig {
            num_graphs: 8,
            seed: 99,
        })
        .unwrap()
        .write_tu(&f.other, "Synthetic")
        .unwrap();
        f
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn attr_file_helpers_agree_with_the_tensors() {
    let f = fixture();
    let file = AttrFile::open(&f.edges).unwrap();
    assert_eq!(file.num_graphs(), 5);
    assert_eq!(file.graph_indices(), &[0, 1, 2, 3, 4]);
    assert_eq!(file.method(), Some("ig"));
    let rb = ReadBack::open(&f.edges).unwrap();
    let ea = rb.f64s("edge_attr").unwrap().unwrap();
    let ep = rb.i64s("edge_ptr").unwrap().unwrap();
    for g in 0..5 {
        let r = ep[g] as usize..ep[g + 1] as usize;
        let top = file.top_edges(g, 4, Ranking::Abs).unwrap();
        let want = top_k(&ea[r.clone()], 4, Ranking::Abs);
        assert_eq!(top.len(), 4);
        for (t, w) in top.iter().zip(&want) {
            assert_eq!((t.position, t.score), *w);
        }
        // Bonds: both directions summed; the total is the same.
        let bonds = file.bonds(g).unwrap();
        let total: f64 = bonds.iter().map(|b| b.2).sum();
        let direct: f64 = ea[r].iter().sum();
        assert!((total - direct).abs() < 1e-4 * (1.0 + direct.abs()));
        let tb = file.top_bonds(g, 100, Ranking::Signed).unwrap();
        assert_eq!(tb.len(), bonds.len());
        assert!(tb.windows(2).all(|w| w[0].score >= w[1].score));
    }
    // Errors: out of range, k = 0, missing tensors.
    let e = file.top_edges(5, 3, Ranking::Abs).unwrap_err().to_string();
    assert!(e.contains("graph 5 is outside the 5 graphs"), "{e}");
    let e = file.top_edges(0, 0, Ranking::Abs).unwrap_err().to_string();
    assert!(e.contains("k must be at least 1"), "{e}");
    let e = file.top_nodes(0, 3, Ranking::Abs).unwrap_err().to_string();
    assert!(e.contains("node_attr") && e.contains("--wrt nodes"), "{e}");
    let nodes = AttrFile::open(&f.nodes).unwrap();
    let e = nodes.top_edges(0, 3, Ranking::Abs).unwrap_err().to_string();
    assert!(e.contains("edge_attr"), "{e}");
    // Not an output file at all: a model.
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/synthetic_graphconv.safetensors");
    if model.exists() {
        let e = AttrFile::open(&model).unwrap_err().to_string();
        assert!(e.contains("has no tensor"), "{e}");
    }
}

#[test]
fn node_scores_sum_feature_attributions() {
    let f = fixture();
    let file = AttrFile::open(&f.both).unwrap();
    let rb = ReadBack::open(&f.both).unwrap();
    let na = rb.f64s("node_attr").unwrap().unwrap();
    let np = rb.i64s("node_ptr").unwrap().unwrap();
    let width = na.len() / *np.last().unwrap() as usize;
    for (g, &start) in np.iter().enumerate().take(file.num_graphs()) {
        let scores = file.node_scores(g).unwrap();
        let n0 = start as usize;
        for (i, s) in scores.iter().enumerate() {
            let want: f64 = na[(n0 + i) * width..(n0 + i + 1) * width].iter().sum();
            assert_eq!(*s, want);
        }
        let top = file.top_nodes(g, 3, Ranking::Abs).unwrap();
        let want = top_k(&scores, 3, Ranking::Abs);
        assert_eq!(
            top.iter().map(|t| (t.node, t.score)).collect::<Vec<_>>(),
            want
        );
    }
}

/// Parses `graph-ig top` output: per graph, the header and the ranked lines.
fn blocks(out: &str) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = Vec::new();
    for line in out.lines() {
        if line.starts_with("graph ") {
            v.push((line.to_string(), Vec::new()));
        } else if let Some(b) = v.last_mut() {
            b.1.push(line.trim().to_string());
        }
    }
    v
}

fn score_of(line: &str) -> f64 {
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[test]
fn cli_top_prints_the_top_edges_per_graph() {
    let f = fixture();
    let out = cli_ok(&["top", "--attr", s(&f.edges), "--k", "3"]);
    let b = blocks(&out);
    assert_eq!(b.len(), 5, "{out}");
    let file = AttrFile::open(&f.edges).unwrap();
    for (g, (head, lines)) in b.iter().enumerate() {
        assert!(head.starts_with(&format!("graph {g} (target ")), "{head}");
        assert!(head.contains("top 3 edges by |attribution|"), "{head}");
        assert_eq!(lines.len(), 3, "{out}");
        let want = file.top_edges(g, 3, Ranking::Abs).unwrap();
        for (r, (line, w)) in lines.iter().zip(&want).enumerate() {
            assert!(
                line.starts_with(&format!("{}. {}→{} ", r + 1, w.src, w.dst)),
                "{line:?} vs {w:?}"
            );
            assert!((score_of(line) - w.score).abs() <= 1e-4 * (1.0 + w.score.abs()));
        }
    }
    // --graphs selects dataset graphs; --by value ranks by signed value.
    let out = cli_ok(&[
        "top",
        "--attr",
        s(&f.edges),
        "--k",
        "4",
        "--graphs",
        "1..3",
        "--by",
        "value",
    ]);
    let b = blocks(&out);
    assert_eq!(b.len(), 2);
    assert!(b[0].0.starts_with("graph 1 ") && b[1].0.starts_with("graph 2 "));
    for (_, lines) in &b {
        let sc: Vec<f64> = lines.iter().map(|l| score_of(l)).collect();
        assert!(sc.windows(2).all(|w| w[0] >= w[1]), "{sc:?}");
    }
    // --by signed is the same ranking (graph-ig eval's spelling).
    let signed = cli_ok(&[
        "top",
        "--attr",
        s(&f.edges),
        "--k",
        "4",
        "--graphs",
        "1..3",
        "--by",
        "signed",
    ]);
    assert_eq!(signed, out);
}

/// A node-level file (`node_score`, Grad-CAM): `--nodes` ranks its scores, and
/// the whole-file view holds them.
#[test]
fn cli_top_ranks_node_scores() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("topk-tests-gc.safetensors");
    cli_ok(&[
        "explain",
        "--graphs",
        "0..3",
        "--method",
        "grad-cam",
        "--quiet",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    let file = AttrFile::open(&out).unwrap();
    let rb = ReadBack::open(&out).unwrap();
    let ns = rb.f64s("node_score").unwrap().unwrap();
    let t = file.tensors();
    assert_eq!(t.node_score, Some(ns.as_slice()));
    assert!(t.edge_attr.is_none());
    assert_eq!(t.node_ptr.len(), 4);
    assert_eq!(t.src.len(), *t.edge_ptr.last().unwrap());
    for g in 0..3 {
        let r = t.node_ptr[g]..t.node_ptr[g + 1];
        assert_eq!(file.node_score(g).unwrap(), &ns[r.clone()]);
        assert_eq!(file.node_scores(g).unwrap(), ns[r].to_vec());
    }
    let text = cli_ok(&["top", "--attr", s(&out), "--nodes", "--k", "2"]);
    let b = blocks(&text);
    assert_eq!(b.len(), 3, "{text}");
    for (g, (head, lines)) in b.iter().enumerate() {
        assert!(head.contains("top 2 nodes"), "{head}");
        let want = file.top_nodes(g, 2, Ranking::Abs).unwrap();
        for (line, w) in lines.iter().zip(&want) {
            assert!((score_of(line) - w.score).abs() <= 1e-4 * (1.0 + w.score.abs()));
        }
    }
    // An edge-level file has no node_score.
    let e = AttrFile::open(&fixture().edges)
        .unwrap()
        .node_score(0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("node_score") && e.contains("grad-cam"), "{e}");
}

#[test]
fn cli_top_names_atoms_and_bonds_with_the_dataset() {
    let f = fixture();
    let file = AttrFile::open(&f.edges).unwrap();
    let out = cli_ok(&[
        "top",
        "--attr",
        s(&f.edges),
        "--k",
        "2",
        "--undirected",
        "--data",
        s(&f.data),
        "--name",
        "Synthetic",
    ]);
    let b = blocks(&out);
    assert_eq!(b.len(), 5);
    let labels = graph_ig::synthetic::generate(&SyntheticConfig::default())
        .unwrap()
        .batch
        .graph_labels()
        .unwrap()
        .to_vec();
    for (g, (head, lines)) in b.iter().enumerate() {
        assert!(head.contains("top 2 bonds"), "{head}");
        assert!(
            head.contains("target ") && head.contains(" = "),
            "class names: {head}"
        );
        // Mutagens (a planted nitro group): the top bond is an N–O bond of it.
        if labels[g] == 0 && file.target(g) == Some(0) {
            let l = &lines[0];
            assert!(
                l.contains("N") && l.contains("O") && l.contains('–'),
                "graph {g}: the top bond should be N–O: {out}"
            );
            assert!(l.contains("(single)") || l.contains("(double)"), "{l}");
        }
    }
    // Node ranking with names.
    let out = cli_ok(&[
        "top",
        "--attr",
        s(&f.both),
        "--k",
        "3",
        "--nodes",
        "--data",
        s(&f.data),
        "--name",
        "Synthetic",
    ]);
    let b = blocks(&out);
    assert_eq!(b.len(), 4);
    assert!(b[0].0.starts_with("graph 2 ") && b[0].0.contains("top 3 nodes"));
    for (_, lines) in &b {
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].chars().any(|c| c.is_ascii_uppercase()),
            "{lines:?}"
        );
    }
}

#[test]
fn cli_top_errors_are_clean() {
    let f = fixture();
    let e = s(&f.edges);
    cli_fails(
        &["top", "--attr", e, "--k", "0"],
        &["--k must be at least 1"],
    );
    cli_fails(
        &["top", "--attr", e, "--graphs", "7..9"],
        &["--graphs 7..9", "dataset graphs 0..5"],
    );
    cli_fails(&["top", "--attr", e, "--graphs", "x"], &["expected A..B"]);
    cli_fails(
        &["top", "--attr", e, "--by", "largest"],
        &["--by", "abs or value"],
    );
    cli_fails(
        &["top", "--attr", e, "--nodes", "--undirected"],
        &["cannot be combined"],
    );
    cli_fails(&["top", "--attr", e, "--nodes"], &["node_attr"]);
    cli_fails(
        &["top", "--attr", s(&f.nodes)],
        &["edge_attr", "--wrt edges"],
    );
    cli_fails(
        &["top", "--attr", e, "--data", s(&f.data)],
        &["--data needs --name"],
    );
    cli_fails(
        &["top", "--attr", "/nonexistent/x.safetensors"],
        &["/nonexistent/x.safetensors"],
    );
    cli_fails(
        &[
            "top",
            "--attr",
            e,
            "--data",
            s(&f.other),
            "--name",
            "Synthetic",
        ],
        &["do not fit", "graph 0 has"],
    );
    cli_fails(
        &[
            "top",
            "--attr",
            e,
            "--data",
            s(&f.data),
            "--name",
            "Missing",
        ],
        &["Missing_node_labels.txt"],
    );
}
