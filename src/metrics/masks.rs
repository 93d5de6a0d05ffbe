//! Hard edge masks from attributions: which edges an explanation selects.
//!
//! Every fidelity-type metric turns the soft attributions of a graph into a
//! hard mask `m ∈ {0, 1}^E` and runs the model with the edge weights `m`
//! ("keep only the explanation") or `1 − m` ("remove the explanation").
//!
//! - **Score.** Edges are ranked by a score derived from the attribution `a_e`:
//!   [`Ranking::Abs`] (the default) uses `|a_e|`, [`Ranking::Signed`] uses `a_e`
//!   itself (edges that push the explained class up come first; spelled
//!   `signed` or `value` on the command line).
//! - **Top-k.** [`top_k_mask`] selects the `k` edges of highest score; ties are
//!   broken by the lower edge index (the order of `NAME_A.txt`). With a fraction
//!   `ρ` of the edges, `k = ⌊ρ · E⌋` ([`keep_count`]).
//! - **Threshold.** [`threshold_mask`] selects the edges with score `> τ`
//!   (PyG's `ThresholdType.hard`).
//! - **Pope et al.** [`pope_binarize`] normalizes the scores to `[0, 1]` by their
//!   maximum and selects those `> τ` (Pope et al. use `τ = 0.01`).

use crate::{Error, Result};

/// How edges are ranked by their attribution `a_e`: the crate's one ranking
/// type, shared with `graph-ig top` ([`crate::topk::Ranking`]).
pub use crate::topk::Ranking;

/// The score of every edge: `|a_e|` or `a_e`.
pub fn edge_scores(attr: &[f64], ranking: Ranking) -> Vec<f64> {
    attr.iter().map(|&a| ranking.key(a)).collect()
}

/// Edge scores derived from node scores: an edge's score is the mean of its two
/// endpoints' scores, `s_uv = (s_u + s_v) / 2`, so that edge-level metrics can
/// score a node-level explanation (Grad-CAM, the contrastive gradient, EB).
/// `src` and `dst` index `node_score`. Panics if an index is out of range.
pub fn edge_scores_from_nodes(node_score: &[f64], src: &[u32], dst: &[u32]) -> Vec<f64> {
    src.iter()
        .zip(dst)
        .map(|(&u, &v)| (node_score[u as usize] + node_score[v as usize]) / 2.0)
        .collect()
}

/// `k = ⌊fraction · n⌋`, clamped to `0..=n`.
///
/// The product is taken with a relative tolerance of `1e-9`, so that for
/// example `0.2 · 5` gives 1 although its f64 value is `0.9999999999999998`.
/// (DIG's Python `int((1 - sparsity) * n)` truncates the raw product and can be
/// one lower in such cases.)
pub fn keep_count(n: usize, fraction: f64) -> usize {
    if fraction.is_nan() || fraction <= 0.0 || n == 0 {
        return 0;
    }
    let v = fraction * n as f64;
    let k = (v + v * 1e-9).floor();
    (k as usize).min(n)
}

/// The edge indices sorted by decreasing score, ties by increasing index.
/// Scores must not be NaN (NaN sorts as the largest value).
pub fn ranked(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx
}

/// The `k` edges of highest score (ties: lower edge index first); `k` is
/// clamped to the number of edges.
pub fn top_k_mask(scores: &[f64], k: usize) -> Vec<bool> {
    let mut m = vec![false; scores.len()];
    for &e in ranked(scores).iter().take(k) {
        m[e] = true;
    }
    m
}

/// The edges whose score is `> tau` (PyG's hard threshold).
pub fn threshold_mask(scores: &[f64], tau: f64) -> Vec<bool> {
    scores.iter().map(|&s| s > tau).collect()
}

/// Pope et al.'s binarization: `m_e = [s_e / max_e' s_e' > tau]`.
///
/// The scores are normalized to `[0, 1]` by their maximum ("on a scale of 0 to
/// 1") and thresholded strictly. When the maximum is not positive (all-zero
/// attributions, or only negative ones with [`Ranking::Signed`]), no edge is
/// salient.
pub fn pope_binarize(scores: &[f64], tau: f64) -> Vec<bool> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max.is_nan() || max <= 0.0 {
        return vec![false; scores.len()];
    }
    scores.iter().map(|&s| s / max > tau).collect()
}

/// How an explanation's hard mask is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaskRule {
    /// DIG's sparsity level `s ∈ [0, 1]`: keep the top `⌊(1 − s) · E⌋` edges
    /// ([`keep_count`] of `1 − s`, [`top_k_mask`]).
    Sparsity(f64),
    /// Keep a fraction `ρ ∈ [0, 1]` of the edges: the top `⌊ρ · E⌋`.
    Fraction(f64),
    /// Keep the edges with score `> τ`.
    Threshold(f64),
}

impl MaskRule {
    /// Checks the parameter's range.
    pub fn validate(&self) -> Result<()> {
        match *self {
            MaskRule::Sparsity(s) if !(0.0..=1.0).contains(&s) => {
                Err(Error::Config(format!("sparsity {s} is outside [0, 1]")))
            }
            MaskRule::Fraction(r) if !(0.0..=1.0).contains(&r) => Err(Error::Config(format!(
                "edge fraction {r} is outside [0, 1]"
            ))),
            MaskRule::Threshold(t) if !t.is_finite() => {
                Err(Error::Config(format!("threshold {t} is not finite")))
            }
            _ => Ok(()),
        }
    }

    /// The hard mask of one graph's edge scores.
    pub fn mask(&self, scores: &[f64]) -> Vec<bool> {
        match *self {
            MaskRule::Sparsity(s) => top_k_mask(scores, keep_count(scores.len(), 1.0 - s)),
            MaskRule::Fraction(r) => top_k_mask(scores, keep_count(scores.len(), r)),
            MaskRule::Threshold(t) => threshold_mask(scores, t),
        }
    }

    /// A short description for tables (of an edge mask).
    pub fn describe(&self) -> String {
        self.describe_for("edges", "E")
    }

    /// A short description for tables, of a mask over `items` (`edges`,
    /// `nodes`) whose count is written `count` (`E`, `N`).
    pub fn describe_for(&self, items: &str, count: &str) -> String {
        match *self {
            MaskRule::Sparsity(s) => {
                format!("top floor((1 - {s}) * {count}) {items} (sparsity {s})")
            }
            MaskRule::Fraction(r) => format!("top floor({r} * {count}) {items}"),
            MaskRule::Threshold(t) => format!("{items} with score > {t}"),
        }
    }
}
