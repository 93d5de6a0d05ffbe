//! Scores of explanations: fidelity, contrastivity, sparsity and accuracy
//! against ground truth, batched over all graphs of a dataset.
//!
//! - [`masks`]: hard edge masks from attributions (top-k, threshold, Pope et al.'s binarization).
//! - [`fidelity`]: the formulas of Pope et al. (CVPR 2019), PyG (GraphFramEx) and DIG.
//! - [`ground_truth`]: ROC-AUC, precision, recall and F1 against `NAME_edge_gt.txt`.
//! - [`evaluate()`] (CPU reference): the forward passes with masked edge weights
//!   for every graph in parallel, and every metric over the dataset.
//! - [`nodes`] (CPU reference): node-level explanations (`node_score`):
//!   ground truth against the endpoints of the marked edges, Pope et al.'s
//!   fidelity, contrastivity and sparsity with occluded nodes, and edge scores
//!   derived from node scores for [`evaluate()`].

#[cfg(feature = "cpu-ref")]
pub mod evaluate;
pub mod fidelity;
pub mod ground_truth;
pub mod masks;
#[cfg(feature = "cpu-ref")]
pub mod nodes;

#[cfg(feature = "cpu-ref")]
pub use evaluate::{evaluate, EvalConfig, EvalReport, Explanation};
pub use ground_truth::{ground_truth_auc, node_marks, roc_auc, GroundTruthAuc};
pub use masks::{edge_scores_from_nodes, MaskRule, Ranking};
#[cfg(feature = "cpu-ref")]
pub use nodes::{evaluate_nodes, NodeEvalReport, NodeExplanation};
