//! The fidelity-type formulas of the literature, on per-graph model outputs.
//!
//! These functions take what the forward passes produced (predicted classes
//! and probabilities with the full graph, with only the explanation, and with
//! the explanation removed) and reduce them over the graphs. The forward passes
//! themselves are in [`super::evaluate()`]. Notation, per graph `i`:
//! `ŷ_i` the model's prediction (arg-max, first class on ties) on the full graph,
//! `ŷ_i^S` with only the explanation's edges (edge weights `m`),
//! `ŷ_i^{C∖S}` with them removed (edge weights `1 − m`), `y_i` the true label,
//! `c_i` the class the attributions explain, `p_c(·)` its probability.

use crate::{Error, Result};

/// Mean of a slice; `None` when it is empty.
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// `[a == b]` as 0.0 or 1.0.
fn ind(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// PyG's fidelity for **model** explanations (`ExplanationType.model`), GraphFramEx:
///
/// `fid+ = 1 − (1/N) Σ_i [ŷ_i^{C∖S} = ŷ_i]`,
/// `fid− = 1 − (1/N) Σ_i [ŷ_i^S = ŷ_i]`.
///
/// Arguments are per-graph predicted classes. Returns `(fid+, fid−)`, `None`
/// for no graphs.
pub fn pyg_fidelity_model(
    pred: &[usize],
    pred_removed: &[usize],
    pred_kept: &[usize],
) -> Option<(f64, f64)> {
    let n = pred.len();
    if n == 0 {
        return None;
    }
    let same = |o: &[usize]| pred.iter().zip(o).map(|(a, b)| ind(a == b)).sum::<f64>();
    Some((
        1.0 - same(pred_removed) / n as f64,
        1.0 - same(pred_kept) / n as f64,
    ))
}

/// PyG's fidelity for **phenomenon** explanations (`ExplanationType.phenomenon`):
///
/// `fid+ = (1/N) Σ_i |[ŷ_i = y_i] − [ŷ_i^{C∖S} = y_i]|`,
/// `fid− = (1/N) Σ_i |[ŷ_i = y_i] − [ŷ_i^S = y_i]|`.
///
/// Returns `(fid+, fid−)`, `None` for no graphs.
pub fn pyg_fidelity_phenomenon(
    labels: &[i64],
    pred: &[usize],
    pred_removed: &[usize],
    pred_kept: &[usize],
) -> Option<(f64, f64)> {
    let n = labels.len();
    if n == 0 {
        return None;
    }
    let hit = |p: usize, y: i64| ind(p as i64 == y);
    let diff = |o: &[usize]| {
        labels
            .iter()
            .zip(pred)
            .zip(o)
            .map(|((&y, &p), &q)| (hit(p, y) - hit(q, y)).abs())
            .sum::<f64>()
            / n as f64
    };
    Some((diff(pred_removed), diff(pred_kept)))
}

/// PyG's `characterization_score`, the weighted harmonic mean of `fid+` and `1 − fid−`:
///
/// `charact = 1 / (w+ / fid+ + w− / (1 − fid−))`, defaults `w+ = w− = 0.5`.
///
/// The weights must sum to 1 exactly (PyG's check `w+ + w− != 1.0`). As with
/// PyG's tensors, `fid+ = 0` or `fid− = 1` make a term infinite and the score 0.
pub fn characterization_score(
    fid_plus: f64,
    fid_minus: f64,
    w_plus: f64,
    w_minus: f64,
) -> Result<f64> {
    check_weights(w_plus, w_minus)?;
    let denom = w_plus / fid_plus + w_minus / (1.0 - fid_minus);
    Ok(1.0 / denom)
}

/// Checks PyG's condition on the characterization weights.
pub fn check_weights(w_plus: f64, w_minus: f64) -> Result<()> {
    if w_plus + w_minus != 1.0 || w_plus < 0.0 || w_minus < 0.0 {
        return Err(Error::Config(format!(
            "characterization weights must be non-negative and sum up to 1 (got {w_plus} and {w_minus})"
        )));
    }
    Ok(())
}

/// `torch.trapezoid(y, x)`: `Σ_k (x_{k+1} − x_k) (y_k + y_{k+1}) / 2`.
pub fn trapezoid(y: &[f64], x: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
        .sum()
}

/// PyG's `fidelity_curve_auc`: the trapezoid AUC of `fid+ / (1 − fid−)` over `x`.
///
/// `x` must be ascending (an error otherwise, as in PyG). Where some
/// `fid− = 1` PyG raises a division-by-zero error; this returns `None`.
pub fn fidelity_curve_auc(fid_plus: &[f64], fid_minus: &[f64], x: &[f64]) -> Result<Option<f64>> {
    if fid_plus.len() != x.len() || fid_minus.len() != x.len() {
        return Err(Error::Config(format!(
            "fidelity curve: {} fid+ and {} fid- values for {} points",
            fid_plus.len(),
            fid_minus.len(),
            x.len()
        )));
    }
    if x.windows(2)
        .any(|w| w[1].is_nan() || w[0].is_nan() || w[1] < w[0])
    {
        return Err(Error::Config(
            "fidelity curve: the x values must be given in ascending order".into(),
        ));
    }
    if fid_minus.contains(&1.0) {
        return Ok(None);
    }
    let y: Vec<f64> = fid_plus
        .iter()
        .zip(fid_minus)
        .map(|(p, m)| p / (1.0 - m))
        .collect();
    Ok(Some(trapezoid(&y, x)))
}

/// DIG's probability fidelity (`dig.xgraph.evaluation.metrics.fidelity` and
/// `fidelity_inv`): the mean probability drop `(1/N) Σ_i (p_{c_i}(G_i) − p_{c_i}(G'_i))`.
///
/// With `G'` = the graph with the explanation removed this is DIG's
/// **Fidelity+**; with `G'` = only the explanation it is **Fidelity−**.
pub fn probability_drop(p_full: &[f64], p_other: &[f64]) -> Option<f64> {
    let d: Vec<f64> = p_full.iter().zip(p_other).map(|(a, b)| a - b).collect();
    mean(&d)
}

/// Sparsity of one mask, `1 − |m| / E` (DIG's survey definition; Pope et
/// al.'s with `m` their salient edges). `None` for a graph without edges.
pub fn mask_sparsity(mask: &[bool]) -> Option<f64> {
    let e = mask.len();
    (e > 0).then(|| 1.0 - mask.iter().filter(|&&m| m).count() as f64 / e as f64)
}

/// Pope et al.'s contrastivity of one graph: the Hamming distance between the
/// binarized explanations of the two classes, normalized by the number of
/// edges either selects:
///
/// `d_H(m̂_a, m̂_b) / |m̂_a ∨ m̂_b|`.
///
/// `None` when neither explanation selects an edge (0 / 0).
pub fn contrastivity(a: &[bool], b: &[bool]) -> Option<f64> {
    let (mut diff, mut union) = (0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        diff += usize::from(x != y);
        union += usize::from(x || y);
    }
    (union > 0).then(|| diff as f64 / union as f64)
}
