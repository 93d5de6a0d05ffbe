//! Accuracy of edge attributions against ground-truth marks (`NAME_edge_gt.txt`).
//!
//! - [`roc_auc`]: the Mann-Whitney ROC-AUC of scores against marks.
//! - [`Confusion`]: true/false positives and negatives of a hard mask, with
//!   precision `TP / (TP + FP)`, recall `TP / (TP + FN)` and
//!   `F1 = 2 P R / (P + R)`; a ratio with a zero denominator is 0, as in
//!   torchmetrics and scikit-learn's `zero_division=0` (the functions behind
//!   PyG's `groundtruth_metrics`).
//! - [`GroundTruthSummary`]: per-graph values aggregated over a dataset, both
//!   as a mean over graphs and pooled over all their edges (or nodes).
//! - [`node_marks`]: node-level ground truth from the edge marks (a node is
//!   marked when it is an endpoint of a marked edge); every score above then
//!   applies to node scores unchanged.

/// ROC-AUC of `scores` against binary `labels` (1 = positive), with ties
/// counted as one half (the Mann-Whitney statistic). `None` when there are no
/// positives or no negatives, or a score is NaN.
pub fn roc_auc(scores: &[f64], labels: &[u8]) -> Option<f64> {
    if scores.len() != labels.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut pos, mut neg) = (0usize, 0usize);
    let mut rank_sum = 0.0f64; // sum of the (1-based, tie-averaged) ranks of the positives
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && scores[idx[j]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            if labels[k] != 0 {
                pos += 1;
                rank_sum += avg_rank;
            } else {
                neg += 1;
            }
        }
        i = j;
    }
    if pos == 0 || neg == 0 {
        return None;
    }
    let (p, n) = (pos as f64, neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Node-level ground truth from edge marks: node `v` of `0..num_nodes` is
/// marked (1) when it is the source or the target of an edge `e` with
/// `edge_gt[e] != 0`. `src` and `dst` are the edges' endpoints (indices below
/// `num_nodes`). Panics if an index is out of range.
pub fn node_marks(num_nodes: usize, src: &[u32], dst: &[u32], edge_gt: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; num_nodes];
    for ((&u, &v), &g) in src.iter().zip(dst).zip(edge_gt) {
        if g != 0 {
            m[u as usize] = 1;
            m[v as usize] = 1;
        }
    }
    m
}

/// Ground-truth agreement of edge attributions over a dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundTruthAuc {
    /// Mean per-graph ROC-AUC of |attribution| over the graphs that have both
    /// marked and unmarked edges.
    pub mean_graph_auc: f64,
    /// Number of graphs in that mean.
    pub graphs: usize,
    /// ROC-AUC of |attribution| over all edges of those graphs pooled.
    pub pooled_auc: f64,
}

/// Scores |edge attributions| against ground-truth marks, per graph and pooled.
/// `edge_ptr` delimits the graphs. `None` when no graph has both kinds of edges.
pub fn ground_truth_auc(
    edge_attr: &[f64],
    gt: &[u8],
    edge_ptr: &[usize],
) -> Option<GroundTruthAuc> {
    let mut sum = 0.0;
    let mut graphs = 0;
    let (mut all_s, mut all_l) = (Vec::new(), Vec::new());
    for w in edge_ptr.windows(2) {
        let s: Vec<f64> = edge_attr[w[0]..w[1]].iter().map(|v| v.abs()).collect();
        if let Some(auc) = roc_auc(&s, &gt[w[0]..w[1]]) {
            sum += auc;
            graphs += 1;
            all_s.extend(s);
            all_l.extend_from_slice(&gt[w[0]..w[1]]);
        }
    }
    if graphs == 0 {
        return None;
    }
    Some(GroundTruthAuc {
        mean_graph_auc: sum / graphs as f64,
        graphs,
        pooled_auc: roc_auc(&all_s, &all_l)?,
    })
}

/// Counts of a hard mask against ground-truth marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confusion {
    /// Selected and marked.
    pub tp: usize,
    /// Selected, not marked.
    pub fp: usize,
    /// Not selected, marked.
    pub fn_: usize,
    /// Neither selected nor marked.
    pub tn: usize,
}

/// `num / den`, or 0 when `den` is 0 (torchmetrics' convention).
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl Confusion {
    /// Counts `mask` (selected edges) against `gt` (non-zero = marked).
    pub fn of(mask: &[bool], gt: &[u8]) -> Self {
        let mut c = Confusion::default();
        for (&m, &g) in mask.iter().zip(gt) {
            match (m, g != 0) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, true) => c.fn_ += 1,
                (false, false) => c.tn += 1,
            }
        }
        c
    }

    /// Adds another count (pooling).
    pub fn add(&mut self, o: &Confusion) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.tn += o.tn;
    }

    /// `TP / (TP + FP)`, 0 when nothing is selected.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// `TP / (TP + FN)`, 0 when nothing is marked.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// `2 TP / (2 TP + FP + FN)` (= `2 P R / (P + R)`), 0 when `TP = 0`.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

/// Ground-truth scores of one graph's edge attributions (or node scores,
/// against [`node_marks`]: read "node" for "edge" below).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphGroundTruth {
    /// Number of marked edges.
    pub marked: usize,
    /// ROC-AUC of the edge scores against the marks; `None` unless the graph
    /// has both marked and unmarked edges.
    pub auc: Option<f64>,
    /// The hard mask against the marks.
    pub confusion: Confusion,
    /// Precision of the top-`marked` edges (ties: lower edge index), which
    /// equals their recall and F1 ("R-precision"); `None` without marked edges.
    pub precision_at_marked: Option<f64>,
}

impl GraphGroundTruth {
    /// Scores one graph: `scores` rank its edges, `mask` is its hard mask, `gt` its marks.
    pub fn of(scores: &[f64], mask: &[bool], gt: &[u8]) -> Self {
        let marked = gt.iter().filter(|&&g| g != 0).count();
        let precision_at_marked = (marked > 0).then(|| {
            let top = super::masks::top_k_mask(scores, marked);
            Confusion::of(&top, gt).precision()
        });
        GraphGroundTruth {
            marked,
            auc: roc_auc(scores, gt),
            confusion: Confusion::of(mask, gt),
            precision_at_marked,
        }
    }
}

/// Ground-truth scores aggregated over the graphs that have at least one marked edge.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroundTruthSummary {
    /// Graphs with at least one marked edge: the graphs of every mean below.
    pub graphs: usize,
    /// Graphs with both marked and unmarked edges: those of the AUCs.
    pub auc_graphs: usize,
    /// Mean per-graph ROC-AUC.
    pub mean_auc: Option<f64>,
    /// ROC-AUC over all edges of the `auc_graphs` pooled.
    pub pooled_auc: Option<f64>,
    /// Mean per-graph precision of the hard mask.
    pub mean_precision: Option<f64>,
    /// Mean per-graph recall of the hard mask.
    pub mean_recall: Option<f64>,
    /// Mean per-graph F1 of the hard mask.
    pub mean_f1: Option<f64>,
    /// The hard masks' counts summed over the graphs (micro-averaging:
    /// pooled precision, recall and F1 come from it).
    pub pooled: Confusion,
    /// Mean per-graph precision at `k` = the graph's number of marked edges.
    pub mean_precision_at_marked: Option<f64>,
}

impl GroundTruthSummary {
    /// Aggregates the graphs `graphs`: `per_graph[g]` are graph `g`'s scores,
    /// `scores` and `gt` hold every edge, delimited by `edge_ptr` (or every
    /// node, delimited by the node offsets, for node-level ground truth).
    pub fn of(
        per_graph: &[Option<GraphGroundTruth>],
        scores: &[f64],
        gt: &[u8],
        edge_ptr: &[usize],
        graphs: impl IntoIterator<Item = usize>,
    ) -> Self {
        let mut s = GroundTruthSummary::default();
        let (mut auc, mut p, mut r, mut f, mut pk) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut all_s, mut all_l) = (Vec::new(), Vec::new());
        for g in graphs {
            let Some(x) = per_graph.get(g).and_then(|x| x.as_ref()) else {
                continue;
            };
            if x.marked == 0 {
                continue;
            }
            s.graphs += 1;
            p += x.confusion.precision();
            r += x.confusion.recall();
            f += x.confusion.f1();
            pk += x.precision_at_marked.unwrap_or(0.0);
            s.pooled.add(&x.confusion);
            if let Some(a) = x.auc {
                s.auc_graphs += 1;
                auc += a;
                let e = edge_ptr[g]..edge_ptr[g + 1];
                all_s.extend_from_slice(&scores[e.clone()]);
                all_l.extend_from_slice(&gt[e]);
            }
        }
        let mean = |v: f64, n: usize| (n > 0).then(|| v / n as f64);
        s.mean_auc = mean(auc, s.auc_graphs);
        s.pooled_auc = roc_auc(&all_s, &all_l);
        s.mean_precision = mean(p, s.graphs);
        s.mean_recall = mean(r, s.graphs);
        s.mean_f1 = mean(f, s.graphs);
        s.mean_precision_at_marked = mean(pk, s.graphs);
        s
    }
}
