//! Loading GraphConv state dicts from safetensors: a valid model in every
//! supported dtype, and every malformed state dict rejected with an error that
//! names the key, shape or dtype involved.

mod common;

use graph_ig::model::Card;
use graph_ig::{Error, GraphConvNet, Pool, Result};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// One tensor of a state dict, values in f64 before encoding.
#[derive(Clone)]
struct T {
    key: String,
    shape: Vec<usize>,
    values: Vec<f64>,
}

fn t(key: &str, shape: &[usize], values: Vec<f64>) -> T {
    T {
        key: key.to_string(),
        shape: shape.to_vec(),
        values,
    }
}

/// Deterministic, non-trivial values (not all representable in f16/bf16).
fn values(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let k = (i as u64 + 1)
                .wrapping_mul(2654435761)
                .wrapping_add(seed * 97)
                % 10007;
            (k as f64 / 10007.0 - 0.5) * 1.7 + 0.001 * seed as f64
        })
        .collect()
}

/// F = 3, conv widths 4, 4; lin1 4 → 5; lin2 5 → 2.
fn state_dict() -> Vec<T> {
    vec![
        t("conv1.lin_rel.weight", &[4, 3], values(12, 1)),
        t("conv1.lin_rel.bias", &[4], values(4, 2)),
        t("conv1.lin_root.weight", &[4, 3], values(12, 3)),
        t("conv2.lin_rel.weight", &[4, 4], values(16, 4)),
        t("conv2.lin_rel.bias", &[4], values(4, 5)),
        t("conv2.lin_root.weight", &[4, 4], values(16, 6)),
        t("lin1.weight", &[5, 4], values(20, 7)),
        t("lin1.bias", &[5], values(5, 8)),
        t("lin2.weight", &[2, 5], values(10, 9)),
        t("lin2.bias", &[2], values(2, 10)),
    ]
}

fn encode(v: &[f64], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect(),
        Dtype::F64 => v.iter().flat_map(|&x| x.to_le_bytes()).collect(),
        Dtype::F16 => v
            .iter()
            .flat_map(|&x| half::f16::from_f64(x).to_le_bytes())
            .collect(),
        Dtype::BF16 => v
            .iter()
            .flat_map(|&x| half::bf16::from_f64(x).to_le_bytes())
            .collect(),
        Dtype::I32 => v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect(),
        Dtype::I64 => v.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect(),
        other => panic!("test helper cannot encode {other:?}"),
    }
}

/// Serializes tensors, each with its own dtype.
fn serialize_mixed(tensors: &[(T, Dtype)]) -> Vec<u8> {
    let data: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = tensors
        .iter()
        .map(|(t, d)| (t.key.clone(), t.shape.clone(), *d, encode(&t.values, *d)))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(k, s, d, b)| {
            (
                k.clone(),
                TensorView::new(*d, s.clone(), b).expect("a consistent tensor view"),
            )
        })
        .collect();
    safetensors::serialize(views, &None).expect("serialize a state dict")
}

fn serialize(tensors: &[T], dtype: Dtype) -> Vec<u8> {
    serialize_mixed(
        &tensors
            .iter()
            .map(|t| (t.clone(), dtype))
            .collect::<Vec<_>>(),
    )
}

fn load(tensors: &[T]) -> Result<GraphConvNet> {
    GraphConvNet::from_safetensors_bytes(&serialize(tensors, Dtype::F32), "<memory>")
}

fn edited(edit: impl FnOnce(&mut Vec<T>)) -> Vec<T> {
    let mut sd = state_dict();
    edit(&mut sd);
    sd
}

fn remove(sd: &mut Vec<T>, key: &str) {
    let before = sd.len();
    sd.retain(|t| t.key != key);
    assert_eq!(
        sd.len() + 1,
        before,
        "test setup: {key} should be in the state dict"
    );
}

fn replace(sd: &mut [T], key: &str, shape: &[usize], values: Vec<f64>) {
    let t = sd
        .iter_mut()
        .find(|t| t.key == key)
        .expect("test setup: key present");
    t.shape = shape.to_vec();
    t.values = values;
}

/// The message of an `Error::Model`, checking that it names `<memory>` as the origin.
fn model_msg(r: Result<GraphConvNet>, what: &str) -> String {
    match r {
        Err(Error::Model { path, message }) => {
            assert_eq!(path, std::path::Path::new("<memory>"), "{what}: origin");
            message
        }
        Err(other) => panic!("{what}: expected Error::Model, got {other:?}"),
        Ok(m) => panic!(
            "{what}: expected Error::Model, but a model loaded: widths {:?}",
            m.widths()
        ),
    }
}

fn assert_contains(msg: &str, parts: &[&str], what: &str) {
    for p in parts {
        assert!(
            msg.contains(p),
            "{what}: message {msg:?} should contain {p:?}"
        );
    }
}

/// Every weight and bias of a model, flattened in a fixed order, with labels.
fn all_params(m: &GraphConvNet) -> Vec<(String, Vec<f64>)> {
    let mut out = Vec::new();
    let (convs, lin1, lin2) = common::tutorial_parts(m);
    for (k, c) in convs.iter().enumerate() {
        out.push((
            format!("conv{}.lin_rel.weight", k + 1),
            c.lin_rel.weight.clone(),
        ));
        out.push((
            format!("conv{}.lin_rel.bias", k + 1),
            c.lin_rel.bias.clone(),
        ));
        out.push((
            format!("conv{}.lin_root.weight", k + 1),
            c.lin_root.weight.clone(),
        ));
        out.push((
            format!("conv{}.lin_root.bias", k + 1),
            c.lin_root.bias.clone(),
        ));
    }
    out.push(("lin1.weight".into(), lin1.weight.clone()));
    out.push(("lin1.bias".into(), lin1.bias.clone()));
    out.push(("lin2.weight".into(), lin2.weight.clone()));
    out.push(("lin2.bias".into(), lin2.bias.clone()));
    out
}

/// The reference values of a key, after rounding through `round`; zeros for absent keys.
fn expected(key: &str, round: impl Fn(f64) -> f64, len: usize) -> Vec<f64> {
    match state_dict().into_iter().find(|t| t.key == key) {
        Some(t) => t.values.iter().map(|&v| round(v)).collect(),
        None => vec![0.0; len],
    }
}

// ---------------------------------------------------------------- valid models

#[test]
fn valid_f32_model_loads_with_the_right_shapes_and_values() {
    let bytes = serialize(&state_dict(), Dtype::F32);
    let m = GraphConvNet::from_safetensors_bytes(&bytes, "<memory>").expect("a valid state dict");
    assert_eq!(m.num_features(), 3);
    assert_eq!(m.num_classes(), 2);
    assert_eq!(m.num_layers(), 2);
    assert_eq!(m.widths(), vec![3, 4, 4]);
    assert_eq!(m.pool(), Some(Pool::Add), "the default pooling is add");
    let (convs, lin1, lin2) = common::tutorial_parts(&m);
    assert_eq!((lin1.in_dim, lin1.out_dim), (4, 5));
    assert_eq!((lin2.in_dim, lin2.out_dim), (5, 2));
    for c in &convs {
        assert_eq!(c.lin_root.out_dim, c.lin_rel.out_dim);
        assert_eq!(c.lin_root.in_dim, c.lin_rel.in_dim);
    }
    for (key, got) in all_params(&m) {
        let want = expected(&key, |v| v as f32 as f64, got.len());
        assert_eq!(got, want, "{key} read from f32");
    }
    // Row-major [out, in]: element (1, 2) of conv1.lin_rel.weight is flat index 5.
    assert_eq!(
        convs[0].lin_rel.weight[5],
        state_dict()[0].values[5] as f32 as f64
    );
    assert_eq!(m.clone().with_pool(Pool::Max).pool(), Some(Pool::Max));
}

#[test]
fn the_same_model_loads_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, serialize(&state_dict(), Dtype::F32)).unwrap();
    let from_file = GraphConvNet::from_safetensors(&path).expect("loads from a file");
    let from_bytes = load(&state_dict()).expect("loads from bytes");
    assert_eq!(from_file, from_bytes);
}

#[test]
fn f64_f16_and_bf16_give_the_same_model_up_to_rounding() {
    type Round = fn(f64) -> f64;
    let cases: [(Dtype, Round, f64); 4] = [
        (Dtype::F64, |v| v, 0.0),
        (Dtype::F32, |v| v as f32 as f64, 1e-7),
        (Dtype::F16, |v| half::f16::from_f64(v).to_f64(), 1e-3),
        (Dtype::BF16, |v| half::bf16::from_f64(v).to_f64(), 8e-3),
    ];
    for (dtype, round, rel) in cases {
        let bytes = serialize(&state_dict(), dtype);
        let m = GraphConvNet::from_safetensors_bytes(&bytes, "<memory>")
            .unwrap_or_else(|e| panic!("{dtype:?}: {e}"));
        assert_eq!(m.widths(), vec![3, 4, 4], "{dtype:?}");
        assert_eq!(m.num_classes(), 2, "{dtype:?}");
        for (key, got) in all_params(&m) {
            // Exactly the dtype's rounding of the reference values...
            assert_eq!(got, expected(&key, round, got.len()), "{key} in {dtype:?}");
            // ... which is close to the f64 values.
            for (g, w) in got.iter().zip(expected(&key, |v| v, got.len())) {
                assert!(
                    (g - w).abs() <= rel * w.abs() + 1e-12,
                    "{key} in {dtype:?}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn mixed_dtypes_in_one_file_are_accepted() {
    let sd = state_dict();
    let dtypes = [Dtype::F32, Dtype::F64, Dtype::F16, Dtype::BF16];
    let mixed: Vec<(T, Dtype)> = sd
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), dtypes[i % 4]))
        .collect();
    let m = GraphConvNet::from_safetensors_bytes(&serialize_mixed(&mixed), "<memory>")
        .expect("mixed dtypes");
    assert_eq!(m.widths(), vec![3, 4, 4]);
}

/// A bias PyG's default says is there must be there: a missing one is an error naming
/// the key; a card that says `"bias": false` loads the layer with zeros.
#[test]
fn missing_biases_are_errors_unless_the_card_says_so() {
    for key in ["lin2.bias", "conv1.lin_rel.bias"] {
        let sd = edited(|sd| sd.retain(|t| t.key != key));
        let m = model_msg(load(&sd), key);
        assert_contains(&m, &[&format!("missing key {key}"), "bias"], key);
    }
    let sd = edited(|sd| sd.retain(|t| !t.key.ends_with(".bias")));
    let card = Card::parse(
        r#"{"format": "graph-ig-arch/1", "task": "graph", "layers": [
            {"op": "GraphConv", "prefix": "conv1", "bias": false}, {"op": "relu"},
            {"op": "GraphConv", "prefix": "conv2", "bias": false}, {"op": "relu"},
            {"op": "global_add_pool"},
            {"op": "Linear", "prefix": "lin1", "bias": false}, {"op": "relu"},
            {"op": "Linear", "prefix": "lin2", "bias": false}, {"op": "log_softmax"}]}"#,
        "card.json",
    )
    .unwrap();
    let bytes = serialize(&sd, Dtype::F32);
    let m = GraphConvNet::from_safetensors_bytes_with_card(&bytes, "<memory>", &card)
        .expect("a state dict without biases and a card that says so");
    let (convs, lin1, lin2) = common::tutorial_parts(&m);
    for c in &convs {
        assert!(c.lin_rel.bias.iter().all(|&b| b == 0.0));
        assert_eq!(c.lin_rel.bias.len(), c.lin_rel.out_dim);
    }
    assert_eq!(lin1.bias, vec![0.0; 5]);
    assert_eq!(lin2.bias, vec![0.0; 2]);
    // The weights are still read.
    assert_eq!(
        lin2.weight,
        expected("lin2.weight", |v| v as f32 as f64, 10)
    );
    // A card that says "bias": false with a bias present is an error too.
    let with = serialize(&state_dict(), Dtype::F32);
    let e = GraphConvNet::from_safetensors_bytes_with_card(&with, "<memory>", &card)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unexpected key conv1.lin_rel.bias"), "{e}");
}

#[test]
fn three_layer_model_chains_widths() {
    let sd = edited(|sd| {
        replace(sd, "lin1.weight", &[5, 6], values(30, 11));
        sd.push(t("conv3.lin_rel.weight", &[6, 4], values(24, 12)));
        sd.push(t("conv3.lin_rel.bias", &[6], values(6, 13)));
        sd.push(t("conv3.lin_root.weight", &[6, 4], values(24, 14)));
    });
    let m = load(&sd).expect("three conv layers");
    assert_eq!(m.widths(), vec![3, 4, 4, 6]);
    assert_eq!(m.num_layers(), 3);
}

// ---------------------------------------------------------------- key errors

#[test]
fn missing_key_is_named() {
    for key in [
        "conv2.lin_root.weight",
        "conv1.lin_rel.weight",
        "lin1.weight",
        "lin2.weight",
    ] {
        let sd = edited(|sd| remove(sd, key));
        let m = model_msg(load(&sd), key);
        assert_contains(&m, &[key], &format!("missing {key}"));
    }
}

#[test]
fn no_conv_layers_is_rejected() {
    let sd = edited(|sd| sd.retain(|t| !t.key.starts_with("conv")));
    let m = model_msg(load(&sd), "no convs");
    assert_contains(&m, &["no conv layers", "conv1.lin_rel.weight"], "no convs");
}

#[test]
fn unexpected_keys_are_listed() {
    let sd = edited(|sd| {
        sd.push(t("extra.weight", &[2], vec![1.0, 2.0]));
        sd.push(t("bn.running_mean", &[2], vec![0.0, 0.0]));
    });
    let m = model_msg(load(&sd), "unexpected keys");
    assert_contains(
        &m,
        &["unexpected", "extra.weight", "bn.running_mean"],
        "unexpected keys",
    );

    // An unknown tensor under a conv layer.
    let sd = edited(|sd| sd.push(t("conv1.lin_rel.extra", &[1], vec![1.0])));
    let m = model_msg(load(&sd), "unexpected conv key");
    assert_contains(&m, &["conv1.lin_rel.extra"], "unexpected conv key");
}

#[test]
fn lin_root_bias_is_rejected() {
    let sd = edited(|sd| sd.push(t("conv1.lin_root.bias", &[4], values(4, 20))));
    let m = model_msg(load(&sd), "root bias");
    assert_contains(&m, &["conv1.lin_root.bias"], "root bias");
}

#[test]
fn conv_numbering_gap_is_rejected() {
    let sd = edited(|sd| {
        for t in sd.iter_mut() {
            if let Some(rest) = t.key.strip_prefix("conv2.") {
                t.key = format!("conv3.{rest}");
            }
        }
    });
    let m = model_msg(load(&sd), "conv gap");
    assert_contains(&m, &["conv3", "conv2"], "conv gap");

    // Numbering from 0 is also rejected.
    let sd = edited(|sd| {
        for t in sd.iter_mut() {
            if let Some(rest) = t.key.strip_prefix("conv2.") {
                t.key = format!("conv0.{rest}");
            }
        }
    });
    let m = model_msg(load(&sd), "conv0");
    assert_contains(&m, &["conv0"], "conv0");
}

// ---------------------------------------------------------------- shape, dtype and value errors

#[test]
fn wrong_shape_names_key_and_shape() {
    // conv2 takes 5 inputs but conv1 gives 4.
    let sd = edited(|sd| replace(sd, "conv2.lin_rel.weight", &[4, 5], values(20, 30)));
    let m = model_msg(load(&sd), "conv2 input width");
    assert_contains(&m, &["conv2.lin_rel.weight", "[4, 5]"], "conv2 input width");

    // A bias of the wrong length.
    let sd = edited(|sd| replace(sd, "conv1.lin_rel.bias", &[3], values(3, 31)));
    let m = model_msg(load(&sd), "bias length");
    assert_contains(&m, &["conv1.lin_rel.bias", "[3]", "[4]"], "bias length");

    // A weight of rank 1.
    let sd = edited(|sd| replace(sd, "lin1.weight", &[20], values(20, 32)));
    let m = model_msg(load(&sd), "rank 1 weight");
    assert_contains(&m, &["lin1.weight", "[20]"], "rank 1 weight");

    // lin_root with a different in width than lin_rel.
    let sd = edited(|sd| replace(sd, "conv1.lin_root.weight", &[4, 2], values(8, 33)));
    let m = model_msg(load(&sd), "root in width");
    assert_contains(&m, &["conv1.lin_root.weight", "[4, 2]"], "root in width");

    // lin_root with a different out width than lin_rel.
    let sd = edited(|sd| replace(sd, "conv1.lin_root.weight", &[3, 3], values(9, 34)));
    let m = model_msg(load(&sd), "root out width");
    assert_contains(&m, &["conv1.lin_root.weight", "3", "4"], "root out width");

    // lin2 whose input is not lin1's output.
    let sd = edited(|sd| replace(sd, "lin2.weight", &[2, 4], values(8, 35)));
    let m = model_msg(load(&sd), "lin2 input");
    assert_contains(&m, &["lin2.weight", "[2, 4]"], "lin2 input");

    // An empty weight.
    let sd = edited(|sd| replace(sd, "conv1.lin_rel.weight", &[0, 3], vec![]));
    let m = model_msg(load(&sd), "empty weight");
    assert_contains(&m, &["conv1.lin_rel.weight", "empty"], "empty weight");
}

#[test]
fn wrong_dtype_names_key_and_dtype() {
    for (dtype, name) in [(Dtype::I32, "I32"), (Dtype::I64, "I64")] {
        let mixed: Vec<(T, Dtype)> = state_dict()
            .into_iter()
            .map(|t| {
                let d = if t.key == "conv2.lin_rel.weight" {
                    dtype
                } else {
                    Dtype::F32
                };
                (t, d)
            })
            .collect();
        let r = GraphConvNet::from_safetensors_bytes(&serialize_mixed(&mixed), "<memory>");
        let m = model_msg(r, name);
        assert_contains(&m, &["conv2.lin_rel.weight", name], name);
    }
}

#[test]
fn non_finite_weight_names_the_key() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let sd = edited(|sd| {
            let t = sd
                .iter_mut()
                .find(|t| t.key == "conv2.lin_root.weight")
                .unwrap();
            t.values[5] = bad;
        });
        let m = model_msg(load(&sd), &format!("{bad}"));
        assert_contains(
            &m,
            &["conv2.lin_root.weight", "index 5", "not finite"],
            &format!("{bad}"),
        );
    }
    // In a bias, and in f16.
    let sd = edited(|sd| {
        let t = sd.iter_mut().find(|t| t.key == "lin1.bias").unwrap();
        t.values[2] = f64::NAN;
    });
    let r = GraphConvNet::from_safetensors_bytes(&serialize(&sd, Dtype::F16), "<memory>");
    let m = model_msg(r, "f16 NaN bias");
    assert_contains(&m, &["lin1.bias", "index 2"], "f16 NaN bias");
}

#[test]
fn single_output_classifier_is_rejected() {
    let sd = edited(|sd| {
        replace(sd, "lin2.weight", &[1, 5], values(5, 40));
        replace(sd, "lin2.bias", &[1], values(1, 41));
    });
    let m = model_msg(load(&sd), "one class");
    assert_contains(&m, &["lin2", "1 output"], "one class");
}

// ---------------------------------------------------------------- file errors

#[test]
fn not_a_safetensors_file_is_a_safetensors_error() {
    for (bytes, what) in [
        (b"hello, this is not a safetensors file".to_vec(), "text"),
        (vec![], "empty"),
        (vec![0xff; 8], "huge header length"),
    ] {
        match GraphConvNet::from_safetensors_bytes(&bytes, "junk.safetensors") {
            Err(Error::Safetensors { path, message }) => {
                assert_eq!(path, std::path::Path::new("junk.safetensors"), "{what}");
                assert!(!message.is_empty(), "{what}");
            }
            other => panic!("{what}: expected Error::Safetensors, got {other:?}"),
        }
    }
    // Through a file: the error names it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, b"{\"not\": \"safetensors\"}").unwrap();
    match GraphConvNet::from_safetensors(&path) {
        Err(e @ Error::Safetensors { .. }) => {
            assert!(e.to_string().contains("bad.safetensors"), "{e}");
        }
        other => panic!("expected Error::Safetensors, got {other:?}"),
    }
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.safetensors");
    match GraphConvNet::from_safetensors(&path) {
        Err(Error::Io { path: p, source }) => {
            assert_eq!(p, path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

#[test]
fn errors_from_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken_model.safetensors");
    let sd = edited(|sd| remove(sd, "lin2.bias"));
    let sd = {
        let mut sd = sd;
        sd.push(t("lin2.bias", &[3], values(3, 50)));
        sd
    };
    std::fs::write(&path, serialize(&sd, Dtype::F32)).unwrap();
    match GraphConvNet::from_safetensors(&path) {
        Err(e @ Error::Model { .. }) => {
            let s = e.to_string();
            assert!(s.contains("broken_model.safetensors"), "{s}");
            assert!(s.contains("lin2.bias"), "{s}");
        }
        other => panic!("expected Error::Model, got {other:?}"),
    }
}
