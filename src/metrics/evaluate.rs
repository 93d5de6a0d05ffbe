//! All metrics for every graph of a batch at once: the forward passes with hard
//! edge masks and their reduction.
//!
//! The forward passes run on [`EvalConfig::device`]: on the CPU reference (f64, graphs
//! in parallel), or on the GPU path, where every masked variant of every graph is one
//! instance of a single batched forward pass ([`crate::forward`]; f32, so a predicted
//! class can differ from the CPU's where two classes are within float32 rounding).
//!
//! For each graph, with `s` its edge scores ([`Ranking`]) and `m` the hard mask
//! of [`EvalConfig::mask`], the model runs with edge weights
//! - `1` (the full graph: prediction `ŷ`, probability `p_c` of the explained class `c`),
//! - `m` (only the explanation, "kept"),
//! - `1 − m` (the explanation removed, "removed"),
//! - `1 − m̂` with `m̂` Pope et al.'s salient edges (occluded),
//! - `m_ρ` and `1 − m_ρ` for every fraction `ρ` of the fidelity curve.
//!
//! Then, over the graphs (see [`super::fidelity`] for the formulas):
//! - **Pope et al. (CVPR 2019).** Salient edges `m̂_e = [s_e / max s > τ]`, `τ = 0.01`.
//!   *Fidelity* is the drop in accuracy against the true labels when the salient
//!   edges are occluded, `acc(G) − acc(G ∖ m̂)` ([`PopeMetrics::fidelity_accuracy`]),
//!   and, as a probability, `mean_i (p_c(G_i) − p_c(G_i ∖ m̂_i))`.
//!   *Contrastivity* is `mean_i d_H(m̂_i^a, m̂_i^b) / |m̂_i^a ∨ m̂_i^b|` between
//!   the salient edges of two explanations of different classes (a second
//!   attribution file). *Sparsity* is `mean_i (1 − |m̂_i| / E_i)`.
//! - **PyG (GraphFramEx).** Fidelity± for model and phenomenon explanations at
//!   the mask `m`, the characterization score, and the fidelity-curve AUC over
//!   the fractions `ρ` (`x = ρ`). With two classes the model and phenomenon
//!   variants are equal: `|[ŷ = y] − [ŷ' = y]| = [ŷ ≠ ŷ']` when there are only
//!   two classes.
//! - **DIG.** Fidelity+ `= mean_i (p_c(G_i) − p_c(G_i ∖ m_i))`, Fidelity−
//!   `= mean_i (p_c(G_i) − p_c(m_i))`, sparsity `mean_i (1 − |m_i| / E_i)`.
//!   DIG's `control_sparsity` keeps the top `(1 − s)` of the edges, which is
//!   [`MaskRule::Sparsity`]; DIG's benchmarks explain the true label (make the
//!   attributions with `--target label` for exactly their protocol).
//! - **Ground truth.** ROC-AUC, and precision, recall, F1 of the mask `m`
//!   against the marks, per graph, then the mean over the graphs with marked
//!   edges and pooled; also per true label.
//!
//! Graphs without edges take part in the fidelities (every masked graph is then
//! the full graph), but not in the sparsities (`E = 0`) or ground truth.

use super::fidelity::{
    characterization_score, check_weights, contrastivity, fidelity_curve_auc, mean,
    probability_drop, pyg_fidelity_model, pyg_fidelity_phenomenon,
};
use super::ground_truth::{GraphGroundTruth, GroundTruthSummary};
use super::masks::{edge_scores, keep_count, pope_binarize, top_k_mask, MaskRule, Ranking};
use crate::cpu::network::LocalGraph;
use crate::cpu::Cpu;
use crate::forward::{masked_log_probs, MaskedInputs};
use crate::model::Output;
use crate::nn::{Instances, Mask, Network, Structure};
use crate::{Device, Error, GraphBatch, GraphConvNet, Result};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// Settings of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// How edges are ranked by their attributions.
    pub ranking: Ranking,
    /// The hard mask of the PyG, DIG and ground-truth metrics.
    pub mask: MaskRule,
    /// Fractions `ρ` of edges kept for the fidelity curve, ascending, each in `[0, 1]`.
    pub curve: Vec<f64>,
    /// Pope et al.'s binarization threshold on the max-normalized scores.
    pub pope_threshold: f64,
    /// The characterization score's weights `(w+, w−)`, summing to 1.
    pub charact_weights: (f64, f64),
    /// Where the forward passes run (the CPU reference by default).
    pub device: Device,
    /// GPU paths: the device memory, in bytes, one chunk of graphs × variants may use
    /// (default: the device's default budget). Results do not depend on it.
    pub memory_budget: Option<usize>,
}

impl Default for EvalConfig {
    /// `|a|` ranking, DIG's default sparsity 0.7, curve `ρ = 0.1, 0.2, …, 0.9`,
    /// Pope's threshold 0.01, PyG's default weights `(0.5, 0.5)`.
    fn default() -> Self {
        EvalConfig {
            ranking: Ranking::Abs,
            mask: MaskRule::Sparsity(0.7),
            curve: (1..=9).map(|k| k as f64 / 10.0).collect(),
            pope_threshold: 0.01,
            charact_weights: (0.5, 0.5),
            device: Device::Cpu,
            memory_budget: None,
        }
    }
}

impl EvalConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        self.mask.validate()?;
        if let Some(r) = self.curve.iter().find(|r| !(0.0..=1.0).contains(*r)) {
            return Err(Error::Config(format!(
                "curve fraction {r} is outside [0, 1]"
            )));
        }
        if self
            .curve
            .windows(2)
            .any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
        {
            return Err(Error::Config(
                "curve fractions must be strictly ascending".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.pope_threshold) {
            return Err(Error::Config(format!(
                "Pope threshold {} is outside [0, 1)",
                self.pope_threshold
            )));
        }
        check_weights(self.charact_weights.0, self.charact_weights.1)
    }
}

/// One set of attributions over a batch: the edge attributions and the class
/// each graph's attributions explain.
#[derive(Debug, Clone, Copy)]
pub struct Explanation<'a> {
    /// Edge attributions `[E]`, in the batch's edge order.
    pub edge_attr: &'a [f64],
    /// Explained class of every graph `[G]`.
    pub target: &'a [usize],
}

/// The model's answer on one (masked) graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Arg-max class (the first on ties).
    pub prediction: usize,
    /// Probability of the explained class.
    pub p_target: f64,
}

/// One point of the fidelity curve of one graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Edges in the explanation, `⌊ρ · E⌋`.
    pub kept_edges: usize,
    /// With only those edges.
    pub kept: Outcome,
    /// With those edges removed.
    pub removed: Outcome,
}

/// Everything measured on one graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphEval {
    /// Number of directed edges `E`.
    pub num_edges: usize,
    /// The true label, when the data have labels.
    pub label: Option<i64>,
    /// The explained class `c`.
    pub target: usize,
    /// Log-probabilities on the full graph.
    pub log_probs: Vec<f64>,
    /// The full graph.
    pub full: Outcome,
    /// Edges in the hard mask `m`.
    pub kept_edges: usize,
    /// Only the mask's edges.
    pub kept: Outcome,
    /// The mask's edges removed.
    pub removed: Outcome,
    /// Pope et al.'s salient edges `|m̂|`.
    pub pope_salient: usize,
    /// The salient edges occluded.
    pub pope_occluded: Outcome,
    /// The fidelity curve, one point per fraction of [`EvalConfig::curve`].
    pub curve: Vec<CurvePoint>,
    /// Pope et al.'s contrastivity against the second explanation; `None`
    /// without one, when both explain the same class, or when neither has
    /// salient edges.
    pub contrastivity: Option<f64>,
    /// Ground-truth scores, when the data have marks.
    pub ground_truth: Option<GraphGroundTruth>,
}

/// Fidelity+ and Fidelity− with their characterization score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FidelityPair {
    /// Fidelity+ (explanation removed).
    pub fid_plus: f64,
    /// Fidelity− (only the explanation kept).
    pub fid_minus: f64,
    /// `1 / (w+ / fid+ + w− / (1 − fid−))`.
    pub characterization: f64,
}

/// A fidelity curve over the fractions `x`.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Fidelity+ at every fraction.
    pub fid_plus: Vec<f64>,
    /// Fidelity− at every fraction.
    pub fid_minus: Vec<f64>,
    /// PyG's `fidelity_curve_auc`; `None` where some `fid− = 1` or fewer than 2 points.
    pub auc: Option<f64>,
}

/// Pope et al.'s metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PopeMetrics {
    /// `acc(G) − acc(G ∖ m̂)` against the true labels; `None` without labels.
    pub fidelity_accuracy: Option<f64>,
    /// `mean_i (p_c(G_i) − p_c(G_i ∖ m̂_i))`.
    pub fidelity_probability: f64,
    /// Mean contrastivity; `None` without a second explanation.
    pub contrastivity: Option<f64>,
    /// Graphs in that mean.
    pub contrastivity_graphs: usize,
    /// `mean_i (1 − |m̂_i| / E_i)` over the graphs with edges.
    pub sparsity: Option<f64>,
}

/// PyG's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct PygMetrics {
    /// Model explanations (against the model's prediction).
    pub model: FidelityPair,
    /// Phenomenon explanations (against the true label); `None` without labels.
    pub phenomenon: Option<FidelityPair>,
    /// The curve's `x`: fractions of edges kept.
    pub curve_x: Vec<f64>,
    /// Model fidelity along the curve.
    pub curve_model: Curve,
    /// Phenomenon fidelity along the curve; `None` without labels.
    pub curve_phenomenon: Option<Curve>,
}

/// DIG's metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DigMetrics {
    /// `mean_i (p_c(G_i) − p_c(G_i ∖ m_i))`.
    pub fidelity_plus: f64,
    /// `mean_i (p_c(G_i) − p_c(m_i))`.
    pub fidelity_minus: f64,
    /// `mean_i (1 − |m_i| / E_i)` over the graphs with edges.
    pub sparsity: Option<f64>,
}

/// Ground-truth scores over the dataset and per true label.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruthReport {
    /// All graphs.
    pub all: GroundTruthSummary,
    /// The graphs of each true label (when the data have labels).
    pub by_label: BTreeMap<i64, GroundTruthSummary>,
}

impl GroundTruthReport {
    /// Aggregates per-graph scores over all graphs and per true label:
    /// `scores` and `gt` hold every item (edge or node), delimited by `ptr`.
    pub fn of(
        per: &[Option<GraphGroundTruth>],
        scores: &[f64],
        gt: &[u8],
        ptr: &[usize],
        labels: Option<&[i64]>,
    ) -> Self {
        let all = GroundTruthSummary::of(per, scores, gt, ptr, 0..per.len());
        let mut by_label = BTreeMap::new();
        if let Some(l) = labels {
            let mut classes: Vec<i64> = l.to_vec();
            classes.sort_unstable();
            classes.dedup();
            for c in classes {
                let idx = (0..per.len()).filter(|&g| l[g] == c);
                by_label.insert(c, GroundTruthSummary::of(per, scores, gt, ptr, idx));
            }
        }
        GroundTruthReport { all, by_label }
    }

    /// As JSON: `{"all": ..., "by_label": {"0": ..., ...}}`.
    pub fn to_json(&self) -> Value {
        let by: serde_json::Map<String, Value> = self
            .by_label
            .iter()
            .map(|(k, v)| (k.to_string(), gt_json(v)))
            .collect();
        json!({"all": gt_json(&self.all), "by_label": by})
    }
}

/// Accuracy of predictions against the true labels; `None` without labels.
pub(super) fn accuracy_of(labels: Option<&[i64]>, pred: &[usize]) -> Option<f64> {
    labels.map(|l| {
        let hits = l.iter().zip(pred).filter(|(&y, &q)| y == q as i64).count();
        hits as f64 / l.len().max(1) as f64
    })
}

/// What Pope et al.'s metrics need of one graph.
pub(super) struct PopeGraph {
    /// The full graph.
    pub(super) full: Outcome,
    /// The salient items occluded.
    pub(super) occluded: Outcome,
    /// Items (edges or nodes) of the graph.
    pub(super) size: usize,
    /// Salient items.
    pub(super) salient: usize,
    /// Contrastivity against a second explanation.
    pub(super) contrastivity: Option<f64>,
}

/// Pope et al.'s fidelity, contrastivity and sparsity over the graphs.
pub(super) fn pope_metrics(
    labels: Option<&[i64]>,
    graphs: &[PopeGraph],
    has_other: bool,
) -> PopeMetrics {
    let pred: Vec<usize> = graphs.iter().map(|g| g.full.prediction).collect();
    let occluded: Vec<usize> = graphs.iter().map(|g| g.occluded.prediction).collect();
    let p_full: Vec<f64> = graphs.iter().map(|g| g.full.p_target).collect();
    let p_occ: Vec<f64> = graphs.iter().map(|g| g.occluded.p_target).collect();
    let contrast: Vec<f64> = graphs.iter().filter_map(|g| g.contrastivity).collect();
    let sparsity: Vec<f64> = graphs
        .iter()
        .filter(|g| g.size > 0)
        .map(|g| 1.0 - g.salient as f64 / g.size as f64)
        .collect();
    PopeMetrics {
        fidelity_accuracy: accuracy_of(labels, &pred)
            .zip(accuracy_of(labels, &occluded))
            .map(|(a, b)| a - b),
        fidelity_probability: probability_drop(&p_full, &p_occ).unwrap_or(0.0),
        contrastivity: if has_other { mean(&contrast) } else { None },
        contrastivity_graphs: contrast.len(),
        sparsity: mean(&sparsity),
    }
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// The settings used.
    pub config: EvalConfig,
    /// Per-graph measurements, in batch order.
    pub graphs: Vec<GraphEval>,
    /// The model's accuracy on the full graphs; `None` without labels.
    pub accuracy: Option<f64>,
    /// Graphs with at least one edge (those of the sparsities).
    pub graphs_with_edges: usize,
    /// Pope et al.
    pub pope: PopeMetrics,
    /// PyG.
    pub pyg: PygMetrics,
    /// DIG.
    pub dig: DigMetrics,
    /// Ground truth; `None` when the data have no marks.
    pub ground_truth: Option<GroundTruthReport>,
}

/// Checks one score per item (`kind` = `edge`, `node`): the count, and that
/// every value is finite; `ptr` delimits the graphs.
pub(super) fn check_values(what: &str, kind: &str, values: &[f64], ptr: &[usize]) -> Result<()> {
    let want = ptr.last().copied().unwrap_or(0);
    if values.len() != want {
        return Err(Error::Mismatch(format!(
            "{what}: {} {kind} scores for {want} {kind}s",
            values.len()
        )));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        let g = ptr.partition_point(|&p| p <= i) - 1;
        return Err(Error::Mismatch(format!(
            "{what}: the attribution of {kind} {i} (graph {g}) is {}, not a finite number",
            values[i]
        )));
    }
    Ok(())
}

/// Checks the explained classes: one per graph, each a class of the model.
pub(super) fn check_targets(
    what: &str,
    target: &[usize],
    graphs: usize,
    classes: usize,
) -> Result<()> {
    if target.len() != graphs {
        return Err(Error::Mismatch(format!(
            "{what}: {} targets for {graphs} graphs",
            target.len(),
        )));
    }
    if let Some(g) = target.iter().position(|&t| t >= classes) {
        return Err(Error::Mismatch(format!(
            "{what}: graph {g} explains class {}, but the model has {classes} classes",
            target[g]
        )));
    }
    Ok(())
}

fn check_explanation(
    what: &str,
    e: &Explanation<'_>,
    batch: &GraphBatch,
    classes: usize,
) -> Result<()> {
    if e.edge_attr.len() != batch.num_edges() {
        return Err(Error::Mismatch(format!(
            "{what}: {} edge attributions for {} edges",
            e.edge_attr.len(),
            batch.num_edges()
        )));
    }
    check_targets(what, e.target, batch.num_graphs(), classes)?;
    check_values(what, "edge", e.edge_attr, batch.edge_ptr())
}

/// Arg-max (the first class on ties) and the target's probability.
pub(super) fn outcome(kind: Output, log_probs: &[f64], target: usize) -> Outcome {
    let mut best = 0;
    for (k, &v) in log_probs.iter().enumerate() {
        if v > log_probs[best] {
            best = k;
        }
    }
    Outcome {
        prediction: best,
        p_target: match kind {
            Output::LogSoftmax => log_probs[target].exp(),
            Output::Softmax => log_probs[target],
            Output::Logits => {
                let m = log_probs.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                let z: f64 = log_probs.iter().map(|&v| (v - m).exp()).sum();
                (log_probs[target] - m).exp() / z
            }
        },
    }
}

/// One requested forward pass of a graph: its edge weights and, optionally, the nodes
/// occluded (features zeroed).
pub(super) struct Variant {
    w: Vec<f64>,
    occluded: Option<Vec<bool>>,
}

/// Where a graph's forward passes come from.
pub(super) enum Passes<'a> {
    /// Computed at once, on the CPU reference (this model, prepared).
    Direct(&'a Network<'a, Cpu>),
    /// Only recorded (the first half of a device run); the outcomes are placeholders,
    /// which is sound because no metric's choice of masks depends on an outcome.
    Record(RefCell<Vec<Variant>>),
    /// Taken in request order from the log-probabilities `[S, C]` a device computed.
    Replay(&'a [f64], Cell<usize>),
}

/// One graph's inputs and the source of its forward passes.
pub(super) struct Runner<'a> {
    pub(super) model: &'a GraphConvNet,
    /// The graph, with local node ids.
    pub(super) g: LocalGraph,
    /// The convs' structural coefficients on it (CPU passes only).
    st: Option<Structure<Cpu>>,
    /// Its node features `[n, F]`.
    pub(super) x: Vec<f64>,
    pub(super) target: usize,
    passes: Passes<'a>,
    /// The log-probabilities of the latest pass.
    last: RefCell<Vec<f64>>,
}

impl<'a> Runner<'a> {
    /// Graph `gi` of `batch`, explaining class `target`.
    pub(super) fn new(
        model: &'a GraphConvNet,
        batch: &GraphBatch,
        gi: usize,
        target: usize,
        passes: Passes<'a>,
    ) -> Self {
        let gr = batch.graph(gi);
        let f = batch.num_features();
        let g = LocalGraph::from_batch(batch, gi);
        let st = match &passes {
            Passes::Direct(net) => net.structure(&Cpu, &g).ok(),
            _ => None,
        };
        Runner {
            model,
            g,
            st,
            x: batch.features()[gr.nodes.start * f..gr.nodes.end * f]
                .iter()
                .map(|&v| f64::from(v))
                .collect(),
            target,
            passes,
            last: RefCell::new(Vec::new()),
        }
    }

    /// The outcome with edge weights `w` and the graph's own features.
    pub(super) fn run(&self, w: &[f64]) -> Outcome {
        self.pass(w, None)
    }

    /// The outcome with edge weights `w` and the nodes `occluded` zeroed.
    pub(super) fn run_occluded(&self, w: &[f64], occluded: &[bool]) -> Outcome {
        self.pass(w, Some(occluded))
    }

    /// The log-probabilities of the latest pass (placeholders while recording).
    pub(super) fn last_log_probs(&self) -> Vec<f64> {
        self.last.borrow().clone()
    }

    fn pass(&self, w: &[f64], occluded: Option<&[bool]>) -> Outcome {
        let c = self.model.num_classes();
        let lp = match &self.passes {
            Passes::Direct(net) => {
                // The graph's own features, copied only to zero occluded nodes.
                let x = match occluded {
                    None => Cow::Borrowed(&self.x[..]),
                    Some(o) => {
                        let f = self.x.len().checked_div(o.len()).unwrap_or(0);
                        let mut x = self.x.clone();
                        for (v, _) in o.iter().enumerate().filter(|(_, &b)| b) {
                            x[v * f..(v + 1) * f].fill(0.0);
                        }
                        Cow::Owned(x)
                    }
                };
                let inst = Instances {
                    graph: &self.g,
                    steps: 1,
                };
                let w = w.to_vec();
                match &self.st {
                    Some(st) => net
                        .outputs(&Cpu, inst, st, x.into_owned(), Mask::Edge(&w))
                        .unwrap_or_else(|_| vec![f64::NAN; c]),
                    None => vec![f64::NAN; c],
                }
            }
            Passes::Record(r) => {
                r.borrow_mut().push(Variant {
                    w: w.to_vec(),
                    occluded: occluded.map(<[bool]>::to_vec),
                });
                vec![0.0; c]
            }
            Passes::Replay(lp, next) => {
                let k = next.get();
                next.set(k + 1);
                lp[k * c..(k + 1) * c].to_vec()
            }
        };
        let o = outcome(self.model.output, &lp, self.target);
        *self.last.borrow_mut() = lp;
        o
    }

    /// Outcomes with only the masked edges, and with them removed.
    fn kept_removed(&self, m: &[bool]) -> (Outcome, Outcome) {
        let w: Vec<f64> = m.iter().map(|&b| f64::from(u8::from(b))).collect();
        let kept = self.run(&w);
        let w: Vec<f64> = m.iter().map(|&b| f64::from(u8::from(!b))).collect();
        (kept, self.run(&w))
    }
}

/// Runs `per_graph` on every graph of `batch` (explaining `targets`), with the forward
/// passes on `device`: directly on the CPU reference, or recorded, computed for all
/// graphs at once as masked variants on the device, then replayed.
pub(super) fn for_each_graph<T: Send>(
    model: &GraphConvNet,
    batch: &GraphBatch,
    targets: &[usize],
    device: Device,
    memory_budget: Option<usize>,
    per_graph: impl Fn(usize, &Runner<'_>) -> T + Sync,
) -> Result<Vec<T>> {
    let graphs = 0..batch.num_graphs();
    if device == Device::Cpu {
        let net = Network::new(&Cpu, model)?;
        return Ok(graphs
            .into_par_iter()
            .map(|g| {
                per_graph(
                    g,
                    &Runner::new(model, batch, g, targets[g], Passes::Direct(&net)),
                )
            })
            .collect());
    }
    let recorded: Vec<Vec<Variant>> = graphs
        .clone()
        .into_par_iter()
        .map(|g| {
            let r = Runner::new(
                model,
                batch,
                g,
                targets[g],
                Passes::Record(RefCell::default()),
            );
            per_graph(g, &r);
            match r.passes {
                Passes::Record(v) => v.into_inner(),
                _ => Vec::new(),
            }
        })
        .collect();
    // Every graph gets the same number of variants; the unused ones are the full graph.
    let s = recorded.iter().map(Vec::len).max().unwrap_or(0);
    let (e, n) = (batch.num_edges(), batch.num_nodes());
    let occludes = recorded.iter().flatten().any(|v| v.occluded.is_some());
    let mut inputs = MaskedInputs {
        variants: s,
        edge_weight: vec![1.0; s * e],
        node_keep: occludes.then(|| vec![1.0; s * n]),
    };
    for (g, vars) in recorded.iter().enumerate() {
        let gr = batch.graph(g);
        for (k, v) in vars.iter().enumerate() {
            for (dst, &w) in inputs.edge_weight[k * e + gr.edges.start..k * e + gr.edges.end]
                .iter_mut()
                .zip(&v.w)
            {
                *dst = w as f32;
            }
            if let (Some(keep), Some(o)) = (inputs.node_keep.as_mut(), &v.occluded) {
                for (dst, &b) in keep[k * n + gr.nodes.start..k * n + gr.nodes.end]
                    .iter_mut()
                    .zip(o)
                {
                    *dst = if b { 0.0 } else { 1.0 };
                }
            }
        }
    }
    let lp = masked_log_probs(model, batch, &inputs, device, memory_budget)?;
    let c = model.num_classes();
    Ok(graphs
        .into_par_iter()
        .map(|g| {
            let passes = Passes::Replay(&lp[g * s * c..(g + 1) * s * c], Cell::new(0));
            per_graph(g, &Runner::new(model, batch, g, targets[g], passes))
        })
        .collect())
}

fn eval_graph(
    runner: &Runner<'_>,
    batch: &GraphBatch,
    gi: usize,
    main: &Explanation<'_>,
    other: Option<&Explanation<'_>>,
    cfg: &EvalConfig,
) -> GraphEval {
    let gr = batch.graph(gi);
    let e = gr.num_edges();
    let scores = edge_scores(&main.edge_attr[gr.edges.clone()], cfg.ranking);
    let full = runner.run(&vec![1.0; e]);
    let log_probs = runner.last_log_probs();

    let m = cfg.mask.mask(&scores);
    let (kept, removed) = runner.kept_removed(&m);

    let salient = pope_binarize(&scores, cfg.pope_threshold);
    let w: Vec<f64> = salient.iter().map(|&b| f64::from(u8::from(!b))).collect();
    let pope_occluded = runner.run(&w);

    let curve = cfg
        .curve
        .iter()
        .map(|&rho| {
            let k = keep_count(e, rho);
            let mk = top_k_mask(&scores, k);
            let (kept, removed) = if mk == m {
                (kept, removed)
            } else {
                runner.kept_removed(&mk)
            };
            CurvePoint {
                kept_edges: k,
                kept,
                removed,
            }
        })
        .collect();

    let contrastivity = other.and_then(|o| {
        if o.target[gi] == main.target[gi] {
            return None;
        }
        let s = edge_scores(&o.edge_attr[gr.edges.clone()], cfg.ranking);
        contrastivity(&salient, &pope_binarize(&s, cfg.pope_threshold))
    });

    let ground_truth = batch
        .edge_gt()
        .map(|gt| GraphGroundTruth::of(&scores, &m, &gt[gr.edges.clone()]));

    GraphEval {
        num_edges: e,
        label: batch.graph_labels().map(|l| l[gi]),
        target: main.target[gi],
        log_probs,
        full,
        kept_edges: m.iter().filter(|&&b| b).count(),
        kept,
        removed,
        pope_salient: salient.iter().filter(|&&b| b).count(),
        pope_occluded,
        curve,
        contrastivity,
        ground_truth,
    }
}

/// Runs every metric over every graph of `batch`.
///
/// `main` holds the attributions to score; `other`, optional, a second set for
/// the same graphs explaining other classes (Pope et al.'s contrastivity; graphs
/// where both explain the same class are left out of it). Labels and
/// ground-truth marks come from the batch when it has them.
pub fn evaluate(
    model: &GraphConvNet,
    batch: &GraphBatch,
    main: &Explanation<'_>,
    other: Option<&Explanation<'_>>,
    cfg: &EvalConfig,
) -> Result<EvalReport> {
    cfg.validate()?;
    model.check_batch(batch)?;
    let classes = model.num_classes();
    check_explanation("attributions", main, batch, classes)?;
    if let Some(o) = other {
        check_explanation("second attributions", o, batch, classes)?;
    }
    let graphs = for_each_graph(
        model,
        batch,
        main.target,
        cfg.device,
        cfg.memory_budget,
        |g, runner| eval_graph(runner, batch, g, main, other, cfg),
    )?;
    Ok(reduce(graphs, batch, main, other.is_some(), cfg))
}

fn reduce(
    graphs: Vec<GraphEval>,
    batch: &GraphBatch,
    main: &Explanation<'_>,
    has_other: bool,
    cfg: &EvalConfig,
) -> EvalReport {
    let (wp, wm) = cfg.charact_weights;
    let pair = |(p, m): (f64, f64)| FidelityPair {
        fid_plus: p,
        fid_minus: m,
        // The weights were checked in `validate`.
        characterization: characterization_score(p, m, wp, wm).unwrap_or(f64::NAN),
    };
    let col = |f: &dyn Fn(&GraphEval) -> f64| graphs.iter().map(f).collect::<Vec<f64>>();
    let preds = |f: &dyn Fn(&GraphEval) -> usize| graphs.iter().map(f).collect::<Vec<usize>>();
    let labels: Option<Vec<i64>> = batch.graph_labels().map(<[i64]>::to_vec);
    let pred = preds(&|g| g.full.prediction);
    let accuracy = accuracy_of(labels.as_deref(), &pred);
    let p_full = col(&|g| g.full.p_target);

    // Pope et al.
    let with_edges: Vec<&GraphEval> = graphs.iter().filter(|g| g.num_edges > 0).collect();
    let sparsity_of = |k: &dyn Fn(&GraphEval) -> usize| {
        let v: Vec<f64> = with_edges
            .iter()
            .map(|g| 1.0 - k(g) as f64 / g.num_edges as f64)
            .collect();
        mean(&v)
    };
    let pope = pope_metrics(
        labels.as_deref(),
        &graphs
            .iter()
            .map(|g| PopeGraph {
                full: g.full,
                occluded: g.pope_occluded,
                size: g.num_edges,
                salient: g.pope_salient,
                contrastivity: g.contrastivity,
            })
            .collect::<Vec<_>>(),
        has_other,
    );

    // PyG, at the mask and along the curve.
    let removed = preds(&|g| g.removed.prediction);
    let kept = preds(&|g| g.kept.prediction);
    let model_pair = pyg_fidelity_model(&pred, &removed, &kept).unwrap_or((0.0, 0.0));
    let phen_pair = labels
        .as_ref()
        .and_then(|l| pyg_fidelity_phenomenon(l, &pred, &removed, &kept));
    let n_points = cfg.curve.len();
    let mut curve_model = Curve {
        fid_plus: Vec::with_capacity(n_points),
        fid_minus: Vec::with_capacity(n_points),
        auc: None,
    };
    let mut curve_phen = labels.as_ref().map(|_| curve_model.clone());
    for k in 0..n_points {
        let r = preds(&|g| g.curve[k].removed.prediction);
        let s = preds(&|g| g.curve[k].kept.prediction);
        let (p, m) = pyg_fidelity_model(&pred, &r, &s).unwrap_or((0.0, 0.0));
        curve_model.fid_plus.push(p);
        curve_model.fid_minus.push(m);
        if let (Some(c), Some(l)) = (curve_phen.as_mut(), labels.as_ref()) {
            let (p, m) = pyg_fidelity_phenomenon(l, &pred, &r, &s).unwrap_or((0.0, 0.0));
            c.fid_plus.push(p);
            c.fid_minus.push(m);
        }
    }
    let auc = |c: &Curve| {
        if n_points < 2 {
            return None;
        }
        fidelity_curve_auc(&c.fid_plus, &c.fid_minus, &cfg.curve)
            .ok()
            .flatten()
    };
    curve_model.auc = auc(&curve_model);
    if let Some(c) = curve_phen.as_mut() {
        c.auc = auc(c);
    }
    let pyg = PygMetrics {
        model: pair(model_pair),
        phenomenon: phen_pair.map(pair),
        curve_x: cfg.curve.clone(),
        curve_model,
        curve_phenomenon: curve_phen,
    };

    // DIG.
    let dig = DigMetrics {
        fidelity_plus: probability_drop(&p_full, &col(&|g| g.removed.p_target)).unwrap_or(0.0),
        fidelity_minus: probability_drop(&p_full, &col(&|g| g.kept.p_target)).unwrap_or(0.0),
        sparsity: sparsity_of(&|g| g.kept_edges),
    };

    // Ground truth.
    let ground_truth = batch.edge_gt().map(|gt| {
        let per: Vec<Option<GraphGroundTruth>> =
            graphs.iter().map(|g| g.ground_truth.clone()).collect();
        let scores = edge_scores(main.edge_attr, cfg.ranking);
        GroundTruthReport::of(&per, &scores, gt, batch.edge_ptr(), labels.as_deref())
    });

    let graphs_with_edges = with_edges.len();
    EvalReport {
        config: cfg.clone(),
        graphs,
        accuracy,
        graphs_with_edges,
        pope,
        pyg,
        dig,
        ground_truth,
    }
}

/// A per-graph JSON column from the outcomes of each graph.
type OutcomeColumn = (&'static str, fn(&GraphEval) -> Outcome);
/// A per-graph JSON column from each curve point.
type CurveColumn = (&'static str, fn(&CurvePoint) -> usize);
/// A per-graph JSON column from the ground-truth scores.
type GroundTruthColumn = (&'static str, fn(&GraphGroundTruth) -> Value);

/// The per-graph ground-truth columns (`gt_marked`, `gt_auc`, ...), `null`
/// where a graph has no scores.
pub(super) fn gt_columns(per: &[Option<&GraphGroundTruth>], put: &mut dyn FnMut(&str, Value)) {
    let cols: [GroundTruthColumn; 6] = [
        ("gt_marked", |x| json!(x.marked)),
        ("gt_auc", |x| json!(x.auc)),
        ("gt_precision", |x| {
            json!((x.marked > 0).then(|| x.confusion.precision()))
        }),
        ("gt_recall", |x| {
            json!((x.marked > 0).then(|| x.confusion.recall()))
        }),
        ("gt_f1", |x| json!((x.marked > 0).then(|| x.confusion.f1()))),
        ("gt_precision_at_marked", |x| json!(x.precision_at_marked)),
    ];
    for (name, f) in cols {
        let v: Vec<Value> = per.iter().map(|x| x.map_or(Value::Null, f)).collect();
        put(name, Value::Array(v));
    }
}

/// The settings as JSON.
pub(super) fn settings_json(c: &EvalConfig) -> Value {
    let mask = match c.mask {
        MaskRule::Sparsity(s) => json!({"rule": "sparsity", "sparsity": s}),
        MaskRule::Fraction(r) => json!({"rule": "fraction", "fraction": r}),
        MaskRule::Threshold(t) => json!({"rule": "threshold", "threshold": t}),
    };
    json!({
        "ranking": c.ranking.to_string(),
        "mask": mask,
        "tie_break": "lower edge index",
        "curve_fractions": c.curve,
        "pope_threshold": c.pope_threshold,
        "charact_weights": [c.charact_weights.0, c.charact_weights.1],
        "device": c.device.to_string(),
    })
}

impl PopeMetrics {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "fidelity_accuracy": self.fidelity_accuracy,
            "fidelity_probability": self.fidelity_probability,
            "contrastivity": self.contrastivity,
            "contrastivity_graphs": self.contrastivity_graphs,
            "sparsity": self.sparsity,
        })
    }
}

fn gt_json(s: &GroundTruthSummary) -> Value {
    json!({
        "graphs": s.graphs,
        "auc_graphs": s.auc_graphs,
        "mean_auc": s.mean_auc,
        "pooled_auc": s.pooled_auc,
        "mean_precision": s.mean_precision,
        "mean_recall": s.mean_recall,
        "mean_f1": s.mean_f1,
        "pooled_precision": (s.graphs > 0).then(|| s.pooled.precision()),
        "pooled_recall": (s.graphs > 0).then(|| s.pooled.recall()),
        "pooled_f1": (s.graphs > 0).then(|| s.pooled.f1()),
        "pooled_counts": {"tp": s.pooled.tp, "fp": s.pooled.fp, "fn": s.pooled.fn_, "tn": s.pooled.tn},
        "mean_precision_at_marked": s.mean_precision_at_marked,
    })
}

fn pair_json(p: &FidelityPair) -> Value {
    json!({"fid_plus": p.fid_plus, "fid_minus": p.fid_minus, "characterization": p.characterization})
}

fn curve_json(c: &Curve) -> Value {
    json!({"fid_plus": c.fid_plus, "fid_minus": c.fid_minus, "auc": c.auc})
}

/// One per-graph JSON column: `f` of every graph, in batch order.
pub(super) fn per_graph<T, V: Into<Value>>(graphs: &[T], f: impl Fn(&T) -> V) -> Value {
    Value::Array(graphs.iter().map(|x| f(x).into()).collect())
}

impl EvalReport {
    /// Every value as JSON: settings, dataset-level metrics and per-graph
    /// columns (one array per quantity, in batch order; `null` where undefined).
    pub fn to_json(&self) -> Value {
        let g = &self.graphs;
        let mut pg = serde_json::Map::new();
        let mut put = |k: &str, v: Value| {
            pg.insert(k.to_string(), v);
        };
        put("num_edges", per_graph(g, |x| x.num_edges));
        put("label", per_graph(g, |x| x.label));
        put("target", per_graph(g, |x| x.target));
        put("log_probs", per_graph(g, |x| x.log_probs.clone()));
        put("kept_edges", per_graph(g, |x| x.kept_edges));
        put("pope_salient", per_graph(g, |x| x.pope_salient));
        put("contrastivity", per_graph(g, |x| x.contrastivity));
        let outcomes: [OutcomeColumn; 4] = [
            ("full", |x| x.full),
            ("kept", |x| x.kept),
            ("removed", |x| x.removed),
            ("pope_occluded", |x| x.pope_occluded),
        ];
        for (name, f) in outcomes {
            put(
                &format!("{name}_prediction"),
                per_graph(g, |x| f(x).prediction),
            );
            put(&format!("{name}_p_target"), per_graph(g, |x| f(x).p_target));
        }
        let curve: [CurveColumn; 3] = [
            ("curve_kept_edges", |p| p.kept_edges),
            ("curve_kept_prediction", |p| p.kept.prediction),
            ("curve_removed_prediction", |p| p.removed.prediction),
        ];
        for (name, f) in curve {
            let v: Vec<Vec<usize>> = g.iter().map(|x| x.curve.iter().map(f).collect()).collect();
            put(name, json!(v));
        }
        if g.iter().any(|x| x.ground_truth.is_some()) {
            let per: Vec<Option<&GraphGroundTruth>> =
                g.iter().map(|x| x.ground_truth.as_ref()).collect();
            gt_columns(&per, &mut put);
        }
        let per_graph = Value::Object(pg);
        let gt = self.ground_truth.as_ref().map(GroundTruthReport::to_json);
        json!({
            "settings": settings_json(&self.config),
            "graphs": self.graphs.len(),
            "graphs_with_edges": self.graphs_with_edges,
            "edges": self.graphs.iter().map(|g| g.num_edges).sum::<usize>(),
            "accuracy": self.accuracy,
            "pope": self.pope.to_json(),
            "pyg": {
                "model": pair_json(&self.pyg.model),
                "phenomenon": self.pyg.phenomenon.as_ref().map(pair_json),
                "curve_x": self.pyg.curve_x,
                "curve_model": curve_json(&self.pyg.curve_model),
                "curve_phenomenon": self.pyg.curve_phenomenon.as_ref().map(curve_json),
            },
            "dig": {
                "fidelity_plus": self.dig.fidelity_plus,
                "fidelity_minus": self.dig.fidelity_minus,
                "sparsity": self.dig.sparsity,
            },
            "ground_truth": gt,
            "per_graph": per_graph,
        })
    }
}
