//! Metrics of node-level explanations (one score per node, as written by
//! `graph-ig explain --method grad-cam|contrastive-gradient|eb|c-eb` in the
//! tensor `node_score`), for every graph of a batch at once (CPU reference,
//! f64, graphs in parallel).
//!
//! With `s_v` the score of node `v` under [`EvalConfig::ranking`] (`|a_v|` or
//! `a_v`) and `N` the graph's number of nodes:
//!
//! - **Ground truth.** Node `v` is marked when it is an endpoint of a marked
//!   edge of `NAME_edge_gt.txt` ([`node_marks`]). ROC-AUC of the node scores
//!   against these marks, and precision, recall and F1 of the hard node mask
//!   [`EvalConfig::mask`] applied to the node scores (top `⌊(1 − s) · N⌋`
//!   nodes, top `⌊ρ · N⌋` nodes, or the nodes with score `> τ`; ties to the
//!   lower node index), per graph, then the mean over the graphs with marked
//!   nodes and pooled over their nodes, also per true label: the same code as
//!   the edge level ([`GraphGroundTruth`], [`GroundTruthReport`]).
//! - **Pope et al. (CVPR 2019) at node level.** Salient nodes
//!   `m̂_v = [s_v / max_u s_u > τ]` ([`pope_binarize`], `τ` =
//!   [`EvalConfig::pope_threshold`]). *Occluding* a node sets its features to
//!   zero **and** the weight of every edge into or out of it to zero (the
//!   model then sees neither the node's input nor any message through it; the
//!   node itself is not deleted, so it still enters the pooling with the
//!   value its layers give a zero input without messages — with
//!   `GraphConv`'s bias, not necessarily zero). *Fidelity* is the accuracy
//!   drop against the true labels `acc(G) − acc(G ∖ m̂)` and the probability
//!   drop `mean_i (p_c(G_i) − p_c(G_i ∖ m̂_i))` of the explained class `c`.
//!   *Contrastivity* is `mean_i d_H(m̂_i^a, m̂_i^b) / |m̂_i^a ∨ m̂_i^b|` over
//!   the salient nodes of two node-level explanations of different classes.
//!   *Sparsity* is `mean_i (1 − |m̂_i| / N_i)` over the graphs with nodes.
//! - **Derived edge scores.** [`edge_scores_from_nodes`] gives every edge the
//!   mean of its two endpoints' scores, so that [`super::evaluate()`] (every
//!   edge-mask metric and the edge-level ground truth) can score a node-level
//!   explanation too; `graph-ig eval` labels those numbers as derived.
//!
//! [`edge_scores_from_nodes`]: super::masks::edge_scores_from_nodes

use super::evaluate::{
    accuracy_of, check_targets, check_values, for_each_graph, gt_columns, per_graph, pope_metrics,
    settings_json, EvalConfig, GroundTruthReport, Outcome, PopeGraph, PopeMetrics, Runner,
};
use super::fidelity::contrastivity;
use super::ground_truth::{node_marks, GraphGroundTruth};
use super::masks::pope_binarize;
use crate::{GraphBatch, GraphConvNet, Result};
use serde_json::{json, Value};

/// One node-level explanation over a batch: a score per node and the class
/// each graph's scores explain.
#[derive(Debug, Clone, Copy)]
pub struct NodeExplanation<'a> {
    /// Node scores `[N]`, in the batch's node order.
    pub node_score: &'a [f64],
    /// Explained class of every graph `[G]`.
    pub target: &'a [usize],
}

/// Everything measured on one graph at node level.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNodeEval {
    /// Number of nodes `N`.
    pub num_nodes: usize,
    /// The true label, when the data have labels.
    pub label: Option<i64>,
    /// The explained class `c`.
    pub target: usize,
    /// The full graph.
    pub full: Outcome,
    /// Pope et al.'s salient nodes `|m̂|`.
    pub pope_salient: usize,
    /// The salient nodes occluded (features and incident edge weights zero).
    pub pope_occluded: Outcome,
    /// Contrastivity of the salient nodes against the second explanation;
    /// `None` without one, when both explain the same class, or when neither
    /// has salient nodes.
    pub contrastivity: Option<f64>,
    /// Node-level ground-truth scores, when the data have edge marks.
    pub ground_truth: Option<GraphGroundTruth>,
}

/// The result of [`evaluate_nodes`].
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEvalReport {
    /// The settings used (the ranking, the mask rule, Pope's threshold apply to nodes).
    pub config: EvalConfig,
    /// Per-graph measurements, in batch order.
    pub graphs: Vec<GraphNodeEval>,
    /// The model's accuracy on the full graphs; `None` without labels.
    pub accuracy: Option<f64>,
    /// Graphs with at least one node (those of the sparsity).
    pub graphs_with_nodes: usize,
    /// Pope et al. at node level.
    pub pope: PopeMetrics,
    /// Node-level ground truth; `None` when the data have no edge marks.
    pub ground_truth: Option<GroundTruthReport>,
}

/// Edge weights of a graph with the nodes `occluded` occluded: every edge into or out
/// of them weight 0 (their features are zeroed by [`Runner::run_occluded`]).
fn occlusion_weights(runner: &Runner<'_>, occluded: &[bool]) -> Vec<f64> {
    runner
        .g
        .src
        .iter()
        .zip(&runner.g.dst)
        .map(|(&u, &v)| f64::from(u8::from(!occluded[u as usize] && !occluded[v as usize])))
        .collect()
}

fn eval_graph(
    runner: &Runner<'_>,
    batch: &GraphBatch,
    gi: usize,
    main: &NodeExplanation<'_>,
    other: Option<&NodeExplanation<'_>>,
    cfg: &EvalConfig,
) -> GraphNodeEval {
    let gr = batch.graph(gi);
    let key = |s: &[f64]| -> Vec<f64> { s.iter().map(|&v| cfg.ranking.key(v)).collect() };
    let scores = key(&main.node_score[gr.nodes.clone()]);
    let full = runner.run(&vec![1.0; gr.num_edges()]);
    let salient = pope_binarize(&scores, cfg.pope_threshold);
    let w = occlusion_weights(runner, &salient);
    let pope_occluded = runner.run_occluded(&w, &salient);
    let contrastivity = other.and_then(|o| {
        if o.target[gi] == main.target[gi] {
            return None;
        }
        let s = key(&o.node_score[gr.nodes.clone()]);
        contrastivity(&salient, &pope_binarize(&s, cfg.pope_threshold))
    });
    let ground_truth = batch.edge_gt().map(|gt| {
        let marks = node_marks(
            gr.num_nodes(),
            &runner.g.src,
            &runner.g.dst,
            &gt[gr.edges.clone()],
        );
        GraphGroundTruth::of(&scores, &cfg.mask.mask(&scores), &marks)
    });
    GraphNodeEval {
        num_nodes: gr.num_nodes(),
        label: batch.graph_labels().map(|l| l[gi]),
        target: main.target[gi],
        full,
        pope_salient: salient.iter().filter(|&&b| b).count(),
        pope_occluded,
        contrastivity,
        ground_truth,
    }
}

/// Runs the node-level metrics (module documentation) over every graph of `batch`.
///
/// `main` holds the node scores to evaluate; `other`, optional, a second
/// node-level explanation of the same graphs for other classes (Pope et al.'s
/// contrastivity; graphs where both explain the same class are left out).
/// Labels and edge marks come from the batch when it has them. The settings
/// that concern edges only (the fidelity curve, the characterization weights)
/// are checked but unused.
pub fn evaluate_nodes(
    model: &GraphConvNet,
    batch: &GraphBatch,
    main: &NodeExplanation<'_>,
    other: Option<&NodeExplanation<'_>>,
    cfg: &EvalConfig,
) -> Result<NodeEvalReport> {
    cfg.validate()?;
    model.check_batch(batch)?;
    let classes = model.num_classes();
    let ptr = batch.node_ptr();
    for (what, e) in [("node scores", Some(main)), ("second node scores", other)] {
        if let Some(e) = e {
            check_values(what, "node", e.node_score, ptr)?;
            check_targets(what, e.target, batch.num_graphs(), classes)?;
        }
    }
    let graphs = for_each_graph(
        model,
        batch,
        main.target,
        cfg.device,
        cfg.memory_budget,
        |g, runner| eval_graph(runner, batch, g, main, other, cfg),
    )?;

    let labels = batch.graph_labels();
    let pred: Vec<usize> = graphs.iter().map(|g| g.full.prediction).collect();
    let pope_in: Vec<PopeGraph> = graphs
        .iter()
        .map(|g| PopeGraph {
            full: g.full,
            occluded: g.pope_occluded,
            size: g.num_nodes,
            salient: g.pope_salient,
            contrastivity: g.contrastivity,
        })
        .collect();
    let ground_truth = batch.edge_gt().map(|gt| {
        let marks = node_marks(batch.num_nodes(), batch.src(), batch.dst(), gt);
        let scores: Vec<f64> = main
            .node_score
            .iter()
            .map(|&v| cfg.ranking.key(v))
            .collect();
        let per: Vec<Option<GraphGroundTruth>> =
            graphs.iter().map(|g| g.ground_truth.clone()).collect();
        GroundTruthReport::of(&per, &scores, &marks, ptr, labels)
    });
    Ok(NodeEvalReport {
        config: cfg.clone(),
        accuracy: accuracy_of(labels, &pred),
        graphs_with_nodes: graphs.iter().filter(|g| g.num_nodes > 0).count(),
        pope: pope_metrics(labels, &pope_in, other.is_some()),
        graphs,
        ground_truth,
    })
}

impl NodeEvalReport {
    /// Every value as JSON: settings, dataset-level metrics and per-graph
    /// columns (one array per quantity, in batch order; `null` where undefined).
    pub fn to_json(&self) -> Value {
        let g = &self.graphs;
        let mut pg = serde_json::Map::new();
        let mut put = |k: &str, v: Value| {
            pg.insert(k.to_string(), v);
        };
        put("num_nodes", per_graph(g, |x| x.num_nodes));
        put("label", per_graph(g, |x| x.label));
        put("target", per_graph(g, |x| x.target));
        put("pope_salient", per_graph(g, |x| x.pope_salient));
        put("contrastivity", per_graph(g, |x| x.contrastivity));
        type Col = (&'static str, fn(&GraphNodeEval) -> Outcome);
        let outcomes: [Col; 2] = [("full", |x| x.full), ("pope_occluded", |x| x.pope_occluded)];
        for (name, f) in outcomes {
            put(
                &format!("{name}_prediction"),
                per_graph(g, |x| f(x).prediction),
            );
            put(&format!("{name}_p_target"), per_graph(g, |x| f(x).p_target));
        }
        if g.iter().any(|x| x.ground_truth.is_some()) {
            let per: Vec<Option<&GraphGroundTruth>> =
                g.iter().map(|x| x.ground_truth.as_ref()).collect();
            gt_columns(&per, &mut put);
        }
        let mut settings = settings_json(&self.config);
        settings["tie_break"] = json!("lower node index");
        json!({
            "settings": settings,
            "occlusion": "node features zero and every edge into or out of the node weight 0",
            "ground_truth_marks": "a node is marked when it is an endpoint of a marked edge",
            "graphs": g.len(),
            "graphs_with_nodes": self.graphs_with_nodes,
            "nodes": g.iter().map(|x| x.num_nodes).sum::<usize>(),
            "accuracy": self.accuracy,
            "pope": self.pope.to_json(),
            "ground_truth": self.ground_truth.as_ref().map(GroundTruthReport::to_json),
            "per_graph": Value::Object(pg),
        })
    }
}
