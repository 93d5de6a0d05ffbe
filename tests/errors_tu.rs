//! The TU text-format reader: a valid load with PyG's conventions, and every
//! malformed input rejected with an error that names the file and line.
//! Optionally loads the real Mutagenicity if it is present.

use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::{Error, GraphBatch, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const NAME: &str = "T";

/// The reference dataset, file suffix → contents.
/// Graph 1: nodes 1,2,3 (edges 1→2, 2→1, 2→3);
/// graph 2: nodes 4,5 (edges 5→4, 4→5, self-loop 4→4);
/// graph 3: node 6, no edges.
fn base_files() -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("A", "1, 2\n2, 1\n2, 3\n5, 4\n4, 5\n4, 4\n".to_string());
    m.insert("graph_indicator", "1\n1\n1\n2\n2\n3\n".to_string());
    // Labels 1..3 → one-hot indices 0..2 (shifted by the minimum, like PyG).
    m.insert("node_labels", "1\n2\n3\n1\n3\n2\n".to_string());
    m.insert("edge_labels", "0\n0\n1\n2\n2\n0\n".to_string());
    m.insert("edge_gt", "0\n1\n1\n0\n0\n1\n".to_string());
    // -1 / 1 → 0 / 1 through the sorted unique values.
    m.insert("graph_labels", "-1\n1\n1\n".to_string());
    m
}

fn write_files(files: &BTreeMap<&'static str, String>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (suffix, body) in files {
        let p = dir.path().join(format!("{NAME}_{suffix}.txt"));
        std::fs::write(&p, body).expect("write a dataset file");
    }
    dir
}

/// Writes the base dataset with `edit` applied and loads it with width `f`.
fn load_edited(
    f: usize,
    opts: &TuOptions,
    edit: impl FnOnce(&mut BTreeMap<&'static str, String>),
) -> (tempfile::TempDir, Result<GraphBatch>) {
    let mut files = base_files();
    edit(&mut files);
    let dir = write_files(&files);
    let r = load_tu(dir.path(), NAME, f, opts);
    (dir, r)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Asserts `Error::Parse` on `file` line `line` whose message contains `parts`.
fn expect_parse(r: Result<GraphBatch>, file: &str, line: usize, parts: &[&str], what: &str) {
    match r {
        Err(Error::Parse {
            path,
            line: l,
            message,
        }) => {
            assert_eq!(
                file_name(&path),
                format!("{NAME}_{file}.txt"),
                "{what}: wrong file in {message:?}"
            );
            assert_eq!(l, line, "{what}: wrong line for {message:?}");
            for p in parts {
                assert!(
                    message.contains(p),
                    "{what}: message {message:?} should contain {p:?}"
                );
            }
            let shown = Error::Parse {
                path: path.clone(),
                line: l,
                message: message.clone(),
            }
            .to_string();
            assert!(
                shown.contains(&format!("{NAME}_{file}.txt:{line}:")),
                "{what}: the displayed error {shown:?} should read FILE:LINE:"
            );
        }
        Err(other) => panic!("{what}: expected Error::Parse, got {other:?}"),
        Ok(b) => panic!(
            "{what}: expected Error::Parse, but it loaded {} graphs",
            b.num_graphs()
        ),
    }
}

/// Asserts `Error::Dataset` naming `file`, whose message contains `parts`.
fn expect_dataset(r: Result<GraphBatch>, file: &str, parts: &[&str], what: &str) {
    match r {
        Err(Error::Dataset { path, message }) => {
            assert_eq!(
                file_name(&path),
                format!("{NAME}_{file}.txt"),
                "{what}: wrong file in {message:?}"
            );
            for p in parts {
                assert!(
                    message.contains(p),
                    "{what}: message {message:?} should contain {p:?}"
                );
            }
        }
        Err(other) => panic!("{what}: expected Error::Dataset, got {other:?}"),
        Ok(b) => panic!(
            "{what}: expected Error::Dataset, but it loaded {} graphs",
            b.num_graphs()
        ),
    }
}

fn expect_mismatch(r: Result<GraphBatch>, parts: &[&str], what: &str) {
    match r {
        Err(Error::Mismatch(message)) => {
            for p in parts {
                assert!(
                    message.contains(p),
                    "{what}: message {message:?} should contain {p:?}"
                );
            }
        }
        Err(other) => panic!("{what}: expected Error::Mismatch, got {other:?}"),
        Ok(b) => panic!(
            "{what}: expected Error::Mismatch, but it loaded {} graphs",
            b.num_graphs()
        ),
    }
}

fn one_hot(f: usize, idx: &[usize]) -> Vec<f32> {
    let mut x = vec![0.0; idx.len() * f];
    for (i, &k) in idx.iter().enumerate() {
        x[i * f + k] = 1.0;
    }
    x
}

// ---------------------------------------------------------------- valid loads

#[test]
fn valid_load_follows_pyg_conventions() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |_| {});
    let b = r.expect("the reference dataset loads");
    assert_eq!(b.num_graphs(), 3);
    assert_eq!(b.num_nodes(), 6);
    assert_eq!(b.num_edges(), 6);
    assert_eq!(b.num_features(), 3);
    assert_eq!(b.node_ptr(), &[0, 3, 5, 6]);
    assert_eq!(b.edge_ptr(), &[0, 3, 6, 6]);
    // File order, 0-based.
    assert_eq!(b.src(), &[0, 1, 1, 4, 3, 3]);
    assert_eq!(b.dst(), &[1, 0, 2, 3, 4, 3]);
    // Labels 1,2,3,1,3,2 shifted by their minimum 1.
    assert_eq!(b.features(), one_hot(3, &[0, 1, 2, 0, 2, 1]).as_slice());
    assert_eq!(b.edge_labels(), Some(&[0i64, 0, 1, 2, 2, 0][..]));
    assert_eq!(b.edge_gt(), Some(&[0u8, 1, 1, 0, 0, 1][..]));
    assert_eq!(b.graph_labels(), Some(&[0i64, 1, 1][..]));
}

#[test]
fn one_hot_width_is_the_model_width() {
    // F = 5 with labels 1..3: five columns, the last two never set.
    let (_dir, r) = load_edited(5, &TuOptions::default(), |_| {});
    let b = r.expect("F larger than the label range is fine");
    assert_eq!(b.num_features(), 5);
    assert_eq!(b.features(), one_hot(5, &[0, 1, 2, 0, 2, 1]).as_slice());
}

#[test]
fn graph_labels_are_remapped_through_sorted_unique_values() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_labels", "5\n-2\n5\n".into());
    });
    assert_eq!(r.expect("loads").graph_labels(), Some(&[1i64, 0, 1][..]));

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_labels", "2\n0\n7\n".into());
    });
    assert_eq!(r.expect("loads").graph_labels(), Some(&[1i64, 0, 2][..]));
}

#[test]
fn zero_based_node_labels_are_unchanged() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("node_labels", "0\n1\n2\n0\n2\n1\n".into());
    });
    assert_eq!(
        r.expect("loads").features(),
        one_hot(3, &[0, 1, 2, 0, 2, 1]).as_slice()
    );
}

#[test]
fn optional_files_may_be_missing() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.remove("edge_labels");
        m.remove("edge_gt");
        m.remove("graph_labels");
    });
    let b = r.expect("only A, graph_indicator and node_labels are needed");
    assert_eq!(b.num_edges(), 6);
    assert_eq!(b.edge_labels(), None);
    assert_eq!(b.edge_gt(), None);
    assert_eq!(b.graph_labels(), None);
}

#[test]
fn crlf_no_spaces_and_no_final_newline_are_accepted() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1,2\r\n2,1\r\n2,3\r\n5,4\r\n4,5\r\n4,4".into());
        m.insert("graph_indicator", "1\r\n1\r\n1\r\n2\r\n2\r\n3".into());
    });
    let b = r.expect("CRLF and a missing final newline are fine");
    assert_eq!(b.num_edges(), 6);
    assert_eq!(b.src(), &[0, 1, 1, 4, 3, 3]);
    assert_eq!(b.node_ptr(), &[0, 3, 5, 6]);
}

#[test]
fn an_empty_a_file_gives_graphs_without_edges() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", String::new());
        m.insert("edge_labels", String::new());
        m.insert("edge_gt", String::new());
    });
    let b = r.expect("graphs without any edge are valid");
    assert_eq!(b.num_edges(), 0);
    assert_eq!(b.edge_ptr(), &[0, 0, 0, 0]);
}

#[test]
fn node_attributes_come_before_the_one_hot_labels() {
    let opts = TuOptions {
        use_node_attr: true,
    };
    let attrs = "0.5, -1.5\n1, 2\n3.25, 0\n-4, 5e-1\n6, 7\n8, 9\n";
    let (_dir, r) = load_edited(5, &opts, |m| {
        m.insert("node_attributes", attrs.into());
    });
    let b = r.expect("attributes + labels load");
    assert_eq!(b.num_features(), 5);
    let attr_rows: [[f32; 2]; 6] = [
        [0.5, -1.5],
        [1.0, 2.0],
        [3.25, 0.0],
        [-4.0, 0.5],
        [6.0, 7.0],
        [8.0, 9.0],
    ];
    let labels = [0usize, 1, 2, 0, 2, 1];
    let mut want = Vec::new();
    for (a, &l) in attr_rows.iter().zip(&labels) {
        want.extend_from_slice(a);
        let mut oh = [0.0f32; 3];
        oh[l] = 1.0;
        want.extend_from_slice(&oh);
    }
    assert_eq!(b.features(), want.as_slice());

    // Without use_node_attr, the attributes file is ignored.
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("node_attributes", attrs.into());
    });
    assert_eq!(
        r.expect("attributes ignored").features(),
        one_hot(3, &labels).as_slice()
    );

    // Attributes alone (no node labels) when they fill the width.
    let (_dir, r) = load_edited(2, &opts, |m| {
        m.insert("node_attributes", attrs.into());
        m.remove("node_labels");
    });
    let b = r.expect("attributes alone");
    assert_eq!(
        b.features(),
        attr_rows
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<f32>>()
            .as_slice()
    );
}

#[test]
fn multi_column_node_labels_one_hot_each_column() {
    // Column 0 in 0..1 (width 2), column 1 in 5..7 (width 3): F = 5.
    let (_dir, r) = load_edited(5, &TuOptions::default(), |m| {
        m.insert("node_labels", "0, 5\n1, 7\n0, 6\n1, 5\n0, 5\n1, 6\n".into());
    });
    let b = r.expect("two label columns");
    let want: Vec<f32> = [[0, 0], [1, 2], [0, 1], [1, 0], [0, 0], [1, 1]]
        .iter()
        .flat_map(|[a, c]| {
            let mut row = [0.0f32; 5];
            row[*a] = 1.0;
            row[2 + *c] = 1.0;
            row
        })
        .collect();
    assert_eq!(b.features(), want.as_slice());
}

// ---------------------------------------------------------------- A file errors

#[test]
fn crossing_edge_names_the_a_line_and_both_graphs() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n2, 1\n3, 4\n5, 4\n4, 5\n4, 4\n".into());
    });
    expect_parse(
        r,
        "A",
        3,
        &["(3, 4)", "cross", "graph 1", "graph 2"],
        "crossing edge",
    );
}

#[test]
fn node_id_out_of_range_names_the_line() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n0, 1\n2, 3\n5, 4\n4, 5\n4, 4\n".into());
    });
    expect_parse(
        r,
        "A",
        2,
        &["node id 0", "out of range", "1..=6"],
        "node id 0",
    );

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n2, 1\n2, 3\n5, 4\n4, 7\n4, 4\n".into());
    });
    expect_parse(
        r,
        "A",
        5,
        &["node id 7", "out of range", "1..=6"],
        "node id N+1",
    );

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n2, 1\n2, 3\n5, -4\n4, 5\n4, 4\n".into());
    });
    expect_parse(r, "A", 4, &["-4", "out of range"], "negative node id");
}

#[test]
fn unparsable_a_lines_name_the_line() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n2; 1\n2, 3\n5, 4\n4, 5\n4, 4\n".into());
    });
    expect_parse(r, "A", 2, &["expected 2", "found 1"], "semicolon");

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n2, 1\nx, 3\n5, 4\n4, 5\n4, 4\n".into());
    });
    expect_parse(r, "A", 3, &["\"x\"", "cannot parse"], "letter");

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n2, 1\n2, 3\n\n4, 5\n4, 4\n".into());
    });
    expect_parse(r, "A", 4, &["empty line"], "empty line");

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n2, 1\n2, 3\n5, 4\n4, 5, 1\n4, 4\n".into());
    });
    expect_parse(r, "A", 5, &["expected 2", "found 3"], "three fields");

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n2, 1.5\n2, 3\n5, 4\n4, 5\n4, 4\n".into());
    });
    expect_parse(r, "A", 2, &["\"1.5\""], "float node id");
}

#[test]
fn edges_not_grouped_by_graph_name_the_line() {
    // Graph 1, graph 2, then graph 1 again.
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "1, 2\n2, 1\n5, 4\n2, 3\n4, 5\n4, 4\n".into());
        m.insert("edge_labels", "0\n0\n0\n0\n0\n0\n".into());
    });
    expect_parse(
        r,
        "A",
        4,
        &["graph 1", "graph 2", "grouped"],
        "ungrouped edges",
    );

    // Graphs in descending order.
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("A", "5, 4\n4, 5\n4, 4\n1, 2\n2, 1\n2, 3\n".into());
    });
    expect_parse(r, "A", 4, &["graph 1", "graph 2"], "graphs out of order");
}

// ---------------------------------------------------------------- graph indicator errors

#[test]
fn empty_graph_indicator_is_an_empty_dataset() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_indicator", String::new());
    });
    expect_dataset(r, "graph_indicator", &["empty"], "empty graph indicator");
}

#[test]
fn graph_ids_must_start_at_one_be_sorted_and_have_no_gaps() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_indicator", "2\n2\n2\n3\n3\n4\n".into());
    });
    expect_parse(
        r,
        "graph_indicator",
        1,
        &["graph id 2", "start at 1"],
        "not starting at 1",
    );

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_indicator", "0\n1\n1\n2\n2\n3\n".into());
    });
    expect_parse(r, "graph_indicator", 1, &["graph id 0"], "starting at 0");

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_indicator", "1\n1\n1\n3\n3\n4\n".into());
    });
    expect_parse(
        r,
        "graph_indicator",
        4,
        &["graph id 3", "after 1", "gaps"],
        "gap",
    );

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_indicator", "1\n1\n2\n1\n2\n3\n".into());
    });
    expect_parse(
        r,
        "graph_indicator",
        4,
        &["graph id 1", "after 2", "sorted"],
        "unsorted",
    );

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_indicator", "1\n1\n1\ntwo\n2\n3\n".into());
    });
    expect_parse(r, "graph_indicator", 4, &["\"two\""], "unparsable graph id");
}

// ---------------------------------------------------------------- line-count disagreements

#[test]
fn node_labels_count_mismatch_names_the_node_labels_file() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("node_labels", "1\n2\n3\n1\n3\n".into());
    });
    expect_dataset(
        r,
        "node_labels",
        &["5 lines", "graph indicator", "6"],
        "node_labels short",
    );

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("node_labels", "1\n2\n3\n1\n3\n2\n1\n".into());
    });
    expect_dataset(r, "node_labels", &["7 lines", "6"], "node_labels long");
}

#[test]
fn edge_file_count_mismatch_names_the_file() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("edge_labels", "0\n0\n1\n2\n2\n".into());
    });
    expect_dataset(
        r,
        "edge_labels",
        &["5 lines", "T_A.txt", "6"],
        "edge_labels short",
    );

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("edge_gt", "0\n1\n1\n0\n0\n1\n0\n".into());
    });
    expect_dataset(r, "edge_gt", &["7 lines", "T_A.txt", "6"], "edge_gt long");
}

#[test]
fn graph_labels_count_mismatch_names_the_file() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_labels", "0\n1\n".into());
    });
    expect_dataset(r, "graph_labels", &["2 lines", "3"], "graph_labels short");

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_labels", "0\n1\n1\n0\n".into());
    });
    expect_dataset(r, "graph_labels", &["4 lines", "3"], "graph_labels long");
}

// ---------------------------------------------------------------- value errors

#[test]
fn node_label_beyond_the_model_width_names_the_line() {
    // Labels 0..3 need 4 one-hot columns; F = 3.
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("node_labels", "0\n1\n2\n0\n3\n1\n".into());
    });
    expect_parse(
        r,
        "node_labels",
        5,
        &["node label 3", "3 input features"],
        "label >= F",
    );

    // Shifted: labels 2..5 also need 4 columns; the offending one is 5 on line 2.
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("node_labels", "2\n5\n3\n2\n3\n4\n".into());
    });
    expect_parse(
        r,
        "node_labels",
        2,
        &["node label 5", "minimum 2"],
        "shifted label >= F",
    );
}

#[test]
fn node_labels_with_ragged_columns_name_the_line() {
    let (_dir, r) = load_edited(5, &TuOptions::default(), |m| {
        m.insert("node_labels", "0, 5\n1, 7\n0\n1, 5\n0, 5\n1, 6\n".into());
    });
    expect_parse(
        r,
        "node_labels",
        3,
        &["1 labels", "line 1 has 2"],
        "ragged node labels",
    );
}

#[test]
fn edge_gt_value_two_names_the_line() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("edge_gt", "0\n1\n1\n2\n0\n1\n".into());
    });
    expect_parse(r, "edge_gt", 4, &["2", "0 or 1"], "edge_gt = 2");

    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("edge_gt", "0\n1\n1\n0\n-1\n1\n".into());
    });
    expect_parse(r, "edge_gt", 5, &["-1", "0 or 1"], "edge_gt = -1");
}

#[test]
fn unparsable_graph_label_names_the_line() {
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.insert("graph_labels", "0\nyes\n1\n".into());
    });
    expect_parse(r, "graph_labels", 2, &["\"yes\""], "graph label text");
}

// ---------------------------------------------------------------- missing files

#[test]
fn missing_required_files_are_io_errors_naming_the_path() {
    for suffix in ["A", "graph_indicator"] {
        let (dir, r) = load_edited(3, &TuOptions::default(), |m| {
            m.remove(suffix);
        });
        match r {
            Err(Error::Io { path, source }) => {
                assert_eq!(
                    path,
                    dir.path().join(format!("{NAME}_{suffix}.txt")),
                    "missing {suffix}"
                );
                assert_eq!(
                    source.kind(),
                    std::io::ErrorKind::NotFound,
                    "missing {suffix}"
                );
                let shown = Error::Io { path, source }.to_string();
                assert!(
                    shown.contains(&format!("{NAME}_{suffix}.txt")),
                    "missing {suffix}: {shown:?}"
                );
            }
            other => panic!("missing {suffix}: expected Error::Io, got {other:?}"),
        }
    }

    // A folder that does not exist at all.
    let dir = tempfile::tempdir().unwrap();
    let nowhere: PathBuf = dir.path().join("does-not-exist");
    match load_tu(&nowhere, NAME, 3, &TuOptions::default()) {
        Err(Error::Io { path, .. }) => assert!(path.starts_with(&nowhere), "{path:?}"),
        other => panic!("missing folder: expected Error::Io, got {other:?}"),
    }
}

#[test]
fn use_node_attr_without_the_attributes_file_is_a_dataset_error() {
    let (_dir, r) = load_edited(
        5,
        &TuOptions {
            use_node_attr: true,
        },
        |_| {},
    );
    expect_dataset(
        r,
        "node_attributes",
        &["use_node_attr"],
        "no attributes file",
    );
}

#[test]
fn non_finite_node_attribute_names_the_line() {
    for (bad, shown) in [("nan", "NaN"), ("inf", "inf"), ("-inf", "-inf")] {
        let attrs = format!("0.5, -1.5\n1, 2\n3.25, 0\n{bad}, 1\n6, 7\n8, 9\n");
        let (_dir, r) = load_edited(
            5,
            &TuOptions {
                use_node_attr: true,
            },
            |m| {
                m.insert("node_attributes", attrs);
            },
        );
        expect_parse(r, "node_attributes", 4, &[shown, "not finite"], bad);
    }
}

#[test]
fn node_attribute_problems_name_the_line_or_file() {
    let opts = TuOptions {
        use_node_attr: true,
    };
    let (_dir, r) = load_edited(5, &opts, |m| {
        m.insert(
            "node_attributes",
            "0.5, -1.5\n1, 2\n3.25\n-4, 5\n6, 7\n8, 9\n".into(),
        );
    });
    expect_parse(
        r,
        "node_attributes",
        3,
        &["1 values", "line 1 has 2"],
        "ragged attributes",
    );

    let (_dir, r) = load_edited(5, &opts, |m| {
        m.insert(
            "node_attributes",
            "0.5, -1.5\n1, 2\n3.25, a\n-4, 5\n6, 7\n8, 9\n".into(),
        );
    });
    expect_parse(r, "node_attributes", 3, &["\"a\""], "unparsable attribute");

    let (_dir, r) = load_edited(5, &opts, |m| {
        m.insert("node_attributes", "0.5, -1.5\n1, 2\n".into());
    });
    expect_dataset(r, "node_attributes", &["2 lines", "6"], "attributes short");
}

#[test]
fn feature_width_mismatch_is_a_mismatch_error() {
    // No node labels and no attributes: zero features.
    let (_dir, r) = load_edited(3, &TuOptions::default(), |m| {
        m.remove("node_labels");
    });
    expect_mismatch(r, &["0 node features", "expects 3"], "no features");

    // Attributes wider than the model.
    let (_dir, r) = load_edited(
        1,
        &TuOptions {
            use_node_attr: true,
        },
        |m| {
            m.insert(
                "node_attributes",
                "0, 0\n1, 1\n2, 2\n3, 3\n4, 4\n5, 5\n".into(),
            );
        },
    );
    expect_mismatch(r, &["1", "2"], "attributes wider than F");

    // Attributes alone, narrower than the model.
    let (_dir, r) = load_edited(
        3,
        &TuOptions {
            use_node_attr: true,
        },
        |m| {
            m.insert(
                "node_attributes",
                "0, 0\n1, 1\n2, 2\n3, 3\n4, 4\n5, 5\n".into(),
            );
            m.remove("node_labels");
        },
    );
    expect_mismatch(
        r,
        &["2 node features", "expects 3"],
        "attributes narrower than F",
    );

    // Two label columns give 2 + 3 = 5 features; the model wants 6.
    let (_dir, r) = load_edited(6, &TuOptions::default(), |m| {
        m.insert("node_labels", "0, 5\n1, 7\n0, 6\n1, 5\n0, 5\n1, 6\n".into());
    });
    expect_mismatch(r, &["5 node features", "expects 6"], "multi-column width");
}

// ---------------------------------------------------------------- the real Mutagenicity

fn mutagenicity_dir() -> PathBuf {
    match std::env::var_os("GRAPH_IG_DATA") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/Mutagenicity/raw"),
    }
}

#[test]
fn mutagenicity_loads_with_the_published_counts() {
    let dir = mutagenicity_dir();
    if !dir.join("Mutagenicity_A.txt").exists() {
        println!("skipping: Mutagenicity not found at {}", dir.display());
        return;
    }
    let b = load_tu(&dir, "Mutagenicity", 14, &TuOptions::default())
        .expect("Mutagenicity loads with F = 14");
    assert_eq!(b.num_graphs(), 4337);
    assert_eq!(b.num_nodes(), 131488);
    assert_eq!(b.num_edges(), 266894);
    assert_eq!(b.num_features(), 14);
    let labels = b.graph_labels().expect("Mutagenicity has graph labels");
    let zeros = labels.iter().filter(|&&l| l == 0).count();
    let ones = labels.iter().filter(|&&l| l == 1).count();
    assert_eq!((zeros, ones), (2401, 1936), "graph label counts");
    let gt = b.edge_gt().expect("Mutagenicity has edge_gt");
    assert_eq!(
        gt.iter().filter(|&&m| m == 1).count(),
        7352,
        "ground-truth edges"
    );
    assert_eq!(b.edge_labels().map(<[i64]>::len), Some(266894));
    // Every node is exactly one-hot.
    for (i, row) in b.features().chunks_exact(14).enumerate() {
        assert_eq!(row.iter().sum::<f32>(), 1.0, "node {i} is not one-hot");
    }
    assert_eq!(*b.node_ptr().last().unwrap(), 131488);
    assert_eq!(*b.edge_ptr().last().unwrap(), 266894);
}
