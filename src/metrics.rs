//! Scores of explanations against ground truth.

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
