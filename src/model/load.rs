//! Building a [`Model`] from a state dict and a card (or the tutorial family inferred
//! from the keys).

use super::card::{Card, CardOp, Task, METADATA_KEY};
use super::state_dict::StateDict;
use super::{
    Act, Aggr, BatchNorm, Conv, GatConv, GcnConv, GinConv, GraphConv, Linear, Model, Op, Output,
    Pool, Readout, SageConv,
};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Loads `bytes` with `card`, else the card in the metadata, else the tutorial family.
pub(super) fn load(bytes: &[u8], origin: &Path, card: Option<&Card>) -> Result<Model> {
    let mut sd = StateDict::parse(bytes, origin)?;
    let from_meta;
    let card = match card {
        Some(c) => Some(c),
        None => match sd.metadata.get(METADATA_KEY) {
            Some(text) => {
                from_meta = Card::parse(
                    text,
                    format!("{} (metadata {METADATA_KEY})", origin.display()),
                )?;
                Some(&from_meta)
            }
            None => None,
        },
    };
    let model = match card {
        Some(c) => from_card(&mut sd, c)?,
        None => tutorial(&mut sd)?,
    };
    if !sd.keys().is_empty() {
        return Err(Error::model(
            origin,
            format!(
                "unexpected keys (no op of the {} uses them): {:?}",
                if card.is_some() {
                    "card"
                } else {
                    "tutorial model"
                },
                sd.keys()
            ),
        ));
    }
    Ok(model)
}

/// Reads `{prefix}.weight [out, in]` (in fixed when known) and, when `bias`, the bias.
/// A bias that `bias` says is there must be there; one it says is not must not be.
fn linear(sd: &mut StateDict, prefix: &str, in_dim: Option<usize>, bias: bool) -> Result<Linear> {
    let (shape, weight) = sd.require(&format!("{prefix}.weight"), &[None, in_dim])?;
    let (out_dim, in_dim) = (shape[0], shape[1]);
    if out_dim == 0 || in_dim == 0 {
        return Err(sd.err(format!("{prefix}.weight has an empty shape {shape:?}")));
    }
    let bias = read_bias(sd, &format!("{prefix}.bias"), out_dim, bias)?;
    Ok(Linear {
        out_dim,
        in_dim,
        weight,
        bias,
    })
}

/// A bias vector: required when `present`, else it must be absent (zeros).
fn read_bias(sd: &mut StateDict, key: &str, len: usize, present: bool) -> Result<Vec<f64>> {
    if present {
        let hint = "; a layer built with bias=False has none: say \"bias\": false in the card";
        match sd.take(key, &[Some(len)])? {
            Some((_, b)) => Ok(b),
            None => Err(sd.err(format!("missing key {key}{hint}"))),
        }
    } else if sd.has(key) {
        Err(sd.err(format!(
            "unexpected key {key}: this layer has no bias (PyG's layer has none, or the card says \"bias\": false)"
        )))
    } else {
        Ok(vec![0.0; len])
    }
}

/// Reads a Linear whose bias may be missing (the tutorial family without a card): the
/// layer goes into `with` or `without`, for [`check_tutorial_biases`].
fn tutorial_linear(
    sd: &mut StateDict,
    prefix: &str,
    in_dim: Option<usize>,
    with: &mut Vec<String>,
    without: &mut Vec<String>,
) -> Result<Linear> {
    let present = sd.has(&format!("{prefix}.bias"));
    if present {
        with.push(prefix.to_string());
    } else {
        without.push(prefix.to_string());
    }
    linear(sd, prefix, in_dim, present)
}

/// A layer without a bias while others have one is an error unless the metadata lists it
/// under [`super::NO_BIAS_KEY`]: a file that lost a key is far more common than a model
/// mixing `Linear(bias=False)` with biased layers. A model with no bias anywhere is
/// consistent and loads.
fn check_tutorial_biases(sd: &StateDict, with: &[String], without: &[String]) -> Result<()> {
    if with.is_empty() {
        return Ok(());
    }
    let allowed: Vec<&str> = sd
        .metadata
        .get(super::NO_BIAS_KEY)
        .map(|v| v.split(',').map(str::trim).collect())
        .unwrap_or_default();
    match without
        .iter()
        .find(|p| !allowed.contains(&"*") && !allowed.contains(&p.as_str()))
    {
        Some(p) => Err(Error::model(
            &sd.path,
            format!(
                "missing key {p}.bias, while {} {} a bias: the file looks incomplete. If {p} \
                 has no bias on purpose (PyG's Linear(bias=False)), record it in the file's \
                 metadata as {} = \"{p}\" (comma-separated layer names), or give an \
                 architecture card that says \"bias\": false",
                with.join(", "),
                if with.len() == 1 { "has" } else { "have" },
                super::NO_BIAS_KEY
            ),
        )),
        None => Ok(()),
    }
}

/// The tutorial family from the keys: `conv1..convL` GraphConv, `lin1`, `lin2`.
fn tutorial(sd: &mut StateDict) -> Result<Model> {
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let mut conv_ids: BTreeMap<usize, ()> = BTreeMap::new();
    for key in sd.keys() {
        if let Some(rest) = key.strip_prefix("conv") {
            if let Some((num, _)) = rest.split_once('.') {
                if let Ok(k) = num.parse::<usize>() {
                    conv_ids.insert(k, ());
                }
            }
        }
    }
    let num_convs = conv_ids.len();
    if num_convs == 0 {
        return Err(sd.err(
            "no conv layers: missing key conv1.lin_rel.weight (a model other than the \
             GraphConv tutorial family needs an architecture card: --arch FILE.json or the \
             metadata key graph_ig.arch)",
        ));
    }
    if let Some((i, k)) = conv_ids.keys().enumerate().find(|(i, k)| **k != i + 1) {
        return Err(sd.err(format!(
            "conv layers must be numbered conv1..conv{num_convs}; found conv{k} where conv{} was expected",
            i + 1
        )));
    }
    let mut convs = Vec::with_capacity(num_convs);
    let mut in_dim = None;
    for k in 1..=num_convs {
        sd.set_op(format!("conv{k}: GraphConv"));
        let lin_rel = tutorial_linear(
            sd,
            &format!("conv{k}.lin_rel"),
            in_dim,
            &mut with,
            &mut without,
        )?;
        if sd.has(&format!("conv{k}.lin_root.bias")) {
            return Err(sd.err(format!(
                "unexpected key conv{k}.lin_root.bias: PyG's GraphConv has no root bias"
            )));
        }
        let lin_root = linear(
            sd,
            &format!("conv{k}.lin_root"),
            Some(lin_rel.in_dim),
            false,
        )?;
        if lin_root.out_dim != lin_rel.out_dim {
            return Err(sd.err(format!(
                "conv{k}.lin_root.weight has {} outputs but conv{k}.lin_rel.weight has {}",
                lin_root.out_dim, lin_rel.out_dim
            )));
        }
        in_dim = Some(lin_rel.out_dim);
        convs.push((lin_rel, lin_root));
    }
    sd.set_op("lin1: Linear");
    let lin1 = tutorial_linear(sd, "lin1", in_dim, &mut with, &mut without)?;
    sd.set_op("lin2: Linear");
    let lin2 = tutorial_linear(sd, "lin2", Some(lin1.out_dim), &mut with, &mut without)?;
    sd.set_op("");
    check_tutorial_biases(sd, &with, &without)?;
    if lin2.out_dim < 2 {
        return Err(sd.err(format!(
            "lin2 has {} output(s); a classifier needs at least 2 classes",
            lin2.out_dim
        )));
    }
    Model::tutorial(convs, lin1, lin2, Pool::Add).map_err(|e| sd.err(e))
}

/// Where an op of the card sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before the pool (or anywhere in a node task).
    Body,
    /// After the pool.
    Head,
    /// Inside a GINConv's `nn`.
    Nested,
}

/// The model of `card` with the weights of `sd`.
fn from_card(sd: &mut StateDict, card: &Card) -> Result<Model> {
    let (mut body, mut head) = (Vec::new(), Vec::new());
    let mut readout = match card.task {
        Task::Graph => None,
        Task::Node => Some(Readout::Node),
    };
    let mut output = Output::Logits;
    let mut width: Option<usize> = None;
    let n = card.layers.len();
    for (i, op) in card.layers.iter().enumerate() {
        sd.set_op(op.describe());
        let last = i + 1 == n;
        match op.op.as_str() {
            "global_add_pool" | "global_mean_pool" | "global_max_pool" => {
                op.finish()?;
                if card.task == Task::Node {
                    return Err(op.err("a node task (\"task\": \"node\") has no global pool"));
                }
                if readout.is_some() {
                    return Err(op.err("a second global pool; a graph task has exactly one"));
                }
                readout = Some(Readout::Pool(match op.op.as_str() {
                    "global_add_pool" => Pool::Add,
                    "global_mean_pool" => Pool::Mean,
                    _ => Pool::Max,
                }));
                continue;
            }
            "log_softmax" | "softmax" => {
                if !last {
                    return Err(op.err("the output op must be the card's last layer"));
                }
                let dim = op.f64_or("dim", -1.0)?;
                if dim != -1.0 && dim != 1.0 {
                    return Err(op.err(format!(
                        "dim {dim}: only the class dimension (-1 or 1) is supported"
                    )));
                }
                op.finish()?;
                output = if op.op == "softmax" {
                    Output::Softmax
                } else {
                    Output::LogSoftmax
                };
                continue;
            }
            _ => {}
        }
        let place = match (card.task, readout) {
            (Task::Graph, Some(_)) => Place::Head,
            _ => Place::Body,
        };
        let parsed = row_or_conv_op(sd, op, width, place)?;
        width = next_width(&parsed, width);
        match place {
            Place::Head => head.push(parsed),
            _ => body.push(parsed),
        }
    }
    sd.set_op("");
    let bad = |m: &str| Error::Card {
        path: card.origin.clone(),
        message: m.to_string(),
    };
    let readout = readout.ok_or_else(|| {
        bad("a graph task needs exactly one global pool (global_add_pool, global_mean_pool or global_max_pool); for node classification say \"task\": \"node\"")
    })?;
    if !body.iter().any(|o| matches!(o, Op::Conv { .. })) {
        return Err(bad(
            "the card has no message-passing layer (GraphConv, GCNConv, SAGEConv, GINConv or GATConv) before the readout",
        ));
    }
    let mut m = Model::new(card.task, body, readout, head, output).map_err(|e| match e {
        Error::Model { message, .. } => bad(&message),
        other => other,
    })?;
    m.set_from_card();
    Ok(m)
}

/// The width after `op` given its input width (unknown before the first op with weights).
fn next_width(op: &Op, width: Option<usize>) -> Option<usize> {
    match op {
        Op::Conv { conv, .. } => Some(conv.out_dim()),
        Op::Linear { lin, .. } => Some(lin.out_dim),
        Op::BatchNorm { bn, .. } => Some(bn.scale.len()),
        Op::Act(_) | Op::Dropout => width,
    }
}

/// One op with weights or an activation; `width` is its input width when known.
fn row_or_conv_op(
    sd: &mut StateDict,
    op: &CardOp,
    width: Option<usize>,
    place: Place,
) -> Result<Op> {
    let parsed = match op.op.as_str() {
        "Linear" => {
            let prefix = op.require_prefix()?.to_string();
            let bias = op.bool_or("bias", true)?;
            op.finish()?;
            let lin = linear(sd, &prefix, width, bias)?;
            Op::Linear { prefix, lin }
        }
        "BatchNorm1d" => {
            let prefix = op.require_prefix()?.to_string();
            let eps = op.f64_or("eps", 1e-5)?;
            let affine = op.bool_or("affine", true)?;
            if !op.bool_or("track_running_stats", true)? {
                return Err(op.err(
                    "track_running_stats=False normalises with batch statistics even in eval mode, which depends on the batch; not supported",
                ));
            }
            op.finish()?;
            if eps < 0.0 {
                return Err(op.err(format!("eps {eps} must be >= 0")));
            }
            let (shape, mean) = sd.require(&format!("{prefix}.running_mean"), &[width])?;
            let d = shape[0];
            let (_, var) = sd.require(&format!("{prefix}.running_var"), &[Some(d)])?;
            let (weight, bias) = if affine {
                let w = sd.require(&format!("{prefix}.weight"), &[Some(d)])?.1;
                let b = sd.require(&format!("{prefix}.bias"), &[Some(d)])?.1;
                (w, b)
            } else {
                (vec![1.0; d], vec![0.0; d])
            };
            sd.take_counter(&format!("{prefix}.num_batches_tracked"))?;
            if let Some(c) = var.iter().position(|&v| v + eps <= 0.0) {
                return Err(op.err(format!(
                    "{prefix}.running_var[{c}] + eps = {} is not positive",
                    var[c] + eps
                )));
            }
            let scale: Vec<f64> = (0..d).map(|c| weight[c] / (var[c] + eps).sqrt()).collect();
            let shift = (0..d).map(|c| bias[c] - mean[c] * scale[c]).collect();
            Op::BatchNorm {
                prefix,
                bn: BatchNorm { scale, shift },
            }
        }
        "relu" | "elu" | "leaky_relu" | "tanh" | "sigmoid" => {
            let act = match op.op.as_str() {
                "relu" => Act::Relu,
                "elu" => Act::Elu(op.f64_or("alpha", 1.0)?),
                "leaky_relu" => Act::LeakyRelu(op.f64_or("negative_slope", 0.01)?),
                "tanh" => Act::Tanh,
                _ => Act::Sigmoid,
            };
            op.bool_or("inplace", false)?;
            op.finish()?;
            if let Act::Elu(a) | Act::LeakyRelu(a) = act {
                if a < 0.0 {
                    return Err(op.err(format!(
                        "a negative parameter ({a}) makes the activation non-monotone; not supported"
                    )));
                }
            }
            Op::Act(act)
        }
        "dropout" | "Dropout" => {
            let p = op.f64_or("p", 0.5)?;
            op.bool_or("training", false)?;
            op.bool_or("inplace", false)?;
            op.finish()?;
            if !(0.0..=1.0).contains(&p) {
                return Err(op.err(format!("p {p} must be in [0, 1]")));
            }
            Op::Dropout
        }
        conv @ ("GraphConv" | "GCNConv" | "SAGEConv" | "GINConv" | "GATConv") => {
            match place {
                Place::Head => {
                    return Err(op.err(format!(
                        "{conv} after the global pool: message passing needs the nodes"
                    )))
                }
                Place::Nested => return Err(op.err(format!("{conv} inside a GINConv's nn"))),
                Place::Body => {}
            }
            let prefix = op.require_prefix()?.to_string();
            let conv = conv_op(sd, op, &prefix, width)?;
            Op::Conv { prefix, conv }
        }
        "global_add_pool" | "global_mean_pool" | "global_max_pool" | "log_softmax" | "softmax" => {
            return Err(op.err("not allowed inside a GINConv's nn"))
        }
        other => {
            return Err(op.err(format!(
                "unknown op {other:?}; the card's ops are GraphConv, GCNConv, SAGEConv, GINConv, \
                 GATConv, Linear, BatchNorm1d, relu, elu, leaky_relu, tanh, sigmoid, dropout, \
                 global_add_pool, global_mean_pool, global_max_pool, log_softmax and softmax"
            )))
        }
    };
    if let Some(w) = width {
        super::check_op_input(&parsed, w).map_err(|m| op.err(m))?;
    }
    Ok(parsed)
}

/// A conv of the card.
fn conv_op(sd: &mut StateDict, op: &CardOp, p: &str, width: Option<usize>) -> Result<Conv> {
    let refuse_key = |sd: &StateDict, key: &str, why: &str| -> Result<()> {
        if sd.has(key) {
            Err(op.err(format!("{key}: {why}; not supported")))
        } else {
            Ok(())
        }
    };
    let aggr = |name: &str| -> Result<Aggr> {
        match name {
            "add" | "sum" => Ok(Aggr::Add),
            "mean" => Ok(Aggr::Mean),
            "max" => Ok(Aggr::Max),
            other => Err(op.err(format!(
                "aggr {other:?}: the supported aggregations are \"add\", \"mean\" and \"max\""
            ))),
        }
    };
    Ok(match op.op.as_str() {
        "GraphConv" => {
            let aggr = aggr(op.str_or("aggr", "add")?)?;
            let bias = op.bool_or("bias", true)?;
            op.finish()?;
            let lin_rel = linear(sd, &format!("{p}.lin_rel"), width, bias)?;
            if sd.has(&format!("{p}.lin_root.bias")) {
                return Err(op.err(format!(
                    "unexpected key {p}.lin_root.bias: PyG's GraphConv has no root bias"
                )));
            }
            let lin_root = linear(sd, &format!("{p}.lin_root"), Some(lin_rel.in_dim), false)?;
            if lin_root.out_dim != lin_rel.out_dim {
                return Err(op.err(format!(
                    "{p}.lin_root.weight has {} outputs but {p}.lin_rel.weight has {}",
                    lin_root.out_dim, lin_rel.out_dim
                )));
            }
            Conv::Graph(GraphConv {
                aggr,
                lin_rel,
                lin_root,
            })
        }
        "GCNConv" => {
            let improved = op.bool_or("improved", false)?;
            let add_self_loops = op.bool_or("add_self_loops", true)?;
            let normalize = op.bool_or("normalize", true)?;
            let bias = op.bool_or("bias", true)?;
            op.finish()?;
            let lin = linear(sd, &format!("{p}.lin"), width, false)?;
            let b = read_bias(sd, &format!("{p}.bias"), lin.out_dim, bias)?;
            Conv::Gcn(GcnConv {
                lin,
                bias: b,
                improved,
                add_self_loops,
                normalize,
            })
        }
        "SAGEConv" => {
            let aggr = aggr(op.str_or("aggr", "mean")?)?;
            let root_weight = op.bool_or("root_weight", true)?;
            let normalize = op.bool_or("normalize", false)?;
            if op.bool_or("project", false)? {
                return Err(
                    op.err("project=True (a Linear + ReLU on the sources first) is not supported")
                );
            }
            let bias = op.bool_or("bias", true)?;
            op.finish()?;
            refuse_key(sd, &format!("{p}.lin.weight"), "project=True")?;
            let lin_l = linear(sd, &format!("{p}.lin_l"), width, bias)?;
            let lin_r = if root_weight {
                Some(linear(
                    sd,
                    &format!("{p}.lin_r"),
                    Some(lin_l.in_dim),
                    false,
                )?)
            } else {
                None
            };
            if let Some(r) = &lin_r {
                if r.out_dim != lin_l.out_dim {
                    return Err(op.err(format!(
                        "{p}.lin_r.weight has {} outputs but {p}.lin_l.weight has {}",
                        r.out_dim, lin_l.out_dim
                    )));
                }
            }
            Conv::Sage(SageConv {
                aggr,
                lin_l,
                lin_r,
                normalize,
            })
        }
        "GINConv" => {
            let nn_ops = op.ops("nn")?;
            op.finish()?;
            let (_, eps) = sd.require(&format!("{p}.eps"), &[Some(1)])?;
            let mut nn = Vec::new();
            let mut w = width;
            for inner in &nn_ops {
                sd.set_op(format!("{}, in {}", inner.describe(), op.describe()));
                let parsed = row_or_conv_op(sd, inner, w, Place::Nested)?;
                w = next_width(&parsed, w);
                nn.push(parsed);
            }
            sd.set_op(op.describe());
            if super::op_in_dim(&nn).is_none() {
                return Err(op.err("its nn has no Linear"));
            }
            if let (Some(inw), Some(first)) = (width, super::op_in_dim(&nn)) {
                if inw != first {
                    return Err(op.err(format!(
                        "its nn takes width {first}, but its input has width {inw}"
                    )));
                }
            }
            Conv::Gin(GinConv { eps: eps[0], nn })
        }
        "GATConv" => {
            let heads = op.usize_or("heads", 1)?;
            let concat = op.bool_or("concat", true)?;
            let negative_slope = op.f64_or("negative_slope", 0.2)?;
            let add_self_loops = op.bool_or("add_self_loops", true)?;
            let bias = op.bool_or("bias", true)?;
            if op.has("edge_dim") {
                return Err(op.err("edge_dim (edge features in the attention) is not supported"));
            }
            if op.bool_or("residual", false)? {
                return Err(op.err("residual=True is not supported"));
            }
            op.str_or("fill_value", "mean")?;
            op.finish()?;
            if negative_slope < 0.0 {
                return Err(op.err(format!("negative_slope {negative_slope} must be >= 0")));
            }
            refuse_key(
                sd,
                &format!("{p}.lin_src.weight"),
                "separate source and target weights (bipartite GATConv)",
            )?;
            refuse_key(sd, &format!("{p}.lin_edge.weight"), "edge features")?;
            refuse_key(sd, &format!("{p}.res.weight"), "residual=True")?;
            let lin = linear(sd, &format!("{p}.lin"), width, false)?;
            if lin.out_dim % heads != 0 {
                return Err(op.err(format!(
                    "{p}.lin.weight has {} outputs, not a multiple of heads = {heads}",
                    lin.out_dim
                )));
            }
            let channels = lin.out_dim / heads;
            let (_, att_src) = sd.require(
                &format!("{p}.att_src"),
                &[Some(1), Some(heads), Some(channels)],
            )?;
            let (_, att_dst) = sd.require(
                &format!("{p}.att_dst"),
                &[Some(1), Some(heads), Some(channels)],
            )?;
            let out = if concat { heads * channels } else { channels };
            let b = read_bias(sd, &format!("{p}.bias"), out, bias)?;
            Conv::Gat(GatConv {
                lin,
                att_src,
                att_dst,
                bias: b,
                heads,
                channels,
                concat,
                negative_slope,
                add_self_loops,
            })
        }
        other => return Err(op.err(format!("{other} is not a conv"))),
    })
}
