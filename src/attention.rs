//! GAT's attention: the coefficients of every GATConv, their entropies, and PyG's
//! `AttentionExplainer` reductions (`../shared/docs/pyg-interchange.md`, section 5).
//!
//! The coefficients come from one forward pass of the model's body over every graph of
//! the batch at once (node ids of the batch), on the CPU reference. Each layer's edge
//! list is the one PyG's `return_attention_weights=True` returns: the input edges
//! without self-loops, in input order, then one self-loop per node (a conv built with
//! `add_self_loops=False` keeps the input's edges as they are).
//!
//! `AttentionExplainer` (PyG 2.8) keeps `alpha[:E]` of each layer, which lines up with
//! the input edges only when the input has no self-loops. graph-ig instead gives every
//! input edge its own coefficient, and an input self-loop the coefficient of the loop
//! the conv put in its place; on inputs without self-loops the two agree exactly.

#[cfg(feature = "cpu-ref")]
use crate::cpu::network::{whole_batch_body, LocalGraph};
#[cfg(feature = "cpu-ref")]
use crate::cpu::Cpu;
#[cfg(feature = "cpu-ref")]
use crate::model::Conv;
use crate::model::Model;
#[cfg(feature = "cpu-ref")]
use crate::nn::network::{ConvTape, RowOp};
#[cfg(feature = "cpu-ref")]
use crate::nn::Network;
use crate::{Attributions, Error, ExplainConfig, GraphBatch, Result};

/// One GATConv's attention over a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerAttention {
    /// The conv's state-dict prefix (`conv1`).
    pub prefix: String,
    /// Heads `H`.
    pub heads: usize,
    /// The conv's edge list `[E']`: `(source, target)`, batch node ids.
    pub edge_index: Vec<(u32, u32)>,
    /// The coefficients `[E', H]`, row-major.
    pub alpha: Vec<f64>,
    /// Each node's incoming-attention entropy (natural log) per head `[N, H]`.
    pub entropy: Vec<f64>,
    /// `ln(in-degree)` of each node in the conv's edge list (its loop included) `[N]`.
    pub uniform_entropy: Vec<f64>,
    /// For every input edge, its position in `edge_index` (an input self-loop: its
    /// node's added loop).
    pub input_to_conv: Vec<usize>,
}

/// How `AttentionExplainer` reduces over heads, then layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduce {
    /// The maximum (PyG's default).
    #[default]
    Max,
    /// The mean.
    Mean,
}

impl std::str::FromStr for Reduce {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "max" => Ok(Reduce::Max),
            "mean" => Ok(Reduce::Mean),
            _ => Err(Error::Config(format!(
                "unknown attention reduction {s:?}; use max or mean"
            ))),
        }
    }
}

impl Reduce {
    fn apply(self, v: impl Iterator<Item = f64>) -> f64 {
        let v: Vec<f64> = v.collect();
        match self {
            Reduce::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Reduce::Mean => v.iter().sum::<f64>() / v.len() as f64,
        }
    }
}

/// The attention of every GATConv of `model` on `batch` (an error when it has none).
#[cfg(feature = "cpu-ref")]
pub fn attention(model: &Model, batch: &GraphBatch) -> Result<Vec<LayerAttention>> {
    model.check_batch(batch)?;
    let net = Network::new(&Cpu, model)?;
    let (g, tape) = whole_batch_body(&net, batch)?;
    let mut out = Vec::new();
    for (k, op) in net.body.iter().enumerate() {
        let (RowOp::Conv(_, ci), Some(ConvTape::Gat { alpha, .. })) = (op, &tape.convs[k]) else {
            continue;
        };
        let (prefix, heads) = match model
            .body
            .iter()
            .filter_map(|o| match o {
                crate::model::Op::Conv { prefix, conv } => Some((prefix, conv)),
                _ => None,
            })
            .nth(*ci)
        {
            Some((p, Conv::Gat(c))) => (p.clone(), c.heads),
            _ => return Err(crate::nn::network::internal("a GAT tape without its conv")),
        };
        out.push(layer(&g, prefix, heads, alpha));
    }
    if out.is_empty() {
        return Err(Error::Config(format!(
            "the model ({}) has no GATConv: there is no attention to report",
            model.describe()
        )));
    }
    Ok(out)
}

/// One layer in PyG's layout, from the network's per-edge and per-loop coefficients.
#[cfg(feature = "cpu-ref")]
fn layer(
    g: &LocalGraph,
    prefix: String,
    heads: usize,
    alpha: &(Vec<f64>, Option<Vec<f64>>),
) -> LayerAttention {
    let e = g.src.len();
    let mut edge_index = Vec::new();
    let mut a = Vec::new();
    let mut input_to_conv = vec![0usize; e];
    let loops = alpha.1.as_ref();
    for (k, slot) in input_to_conv.iter_mut().enumerate() {
        if loops.is_some() && g.src[k] == g.dst[k] {
            continue;
        }
        *slot = edge_index.len();
        edge_index.push((g.src[k], g.dst[k]));
        a.extend_from_slice(&alpha.0[k * heads..(k + 1) * heads]);
    }
    let first_loop = edge_index.len();
    if let Some(l) = loops {
        for i in 0..g.n {
            edge_index.push((i as u32, i as u32));
            a.extend_from_slice(&l[i * heads..(i + 1) * heads]);
        }
        for (k, slot) in input_to_conv.iter_mut().enumerate() {
            if g.src[k] == g.dst[k] {
                *slot = first_loop + g.src[k] as usize;
            }
        }
    }
    // Entropies over each node's incoming coefficients, in edge-list order.
    let mut entropy = vec![0.0; g.n * heads];
    let mut count = vec![0usize; g.n];
    for (q, &(_, t)) in edge_index.iter().enumerate() {
        count[t as usize] += 1;
        for h in 0..heads {
            let v = a[q * heads + h];
            if v > 0.0 {
                entropy[t as usize * heads + h] -= v * v.ln();
            }
        }
    }
    LayerAttention {
        prefix,
        heads,
        edge_index,
        alpha: a,
        entropy,
        uniform_entropy: count
            .iter()
            .map(|&c| if c > 0 { (c as f64).ln() } else { 0.0 })
            .collect(),
        input_to_conv,
    }
}

/// `AttentionExplainer`'s edge mask, every input edge with its own coefficient: per
/// layer the `reduce` over heads, then the `reduce` over layers `[E]`.
pub fn edge_scores(layers: &[LayerAttention], reduce: Reduce) -> Vec<f64> {
    let e = layers.first().map_or(0, |l| l.input_to_conv.len());
    (0..e)
        .map(|k| {
            reduce.apply(layers.iter().map(|l| {
                let q = l.input_to_conv[k];
                reduce.apply(l.alpha[q * l.heads..(q + 1) * l.heads].iter().copied())
            }))
        })
        .collect()
}

/// `--method attention`: [`edge_scores`] for every edge of `batch` with the model's
/// outputs and targets. For a node-task instance batch, `whole` is the input graph the
/// instances come from: the coefficients are those of the whole graph (a subgraph lacks
/// the in-edges of its outermost nodes, which later layers' attention depends on), and
/// each instance lists its edges' scores.
#[cfg(feature = "cpu-ref")]
pub fn explain(
    model: &Model,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    whole: Option<&GraphBatch>,
) -> Result<Attributions> {
    use rayon::prelude::*;
    let crate::explain::Method::Attention(reduce) = cfg.method else {
        return Err(crate::nn::network::internal(
            "attention::explain for another method",
        ));
    };
    let scores = match (batch.node_task(), whole) {
        (None, _) => edge_scores(&attention(model, batch)?, reduce),
        (Some(task), Some(w)) => {
            let all = edge_scores(&attention(model, w)?, reduce);
            task.edge_id.iter().map(|&e| all[e as usize]).collect()
        }
        (Some(_), None) => {
            return Err(Error::Config(
                "--method attention on node-task instances needs the whole input graph \
                 (graph_ig::attention::explain with `whole`)"
                    .into(),
            ))
        }
    };
    let net = Network::new(&Cpu, model)?;
    let outs: Vec<Vec<f64>> = (0..batch.num_graphs())
        .into_par_iter()
        .map(|g| {
            let lg = LocalGraph::from_batch(batch, g);
            let f = batch.num_features();
            let r = batch.graph(g);
            let x = batch.features()[r.nodes.start * f..r.nodes.end * f]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            net.graph_outputs(&lg, x, &vec![1.0; lg.src.len()])
        })
        .collect::<Result<_>>()?;
    Ok(Attributions {
        num_classes: model.num_classes(),
        num_features: batch.num_features(),
        edge: Some(scores),
        target: outs
            .iter()
            .enumerate()
            .map(|(g, o)| cfg.target.resolve(batch, g, o))
            .collect(),
        log_probs: outs.concat(),
        ..Default::default()
    })
}

/// Without the CPU reference there is no attention path.
#[cfg(not(feature = "cpu-ref"))]
pub fn explain(
    _model: &Model,
    _batch: &GraphBatch,
    _cfg: &ExplainConfig,
    _whole: Option<&GraphBatch>,
) -> Result<Attributions> {
    Err(Error::Device(
        "--method attention runs on the CPU reference path: build with the cpu-ref feature".into(),
    ))
}
