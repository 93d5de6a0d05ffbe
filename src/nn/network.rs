//! A model on a backend: the forward pass, its backward pass to the node features and
//! the edge mask, written once for every device.
//!
//! The forward pass keeps a [`Tape`]: the node rows after every op of the body (an
//! activation overwrites its input in place: no op's backward needs the value an
//! activation replaced), each conv's internal values (aggregations, GAT's attention),
//! the readout and the head's rows, the logits and the output rows.

use super::backend::{Backend, Coef, HostStructure, Instances, Loops, Mask, Seed};
use super::structure::{conv_structure, ConvStructure};
use crate::model::{Act, Aggr, Conv, Linear, Model, Op, Output, Readout};
use crate::{Error, Result};

/// A Linear prepared for a backend.
pub struct Dense<B: Backend> {
    /// The weight.
    pub w: B::Weight,
    /// The bias (none when the layer has none).
    pub b: Option<B::Buf>,
    /// Input width.
    pub in_dim: usize,
    /// Output width.
    pub out_dim: usize,
}

impl<B: Backend> Dense<B> {
    fn new(b: &B, l: &Linear, bias: bool) -> Result<Self> {
        Ok(Dense {
            w: b.weight(l)?,
            b: if bias && l.bias.iter().any(|&v| v != 0.0) {
                Some(b.upload(&l.bias)?)
            } else {
                None
            },
            in_dim: l.in_dim,
            out_dim: l.out_dim,
        })
    }
}

/// A conv prepared for a backend.
pub enum ConvOp<B: Backend> {
    /// GraphConv.
    Graph {
        /// `lin_rel` (with the bias).
        rel: Dense<B>,
        /// `lin_root`.
        root: Dense<B>,
        /// Max aggregation (else a sum, or a mean through the structural coefficients).
        max: bool,
    },
    /// GCNConv.
    Gcn {
        /// `lin` (no bias).
        lin: Dense<B>,
        /// The bias.
        bias: Option<B::Buf>,
    },
    /// SAGEConv.
    Sage {
        /// `lin_l` (with the bias).
        l: Dense<B>,
        /// `lin_r`.
        r: Option<Dense<B>>,
        /// L2-normalise the output rows.
        normalize: bool,
        /// Max aggregation (else a sum, or a mean through the structural coefficients).
        max: bool,
    },
    /// GINConv.
    Gin {
        /// `1 + eps`.
        scale: f64,
        /// The MLP.
        nn: Vec<RowOp<B>>,
        /// Input width.
        in_dim: usize,
    },
    /// GATConv.
    Gat {
        /// `lin` (no bias).
        lin: Dense<B>,
        /// `att_src` `[H·C]`.
        att_src: B::Buf,
        /// `att_dst` `[H·C]`.
        att_dst: B::Buf,
        /// The bias.
        bias: Option<B::Buf>,
        /// Heads.
        heads: usize,
        /// Concatenate (else average) the heads.
        concat: bool,
        /// The score's leaky ReLU slope.
        slope: f64,
    },
}

/// A row-wise op (or a conv, in the body) prepared for a backend.
pub enum RowOp<B: Backend> {
    /// A conv, with its index among the model's convs.
    Conv(Box<ConvOp<B>>, usize),
    /// A Linear.
    Linear(Dense<B>),
    /// BatchNorm1d (eval): per-channel scale and shift.
    BatchNorm {
        /// Scale per channel.
        scale: B::Buf,
        /// Shift per channel.
        shift: B::Buf,
        /// Channels.
        dim: usize,
    },
    /// An activation.
    Act(Act),
    /// Dropout (the identity).
    Dropout,
}

impl<B: Backend> RowOp<B> {
    fn out_dim(&self, d: usize) -> usize {
        match self {
            RowOp::Conv(c, _) => c.out_dim(),
            RowOp::Linear(l) => l.out_dim,
            _ => d,
        }
    }
}

impl<B: Backend> ConvOp<B> {
    fn out_dim(&self) -> usize {
        match self {
            ConvOp::Graph { rel, .. } => rel.out_dim,
            ConvOp::Gcn { lin, .. } => lin.out_dim,
            ConvOp::Sage { l, .. } => l.out_dim,
            ConvOp::Gin { nn, in_dim, .. } => nn.iter().fold(*in_dim, |d, o| o.out_dim(d)),
            ConvOp::Gat {
                lin, heads, concat, ..
            } => {
                if *concat {
                    lin.out_dim
                } else {
                    lin.out_dim / heads
                }
            }
        }
    }
}

/// A model prepared for a backend: its weights on the device.
pub struct Network<'m, B: Backend> {
    /// The model.
    pub model: &'m Model,
    /// The body's ops.
    pub body: Vec<RowOp<B>>,
    /// The head's ops.
    pub head: Vec<RowOp<B>>,
    convs: Vec<&'m Conv>,
}

fn prepare_ops<'m, B: Backend>(
    b: &B,
    ops: &'m [Op],
    convs: &mut Vec<&'m Conv>,
) -> Result<Vec<RowOp<B>>> {
    ops.iter()
        .map(|op| {
            Ok(match op {
                Op::Linear { lin, .. } => RowOp::Linear(Dense::new(b, lin, true)?),
                Op::BatchNorm { bn, .. } => RowOp::BatchNorm {
                    scale: b.upload(&bn.scale)?,
                    shift: b.upload(&bn.shift)?,
                    dim: bn.scale.len(),
                },
                Op::Act(a) => RowOp::Act(*a),
                Op::Dropout => RowOp::Dropout,
                Op::Conv { conv, .. } => {
                    let index = convs.len();
                    convs.push(conv);
                    RowOp::Conv(Box::new(prepare_conv(b, conv, convs)?), index)
                }
            })
        })
        .collect()
}

fn nonzero<B: Backend>(b: &B, v: &[f64]) -> Result<Option<B::Buf>> {
    Ok(if v.iter().any(|&x| x != 0.0) {
        Some(b.upload(v)?)
    } else {
        None
    })
}

fn prepare_conv<'m, B: Backend>(
    b: &B,
    conv: &'m Conv,
    convs: &mut Vec<&'m Conv>,
) -> Result<ConvOp<B>> {
    Ok(match conv {
        Conv::Graph(c) => ConvOp::Graph {
            rel: Dense::new(b, &c.lin_rel, true)?,
            root: Dense::new(b, &c.lin_root, false)?,
            max: c.aggr == Aggr::Max,
        },
        Conv::Gcn(c) => ConvOp::Gcn {
            lin: Dense::new(b, &c.lin, false)?,
            bias: nonzero(b, &c.bias)?,
        },
        Conv::Sage(c) => ConvOp::Sage {
            l: Dense::new(b, &c.lin_l, true)?,
            r: c.lin_r
                .as_ref()
                .map(|r| Dense::new(b, r, false))
                .transpose()?,
            normalize: c.normalize,
            max: c.aggr == Aggr::Max,
        },
        Conv::Gin(c) => {
            // A GIN's nn holds no convs, so `convs` does not grow here.
            ConvOp::Gin {
                scale: 1.0 + c.eps,
                nn: prepare_ops(b, &c.nn, convs)?,
                in_dim: conv.in_dim(),
            }
        }
        Conv::Gat(c) => ConvOp::Gat {
            lin: Dense::new(b, &c.lin, false)?,
            att_src: b.upload(&c.att_src)?,
            att_dst: b.upload(&c.att_dst)?,
            bias: nonzero(b, &c.bias)?,
            heads: c.heads,
            concat: c.concat,
            slope: c.negative_slope,
        },
    })
}

/// A conv's structural coefficients on the device.
pub struct StructureBufs<B: Backend> {
    /// Per input edge `[E]`.
    pub(super) fixed: Option<B::Buf>,
    /// Per node, for the self-loop term `[N]`.
    pub(super) loop_fixed: Option<B::Buf>,
    /// The conv adds self-loops.
    pub(super) loops: bool,
}

/// The structural coefficients of every conv on one structure.
pub struct Structure<B: Backend> {
    pub(super) convs: Vec<StructureBufs<B>>,
}

impl<B: Backend> Structure<B> {
    /// No convs (a GIN's MLP).
    pub(super) fn empty() -> Self {
        Structure { convs: Vec::new() }
    }
}

/// What a conv kept for its backward pass.
pub enum ConvTape<B: Backend> {
    /// GraphConv, SAGEConv: the aggregation; SAGE's output before normalising.
    Agg {
        /// The aggregated messages.
        agg: B::Buf,
        /// Max aggregation: the number of edges reaching each maximum.
        ties: Option<B::Buf>,
        /// The output before the L2 normalisation (SAGE with `normalize`).
        pre: Option<B::Buf>,
    },
    /// GCNConv: `x Wᵀ`.
    Gcn {
        /// The transformed features.
        hw: B::Buf,
    },
    /// GINConv: its MLP's tape (whose input is `(1 + eps) x + Σ x_j`).
    Gin {
        /// The MLP's values.
        nn: SeqTape<B>,
    },
    /// GATConv.
    Gat {
        /// `x Θᵀ` `[rows, H·C]`.
        hw: B::Buf,
        /// The scores (edges, loops).
        scores: (B::Buf, Option<B::Buf>),
        /// The attention coefficients (edges, loops).
        alpha: (B::Buf, Option<B::Buf>),
    },
}

/// The values of a sequence of ops.
pub struct SeqTape<B: Backend> {
    /// `values[0]` is the input; each op that is not an activation or a dropout adds one.
    pub values: Vec<B::Buf>,
    /// The index in `values` of each op's input (an activation's, after it ran in place:
    /// its output).
    pub input: Vec<usize>,
    /// Each conv's internal values, by position in the sequence.
    pub convs: Vec<Option<ConvTape<B>>>,
    /// Width of each value.
    pub widths: Vec<usize>,
}

impl<B: Backend> SeqTape<B> {
    /// The sequence's output.
    pub fn output(&self) -> &B::Buf {
        &self.values[self.values.len() - 1]
    }
}

/// Everything a forward pass kept.
pub struct Tape<B: Backend> {
    /// The body's values (`values[0]`: the node features).
    pub body: SeqTape<B>,
    /// Max pooling's tie counts.
    pub ties: Option<B::Buf>,
    /// The head's values: its input is the readout's rows `[S·G, d]`, its output the
    /// logits.
    pub head: SeqTape<B>,
    /// The model's output rows `[S·G, C]` (log-probabilities, probabilities or logits).
    pub out: B::Buf,
}

impl<B: Backend> SeqTape<B> {
    fn into_buffers(self, out: &mut Vec<B::Buf>) {
        out.extend(self.values);
        for t in self.convs.into_iter().flatten() {
            match t {
                ConvTape::Agg { agg, ties, pre } => {
                    out.push(agg);
                    out.extend(ties);
                    out.extend(pre);
                }
                ConvTape::Gcn { hw } => out.push(hw),
                ConvTape::Gin { nn } => nn.into_buffers(out),
                ConvTape::Gat { hw, scores, alpha } => {
                    out.extend([hw, scores.0, alpha.0]);
                    out.extend(scores.1);
                    out.extend(alpha.1);
                }
            }
        }
    }
}

impl<B: Backend> Tape<B> {
    /// Every buffer the tape holds (for a backend that reuses memory).
    pub fn into_buffers(self) -> Vec<B::Buf> {
        let mut out = Vec::new();
        self.body.into_buffers(&mut out);
        self.head.into_buffers(&mut out);
        out.extend(self.ties);
        out.push(self.out);
        out
    }

    /// The readout's rows `[S·G, d]`.
    pub fn readout(&self) -> &B::Buf {
        &self.head.values[0]
    }

    /// The logits `[S·G, C]`.
    pub fn logits(&self) -> &B::Buf {
        self.head.output()
    }
}

/// What a backward pass should return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// The gradient wrt the node features.
    pub x: bool,
    /// The gradient wrt the edge mask.
    pub mask: bool,
    /// The gradients wrt every conv block's output (Grad-CAM).
    pub blocks: bool,
}

/// The results of a backward pass.
pub struct Grads<B: Backend> {
    /// `[S·N, F]`.
    pub x: Option<B::Buf>,
    /// `[S·E]`.
    pub mask: Option<B::Buf>,
    /// Gradient wrt the output of conv block `l` (0-based), after its activations.
    pub blocks: Vec<B::Buf>,
}

impl<'m, B: Backend> Network<'m, B> {
    /// Prepares `model` on backend `b`.
    pub fn new(b: &B, model: &'m Model) -> Result<Self> {
        let mut convs = Vec::new();
        let body = prepare_ops(b, &model.body, &mut convs)?;
        let head = prepare_ops(b, &model.head, &mut convs)?;
        Ok(Network {
            model,
            body,
            head,
            convs,
        })
    }

    /// The structural coefficients of every conv on the structure `g`.
    pub fn structure(&self, b: &B, g: &B::Graph) -> Result<Structure<B>> {
        let s: HostStructure<'_> = b.host_structure(g);
        let convs = self
            .convs
            .iter()
            .map(|c| {
                let cs: ConvStructure = conv_structure(c, &s);
                Ok(StructureBufs {
                    fixed: cs.fixed.map(|v| b.upload(&v)).transpose()?,
                    loop_fixed: cs.loop_fixed.map(|v| b.upload(&v)).transpose()?,
                    loops: cs.loops,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Structure { convs })
    }

    /// The forward pass of every instance: node features `x [S·N, F]` (taken), edge
    /// mask `mask`.
    pub fn forward(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        x: B::Buf,
        mask: Mask<'_, B::Buf>,
    ) -> Result<Tape<B>> {
        let n = b.num_nodes(g.graph);
        let rows = g.steps * n;
        let f = self.model.num_features();
        check_len(b, &x, rows * f, "node features")?;
        let body = self.run_seq(b, g, st, mask, &self.body, x, f, rows)?;
        let d = *body.widths.last().unwrap_or(&f);
        let inst = g.steps * b.num_graphs(g.graph);
        let mut readout = b.alloc(inst * d)?;
        let ties = match self.model.readout {
            Readout::Pool(p) => {
                let mut ties = b.zeros(inst * d)?;
                b.pool(g, p, body.output(), d, &mut readout, &mut ties)?;
                Some(ties)
            }
            Readout::Node => {
                b.select_centers(g, body.output(), d, &mut readout)?;
                None
            }
        };
        let head = self.run_seq(b, g, st, mask, &self.head, readout, d, inst)?;
        let classes = *head.widths.last().unwrap_or(&d);
        let out = b.output(self.model.output, head.output(), classes)?;
        Ok(Tape {
            body,
            ties,
            head,
            out,
        })
    }

    /// The body alone (no readout, head or output): its values and each conv's
    /// internals (GAT's attention, in [`ConvTape::Gat`]) on any structure, for instance
    /// every graph of a batch at once. `x` is `[S·N, F]`.
    pub fn forward_body(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        x: B::Buf,
        mask: Mask<'_, B::Buf>,
    ) -> Result<SeqTape<B>> {
        let rows = g.steps * b.num_nodes(g.graph);
        let f = self.model.num_features();
        check_len(b, &x, rows * f, "node features")?;
        self.run_seq(b, g, st, mask, &self.body, x, f, rows)
    }

    /// Runs a sequence of ops on `rows` rows of width `d`, from `x`.
    #[allow(clippy::too_many_arguments)]
    fn run_seq(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        mask: Mask<'_, B::Buf>,
        ops: &[RowOp<B>],
        x: B::Buf,
        d: usize,
        rows: usize,
    ) -> Result<SeqTape<B>> {
        let mut t = SeqTape {
            values: vec![x],
            input: Vec::with_capacity(ops.len()),
            convs: Vec::with_capacity(ops.len()),
            widths: vec![d],
        };
        // Whether the last value is an activation's output (which its backward needs).
        let mut last_is_act = false;
        let mut width = d;
        for op in ops {
            let cur = t.values.len() - 1;
            match op {
                RowOp::Dropout => {
                    t.input.push(cur);
                    t.convs.push(None);
                    continue;
                }
                RowOp::Act(a) => {
                    // The input of the sequence, or another activation's output, is kept.
                    if cur == 0 || last_is_act {
                        let c = b.copy(&t.values[cur])?;
                        t.values.push(c);
                        t.widths.push(width);
                    }
                    let k = t.values.len() - 1;
                    b.act(*a, &mut t.values[k])?;
                    t.input.push(k);
                    t.convs.push(None);
                    last_is_act = true;
                    continue;
                }
                _ => {}
            }
            last_is_act = false;
            t.input.push(cur);
            let x = &t.values[cur];
            let (out, tape) = match op {
                RowOp::Linear(l) => {
                    let mut out = b.alloc(rows * l.out_dim)?;
                    b.linear(rows, x, &l.w, l.b.as_ref(), &mut out)?;
                    (out, None)
                }
                RowOp::BatchNorm { scale, shift, dim } => {
                    let mut out = b.copy(x)?;
                    b.channel_affine(*dim, scale, Some(shift), &mut out)?;
                    (out, None)
                }
                RowOp::Conv(c, k) => {
                    let (out, tape) = self.conv_forward(b, g, &st.convs[*k], mask, c, x, width)?;
                    (out, Some(tape))
                }
                RowOp::Act(_) | RowOp::Dropout => unreachable_op()?,
            };
            width = op.out_dim(width);
            t.values.push(out);
            t.widths.push(width);
            t.convs.push(tape);
        }
        Ok(t)
    }

    /// A conv's forward pass on node rows `x` of width `din`.
    #[allow(clippy::too_many_arguments)]
    fn conv_forward(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        s: &StructureBufs<B>,
        mask: Mask<'_, B::Buf>,
        c: &ConvOp<B>,
        x: &B::Buf,
        din: usize,
    ) -> Result<(B::Buf, ConvTape<B>)> {
        let rows = g.steps * b.num_nodes(g.graph);
        let plain = Coef {
            mask,
            fixed: s.fixed.as_ref(),
            att: None,
            loops: None,
            heads: 1,
        };
        Ok(match c {
            ConvOp::Graph { rel, root, max } => {
                let (agg, ties) = self.aggregate(b, g, &plain, x, din, *max)?;
                let mut out = b.alloc(rows * rel.out_dim)?;
                b.linear2(rows, &agg, &rel.w, x, &root.w, rel.b.as_ref(), &mut out)?;
                (
                    out,
                    ConvTape::Agg {
                        agg,
                        ties,
                        pre: None,
                    },
                )
            }
            ConvOp::Sage {
                l,
                r,
                normalize,
                max,
            } => {
                let (agg, ties) = self.aggregate(b, g, &plain, x, din, *max)?;
                let mut out = b.alloc(rows * l.out_dim)?;
                match r {
                    Some(r) => b.linear2(rows, &agg, &l.w, x, &r.w, l.b.as_ref(), &mut out)?,
                    None => b.linear(rows, &agg, &l.w, l.b.as_ref(), &mut out)?,
                }
                let pre = if *normalize {
                    let pre = b.copy(&out)?;
                    b.l2_normalize(l.out_dim, &mut out)?;
                    Some(pre)
                } else {
                    None
                };
                (out, ConvTape::Agg { agg, ties, pre })
            }
            ConvOp::Gcn { lin, bias } => {
                let mut hw = b.alloc(rows * lin.out_dim)?;
                b.linear(rows, x, &lin.w, None, &mut hw)?;
                let coef = self.gcn_coef(s, mask);
                let mut out = b.alloc(rows * lin.out_dim)?;
                b.propagate(g, &coef, &hw, lin.out_dim, &mut out)?;
                if let Some(bias) = bias {
                    b.add_bias(lin.out_dim, bias, &mut out)?;
                }
                (out, ConvTape::Gcn { hw })
            }
            ConvOp::Gin { scale, nn, .. } => {
                let mut z = b.alloc(rows * din)?;
                b.propagate(g, &plain, x, din, &mut z)?;
                b.add_scaled(*scale, x, &mut z)?;
                let st = Structure::empty();
                let t = self.run_seq(b, g, &st, mask, nn, z, din, rows)?;
                let out = b.copy(t.output())?;
                (out, ConvTape::Gin { nn: t })
            }
            ConvOp::Gat {
                lin,
                att_src,
                att_dst,
                bias,
                heads,
                concat,
                slope,
            } => {
                let (h, hc) = (*heads, lin.out_dim);
                let e = b.num_edges(g.graph);
                let mut hw = b.alloc(rows * hc)?;
                b.linear(rows, x, &lin.w, None, &mut hw)?;
                let mut a_src = b.alloc(rows * h)?;
                let mut a_dst = b.alloc(rows * h)?;
                b.head_dot(h, &hw, att_src, &mut a_src)?;
                b.head_dot(h, &hw, att_dst, &mut a_dst)?;
                let mut s_e = b.alloc(g.steps * e * h)?;
                let mut s_l = if s.loops {
                    Some(b.alloc(rows * h)?)
                } else {
                    None
                };
                b.gat_scores(g, h, *slope, &a_src, &a_dst, &mut s_e, s_l.as_mut())?;
                let mut al_e = b.alloc(g.steps * e * h)?;
                let mut al_l = if s.loops {
                    Some(b.alloc(rows * h)?)
                } else {
                    None
                };
                b.segment_softmax(g, h, (&s_e, s_l.as_ref()), (&mut al_e, al_l.as_mut()))?;
                let coef = Coef {
                    mask,
                    fixed: s.fixed.as_ref(),
                    att: Some(&al_e),
                    loops: al_l.as_ref().map(|a| Loops {
                        fixed: None,
                        att: Some(a),
                    }),
                    heads: h,
                };
                let mut agg = b.alloc(rows * hc)?;
                b.propagate(g, &coef, &hw, hc, &mut agg)?;
                let mut out = if *concat {
                    agg
                } else {
                    let mut m = b.alloc(rows * (hc / h))?;
                    b.head_mean(h, hc / h, &agg, &mut m)?;
                    m
                };
                if let Some(bias) = bias {
                    let w = if *concat { hc } else { hc / h };
                    b.add_bias(w, bias, &mut out)?;
                }
                (
                    out,
                    ConvTape::Gat {
                        hw,
                        scores: (s_e, s_l),
                        alpha: (al_e, al_l),
                    },
                )
            }
        })
    }

    /// A sum (or mean) aggregation, or a max with its tie counts.
    #[allow(clippy::type_complexity)]
    fn aggregate(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        coef: &Coef<'_, B::Buf>,
        x: &B::Buf,
        din: usize,
        max: bool,
    ) -> Result<(B::Buf, Option<B::Buf>)> {
        let rows = g.steps * b.num_nodes(g.graph);
        let mut agg = b.alloc(rows * din)?;
        if max {
            let mut ties = b.alloc(rows * din)?;
            b.propagate_max(g, coef, x, din, &mut agg, &mut ties)?;
            Ok((agg, Some(ties)))
        } else {
            b.propagate(g, coef, x, din, &mut agg)?;
            Ok((agg, None))
        }
    }

    /// The backward of [`Network::aggregate`] from `d_agg`: the mask gradient, and, with
    /// `dx`, the input gradient added into it.
    #[allow(clippy::too_many_arguments)]
    fn aggregate_backward(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        coef: &Coef<'_, B::Buf>,
        x: &B::Buf,
        din: usize,
        agg: &B::Buf,
        ties: Option<&B::Buf>,
        d_agg: &B::Buf,
        dx: Option<&mut B::Buf>,
        dmask: Option<&mut B::Buf>,
    ) -> Result<()> {
        match ties {
            Some(t) => b.propagate_max_backward(g, coef, x, (agg, t), d_agg, din, dx, dmask),
            None => {
                if dmask.is_some() {
                    b.propagate_coef_grad(g, coef, d_agg, x, din, dmask, None)?;
                }
                if let Some(dx) = dx {
                    b.propagate_t(g, coef, d_agg, din, dx, true)?;
                }
                Ok(())
            }
        }
    }

    pub(super) fn gcn_coef<'a>(
        &self,
        s: &'a StructureBufs<B>,
        mask: Mask<'a, B::Buf>,
    ) -> Coef<'a, B::Buf> {
        Coef {
            mask,
            fixed: s.fixed.as_ref(),
            att: None,
            loops: if s.loops {
                Some(Loops {
                    fixed: s.loop_fixed.as_ref(),
                    att: None,
                })
            } else {
                None
            },
            heads: 1,
        }
    }

    /// The backward pass from `seed` at each instance's target (`targets`: one class per
    /// graph), after [`Network::forward`] with the same inputs.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        tape: &Tape<B>,
        mask: Mask<'_, B::Buf>,
        seed: Seed,
        targets: &B::Index,
        want: Want,
    ) -> Result<Grads<B>> {
        let graphs = b.num_graphs(g.graph);
        let inst = g.steps * graphs;
        let classes = self.model.num_classes();
        let dz = b.output_seed(
            self.model.output,
            seed,
            &tape.out,
            targets,
            inst,
            graphs,
            classes,
        )?;
        self.backward_from(b, g, st, tape, mask, dz, want)
    }

    /// The backward pass from a gradient `dz [S·G, C]` wrt the logits.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_from(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        tape: &Tape<B>,
        mask: Mask<'_, B::Buf>,
        dz: B::Buf,
        want: Want,
    ) -> Result<Grads<B>> {
        let n = b.num_nodes(g.graph);
        let rows = g.steps * n;
        let inst = g.steps * b.num_graphs(g.graph);
        let e = b.num_edges(g.graph);
        let mut grads = Grads {
            x: None,
            mask: if want.mask {
                Some(b.zeros(g.steps * e)?)
            } else {
                None
            },
            blocks: Vec::new(),
        };
        let d_readout = self
            .seq_backward(b, g, st, mask, &self.head, &tape.head, dz, inst, true, None)?
            .ok_or_else(|| internal("the head's backward gave no gradient"))?;
        let d = *tape.body.widths.last().unwrap_or(&0);
        let mut dh = b.alloc(rows * d)?;
        match (self.model.readout, &tape.ties) {
            (Readout::Pool(p), Some(ties)) => b.pool_backward(
                g,
                p,
                tape.body.output(),
                tape.readout(),
                ties,
                &d_readout,
                d,
                &mut dh,
            )?,
            (Readout::Node, _) => b.select_centers_t(g, &d_readout, d, &mut dh)?,
            _ => return Err(internal("max pooling without its tie counts")),
        }
        let mut blocks = if want.blocks { Some(Vec::new()) } else { None };
        let dx = self.seq_backward(
            b,
            g,
            st,
            mask,
            &self.body,
            &tape.body,
            dh,
            rows,
            want.x,
            Some((grads.mask.as_mut(), blocks.as_mut())),
        )?;
        grads.x = if want.x { dx } else { None };
        if let Some(mut bl) = blocks {
            bl.reverse();
            grads.blocks = bl;
        }
        Ok(grads)
    }

    /// The backward pass of a sequence from `d` (the gradient wrt its output). Returns
    /// the gradient wrt its input when `want_input`. In the body, `body` carries the
    /// mask gradient (accumulated) and the block-output gradients (pushed top-down).
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn seq_backward(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        mask: Mask<'_, B::Buf>,
        ops: &[RowOp<B>],
        t: &SeqTape<B>,
        mut d: B::Buf,
        rows: usize,
        want_input: bool,
        mut body: Option<(Option<&mut B::Buf>, Option<&mut Vec<B::Buf>>)>,
    ) -> Result<Option<B::Buf>> {
        // The first conv: below it, only the input gradient is left to compute.
        let first_conv = ops.iter().position(|o| matches!(o, RowOp::Conv(..)));
        let mut block_pending = body.as_ref().is_some_and(|(_, b)| b.is_some());
        for (k, op) in ops.iter().enumerate().rev() {
            if let (true, Some((_, Some(blocks)))) = (block_pending, body.as_mut()) {
                // `d` is the gradient wrt the output of the block that ends here.
                blocks.push(b.copy(&d)?);
                block_pending = false;
            }
            let below_needed = want_input || first_conv.is_some_and(|f| k > f);
            if !below_needed && !matches!(op, RowOp::Conv(..)) {
                return Ok(None);
            }
            let x = &t.values[t.input[k]];
            let din = t.widths[t.input[k]];
            match op {
                RowOp::Dropout => {}
                RowOp::Act(a) => b.act_backward(*a, x, &mut d)?,
                RowOp::BatchNorm { scale, dim, .. } => {
                    b.channel_affine(*dim, scale, None, &mut d)?
                }
                RowOp::Linear(l) => {
                    let mut dx = b.alloc(rows * l.in_dim)?;
                    b.linear_t(rows, &d, &l.w, &mut dx, false)?;
                    b.free([std::mem::replace(&mut d, dx)]);
                }
                RowOp::Conv(c, ci) => {
                    let ct = t.convs[k]
                        .as_ref()
                        .ok_or_else(|| internal("a conv without its tape"))?;
                    let dmask = body.as_mut().and_then(|(m, _)| m.as_deref_mut());
                    let next = self.conv_backward(
                        b,
                        g,
                        &st.convs[*ci],
                        mask,
                        c,
                        ct,
                        x,
                        din,
                        d,
                        dmask,
                        below_needed,
                    )?;
                    match next {
                        Some(n) => d = n,
                        None => return Ok(None),
                    }
                    block_pending = body.as_ref().is_some_and(|(_, b)| b.is_some())
                        && ops[..k].iter().any(|o| matches!(o, RowOp::Conv(..)));
                }
            }
        }
        Ok(if want_input { Some(d) } else { None })
    }

    /// A conv's backward pass: adds its mask gradient into `dmask` and returns the
    /// gradient wrt its input `x` when `want_input`.
    #[allow(clippy::too_many_arguments)]
    fn conv_backward(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        s: &StructureBufs<B>,
        mask: Mask<'_, B::Buf>,
        c: &ConvOp<B>,
        t: &ConvTape<B>,
        x: &B::Buf,
        din: usize,
        mut d: B::Buf,
        dmask: Option<&mut B::Buf>,
        want_input: bool,
    ) -> Result<Option<B::Buf>> {
        if !want_input && dmask.is_none() {
            return Ok(None);
        }
        let rows = g.steps * b.num_nodes(g.graph);
        let plain = Coef {
            mask,
            fixed: s.fixed.as_ref(),
            att: None,
            loops: None,
            heads: 1,
        };
        match (c, t) {
            (ConvOp::Graph { rel, root, .. }, ConvTape::Agg { agg, ties, .. }) => {
                let mut d_agg = b.alloc(rows * din)?;
                b.linear_t(rows, &d, &rel.w, &mut d_agg, false)?;
                let ties = ties.as_ref();
                if !want_input {
                    self.aggregate_backward(b, g, &plain, x, din, agg, ties, &d_agg, None, dmask)?;
                    b.free([d, d_agg]);
                    return Ok(None);
                }
                let mut dx = b.alloc(rows * din)?;
                b.linear_t(rows, &d, &root.w, &mut dx, false)?;
                self.aggregate_backward(
                    b,
                    g,
                    &plain,
                    x,
                    din,
                    agg,
                    ties,
                    &d_agg,
                    Some(&mut dx),
                    dmask,
                )?;
                b.free([d, d_agg]);
                Ok(Some(dx))
            }
            (ConvOp::Sage { l, r, .. }, ConvTape::Agg { agg, ties, pre }) => {
                if let Some(pre) = pre {
                    b.l2_normalize_backward(l.out_dim, pre, &mut d)?;
                }
                let mut d_agg = b.alloc(rows * din)?;
                b.linear_t(rows, &d, &l.w, &mut d_agg, false)?;
                let ties = ties.as_ref();
                if !want_input {
                    self.aggregate_backward(b, g, &plain, x, din, agg, ties, &d_agg, None, dmask)?;
                    return Ok(None);
                }
                let mut dx = b.zeros(rows * din)?;
                if let Some(r) = r {
                    b.linear_t(rows, &d, &r.w, &mut dx, false)?;
                }
                self.aggregate_backward(
                    b,
                    g,
                    &plain,
                    x,
                    din,
                    agg,
                    ties,
                    &d_agg,
                    Some(&mut dx),
                    dmask,
                )?;
                Ok(Some(dx))
            }
            (ConvOp::Gcn { lin, .. }, ConvTape::Gcn { hw }) => {
                let coef = self.gcn_coef(s, mask);
                if dmask.is_some() {
                    b.propagate_coef_grad(g, &coef, &d, hw, lin.out_dim, dmask, None)?;
                }
                if !want_input {
                    return Ok(None);
                }
                let mut d_hw = b.alloc(rows * lin.out_dim)?;
                b.propagate_t(g, &coef, &d, lin.out_dim, &mut d_hw, false)?;
                let mut dx = b.alloc(rows * din)?;
                b.linear_t(rows, &d_hw, &lin.w, &mut dx, false)?;
                Ok(Some(dx))
            }
            (ConvOp::Gin { scale, nn, .. }, ConvTape::Gin { nn: nt }) => {
                let st = Structure::empty();
                let dz = self
                    .seq_backward(b, g, &st, mask, nn, nt, d, rows, true, None)?
                    .ok_or_else(|| internal("GIN's nn gave no gradient"))?;
                if dmask.is_some() {
                    b.propagate_coef_grad(g, &plain, &dz, x, din, dmask, None)?;
                }
                if !want_input {
                    return Ok(None);
                }
                let mut dx = b.zeros(rows * din)?;
                b.add_scaled(*scale, &dz, &mut dx)?;
                b.propagate_t(g, &plain, &dz, din, &mut dx, true)?;
                Ok(Some(dx))
            }
            (
                ConvOp::Gat {
                    lin,
                    att_src,
                    att_dst,
                    heads,
                    concat,
                    slope,
                    ..
                },
                ConvTape::Gat { hw, scores, alpha },
            ) => {
                let (h, hc) = (*heads, lin.out_dim);
                let e = b.num_edges(g.graph);
                let d_agg = if *concat {
                    d
                } else {
                    let mut da = b.alloc(rows * hc)?;
                    b.head_mean_t(h, hc / h, &d, &mut da)?;
                    da
                };
                let coef = Coef {
                    mask,
                    fixed: s.fixed.as_ref(),
                    att: Some(&alpha.0),
                    loops: alpha.1.as_ref().map(|a| Loops {
                        fixed: None,
                        att: Some(a),
                    }),
                    heads: h,
                };
                if !want_input {
                    if dmask.is_some() {
                        b.propagate_coef_grad(g, &coef, &d_agg, hw, hc, dmask, None)?;
                    }
                    return Ok(None);
                }
                let mut da_e = b.alloc(g.steps * e * h)?;
                let mut da_l = b.alloc(if alpha.1.is_some() { rows * h } else { 0 })?;
                b.propagate_coef_grad(
                    g,
                    &coef,
                    &d_agg,
                    hw,
                    hc,
                    dmask,
                    Some((&mut da_e, &mut da_l)),
                )?;
                let mut d_hw = b.alloc(rows * hc)?;
                b.propagate_t(g, &coef, &d_agg, hc, &mut d_hw, false)?;
                let mut ds_e = b.alloc(g.steps * e * h)?;
                let mut ds_l = if alpha.1.is_some() {
                    Some(b.alloc(rows * h)?)
                } else {
                    None
                };
                let da_loop = alpha.1.as_ref().map(|_| &da_l);
                b.segment_softmax_backward(
                    g,
                    h,
                    (&alpha.0, alpha.1.as_ref()),
                    (&da_e, da_loop),
                    (&mut ds_e, ds_l.as_mut()),
                )?;
                let mut d_src = b.alloc(rows * h)?;
                let mut d_dst = b.alloc(rows * h)?;
                b.gat_scores_backward(
                    g,
                    h,
                    *slope,
                    (&scores.0, scores.1.as_ref()),
                    (&ds_e, ds_l.as_ref()),
                    &mut d_src,
                    &mut d_dst,
                )?;
                b.head_dot_t(h, &d_src, att_src, &mut d_hw)?;
                b.head_dot_t(h, &d_dst, att_dst, &mut d_hw)?;
                let mut dx = b.alloc(rows * din)?;
                b.linear_t(rows, &d_hw, &lin.w, &mut dx, false)?;
                Ok(Some(dx))
            }
            _ => Err(internal("a conv's tape does not match the conv")),
        }
    }

    /// The model's output rows at the given inputs (a forward pass, kept nothing).
    pub fn outputs(
        &self,
        b: &B,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        x: B::Buf,
        mask: Mask<'_, B::Buf>,
    ) -> Result<B::Buf> {
        Ok(self.forward(b, g, st, x, mask)?.out)
    }

    /// The output of every conv block (Grad-CAM's layers), after its activations: the
    /// input of the next conv, or the body's output for the last block.
    pub fn block_values<'t>(&self, tape: &'t Tape<B>) -> Vec<(&'t B::Buf, usize)> {
        self.seq_block_values(&tape.body)
    }

    /// [`Network::block_values`] of the body's tape alone ([`Network::forward_body`]).
    pub fn seq_block_values<'t>(&self, t: &'t SeqTape<B>) -> Vec<(&'t B::Buf, usize)> {
        let convs: Vec<usize> = (0..self.body.len())
            .filter(|&k| matches!(self.body[k], RowOp::Conv(..)))
            .collect();
        (0..convs.len())
            .map(|l| {
                let v = match convs.get(l + 1) {
                    Some(&next) => t.input[next],
                    None => t.values.len() - 1,
                };
                (&t.values[v], t.widths[v])
            })
            .collect()
    }

    /// The output op of the model.
    pub fn output_kind(&self) -> Output {
        self.model.output
    }
}

fn check_len<B: Backend>(b: &B, buf: &B::Buf, want: usize, what: &str) -> Result<()> {
    let have = b.len(buf);
    if have != want {
        return Err(internal(&format!(
            "{what}: buffer holds {have} values, expected {want}"
        )));
    }
    Ok(())
}

fn unreachable_op<T>() -> Result<T> {
    Err(internal("an activation reached the op dispatch"))
}

/// An internal error (a bug, never bad input).
pub(crate) fn internal(what: &str) -> Error {
    Error::Device(format!("internal error: {what}"))
}
