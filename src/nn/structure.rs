//! The per-edge coefficients each conv takes from the graph structure alone (not
//! from the features, not from the mask): GCN's normalisation and its self-loops,
//! the mean aggregations' `1 / in-degree`, the data's edge weights, and which input
//! self-loops a conv replaces by its own. Computed on the host in f64, once per
//! structure (a graph, or a chunk of graphs), and shared by every step.
//!
//! PyG's rules (2.8.1):
//! - GraphConv: message `edge_weight · x_j`; `aggr="mean"` divides by the number of
//!   incoming edges, `aggr="max"` takes the channel-wise maximum. Input self-loops are
//!   ordinary edges.
//! - GCNConv (`normalize`): `add_remaining_self_loops` drops the input's self-loops and
//!   gives every node one loop of weight `fill` (2 when `improved`, else 1), or, when
//!   the data has edge weights and the node had a loop, that loop's weight (the last
//!   one); without edge weights every weight is 1 and `improved` has no effect; `deg_i = Σ_{e→i} w_e` over the result; `norm_e = deg_src^-½ w_e deg_dst^-½`
//!   (0 where a degree is 0). Without `add_self_loops`, no loops are added or dropped.
//!   Without `normalize`, messages are `edge_weight · x_j`.
//! - SAGEConv: the mean divides by the number of incoming edges; no edge weights.
//! - GINConv: plain sums; no edge weights.
//! - GATConv (`add_self_loops`): input self-loops are dropped (coefficient 0, and out
//!   of the softmax) and every node gets one loop.

use crate::model::{Aggr, Conv};
use crate::nn::backend::HostStructure;

/// A conv's structural coefficients on one structure.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConvStructure {
    /// Per input edge `[E]`; `None` means 1 for every edge.
    pub fixed: Option<Vec<f64>>,
    /// The self-loop term's coefficient per node `[N]` (`None` with `loops`: 1).
    pub loop_fixed: Option<Vec<f64>>,
    /// The conv adds a self-loop to every node (replacing the input's own).
    pub loops: bool,
}

/// Number of incoming edges of every node.
fn in_counts(n: usize, dst: &[u32]) -> Vec<f64> {
    let mut c = vec![0.0; n];
    for &d in dst {
        c[d as usize] += 1.0;
    }
    c
}

/// `1 / count(dst_e)` (times the edge weight) for a mean aggregation.
fn mean_coef(s: &HostStructure<'_>, n: usize, weights: bool) -> Vec<f64> {
    let counts = match s.degrees {
        Some(d) => d.count.clone(),
        None => in_counts(n, s.dst),
    };
    (0..s.dst.len())
        .map(|e| {
            let w = if weights {
                s.edge_weight.map_or(1.0, |w| f64::from(w[e]))
            } else {
                1.0
            };
            w / counts[s.dst[e] as usize]
        })
        .collect()
}

/// The coefficients of `conv` on `s`.
pub fn conv_structure(conv: &Conv, s: &HostStructure<'_>) -> ConvStructure {
    let n = *s.node_ptr.last().unwrap_or(&0);
    let weights = || {
        s.edge_weight
            .map(|w| w.iter().map(|&v| f64::from(v)).collect())
    };
    match conv {
        Conv::Graph(c) => ConvStructure {
            fixed: match c.aggr {
                Aggr::Add | Aggr::Max => weights(),
                Aggr::Mean => Some(mean_coef(s, n, true)),
            },
            ..Default::default()
        },
        Conv::Sage(c) => ConvStructure {
            fixed: match c.aggr {
                Aggr::Add | Aggr::Max => None,
                Aggr::Mean => Some(mean_coef(s, n, false)),
            },
            ..Default::default()
        },
        Conv::Gin(_) => ConvStructure::default(),
        Conv::Gat(c) => {
            let has_loops = s.src.iter().zip(s.dst).any(|(a, b)| a == b);
            ConvStructure {
                fixed: (c.add_self_loops && has_loops).then(|| {
                    s.src
                        .iter()
                        .zip(s.dst)
                        .map(|(a, b)| if a == b { 0.0 } else { 1.0 })
                        .collect()
                }),
                loop_fixed: None,
                loops: c.add_self_loops,
            }
        }
        Conv::Gcn(c) => {
            if !c.normalize {
                return ConvStructure {
                    fixed: weights(),
                    ..Default::default()
                };
            }
            let w = |e: usize| s.edge_weight.map_or(1.0, |w| f64::from(w[e]));
            let is_loop = |e: usize| s.src[e] == s.dst[e];
            let mut deg = vec![0.0; n];
            // PyG 2.8's `add_remaining_self_loops` uses the fill value (2 when `improved`)
            // only for edge weights it is given; without any, every weight, loops
            // included, becomes 1: `improved` then has no effect.
            let fill = if c.improved && s.edge_weight.is_some() {
                2.0
            } else {
                1.0
            };
            let mut loop_w = vec![fill; n];
            for e in 0..s.dst.len() {
                if c.add_self_loops && is_loop(e) {
                    if s.edge_weight.is_some() {
                        loop_w[s.dst[e] as usize] = w(e);
                    }
                } else {
                    deg[s.dst[e] as usize] += w(e);
                }
            }
            if c.add_self_loops {
                for (d, l) in deg.iter_mut().zip(&loop_w) {
                    *d += l;
                }
            }
            // A node-task subgraph lacks the in-edges of its outermost nodes: their
            // degrees come from the whole graph, summed there in the same order.
            if let Some(full) = s.degrees {
                for i in 0..n {
                    deg[i] = if c.add_self_loops {
                        let lw = if s.edge_weight.is_some() && !full.loop_weight[i].is_nan() {
                            full.loop_weight[i]
                        } else {
                            fill
                        };
                        full.weight_nonloop[i] + lw
                    } else {
                        full.weight[i]
                    };
                    loop_w[i] = if s.edge_weight.is_some() && !full.loop_weight[i].is_nan() {
                        full.loop_weight[i]
                    } else {
                        loop_w[i]
                    };
                }
            }
            let dis: Vec<f64> = deg
                .iter()
                .map(|&d| {
                    let v = d.powf(-0.5);
                    if v.is_finite() {
                        v
                    } else {
                        0.0
                    }
                })
                .collect();
            let fixed = (0..s.dst.len())
                .map(|e| {
                    if c.add_self_loops && is_loop(e) {
                        0.0
                    } else {
                        dis[s.src[e] as usize] * w(e) * dis[s.dst[e] as usize]
                    }
                })
                .collect();
            ConvStructure {
                fixed: Some(fixed),
                loop_fixed: c
                    .add_self_loops
                    .then(|| (0..n).map(|i| dis[i] * loop_w[i] * dis[i]).collect()),
                loops: c.add_self_loops,
            }
        }
    }
}
