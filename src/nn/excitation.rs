//! Excitation Backprop (Zhang et al. 2016) as Pope et al. (CVPR 2019) adapt it to
//! graph networks, and its contrastive variant, written once over the backend.
//!
//! A probability mass of 1 starts at the explained class's logit and flows top-down.
//! Every op with weights is linear in its input `a` once its coefficients are held
//! fixed (GCN's normalisation, the mean's `1/deg`, GAT's attention from the forward
//! pass, the edge mask at 1); with its weights clipped to their excitatory part `W⁺`
//! (and no bias) it gives `Z = J⁺ a`, and a parent passes its mass to its children in
//! proportion to their contributions: `P(a) = a ⊙ J⁺ᵀ (P / Z)` (0 where `P` or `Z` is 0).
//! ReLU and dropout pass the mass through unchanged; add and mean pooling pass each
//! channel's mass to the nodes in proportion to their values, max pooling to the nodes
//! that reach the maximum (evenly among ties). The score of node `n` is the mass that
//! reaches its input features, `Σ_f P(x_{n,f})`.
//!
//! Contrastive EB is EB for the class minus EB for the negated classifier: the last
//! Linear's weights negated, so that `(−W)⁺` keeps those that argue against the class.
//!
//! EB is defined where the mass stays a flow of non-negative contributions: every
//! activation a ReLU, no BatchNorm (its shift and possibly negative scale), no L2
//! normalisation (SAGE's `normalize`), GIN's `1 + eps ≥ 0`, non-negative edge weights.
//! [`supports`] says why a model is refused.

use super::backend::{Backend, Coef, Instances, Loops, Mask};
use super::network::{internal, ConvOp, ConvTape, Network, RowOp, SeqTape, Structure, Tape};
use crate::model::{Act, Conv, Linear, Model, Op, Readout};
use crate::Result;

/// Why Excitation Backprop is undefined for `model` (`None`: it is defined).
pub fn supports(model: &Model, contrastive: bool) -> Option<String> {
    fn ops_ok(ops: &[Op]) -> Option<String> {
        for op in ops {
            match op {
                Op::Act(Act::Relu) | Op::Dropout | Op::Linear { .. } => {}
                Op::Act(a) => {
                    return Some(format!(
                        "its {} activation gives negative values, which the mass cannot flow through (EB needs ReLU)",
                        a.name()
                    ))
                }
                Op::BatchNorm { prefix, .. } => {
                    return Some(format!(
                        "BatchNorm1d {prefix} shifts and rescales, possibly by negative factors, so the mass would not stay a flow of non-negative contributions"
                    ))
                }
                Op::Conv { prefix, conv } => match conv {
                    Conv::Graph(crate::model::GraphConv {
                        aggr: crate::model::Aggr::Max,
                        ..
                    })
                    | Conv::Sage(crate::model::SageConv {
                        aggr: crate::model::Aggr::Max,
                        ..
                    }) => {
                        return Some(format!(
                            "{} {prefix} aggregates by a maximum, which passes no proportional flow",
                            conv.name()
                        ))
                    }
                    Conv::Sage(s) if s.normalize => {
                        return Some(format!(
                            "SAGEConv {prefix} L2-normalises its output, which is not a linear flow"
                        ))
                    }
                    Conv::Gin(g) if 1.0 + g.eps < 0.0 => {
                        return Some(format!(
                            "GINConv {prefix} has 1 + eps = {} < 0",
                            1.0 + g.eps
                        ))
                    }
                    Conv::Gin(g) => {
                        if let Some(why) = ops_ok(&g.nn) {
                            return Some(why);
                        }
                    }
                    _ => {}
                },
            }
        }
        None
    }
    if let Some(why) = ops_ok(&model.body).or_else(|| ops_ok(&model.head)) {
        return Some(why);
    }
    if contrastive && !matches!(model.head.last(), Some(Op::Linear { .. })) {
        return Some(
            "contrastive EB negates the classifier, the last Linear of the head, and this model's output does not come from one".into(),
        );
    }
    None
}

/// An op's excitatory weights.
enum PosOp<B: Backend> {
    /// A Linear, or an op without weights (`None`).
    Dense(Option<B::Weight>),
    /// GraphConv / SAGEConv: `(lin_rel⁺ | lin_l⁺, lin_root⁺ | lin_r⁺)`.
    Pair(B::Weight, Option<B::Weight>),
    /// GCNConv, GATConv: `lin⁺`.
    Lin(B::Weight),
    /// GINConv: its MLP's.
    Gin(Vec<PosOp<B>>),
}

/// The excitatory weights of a network, prepared once.
pub struct Excitation<B: Backend> {
    body: Vec<PosOp<B>>,
    head: Vec<PosOp<B>>,
    /// `(−W)⁺` of the classifier, for contrastive EB.
    negated: Option<B::Weight>,
}

fn pos_ops<B: Backend>(b: &B, ops: &[Op]) -> Result<Vec<PosOp<B>>> {
    let w = |l: &Linear| b.weight(&l.positive(1.0));
    ops.iter()
        .map(|op| {
            Ok(match op {
                Op::Linear { lin, .. } => PosOp::Dense(Some(w(lin)?)),
                Op::Conv { conv, .. } => match conv {
                    Conv::Graph(c) => PosOp::Pair(w(&c.lin_rel)?, Some(w(&c.lin_root)?)),
                    Conv::Sage(c) => {
                        PosOp::Pair(w(&c.lin_l)?, c.lin_r.as_ref().map(w).transpose()?)
                    }
                    Conv::Gcn(c) => PosOp::Lin(w(&c.lin)?),
                    Conv::Gat(c) => PosOp::Lin(w(&c.lin)?),
                    Conv::Gin(c) => PosOp::Gin(pos_ops(b, &c.nn)?),
                },
                _ => PosOp::Dense(None),
            })
        })
        .collect()
}

impl<B: Backend> Excitation<B> {
    /// The excitatory weights of `model` on `b` (and the negated classifier's, when
    /// `contrastive`).
    pub fn new(b: &B, model: &Model, contrastive: bool) -> Result<Self> {
        let negated = match (contrastive, model.classifier()) {
            (true, Some(l)) => Some(b.weight(&l.positive(-1.0))?),
            _ => None,
        };
        Ok(Excitation {
            body: pos_ops(b, &model.body)?,
            head: pos_ops(b, &model.head)?,
            negated,
        })
    }
}

/// `a ⊙ W⁺ᵀ (P / (W⁺ a))` over `rows` rows.
fn dense_down<B: Backend>(
    b: &B,
    w: &B::Weight,
    a: &B::Buf,
    p: &B::Buf,
    rows: usize,
    (din, dout): (usize, usize),
) -> Result<B::Buf> {
    let mut z = b.alloc(rows * dout)?;
    b.linear(rows, a, w, None, &mut z)?;
    let r = b.ratio(p, &z)?;
    let mut t = b.alloc(rows * din)?;
    b.linear_t(rows, &r, w, &mut t, false)?;
    b.mul(a, &t)
}

impl<B: Backend> Network<'_, B> {
    /// Excitation Backprop after [`Network::forward`] with mask 1: the mass reaching each
    /// node's input features `[S·N]`, from the logit mass `top [S·G, C]` (one-hot at each
    /// instance's class). With `contrastive`, the classifier is negated.
    #[allow(clippy::too_many_arguments)]
    pub fn excitation(
        &self,
        b: &B,
        ex: &Excitation<B>,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        tape: &Tape<B>,
        mask: Mask<'_, B::Buf>,
        top: &B::Buf,
        contrastive: bool,
    ) -> Result<B::Buf> {
        let rows = g.steps * b.num_nodes(g.graph);
        let inst = g.steps * b.num_graphs(g.graph);
        let negated = if contrastive {
            Some(
                ex.negated
                    .as_ref()
                    .ok_or_else(|| internal("contrastive EB without the negated classifier"))?,
            )
        } else {
            None
        };
        let p = b.copy(top)?;
        let p_readout = self.seq_down(
            b, g, st, mask, &self.head, &ex.head, &tape.head, p, inst, negated,
        )?;
        let d = *tape.body.widths.last().unwrap_or(&0);
        let h = tape.body.output();
        let p_nodes = match (self.model.readout, &tape.ties) {
            (Readout::Pool(crate::Pool::Max), Some(ties)) => {
                let mut m = b.alloc(rows * d)?;
                b.pool_backward(
                    g,
                    crate::Pool::Max,
                    h,
                    tape.readout(),
                    ties,
                    &p_readout,
                    d,
                    &mut m,
                )?;
                m
            }
            (Readout::Pool(_), _) => {
                // In proportion to the values: h ⊙ broadcast(P / Σ_i h).
                let mut sum = b.alloc(inst * d)?;
                let mut ties = b.zeros(inst * d)?;
                b.pool(g, crate::Pool::Add, h, d, &mut sum, &mut ties)?;
                let r = b.ratio(&p_readout, &sum)?;
                let mut bcast = b.alloc(rows * d)?;
                b.pool_backward(g, crate::Pool::Add, h, &sum, &ties, &r, d, &mut bcast)?;
                b.mul(h, &bcast)?
            }
            (Readout::Node, _) => {
                let mut m = b.alloc(rows * d)?;
                b.select_centers_t(g, &p_readout, d, &mut m)?;
                m
            }
        };
        let p_x = self.seq_down(
            b, g, st, mask, &self.body, &ex.body, &tape.body, p_nodes, rows, None,
        )?;
        b.row_sums(self.model.num_features(), &p_x)
    }

    /// The mass down a sequence of ops, from `p` at its output. `negated` replaces the
    /// weights of the sequence's last op (the classifier).
    #[allow(clippy::too_many_arguments)]
    fn seq_down(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        mask: Mask<'_, B::Buf>,
        ops: &[RowOp<B>],
        pos: &[PosOp<B>],
        t: &SeqTape<B>,
        mut p: B::Buf,
        rows: usize,
        negated: Option<&B::Weight>,
    ) -> Result<B::Buf> {
        for (k, op) in ops.iter().enumerate().rev() {
            let a = &t.values[t.input[k]];
            let din = t.widths[t.input[k]];
            let last = k + 1 == ops.len();
            p = match (op, &pos[k]) {
                (RowOp::Act(_) | RowOp::Dropout, _) => p,
                (RowOp::Linear(l), PosOp::Dense(Some(w))) => {
                    let w = if last { negated.unwrap_or(w) } else { w };
                    dense_down(b, w, a, &p, rows, (l.in_dim, l.out_dim))?
                }
                (RowOp::Conv(c, ci), pw) => {
                    let ct = t.convs[k]
                        .as_ref()
                        .ok_or_else(|| internal("a conv without its tape"))?;
                    self.conv_down(b, g, st, mask, c, *ci, pw, ct, a, din, &p)?
                }
                _ => {
                    return Err(internal(
                        "Excitation Backprop reached an op it does not support",
                    ))
                }
            };
        }
        Ok(p)
    }

    /// The mass of a conv's inputs `a [rows, din]` from the mass `p` at its output.
    #[allow(clippy::too_many_arguments)]
    fn conv_down(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        mask: Mask<'_, B::Buf>,
        c: &ConvOp<B>,
        ci: usize,
        pw: &PosOp<B>,
        ct: &ConvTape<B>,
        a: &B::Buf,
        din: usize,
        p: &B::Buf,
    ) -> Result<B::Buf> {
        let rows = g.steps * b.num_nodes(g.graph);
        let s = &st.convs[ci];
        let plain = Coef {
            mask,
            fixed: s.fixed.as_ref(),
            att: None,
            loops: None,
            heads: 1,
        };
        match (c, pw, ct) {
            (ConvOp::Graph { rel, .. } | ConvOp::Sage { l: rel, .. }, PosOp::Pair(wa, wr), _) => {
                // Z = W_agg⁺ (Σ_j c_ji a_j) + W_root⁺ a_i.
                let dout = rel.out_dim;
                let mut agg = b.alloc(rows * din)?;
                b.propagate(g, &plain, a, din, &mut agg)?;
                let mut z = b.alloc(rows * dout)?;
                match wr {
                    Some(wr) => b.linear2(rows, &agg, wa, a, wr, None, &mut z)?,
                    None => b.linear(rows, &agg, wa, None, &mut z)?,
                }
                let r = b.ratio(p, &z)?;
                let mut t = b.zeros(rows * din)?;
                if let Some(wr) = wr {
                    b.linear_t(rows, &r, wr, &mut t, false)?;
                }
                let mut t_agg = b.alloc(rows * din)?;
                b.linear_t(rows, &r, wa, &mut t_agg, false)?;
                b.propagate_t(g, &plain, &t_agg, din, &mut t, true)?;
                b.mul(a, &t)
            }
            (ConvOp::Gcn { lin, .. }, PosOp::Lin(w), _) => {
                let coef = self.gcn_coef(s, mask);
                let dout = lin.out_dim;
                let mut hw = b.alloc(rows * dout)?;
                b.linear(rows, a, w, None, &mut hw)?;
                let mut z = b.alloc(rows * dout)?;
                b.propagate(g, &coef, &hw, dout, &mut z)?;
                let r = b.ratio(p, &z)?;
                let mut t_hw = b.alloc(rows * dout)?;
                b.propagate_t(g, &coef, &r, dout, &mut t_hw, false)?;
                let mut t = b.alloc(rows * din)?;
                b.linear_t(rows, &t_hw, w, &mut t, false)?;
                b.mul(a, &t)
            }
            (
                ConvOp::Gat {
                    lin, heads, concat, ..
                },
                PosOp::Lin(w),
                ConvTape::Gat { alpha, .. },
            ) => {
                let (h, hc) = (*heads, lin.out_dim);
                let coef = Coef {
                    mask,
                    fixed: s.fixed.as_ref(),
                    att: Some(&alpha.0),
                    loops: alpha.1.as_ref().map(|al| Loops {
                        fixed: None,
                        att: Some(al),
                    }),
                    heads: h,
                };
                let mut hw = b.alloc(rows * hc)?;
                b.linear(rows, a, w, None, &mut hw)?;
                let mut agg = b.alloc(rows * hc)?;
                b.propagate(g, &coef, &hw, hc, &mut agg)?;
                let r_agg = if *concat {
                    b.ratio(p, &agg)?
                } else {
                    let mut z = b.alloc(rows * (hc / h))?;
                    b.head_mean(h, hc / h, &agg, &mut z)?;
                    let r = b.ratio(p, &z)?;
                    let mut ra = b.alloc(rows * hc)?;
                    b.head_mean_t(h, hc / h, &r, &mut ra)?;
                    ra
                };
                let mut t_hw = b.alloc(rows * hc)?;
                b.propagate_t(g, &coef, &r_agg, hc, &mut t_hw, false)?;
                let mut t = b.alloc(rows * din)?;
                b.linear_t(rows, &t_hw, w, &mut t, false)?;
                b.mul(a, &t)
            }
            (ConvOp::Gin { scale, nn, .. }, PosOp::Gin(pos), ConvTape::Gin { nn: nt }) => {
                let empty = Structure::empty();
                let pz = b.copy(p)?;
                let p_z = self.seq_down(b, g, &empty, mask, nn, pos, nt, pz, rows, None)?;
                // z = (1 + eps) a + Σ_j a_j, itself the normaliser.
                let z = &nt.values[0];
                let r = b.ratio(&p_z, z)?;
                let mut t = b.zeros(rows * din)?;
                b.add_scaled(*scale, &r, &mut t)?;
                b.propagate_t(g, &plain, &r, din, &mut t, true)?;
                b.mul(a, &t)
            }
            _ => Err(internal("Excitation Backprop: a conv without its weights")),
        }
    }
}
