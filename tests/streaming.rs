//! The streaming sources against the in-memory readers: for every range,
//! `TuSource::load(r)` is `load_tu(..).subset(r)` and `PygSource::load(r)` is
//! `pyg::load(..).batch.subset(r)`, on Mutagenicity (TU and PyG files) and on datasets
//! written here with edge cases (single-node graphs, graphs without edges, isolated
//! nodes, self-loops, duplicate edges, whole segments without edges, CRLF, no final
//! newline, node attributes, several label columns, interleaved PyG edges). Files changed
//! or truncated after the first pass give errors naming them. The streaming `synth`
//! writer gives the bytes of the in-memory one.

mod common;

use common::{mutagenicity_dir, repo_root, rng};
use graph_ig::graph::pyg;
use graph_ig::graph::pyg_stream::PygSource;
use graph_ig::graph::source::GraphSource;
use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::graph::tu_stream::TuSource;
use graph_ig::synthetic::{generate, write_tu_streaming, SyntheticConfig};
use graph_ig::{Error, GraphBatch};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Ranges worth trying on `g` graphs: the whole, the ends, around the checkpoints (every
/// 256 graphs), and random ones.
fn ranges(rng: &mut ChaCha8Rng, g: usize, random: usize) -> Vec<Range<usize>> {
    let mut out = vec![0..g, 0..1, g - 1..g];
    for c in [255usize, 256, 257, 511, 512, 513] {
        if c < g {
            out.push(c..c + 1);
            out.push(c.saturating_sub(3)..(c + 2).min(g));
            out.push(0..c + 1);
            out.push(c..g);
        }
    }
    for _ in 0..random {
        let a = rng.gen_range(0..g);
        let most = if rng.gen_bool(0.5) { 8 } else { 700 };
        let len = rng.gen_range(1..=(g - a).min(most));
        out.push(a..a + len);
    }
    out
}

/// Checks `src` against the whole batch `whole`: sizes, and every range of `ranges`.
fn check_source(src: &dyn GraphSource, whole: &GraphBatch, ranges: &[Range<usize>]) {
    let g = whole.num_graphs();
    assert_eq!(src.num_graphs(), g);
    assert_eq!(src.num_features(), whole.num_features());
    let counts = |p: &[usize]| {
        p.windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .collect::<Vec<_>>()
    };
    assert_eq!(src.node_counts(), counts(whole.node_ptr()).as_slice());
    assert_eq!(src.edge_counts(), counts(whole.edge_ptr()).as_slice());
    assert_eq!(src.has_edge_gt(), whole.edge_gt().is_some());
    let fp = src.fingerprint();
    assert!(
        fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()),
        "{fp}"
    );
    for r in ranges {
        let want = whole.subset(r.clone()).expect("a valid range");
        let got = src
            .load(r.clone())
            .unwrap_or_else(|e| panic!("range {r:?}: {e}"));
        assert_eq!(got, want, "range {r:?}");
    }
    // Empty ranges and ranges past the end fail, as subset does.
    #[allow(clippy::reversed_empty_ranges)]
    for r in [0..0, g..g, 3..2, 0..g + 1, g..g + 1] {
        let (a, b) = (src.load(r.clone()), whole.subset(r.clone()));
        match (a, b) {
            (Err(a @ Error::Config(_)), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, _) => panic!("range {r:?}: {a:?}"),
        }
    }
}

// ---------------------------------------------------------------- TU

#[test]
fn tu_source_equals_load_tu_on_mutagenicity() {
    let Some(dir) = mutagenicity_dir() else {
        return;
    };
    let opts = TuOptions::default();
    let whole = load_tu(&dir, "Mutagenicity", 14, &opts).unwrap();
    let src = TuSource::open(&dir, "Mutagenicity", 14, &opts).unwrap();
    assert_eq!(src.num_nodes(), whole.num_nodes() as u64);
    assert_eq!(src.num_edges(), whole.num_edges() as u64);
    check_source(&src, &whole, &ranges(&mut rng(1), whole.num_graphs(), 60));
    // The fingerprint is a function of the files.
    let again = TuSource::open(&dir, "Mutagenicity", 14, &opts).unwrap();
    assert_eq!(again.fingerprint(), src.fingerprint());
}

/// A TU dataset with edge cases, file suffix → contents. `cols` label columns,
/// `attrs` attribute values per node. Returns the files and the one-hot width of the labels.
fn edge_case_files(
    rng: &mut ChaCha8Rng,
    cols: usize,
    attrs: usize,
) -> (BTreeMap<String, String>, usize) {
    let (mut a, mut gi, mut nl, mut na) =
        (String::new(), String::new(), String::new(), String::new());
    let (mut el, mut gt, mut gl) = (String::new(), String::new(), String::new());
    let graphs = 700;
    let mut n0 = 0usize;
    let (lo, hi) = (-2i64, 5i64); // the label range of column 0; column 1 is 0..=2
    for g in 0..graphs {
        // Graph sizes: single nodes at the ends and now and then, no edges in a whole
        // segment (graphs 300..560), isolated nodes, self-loops and duplicates elsewhere.
        let n = if g == 0 || g == graphs - 1 || g % 97 == 5 {
            1
        } else {
            rng.gen_range(2..12)
        };
        let mut edges: Vec<(usize, usize)> = Vec::new();
        if !(300..560).contains(&g) && g != 0 && g != graphs - 1 && g % 13 != 0 {
            for _ in 0..rng.gen_range(0..3 * n) {
                // The last node stays isolated.
                let (s, d) = (
                    rng.gen_range(0..n.max(2) - 1),
                    rng.gen_range(0..n.max(2) - 1),
                );
                edges.push((s.min(n - 1), d.min(n - 1)));
            }
            if n > 1 {
                edges.push((0, 0)); // a self-loop
                edges.push((0, n - 2)); // maybe a duplicate
            }
        }
        for i in 0..n {
            gi.push_str(&format!("{}\n", g + 1));
            let mut labels = vec![rng.gen_range(lo..=hi).to_string()];
            if g == 1 && i == 0 {
                labels[0] = lo.to_string();
            }
            if g == 2 && i == 0 {
                labels[0] = hi.to_string();
            }
            for c in 1..cols {
                labels.push(((g + i + c) % 3).to_string());
            }
            nl.push_str(&labels.join(", "));
            nl.push('\n');
            let values: Vec<String> = (0..attrs)
                .map(|k| match k % 3 {
                    0 => format!("{}", rng.gen_range(-4.0f32..4.0)),
                    1 => format!("{:e}", rng.gen_range(-1.0f32..1.0)),
                    _ => format!("{}", rng.gen_range(-3i32..3)),
                })
                .collect();
            na.push_str(&values.join(","));
            na.push('\n');
        }
        for (s, d) in edges {
            a.push_str(&format!("{}, {}\n", n0 + s + 1, n0 + d + 1));
            el.push_str(&format!("{}\n", rng.gen_range(0..3)));
            gt.push_str(&format!("{}\n", rng.gen_range(0..2)));
        }
        gl.push_str(&format!("{}\n", [-5, 3, 10][g % 3]));
        n0 += n;
    }
    let mut m = BTreeMap::new();
    // CRLF endings in one file, no final newline in another.
    m.insert("A".to_string(), a.replace('\n', "\r\n"));
    m.insert("graph_indicator".to_string(), gi);
    m.insert("node_labels".to_string(), nl.trim_end().to_string());
    if attrs > 0 {
        m.insert("node_attributes".to_string(), na);
    }
    m.insert("edge_labels".to_string(), el);
    m.insert("edge_gt".to_string(), gt);
    m.insert("graph_labels".to_string(), gl);
    let width = if cols == 1 {
        0
    } else {
        (hi - lo + 1) as usize + 3 * (cols - 1)
    };
    (m, width)
}

fn write_tu(dir: &Path, name: &str, files: &BTreeMap<String, String>) {
    for (suffix, body) in files {
        std::fs::write(dir.join(format!("{name}_{suffix}.txt")), body).unwrap();
    }
}

#[test]
fn tu_source_equals_load_tu_on_edge_cases() {
    let mut r = rng(2);
    for (cols, attrs, use_attr) in [
        (1, 0, false),
        (1, 3, true),
        (2, 0, false),
        (2, 4, true),
        (1, 3, false),
    ] {
        let (files, width) = edge_case_files(&mut r, cols, attrs);
        let dir = tempfile::tempdir().unwrap();
        write_tu(dir.path(), "E", &files);
        let opts = TuOptions {
            use_node_attr: use_attr,
        };
        // One label column takes what the model leaves: a width of 10 leaves room.
        let f = if cols == 1 {
            10 + attrs * use_attr as usize
        } else {
            width + attrs * use_attr as usize
        };
        let whole = load_tu(dir.path(), "E", f, &opts).unwrap();
        let src = TuSource::open(dir.path(), "E", f, &opts).unwrap();
        let what = format!("cols {cols}, attrs {attrs}, use_node_attr {use_attr}");
        assert!(
            whole.edge_ptr()[301] == whole.edge_ptr()[560],
            "{what}: no edges in 300..560"
        );
        check_source(&src, &whole, &ranges(&mut r, whole.num_graphs(), 80));
        // Every single graph of the first segments.
        for g in 0..300 {
            assert_eq!(
                src.load(g..g + 1).unwrap(),
                whole.subset(g..g + 1).unwrap(),
                "{what}: graph {g}"
            );
        }
    }
}

#[test]
fn tu_source_without_optional_files_and_without_edges() {
    let mut r = rng(3);
    let (mut files, _) = edge_case_files(&mut r, 1, 0);
    files.remove("edge_labels");
    files.remove("edge_gt");
    files.remove("graph_labels");
    files.insert("A".into(), String::new());
    files.remove("edge_labels");
    let dir = tempfile::tempdir().unwrap();
    write_tu(dir.path(), "E", &files);
    let opts = TuOptions::default();
    let whole = load_tu(dir.path(), "E", 8, &opts).unwrap();
    assert_eq!(whole.num_edges(), 0);
    let src = TuSource::open(dir.path(), "E", 8, &opts).unwrap();
    check_source(&src, &whole, &ranges(&mut r, whole.num_graphs(), 20));
}

#[test]
fn tu_source_open_reports_what_load_tu_reports() {
    let mut r = rng(4);
    let (files, _) = edge_case_files(&mut r, 1, 0);
    type Edit = Box<dyn Fn(&mut BTreeMap<String, String>)>;
    let set_line = |suffix: &'static str, line: usize, text: &'static str| -> Edit {
        Box::new(move |m: &mut BTreeMap<String, String>| {
            let body = m.get_mut(suffix).unwrap();
            let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
            lines[line - 1] = text.to_string();
            *body = lines.join("\n") + "\n";
        })
    };
    let edits: Vec<(&str, Edit)> = vec![
        ("crossing edge", set_line("A", 40, "1, 3000")),
        ("node id out of range", set_line("A", 2, "1, 999999")),
        ("unparsable edge", set_line("A", 7, "1; 2")),
        (
            "graph ids with a gap",
            set_line("graph_indicator", 50, "900"),
        ),
        (
            "label far from the others",
            set_line("node_labels", 1000, "99"),
        ),
        ("a mark of 2", set_line("edge_gt", 5, "2")),
        ("an empty line", set_line("graph_labels", 10, "")),
        (
            "a short file",
            Box::new(|m: &mut BTreeMap<String, String>| {
                let body = m.get_mut("edge_labels").unwrap();
                let cut = body.trim_end().rfind('\n').unwrap();
                body.truncate(cut + 1);
            }),
        ),
        ("ragged labels", set_line("node_labels", 3, "1, 2")),
    ];
    for (what, edit) in edits {
        let mut m = files.clone();
        edit(&mut m);
        let dir = tempfile::tempdir().unwrap();
        write_tu(dir.path(), "E", &m);
        let opts = TuOptions::default();
        let a = load_tu(dir.path(), "E", 8, &opts)
            .map(drop)
            .expect_err(what)
            .to_string();
        let b = TuSource::open(dir.path(), "E", 8, &opts)
            .map(drop)
            .expect_err(what)
            .to_string();
        assert_eq!(a, b, "{what}");
        assert!(a.contains("E_"), "{what}: {a}");
    }
}

#[test]
fn a_tu_file_changed_after_open_is_a_named_error() {
    let mut r = rng(5);
    let (files, _) = edge_case_files(&mut r, 1, 0);
    let dir = tempfile::tempdir().unwrap();
    write_tu(dir.path(), "E", &files);
    let opts = TuOptions::default();
    let whole = load_tu(dir.path(), "E", 10, &opts).unwrap();
    let src = TuSource::open(dir.path(), "E", 10, &opts).unwrap();
    let g = src.num_graphs();

    // The same length, one label changed in graph 600 (segment 2): its segment fails,
    // the first segment still loads.
    let nl = dir.path().join("E_node_labels.txt");
    let body = std::fs::read_to_string(&nl).unwrap();
    let node = whole.node_ptr()[600];
    let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
    // Another label of the same length.
    lines[node] = match lines[node].as_str() {
        "1" => "2",
        "-1" => "-2",
        l if l.starts_with('-') => "-1",
        _ => "1",
    }
    .to_string();
    std::fs::write(&nl, lines.join("\n")).unwrap();
    let err = src.load(590..610).map(drop).expect_err("a changed label");
    match &err {
        Error::Dataset { path, message } => {
            assert!(path.ends_with("E_node_labels.txt"), "{err}");
            assert!(message.contains("changed since"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(src.load(0..100).unwrap(), whole.subset(0..100).unwrap());

    // Truncated: every load of that file fails, naming it.
    std::fs::write(&nl, &body).unwrap();
    assert_eq!(src.load(590..610).unwrap(), whole.subset(590..610).unwrap());
    let a = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("E_A.txt"))
        .unwrap();
    let len = a.metadata().unwrap().len();
    a.set_len(len / 2).unwrap();
    for range in [0..1, g - 1..g, 0..g] {
        let err = src
            .load(range.clone())
            .map(drop)
            .expect_err("a truncated file");
        match &err {
            Error::Dataset { path, message } => {
                assert!(path.ends_with("E_A.txt"), "{err}");
                assert!(message.contains("changed since"), "{range:?}: {err}");
            }
            other => panic!("{other:?}"),
        }
    }
    // A file that disappeared is an I/O error naming it.
    std::fs::remove_file(dir.path().join("E_graph_labels.txt")).unwrap();
    std::fs::write(dir.path().join("E_A.txt"), &files["A"]).unwrap();
    match src.load(0..5) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("E_graph_labels.txt")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_fingerprint_follows_the_bytes_and_the_options() {
    let mut r = rng(6);
    let (files, _) = edge_case_files(&mut r, 1, 3);
    let dir = tempfile::tempdir().unwrap();
    write_tu(dir.path(), "E", &files);
    let plain = TuOptions::default();
    let attr = TuOptions {
        use_node_attr: true,
    };
    let a = TuSource::open(dir.path(), "E", 10, &plain).unwrap();
    let b = TuSource::open(dir.path(), "E", 13, &attr).unwrap();
    assert_ne!(a.fingerprint(), b.fingerprint());
    let mut edited = files.clone();
    let gt = edited.get_mut("edge_gt").unwrap();
    let flipped = if gt.starts_with('0') { "1" } else { "0" };
    gt.replace_range(0..1, flipped);
    write_tu(dir.path(), "E", &edited);
    let c = TuSource::open(dir.path(), "E", 10, &plain).unwrap();
    assert_ne!(a.fingerprint(), c.fingerprint());
}

// ---------------------------------------------------------------- PyG

fn pyg_file() -> Option<PathBuf> {
    let p = repo_root().join("../shared/data/Mutagenicity/pyg/Mutagenicity.safetensors");
    if p.exists() {
        Some(p)
    } else {
        println!("notice: skipping, {} not found", p.display());
        None
    }
}

#[test]
fn pyg_source_equals_pyg_load_on_mutagenicity() {
    let Some(path) = pyg_file() else {
        return;
    };
    let whole = pyg::load(&path).unwrap();
    let src = PygSource::open(&path).unwrap();
    assert!(src.is_streaming(), "PyG's own batches are grouped by graph");
    assert_eq!(src.ignored(), whole.ignored.as_slice());
    assert_eq!(src.notes(), whole.notes.as_slice());
    check_source(
        &src,
        &whole.batch,
        &ranges(&mut rng(7), whole.batch.num_graphs(), 60),
    );
}

/// One tensor: dtype, shape, bytes.
struct T(Dtype, Vec<usize>, Vec<u8>);

fn le<const K: usize, V: Copy>(v: &[V], f: impl Fn(V) -> [u8; K]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

fn write_pyg(path: &Path, tensors: &BTreeMap<&str, T>) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(k, T(d, s, b))| (k.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, &None).unwrap()).unwrap();
}

/// A PyG batch with edge cases (like [`edge_case_files`]) in assorted dtypes; with
/// `interleave`, the edges of neighbouring graphs are swapped in the file.
fn pyg_tensors(rng: &mut ChaCha8Rng, graphs: usize, interleave: bool) -> BTreeMap<&'static str, T> {
    let f = 3;
    let (mut x, mut src, mut dst, mut batch, mut ptr, mut y) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        vec![0i64],
        Vec::new(),
    );
    let mut n0 = 0i64;
    for g in 0..graphs {
        let n = if g % 50 == 0 || g == graphs - 1 {
            1
        } else {
            rng.gen_range(2..9)
        };
        for _ in 0..n {
            x.extend((0..f).map(|_| rng.gen_range(-2.0f64..2.0)));
            batch.push(g as i64);
        }
        if !(300..560).contains(&g) {
            for _ in 0..rng.gen_range(0..2 * n) {
                src.push(n0 + rng.gen_range(0..n));
                dst.push(n0 + rng.gen_range(0..n));
            }
            src.push(n0);
            dst.push(n0); // a self-loop
        }
        n0 += n;
        ptr.push(n0);
        y.push(rng.gen_range(0..3i32));
    }
    let e = src.len();
    if interleave {
        src.swap(0, e - 1);
        dst.swap(0, e - 1);
    }
    let ei: Vec<i32> = src.iter().chain(&dst).map(|&v| v as i32).collect();
    let gt: Vec<u8> = (0..e).map(|_| rng.gen_range(0..2)).collect();
    let w: Vec<f64> = (0..e).map(|_| rng.gen_range(0.0..1.0)).collect();
    let n = n0 as usize;
    let mut m = BTreeMap::new();
    m.insert("x", T(Dtype::F64, vec![n, f], le(&x, f64::to_le_bytes)));
    m.insert(
        "edge_index",
        T(Dtype::I32, vec![2, e], le(&ei, i32::to_le_bytes)),
    );
    m.insert(
        "batch",
        T(Dtype::I64, vec![n], le(&batch, i64::to_le_bytes)),
    );
    m.insert(
        "ptr",
        T(Dtype::I64, vec![graphs + 1], le(&ptr, i64::to_le_bytes)),
    );
    m.insert("y", T(Dtype::I32, vec![graphs], le(&y, i32::to_le_bytes)));
    m.insert("edge_gt", T(Dtype::BOOL, vec![e], gt));
    m.insert(
        "edge_weight",
        T(Dtype::F64, vec![e], le(&w, f64::to_le_bytes)),
    );
    m.insert(
        "edge_attr",
        T(
            Dtype::F32,
            vec![e, 1],
            le(&vec![1.0f32; e], f32::to_le_bytes),
        ),
    );
    m
}

#[test]
fn pyg_source_equals_pyg_load_on_edge_cases() {
    let mut r = rng(8);
    for interleave in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.safetensors");
        write_pyg(&path, &pyg_tensors(&mut r, 700, interleave));
        let whole = pyg::load(&path).unwrap();
        assert_eq!(whole.edge_perm.is_some(), interleave);
        let src = PygSource::open(&path).unwrap();
        assert_eq!(src.is_streaming(), !interleave);
        assert_eq!(src.ignored(), whole.ignored.as_slice());
        for note in &whole.notes {
            assert!(src.notes().contains(note), "{note}");
        }
        check_source(&src, &whole.batch, &ranges(&mut r, 700, 60));
    }
}

#[test]
fn pyg_source_open_reports_what_pyg_load_reports() {
    let mut r = rng(9);
    type Edit = Box<dyn Fn(&mut BTreeMap<&'static str, T>)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "crossing edge",
            Box::new(|m| {
                let T(_, s, b) = m.get_mut("edge_index").unwrap();
                let e = s[1];
                b[4 * (e + 10)..4 * (e + 11)].copy_from_slice(&0i32.to_le_bytes());
            }),
        ),
        (
            "node out of range",
            Box::new(|m| {
                let T(_, _, b) = m.get_mut("edge_index").unwrap();
                b[4 * 3..4 * 4].copy_from_slice(&(-1i32).to_le_bytes());
            }),
        ),
        (
            "non-finite x",
            Box::new(|m| {
                let T(_, _, b) = m.get_mut("x").unwrap();
                b[8 * 100..8 * 101].copy_from_slice(&f64::NAN.to_le_bytes());
            }),
        ),
        (
            "x beyond f32",
            Box::new(|m| {
                let T(_, _, b) = m.get_mut("x").unwrap();
                b[8 * 7..8 * 8].copy_from_slice(&1e300f64.to_le_bytes());
            }),
        ),
        (
            "unsorted batch",
            Box::new(|m| {
                let T(_, _, b) = m.get_mut("batch").unwrap();
                b[8 * 20..8 * 21].copy_from_slice(&0i64.to_le_bytes());
            }),
        ),
        (
            "ptr disagrees",
            Box::new(|m| {
                let T(_, _, b) = m.get_mut("ptr").unwrap();
                let v = i64::from_le_bytes(b[8 * 5..8 * 6].try_into().unwrap());
                b[8 * 5..8 * 6].copy_from_slice(&(v + 1).to_le_bytes());
            }),
        ),
        (
            "a ground-truth mark of 2",
            Box::new(|m| {
                let T(_, _, b) = m.get_mut("edge_gt").unwrap();
                b[9] = 2;
            }),
        ),
        (
            "an infinite weight",
            Box::new(|m| {
                let T(_, _, b) = m.get_mut("edge_weight").unwrap();
                b[8 * 2..8 * 3].copy_from_slice(&f64::INFINITY.to_le_bytes());
            }),
        ),
        (
            "a negative label",
            Box::new(|m| {
                let T(_, _, b) = m.get_mut("y").unwrap();
                b[4 * 8..4 * 9].copy_from_slice(&(-3i32).to_le_bytes());
            }),
        ),
        (
            "a missing graph",
            Box::new(|m| {
                // Graph 2 has no nodes: batch skips it, ptr repeats an entry.
                m.remove("ptr");
                let T(_, _, b) = m.get_mut("batch").unwrap();
                for c in b.chunks_exact_mut(8) {
                    let v = i64::from_le_bytes(c.try_into().unwrap());
                    if v >= 2 {
                        c.copy_from_slice(&(v + 1).to_le_bytes());
                    }
                }
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut m = pyg_tensors(&mut r, 400, false);
        edit(&mut m);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.safetensors");
        write_pyg(&path, &m);
        let a = pyg::load(&path).map(drop).expect_err(what).to_string();
        let b = PygSource::open(&path)
            .map(drop)
            .expect_err(what)
            .to_string();
        assert_eq!(a, b, "{what}");
    }
}

#[test]
fn a_pyg_file_changed_after_open_is_a_named_error() {
    let mut r = rng(10);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.safetensors");
    write_pyg(&path, &pyg_tensors(&mut r, 700, false));
    let whole = pyg::load(&path).unwrap().batch;
    let src = PygSource::open(&path).unwrap();
    assert_eq!(src.load(0..700).unwrap(), whole);

    // The same size, other bytes (a new file under the same name is not this one:
    // the map keeps the old bytes; so write in place).
    let mut bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let x = st.tensor("x").unwrap().data();
    let k = x.as_ptr() as usize - bytes.as_ptr() as usize + x.len() / 2;
    drop(st);
    bytes[k] ^= 0x55;
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(k as u64)).unwrap();
        f.write_all(&bytes[k..k + 1]).unwrap();
        f.sync_all().unwrap();
    }
    // The modification time may not tick between two writes: the segment hashes tell.
    let err = src.load(0..700).map(drop).expect_err("changed bytes");
    match &err {
        Error::Dataset { path: p, message } => {
            assert_eq!(p, &path);
            assert!(message.contains("changed since"), "{err}");
        }
        other => panic!("{other:?}"),
    }

    // Truncated: refused before any byte is read.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(bytes.len() as u64 / 2).unwrap();
    let err = src.load(0..1).map(drop).expect_err("a truncated file");
    assert!(
        matches!(&err, Error::Dataset { path: p, message } if p == &path && message.contains("changed since")),
        "{err}"
    );
}

// ---------------------------------------------------------------- synth

fn read_dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn streaming_synth_writes_the_bytes_of_the_in_memory_writer() {
    for (num_graphs, seed) in [(1usize, 0u64), (3, 1), (257, 7), (1000, 42), (2500, 7)] {
        let cfg = SyntheticConfig { num_graphs, seed };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let d = generate(&cfg).unwrap();
        d.write_tu(a.path(), "S").unwrap();
        let counts = write_tu_streaming(&cfg, b.path(), "S").unwrap();
        assert_eq!(counts.graphs, num_graphs);
        assert_eq!(counts.nodes, d.batch.num_nodes() as u64);
        assert_eq!(counts.edges, d.batch.num_edges() as u64);
        let (fa, fb) = (read_dir_files(a.path()), read_dir_files(b.path()));
        assert_eq!(fa.len(), 7, "{:?}", fa.keys());
        assert_eq!(
            fa.keys().collect::<Vec<_>>(),
            fb.keys().collect::<Vec<_>>(),
            "the same files, no temporary left"
        );
        for (name, bytes) in &fa {
            assert!(
                bytes == &fb[name],
                "{num_graphs} graphs, seed {seed}: {name} differs"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = SyntheticConfig {
        num_graphs: 0,
        seed: 1,
    };
    assert!(matches!(
        write_tu_streaming(&cfg, dir.path(), "S"),
        Err(Error::Config(_))
    ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_synthetic_dataset_streams_back_to_the_generated_batch() {
    let cfg = SyntheticConfig {
        num_graphs: 1300,
        seed: 11,
    };
    let dir = tempfile::tempdir().unwrap();
    write_tu_streaming(&cfg, dir.path(), "Synthetic").unwrap();
    let want = generate(&cfg).unwrap().batch;
    let src = TuSource::open(dir.path(), "Synthetic", 14, &TuOptions::default()).unwrap();
    check_source(&src, &want, &ranges(&mut rng(12), 1300, 30));
}

// ---------------------------------------------------------------- agreement under mutation

/// Mutates `bytes` a few times: a byte replaced by one of TU's characters, deleted or
/// inserted.
fn mutate(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
    const CHARS: &[u8] = b"0123456789,-\n\r x.e";
    for _ in 0..rng.gen_range(1..4) {
        if bytes.is_empty() {
            bytes.push(b'1');
        }
        let k = rng.gen_range(0..bytes.len());
        let c = CHARS[rng.gen_range(0..CHARS.len())];
        match rng.gen_range(0..3) {
            0 => bytes[k] = c,
            1 => drop(bytes.remove(k)),
            _ => bytes.insert(k, c),
        }
    }
}

#[test]
fn the_readers_agree_on_mutated_inputs() {
    // `fuzzing::tu` and `fuzzing::pyg` panic when a streaming reader and its in-memory
    // counterpart disagree (a batch, or an error message).
    let mut r = rng(13);
    let mut files = BTreeMap::new();
    files.insert("graph_indicator", "1\n1\n1\n2\n2\n3\n4\n4\n".to_string());
    files.insert(
        "A",
        "1, 2\n2, 1\n2, 3\n5, 4\n4, 5\n4, 4\n7, 8\n".to_string(),
    );
    files.insert("node_labels", "1\n2\n3\n1\n3\n2\n0\n1\n".to_string());
    files.insert(
        "node_attributes",
        "0.5, 1\n1, 2\n3, 4\n5, 6\n7, 8\n9, 1\n2, 2\n3, 3\n".to_string(),
    );
    files.insert("edge_labels", "0\n0\n1\n2\n2\n0\n1\n".to_string());
    files.insert("edge_gt", "0\n1\n1\n0\n0\n1\n0\n".to_string());
    files.insert("graph_labels", "-1\n1\n1\n7\n".to_string());
    let order = [
        "graph_indicator",
        "A",
        "node_labels",
        "node_attributes",
        "edge_labels",
        "edge_gt",
        "graph_labels",
    ];
    for i in 0..400 {
        let mut input = vec![[4u8, 0x44 | 6][i % 2]];
        for (k, name) in order.iter().enumerate() {
            let mut body = files[name].clone().into_bytes();
            if r.gen_bool(0.3) {
                mutate(&mut r, &mut body);
            }
            if k > 0 {
                input.push(0xff);
            }
            input.extend(body);
        }
        graph_ig::fuzzing::tu(&input);
    }
    let mut m = pyg_tensors(&mut r, 40, false);
    m.remove("edge_attr");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.safetensors");
    write_pyg(&path, &m);
    let base = std::fs::read(&path).unwrap();
    let header = 8 + u64::from_le_bytes(base[..8].try_into().unwrap()) as usize;
    for _ in 0..300 {
        // Bytes of the tensors (the header's JSON is the safetensors crate's concern).
        let mut bytes = base.clone();
        for _ in 0..r.gen_range(1..4) {
            let k = r.gen_range(header..bytes.len());
            bytes[k] = r.gen();
        }
        graph_ig::fuzzing::pyg(&bytes);
    }
}
