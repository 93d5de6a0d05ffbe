//! The PyG data-file reader (`graph::pyg`): the real exports of Mutagenicity (against the TU
//! loader) and Cora, every accepted dtype, interleaved edges, and every error path, on small
//! files written here with the safetensors crate.

use graph_ig::graph::pyg::{self, PygData};
use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::{Error, GraphBatch, Result};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel)
}

/// One tensor to write: dtype, shape, little-endian bytes.
#[derive(Clone)]
struct T(Dtype, Vec<usize>, Vec<u8>);

fn i64s(shape: &[usize], v: &[i64]) -> T {
    T(
        Dtype::I64,
        shape.to_vec(),
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}
fn i32s(shape: &[usize], v: &[i32]) -> T {
    T(
        Dtype::I32,
        shape.to_vec(),
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}
fn f32s(shape: &[usize], v: &[f32]) -> T {
    T(
        Dtype::F32,
        shape.to_vec(),
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}
fn f64s(shape: &[usize], v: &[f64]) -> T {
    T(
        Dtype::F64,
        shape.to_vec(),
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}
fn bytes(dtype: Dtype, shape: &[usize], v: &[u8]) -> T {
    T(dtype, shape.to_vec(), v.to_vec())
}

fn serialize(tensors: &BTreeMap<String, T>) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(k, T(d, s, b))| {
            (
                k.clone(),
                TensorView::new(*d, s.clone(), b).expect("a valid view"),
            )
        })
        .collect();
    safetensors::serialize(views, &None).expect("serialize")
}

/// A valid two-graph batch: graph 0 = nodes 0..3 (edges 0→1, 1→0, 1→2, self-loop 2→2),
/// graph 1 = nodes 3..5 (edges 3→4, 4→3); F = 2, 0/1 features.
fn base() -> BTreeMap<String, T> {
    let x = [1., 0., 0., 1., 1., 1., 0., 0., 1., 0.];
    let mut m = BTreeMap::new();
    m.insert("x".into(), f32s(&[5, 2], &x));
    m.insert(
        "edge_index".into(),
        i64s(&[2, 6], &[0, 1, 1, 2, 3, 4, 1, 0, 2, 2, 4, 3]),
    );
    m.insert("batch".into(), i64s(&[5], &[0, 0, 0, 1, 1]));
    m.insert("ptr".into(), i64s(&[3], &[0, 3, 5]));
    m.insert("y".into(), i64s(&[2], &[1, 0]));
    m.insert(
        "edge_gt".into(),
        bytes(Dtype::U8, &[6], &[0, 1, 1, 0, 0, 1]),
    );
    m
}

fn read(m: &BTreeMap<String, T>) -> Result<PygData> {
    pyg::from_bytes(&serialize(m), "test.safetensors")
}

fn edited(edit: impl FnOnce(&mut BTreeMap<String, T>)) -> Result<PygData> {
    let mut m = base();
    edit(&mut m);
    read(&m)
}

/// Asserts an `Error::Data` on `key` whose message contains every part.
fn expect_data(r: Result<PygData>, key: &str, parts: &[&str]) {
    match r {
        Err(Error::Data {
            path,
            key: k,
            message,
        }) => {
            assert_eq!(path, PathBuf::from("test.safetensors"));
            assert_eq!(k, key, "wrong key; message: {message}");
            for p in parts {
                assert!(message.contains(p), "{message:?} lacks {p:?}");
            }
            // The displayed error names the file and the tensor.
            let shown = Error::Data {
                path,
                key: k,
                message,
            }
            .to_string();
            assert!(
                shown.contains("test.safetensors") && shown.contains(key),
                "{shown}"
            );
        }
        Err(e) => panic!("expected Error::Data on {key}, got {e}"),
        Ok(_) => panic!("expected Error::Data on {key}, got a valid file"),
    }
}

#[test]
fn base_file_reads_as_expected() {
    let d = read(&base()).unwrap();
    let b = &d.batch;
    assert_eq!(b.num_graphs(), 2);
    assert_eq!(b.node_ptr(), &[0, 3, 5]);
    assert_eq!(b.edge_ptr(), &[0, 4, 6]);
    assert_eq!(b.src(), &[0, 1, 1, 2, 3, 4]);
    assert_eq!(b.dst(), &[1, 0, 2, 2, 4, 3]);
    assert_eq!(b.graph_labels(), Some(&[1, 0][..]));
    assert_eq!(b.edge_gt(), Some(&[0, 1, 1, 0, 0, 1][..]));
    assert_eq!(b.features(), &[1., 0., 0., 1., 1., 1., 0., 0., 1., 0.]);
    assert_eq!(d.node_labels, None);
    assert_eq!(d.edge_perm, None);
    assert!(d.ignored.is_empty() && d.notes.is_empty());
    assert_eq!(d.x_dtype, "F32");
}

#[test]
fn batch_and_ptr_are_optional() {
    // ptr only.
    let d = edited(|m| {
        m.remove("batch");
    })
    .unwrap();
    assert_eq!(d.batch.node_ptr(), &[0, 3, 5]);
    // batch only.
    let d = edited(|m| {
        m.remove("ptr");
    })
    .unwrap();
    assert_eq!(d.batch.node_ptr(), &[0, 3, 5]);
    // Neither: one graph; y of length 2 then matches neither G = 1 nor N = 5.
    let r = edited(|m| {
        m.remove("ptr");
        m.remove("batch");
    });
    expect_data(r, "y", &["2 entries", "1 graphs", "5 nodes"]);
    let d = edited(|m| {
        m.remove("ptr");
        m.remove("batch");
        m.insert("y".into(), i64s(&[5], &[0, 1, 2, 1, 0]));
    })
    .unwrap();
    assert_eq!(d.batch.num_graphs(), 1);
    assert_eq!(d.batch.edge_ptr(), &[0, 6]);
    assert_eq!(d.node_labels, Some(vec![0, 1, 2, 1, 0]));
    assert_eq!(d.batch.graph_labels(), None);
}

#[test]
fn labels_of_length_g_equal_to_n_are_both() {
    // Two one-node graphs: y [2] is both graph and node labels.
    let mut m = BTreeMap::new();
    m.insert("x".to_string(), f32s(&[2, 1], &[1.0, 2.0]));
    m.insert("edge_index".to_string(), i64s(&[2, 0], &[]));
    m.insert("batch".to_string(), i64s(&[2], &[0, 1]));
    m.insert("y".to_string(), i64s(&[2, 1], &[3, 4]));
    let d = read(&m).unwrap();
    assert_eq!(d.batch.graph_labels(), Some(&[3, 4][..]));
    assert_eq!(d.node_labels, Some(vec![3, 4]));
    assert_eq!(d.batch.num_edges(), 0);
}

#[test]
fn zero_one_features_are_identical_in_every_dtype() {
    let reference = read(&base()).unwrap();
    let x01: Vec<u8> = reference
        .batch
        .features()
        .iter()
        .map(|&v| v as u8)
        .collect();
    let variants: Vec<(&str, T)> = vec![
        ("U8", bytes(Dtype::U8, &[5, 2], &x01)),
        ("BOOL", bytes(Dtype::BOOL, &[5, 2], &x01)),
        ("I8", bytes(Dtype::I8, &[5, 2], &x01)),
        (
            "F64",
            f64s(&[5, 2], &x01.iter().map(|&v| v as f64).collect::<Vec<_>>()),
        ),
        (
            "I64",
            i64s(&[5, 2], &x01.iter().map(|&v| v as i64).collect::<Vec<_>>()),
        ),
        (
            "I32",
            i32s(&[5, 2], &x01.iter().map(|&v| v as i32).collect::<Vec<_>>()),
        ),
        (
            "F16",
            T(
                Dtype::F16,
                vec![5, 2],
                x01.iter()
                    .flat_map(|&v| half::f16::from_f32(v as f32).to_le_bytes())
                    .collect(),
            ),
        ),
        (
            "BF16",
            T(
                Dtype::BF16,
                vec![5, 2],
                x01.iter()
                    .flat_map(|&v| half::bf16::from_f32(v as f32).to_le_bytes())
                    .collect(),
            ),
        ),
        // 0x38 is 1.0 in E4M3FN, 0x3C is 1.0 in E5M2.
        (
            "F8_E4M3",
            bytes(
                Dtype::F8_E4M3,
                &[5, 2],
                &x01.iter().map(|&v| v * 0x38).collect::<Vec<_>>(),
            ),
        ),
        (
            "F8_E5M2",
            bytes(
                Dtype::F8_E5M2,
                &[5, 2],
                &x01.iter().map(|&v| v * 0x3C).collect::<Vec<_>>(),
            ),
        ),
    ];
    for (name, t) in variants {
        let d = edited(|m| {
            m.insert("x".into(), t);
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.x_dtype, name);
        assert!(d.notes.is_empty(), "{name}: {:?}", d.notes);
        let same = d
            .batch
            .features()
            .iter()
            .zip(reference.batch.features())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name}: features differ from f32");
        assert_eq!(d.batch, reference.batch, "{name}");
    }
}

#[test]
fn f64_features_are_rounded_to_the_nearest_f32_with_a_note() {
    let v = [0.1f64, 0.5, 1.0 / 3.0, 2.0, -0.7, 0.0, 1e-3, 4.0, 0.25, 1.0];
    let d = edited(|m| {
        m.insert("x".into(), f64s(&[5, 2], &v));
    })
    .unwrap();
    let want: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    assert_eq!(d.batch.features(), &want[..]);
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    // 0.1, 1/3, -0.7 and 1e-3 are not f32 values.
    assert!(
        d.notes[0].contains("4 of 10") && d.notes[0].contains("F64"),
        "{}",
        d.notes[0]
    );
    // Large integers are rounded too.
    let d = edited(|m| {
        m.insert(
            "x".into(),
            i64s(&[5, 2], &[(1 << 24) + 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        );
    })
    .unwrap();
    assert_eq!(d.batch.features()[0], 16777216.0);
    assert!(d.notes[0].contains("1 of 10"), "{}", d.notes[0]);
}

#[test]
fn i32_edge_index_equals_i64() {
    let reference = read(&base()).unwrap();
    let d = edited(|m| {
        m.insert(
            "edge_index".into(),
            i32s(&[2, 6], &[0, 1, 1, 2, 3, 4, 1, 0, 2, 2, 4, 3]),
        );
        m.insert("batch".into(), i32s(&[5], &[0, 0, 0, 1, 1]));
    })
    .unwrap();
    assert_eq!(d, reference);
}

#[test]
fn interleaved_edges_are_grouped_stably_with_the_permutation() {
    // File order: g1, g0, g0, g1, g0, g1 (edges of graph 1 are 3→4, 4→3, 3→3).
    let src = [3, 0, 1, 4, 1, 3];
    let dst = [4, 1, 0, 3, 2, 3];
    let gt = [1u8, 0, 1, 0, 1, 0];
    let w = [0.5f32, 1.0, 2.0, 3.0, 4.0, 5.0];
    let d = edited(|m| {
        let ei: Vec<i64> = src.iter().chain(&dst).copied().collect();
        m.insert("edge_index".into(), i64s(&[2, 6], &ei));
        m.insert("edge_gt".into(), bytes(Dtype::BOOL, &[6], &gt));
        m.insert("edge_weight".into(), f32s(&[6], &w));
    })
    .unwrap();
    let perm = d.edge_perm.clone().expect("a permutation");
    assert_eq!(perm, vec![1, 2, 4, 0, 3, 5]);
    assert_eq!(d.batch.edge_ptr(), &[0, 3, 6]);
    for (k, &f) in perm.iter().enumerate() {
        assert_eq!(d.batch.src()[k] as i64, src[f]);
        assert_eq!(d.batch.dst()[k] as i64, dst[f]);
        assert_eq!(d.batch.edge_gt().unwrap()[k], gt[f]);
        assert_eq!(d.edge_weight.as_ref().unwrap()[k], w[f]);
        assert_eq!(d.file_edge(k), f);
    }
    // Outputs map back to the file order, also for [E, k] rows.
    let back = d.to_file_order(d.edge_weight.as_ref().unwrap()).unwrap();
    assert_eq!(back, w);
    let rows: Vec<i64> = (0..6)
        .flat_map(|k| [d.batch.src()[k] as i64, d.batch.dst()[k] as i64])
        .collect();
    let back = d.to_file_order(&rows).unwrap();
    for f in 0..6 {
        assert_eq!([back[2 * f], back[2 * f + 1]], [src[f], dst[f]]);
    }
    assert_eq!(d.to_file_order(&[1.0f32; 5]), None);
}

#[test]
fn masks_weights_and_ground_truth() {
    let d = edited(|m| {
        m.insert(
            "train_mask".into(),
            bytes(Dtype::BOOL, &[5], &[1, 1, 0, 0, 0]),
        );
        m.insert("val_mask".into(), bytes(Dtype::U8, &[5], &[0, 0, 1, 0, 0]));
        m.insert(
            "test_mask".into(),
            bytes(Dtype::BOOL, &[5], &[0, 0, 0, 1, 1]),
        );
        m.insert("node_gt".into(), bytes(Dtype::U8, &[5], &[0, 1, 0, 0, 1]));
        m.insert(
            "edge_weight".into(),
            f64s(&[6], &[1.0, 0.5, 0.25, 2.0, 0.1, 3.0]),
        );
        m.insert("edge_attr".into(), f32s(&[6, 1], &[0.0; 6]));
        m.insert("pos".into(), f32s(&[5, 3], &[0.0; 15]));
    })
    .unwrap();
    assert_eq!(d.train_mask, Some(vec![true, true, false, false, false]));
    assert_eq!(d.val_mask, Some(vec![false, false, true, false, false]));
    assert_eq!(d.test_mask, Some(vec![false, false, false, true, true]));
    assert_eq!(d.node_gt, Some(vec![0, 1, 0, 0, 1]));
    assert_eq!(
        d.edge_weight,
        Some(vec![1.0, 0.5, 0.25, 2.0, 0.1f64 as f32, 3.0])
    );
    assert_eq!(d.ignored, vec!["edge_attr".to_string(), "pos".to_string()]);
    assert!(d
        .notes
        .iter()
        .any(|n| n.contains("edge_weight") && n.contains("1 of 6")));
}

#[test]
fn missing_required_tensors() {
    expect_data(edited(|m| drop(m.remove("x"))), "x", &["missing"]);
    expect_data(
        edited(|m| drop(m.remove("edge_index"))),
        "edge_index",
        &["missing"],
    );
}

#[test]
fn wrong_dtypes() {
    expect_data(
        edited(|m| drop(m.insert("edge_index".into(), f32s(&[2, 6], &[0.0; 12])))),
        "edge_index",
        &["F32", "integer"],
    );
    expect_data(
        edited(|m| drop(m.insert("batch".into(), f32s(&[5], &[0.0; 5])))),
        "batch",
        &["F32"],
    );
    expect_data(
        edited(|m| drop(m.insert("y".into(), f32s(&[2], &[0.0; 2])))),
        "y",
        &["F32"],
    );
    expect_data(
        edited(|m| drop(m.insert("train_mask".into(), i64s(&[5], &[0; 5])))),
        "train_mask",
        &["I64", "BOOL or U8"],
    );
    expect_data(
        edited(|m| drop(m.insert("edge_gt".into(), f32s(&[6], &[0.0; 6])))),
        "edge_gt",
        &["F32"],
    );
    expect_data(
        edited(|m| drop(m.insert("edge_weight".into(), i64s(&[6], &[1; 6])))),
        "edge_weight",
        &["I64", "float"],
    );
    expect_data(
        edited(|m| drop(m.insert("x".into(), bytes(Dtype::BOOL, &[5, 2], &[2; 10])))),
        "x",
        &["not 0 or 1"],
    );
    expect_data(
        edited(|m| {
            drop(m.insert(
                "edge_gt".into(),
                bytes(Dtype::U8, &[6], &[0, 0, 2, 0, 0, 0]),
            ))
        }),
        "edge_gt",
        &["index 2", "not 0 or 1"],
    );
}

#[test]
fn wrong_ranks_and_shapes() {
    expect_data(
        edited(|m| drop(m.insert("x".into(), f32s(&[10], &[0.0; 10])))),
        "x",
        &["shape [10]", "rank 2"],
    );
    expect_data(
        edited(|m| drop(m.insert("x".into(), f32s(&[5, 2, 1], &[0.0; 10])))),
        "x",
        &["rank 2"],
    );
    expect_data(
        edited(|m| drop(m.insert("x".into(), f32s(&[0, 2], &[])))),
        "x",
        &["no nodes"],
    );
    expect_data(
        edited(|m| drop(m.insert("x".into(), f32s(&[5, 0], &[])))),
        "x",
        &["no features"],
    );
    expect_data(
        edited(|m| drop(m.insert("edge_index".into(), i64s(&[3, 4], &[0; 12])))),
        "edge_index",
        &["shape [3, 4]", "[2, ?]"],
    );
    expect_data(
        edited(|m| drop(m.insert("edge_index".into(), i64s(&[12], &[0; 12])))),
        "edge_index",
        &["rank 2"],
    );
    expect_data(
        edited(|m| drop(m.insert("batch".into(), i64s(&[4], &[0, 0, 0, 1])))),
        "batch",
        &["shape [4]", "[5]"],
    );
    expect_data(
        edited(|m| drop(m.insert("y".into(), i64s(&[2, 2], &[0; 4])))),
        "y",
        &["shape [2, 2]"],
    );
}

#[test]
fn node_ids_out_of_range() {
    expect_data(
        edited(|m| drop(m.insert("edge_index".into(), i64s(&[2, 2], &[0, 5, 1, 0])))),
        "edge_index",
        &["edge 1", "source node 5", "0..5"],
    );
    expect_data(
        edited(|m| drop(m.insert("edge_index".into(), i64s(&[2, 2], &[0, 1, -1, 0])))),
        "edge_index",
        &["edge 0", "target node -1"],
    );
    expect_data(
        edited(|m| drop(m.insert("edge_index".into(), i64s(&[2, 1], &[2, 3])))),
        "edge_index",
        &["edge 0", "crosses graphs", "graph 0", "graph 1"],
    );
}

#[test]
fn batch_must_be_sorted_and_agree_with_ptr() {
    expect_data(
        edited(|m| drop(m.insert("batch".into(), i64s(&[5], &[0, 0, 1, 0, 1])))),
        "batch",
        &["not sorted", "node 3"],
    );
    expect_data(
        edited(|m| drop(m.insert("batch".into(), i64s(&[5], &[0, 0, 0, -1, 1])))),
        "batch",
        &["negative"],
    );
    expect_data(
        edited(|m| drop(m.insert("ptr".into(), i64s(&[3], &[0, 2, 5])))),
        "ptr",
        &["disagrees with batch", "ptr[1] = 2", "3 nodes"],
    );
    expect_data(
        edited(|m| drop(m.insert("ptr".into(), i64s(&[2], &[0, 5])))),
        "ptr",
        &["disagrees with batch", "1 graphs", "graph id 1"],
    );
    expect_data(
        edited(|m| drop(m.insert("ptr".into(), i64s(&[3], &[0, 3, 4])))),
        "ptr",
        &["ends at 4", "5 nodes"],
    );
    expect_data(
        edited(|m| drop(m.insert("ptr".into(), i64s(&[3], &[1, 3, 5])))),
        "ptr",
        &["starts at 1"],
    );
    expect_data(
        edited(|m| drop(m.insert("ptr".into(), i64s(&[3], &[0, 6, 5])))),
        "ptr",
        &["decreases at graph 1"],
    );
    expect_data(
        edited(|m| drop(m.insert("ptr".into(), i64s(&[1], &[0])))),
        "ptr",
        &["G+1"],
    );
}

#[test]
fn empty_graphs_are_rejected() {
    // batch skips graph id 1.
    expect_data(
        edited(|m| {
            m.insert("batch".into(), i64s(&[5], &[0, 0, 0, 2, 2]));
            m.remove("ptr");
        }),
        "batch",
        &["graph 1 has no nodes"],
    );
    // A repeated ptr entry.
    expect_data(
        edited(|m| {
            m.insert("ptr".into(), i64s(&[4], &[0, 3, 3, 5]));
            m.remove("batch");
            m.remove("y");
        }),
        "ptr",
        &["graph 1 has no nodes"],
    );
    // A ptr with a trailing empty graph that batch cannot see.
    expect_data(
        edited(|m| {
            m.insert("ptr".into(), i64s(&[4], &[0, 3, 5, 5]));
            m.remove("y");
        }),
        "batch",
        &["graph 2 has no nodes"],
    );
}

#[test]
fn non_finite_features() {
    for (bad, want) in [
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
        (f32::NEG_INFINITY, "-inf"),
    ] {
        let mut x = vec![0.0f32; 10];
        x[7] = bad;
        expect_data(
            edited(|m| drop(m.insert("x".into(), f32s(&[5, 2], &x)))),
            "x",
            &["graph 1, node 0 (global 3), feature 1", want, "not finite"],
        );
    }
    let mut x = vec![0.0f64; 10];
    x[3] = 1e300;
    expect_data(
        edited(|m| drop(m.insert("x".into(), f64s(&[5, 2], &x)))),
        "x",
        &["graph 0, node 1", "feature 1", "outside the f32 range"],
    );
    expect_data(
        edited(|m| {
            drop(m.insert(
                "edge_weight".into(),
                f32s(&[6], &[1.0, 1.0, f32::NAN, 1.0, 1.0, 1.0]),
            ))
        }),
        "edge_weight",
        &["edge 2", "not finite"],
    );
}

#[test]
fn masks_and_ground_truth_of_the_wrong_length() {
    for key in ["train_mask", "val_mask", "test_mask", "node_gt"] {
        expect_data(
            edited(|m| drop(m.insert(key.into(), bytes(Dtype::BOOL, &[4], &[0; 4])))),
            key,
            &["shape [4]", "[5]"],
        );
    }
    expect_data(
        edited(|m| drop(m.insert("train_mask".into(), bytes(Dtype::BOOL, &[5, 2], &[0; 10])))),
        "train_mask",
        &["shape [5, 2]", "rank 1"],
    );
    expect_data(
        edited(|m| drop(m.insert("edge_gt".into(), bytes(Dtype::U8, &[5], &[0; 5])))),
        "edge_gt",
        &["shape [5]", "[6]"],
    );
    expect_data(
        edited(|m| drop(m.insert("edge_weight".into(), f32s(&[7], &[1.0; 7])))),
        "edge_weight",
        &["shape [7]", "[6]"],
    );
}

#[test]
fn labels_of_the_wrong_length_or_sign() {
    expect_data(
        edited(|m| drop(m.insert("y".into(), i64s(&[3], &[0, 1, 0])))),
        "y",
        &["3 entries", "2 graphs", "5 nodes"],
    );
    expect_data(
        edited(|m| drop(m.insert("y".into(), i64s(&[2], &[0, -1])))),
        "y",
        &["entry 1", "negative"],
    );
}

#[test]
fn corrupt_and_truncated_files() {
    let good = serialize(&base());
    let expect_st = |r: Result<PygData>| match r {
        Err(Error::Safetensors { path, .. }) => assert_eq!(path, PathBuf::from("x.st")),
        Err(e) => panic!("expected Error::Safetensors, got {e}"),
        Ok(_) => panic!("expected Error::Safetensors, got a valid file"),
    };
    expect_st(pyg::from_bytes(&good[..good.len() - 3], "x.st"));
    expect_st(pyg::from_bytes(&good[..20], "x.st"));
    expect_st(pyg::from_bytes(&[], "x.st"));
    expect_st(pyg::from_bytes(b"not a safetensors file at all", "x.st"));
    // No panic on any prefix or on any single corrupted byte of a valid file.
    for len in 0..good.len() {
        let _ = pyg::from_bytes(&good[..len], "x.st");
    }
    for i in 0..good.len() {
        for v in [0u8, 0xFF, b'9', b'"', b','] {
            let mut b = good.clone();
            b[i] = v;
            let _ = pyg::from_bytes(&b, "x.st");
        }
    }
    // A missing file is an I/O error naming it.
    match pyg::load("/nonexistent/data.safetensors") {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("data.safetensors")),
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

/// Per graph, the sorted multiset of (local src, local dst, edge_gt).
fn edge_multisets(b: &GraphBatch) -> Vec<Vec<(usize, usize, u8)>> {
    b.graphs()
        .map(|g| {
            let mut v: Vec<(usize, usize, u8)> = g
                .edges
                .clone()
                .map(|e| {
                    (
                        b.src()[e] as usize - g.nodes.start,
                        b.dst()[e] as usize - g.nodes.start,
                        b.edge_gt().map_or(0, |m| m[e]),
                    )
                })
                .collect();
            v.sort_unstable();
            v
        })
        .collect()
}

#[test]
fn mutagenicity_export_matches_the_tu_files() {
    let d = pyg::load(shared("Mutagenicity/pyg/Mutagenicity.safetensors")).unwrap();
    let tu = load_tu(
        shared("Mutagenicity/raw"),
        "Mutagenicity",
        14,
        &TuOptions::default(),
    )
    .unwrap();
    let b = &d.batch;
    assert_eq!(b.num_graphs(), 4337);
    assert_eq!(b.num_nodes(), 131_488);
    assert_eq!(b.num_edges(), 266_894);
    assert_eq!(b.num_features(), 14);
    assert_eq!(d.ignored, vec!["edge_attr".to_string()]);
    assert_eq!(d.edge_perm, None);
    assert!(d.notes.is_empty());
    assert_eq!(d.node_labels, None);
    assert_eq!(b.node_ptr(), tu.node_ptr());
    assert_eq!(b.edge_ptr(), tu.edge_ptr());
    assert_eq!(b.features(), tu.features());
    assert_eq!(b.graph_labels(), tu.graph_labels());
    assert_eq!(
        b.edge_gt()
            .map(|m| m.iter().map(|&v| v as usize).sum::<usize>()),
        Some(7352)
    );
    assert_eq!(edge_multisets(b), edge_multisets(&tu));
    // The orders differ: PyG sorts each graph's edges by (source, target), _A.txt does not.
    assert!(b.src() != tu.src() || b.dst() != tu.dst());
    for g in b.graphs() {
        let pairs: Vec<(u32, u32)> = g.edges.clone().map(|e| (b.src()[e], b.dst()[e])).collect();
        assert!(
            pairs.windows(2).all(|w| w[0] <= w[1]),
            "graph {} is not sorted",
            g.index
        );
    }
}

#[test]
fn cora_export() {
    let d = pyg::load(shared("Planetoid/Cora.safetensors")).unwrap();
    let b = &d.batch;
    assert_eq!(b.num_graphs(), 1);
    assert_eq!(b.num_nodes(), 2708);
    assert_eq!(b.num_edges(), 10_556);
    assert_eq!(b.num_features(), 1433);
    assert_eq!(d.x_dtype, "F32");
    assert!(d.ignored.is_empty(), "{:?}", d.ignored);
    assert_eq!(b.graph_labels(), None);
    let y = d.node_labels.as_ref().unwrap();
    let mut counts = [0usize; 7];
    for &c in y {
        counts[c as usize] += 1;
    }
    assert_eq!(counts, [351, 217, 418, 818, 426, 298, 180]);
    let count = |m: &Option<Vec<bool>>| m.as_ref().unwrap().iter().filter(|&&v| v).count();
    assert_eq!(count(&d.train_mask), 140);
    assert_eq!(count(&d.val_mask), 500);
    assert_eq!(count(&d.test_mask), 1000);
    assert_eq!(b.features().iter().filter(|&&v| v != 0.0).count(), 49_216);
    let mut indeg = vec![0usize; 2708];
    for &t in b.dst() {
        indeg[t as usize] += 1;
    }
    assert_eq!(indeg.iter().max(), Some(&168));
    assert_eq!(indeg.iter().min(), Some(&1));
    // PyG's Planetoid order: sorted by (target, source).
    let pairs: Vec<(u32, u32)> = b.dst().iter().zip(b.src()).map(|(&t, &s)| (t, s)).collect();
    assert!(pairs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn cli_reads_a_pyg_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    let data = shared("Mutagenicity/pyg/Mutagenicity.safetensors");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_graph-ig"))
        .args([
            "explain", "--device", "cpu", "--quiet", "--graphs", "0..3", "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    // The built-in Mutagenicity model (the file stem names the dataset); edge_attr is named once.
    assert_eq!(
        stderr.matches("ignored tensors: edge_attr").count(),
        1,
        "{stderr}"
    );
    assert!(out.exists());

    // A file whose feature width does not fit the model is refused with both widths.
    let small = dir.path().join("Mutagenicity.safetensors");
    std::fs::write(&small, serialize(&base())).unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_graph-ig"))
        .args(["explain", "--device", "cpu", "--quiet", "--data"])
        .arg(&small)
        .arg("--out")
        .arg(dir.path().join("o2.safetensors"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("2 features") && stderr.contains("expects 14"),
        "{stderr}"
    );
}
