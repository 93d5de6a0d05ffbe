//! Models: a sequence of PyG and torch ops read from a PyG `state_dict` and an
//! architecture card ([`card`]).
//!
//! A [`Model`] is a body (convs and row-wise ops on the nodes), a readout (a global
//! pool for graph tasks, the target node's row for node tasks), a head (row-wise ops
//! on the readout) and an output (`log_softmax`, `softmax` or the logits).
//!
//! - Convs ([`Conv`]): GraphConv, GCNConv, SAGEConv, GINConv and GATConv, with PyG
//!   2.8's forward passes and key names (`../shared/docs/pyg-interchange.md`).
//! - Row-wise ops ([`Op`]): Linear, BatchNorm1d (eval mode), the activations of
//!   [`Act`], dropout (the identity at inference).
//!
//! Without a card, the classic PyG tutorial family is inferred from the keys
//! (`conv1..convL` GraphConv with ReLU, global pooling from [`Model::with_pool`],
//! `lin1`, ReLU, `lin2`, `log_softmax`), as before cards existed.
//!
//! Every tensor of the state dict must be used by exactly one op: missing keys,
//! unexpected keys, wrong shapes and non-float dtypes are errors naming the key and
//! the op (BatchNorm's `num_batches_tracked` counter is accepted and ignored). A bias
//! that PyG's default says is there must be there, unless the card says `"bias": false`.
//! Tensors may be f32, f64, f16 or bf16; they are held in f64.

pub mod card;
mod load;
mod state_dict;

pub use card::{Card, Task};

/// The metadata key that lists the layers of a tutorial-family model (no card) saved
/// without a bias on purpose: comma-separated layer names such as `lin2` or
/// `conv2.lin_rel`, or `*` for any.
pub const NO_BIAS_KEY: &str = "graph_ig.no_bias";

use crate::{Error, Result};
use std::path::Path;

/// Global pooling over the nodes of each graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pool {
    /// `global_add_pool` (the tutorial's choice).
    #[default]
    Add,
    /// `global_mean_pool`.
    Mean,
    /// `global_max_pool`; gradients split evenly among tied maxima, like PyTorch.
    Max,
}

impl std::str::FromStr for Pool {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "add" | "sum" => Ok(Pool::Add),
            "mean" => Ok(Pool::Mean),
            "max" => Ok(Pool::Max),
            _ => Err(Error::Config(format!(
                "unknown pooling {s:?}; use add, mean or max"
            ))),
        }
    }
}

impl std::fmt::Display for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pool::Add => "add",
            Pool::Mean => "mean",
            Pool::Max => "max",
        })
    }
}

/// A dense layer `y = W x + b` with `W` row-major `[out, in]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// Output width.
    pub out_dim: usize,
    /// Input width.
    pub in_dim: usize,
    /// Weights, row-major `[out, in]`.
    pub weight: Vec<f64>,
    /// Bias `[out]` (zeros when the layer has none).
    pub bias: Vec<f64>,
}

impl Linear {
    /// The weights transposed to `[in, out]`.
    pub fn transposed(&self) -> Vec<f64> {
        transpose(&self.weight, self.out_dim, self.in_dim)
    }

    /// The same layer with every weight replaced by `max(sign · w, 0)` and no bias
    /// (the excitatory part, for Excitation Backprop).
    pub fn positive(&self, sign: f64) -> Linear {
        Linear {
            weight: self.weight.iter().map(|&w| (sign * w).max(0.0)).collect(),
            bias: vec![0.0; self.out_dim],
            ..self.clone()
        }
    }
}

/// A row-major `[rows, cols]` matrix transposed to `[cols, rows]`.
pub fn transpose<T: Copy + Default>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut t = vec![T::default(); m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// An activation function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    /// `max(x, 0)`.
    Relu,
    /// `x` for `x > 0`, else `alpha (e^x − 1)`.
    Elu(f64),
    /// `x` for `x > 0`, else `slope · x`.
    LeakyRelu(f64),
    /// `tanh x`.
    Tanh,
    /// `1 / (1 + e^−x)`.
    Sigmoid,
}

impl Act {
    /// The activation of `x`.
    #[inline]
    pub fn f(self, x: f64) -> f64 {
        match self {
            Act::Relu => x.max(0.0),
            Act::Elu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            Act::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    s * x
                }
            }
            Act::Tanh => x.tanh(),
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }

    /// The derivative at the point whose activation is `y` (every activation here is
    /// monotone, so its output decides the derivative, as PyTorch computes ReLU's).
    /// At 0, ReLU's derivative is 0 and leaky ReLU's is its slope, as in PyTorch.
    #[inline]
    pub fn df(self, y: f64) -> f64 {
        match self {
            Act::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::Elu(a) => {
                if y > 0.0 {
                    1.0
                } else {
                    y + a
                }
            }
            Act::LeakyRelu(s) => {
                if y > 0.0 {
                    1.0
                } else {
                    s
                }
            }
            Act::Tanh => 1.0 - y * y,
            Act::Sigmoid => y * (1.0 - y),
        }
    }

    /// The card's name of the op.
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::Elu(_) => "elu",
            Act::LeakyRelu(_) => "leaky_relu",
            Act::Tanh => "tanh",
            Act::Sigmoid => "sigmoid",
        }
    }
}

/// `BatchNorm1d` in eval mode, as the per-channel affine map it is:
/// `y = (x − mean) / sqrt(var + eps) · weight + bias = scale · x + shift`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    /// `weight / sqrt(running_var + eps)` per channel.
    pub scale: Vec<f64>,
    /// `bias − running_mean · scale` per channel.
    pub shift: Vec<f64>,
}

/// How a GraphConv or SAGEConv combines the messages into a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggr {
    /// The sum.
    Add,
    /// The mean over the node's incoming edges (masked messages, unmasked count).
    Mean,
    /// The maximum per channel over the node's incoming messages (0 without any); the
    /// gradient splits evenly among tied maxima, as PyTorch's `scatter_reduce('amax')`.
    Max,
}

/// PyG's `GraphConv`: `x_i' = lin_rel(aggr_{j→i} e_ji · x_j) + lin_root(x_i)`, where
/// `e_ji` is the data's `edge_weight` (1 without one) times the edge mask.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphConv {
    /// Sum or mean.
    pub aggr: Aggr,
    /// Applied to the aggregated messages; holds the bias.
    pub lin_rel: Linear,
    /// Applied to the node itself; no bias.
    pub lin_root: Linear,
}

/// PyG's `GCNConv`: `x' = D^-1/2 (A + fill·I) D^-1/2 (x Wᵀ) + b`, with the self-loops
/// it adds itself (fill 1, or 2 when `improved`) and the degrees `D` of the unmasked
/// graph; the mask multiplies each normalised message of an input edge.
#[derive(Debug, Clone, PartialEq)]
pub struct GcnConv {
    /// `lin` (no bias).
    pub lin: Linear,
    /// The bias `[out]` (zeros with `bias: false`).
    pub bias: Vec<f64>,
    /// Self-loop weight 2 instead of 1.
    pub improved: bool,
    /// Add self-loops (replacing the input's own) before normalising.
    pub add_self_loops: bool,
    /// Normalise by the degrees; without it, messages are `edge_weight · x_j` and no
    /// loops are added.
    pub normalize: bool,
}

/// PyG's `SAGEConv` with mean (or sum) aggregation:
/// `x_i' = lin_l(aggr_{j→i} x_j) + lin_r(x_i)`, then optionally L2-normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct SageConv {
    /// Mean (PyG's default) or sum.
    pub aggr: Aggr,
    /// Applied to the aggregated messages; holds the bias.
    pub lin_l: Linear,
    /// Applied to the node itself (`root_weight`); no bias.
    pub lin_r: Option<Linear>,
    /// `F.normalize(out, p=2, dim=-1)` at the end.
    pub normalize: bool,
}

/// PyG's `GINConv`: `x_i' = nn((1 + eps) x_i + Σ_{j→i} x_j)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GinConv {
    /// `eps` from the state dict.
    pub eps: f64,
    /// The MLP: row-wise ops only.
    pub nn: Vec<Op>,
}

/// PyG's `GATConv` (one `lin` shared by sources and targets, no edge features):
/// `x_i' = Σ_{j ∈ N(i) ∪ {i}} α_ij Θ x_j` per head, concatenated or averaged, plus the
/// bias, with `α_ij = softmax_j(leaky_relu(a_src·Θx_j + a_dst·Θx_i))` over the unmasked
/// in-neighbourhood (and the self-loop it adds itself).
#[derive(Debug, Clone, PartialEq)]
pub struct GatConv {
    /// `Θ`: `[heads · channels, in]`, no bias.
    pub lin: Linear,
    /// `att_src` `[heads · channels]`.
    pub att_src: Vec<f64>,
    /// `att_dst` `[heads · channels]`.
    pub att_dst: Vec<f64>,
    /// The bias: `[heads · channels]` (concat) or `[channels]`.
    pub bias: Vec<f64>,
    /// Attention heads `H`.
    pub heads: usize,
    /// Channels per head `C`.
    pub channels: usize,
    /// Concatenate the heads (else average them).
    pub concat: bool,
    /// The leaky ReLU's slope in the attention scores.
    pub negative_slope: f64,
    /// Add self-loops (replacing the input's own).
    pub add_self_loops: bool,
}

/// A message-passing layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Conv {
    /// `GraphConv`.
    Graph(GraphConv),
    /// `GCNConv`.
    Gcn(GcnConv),
    /// `SAGEConv`.
    Sage(SageConv),
    /// `GINConv`.
    Gin(GinConv),
    /// `GATConv`.
    Gat(GatConv),
}

impl Conv {
    /// The card's name of the conv.
    pub fn name(&self) -> &'static str {
        match self {
            Conv::Graph(_) => "GraphConv",
            Conv::Gcn(_) => "GCNConv",
            Conv::Sage(_) => "SAGEConv",
            Conv::Gin(_) => "GINConv",
            Conv::Gat(_) => "GATConv",
        }
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        match self {
            Conv::Graph(c) => c.lin_rel.in_dim,
            Conv::Gcn(c) => c.lin.in_dim,
            Conv::Sage(c) => c.lin_l.in_dim,
            Conv::Gin(c) => op_in_dim(&c.nn).unwrap_or(0),
            Conv::Gat(c) => c.lin.in_dim,
        }
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        match self {
            Conv::Graph(c) => c.lin_rel.out_dim,
            Conv::Gcn(c) => c.lin.out_dim,
            Conv::Sage(c) => c.lin_l.out_dim,
            Conv::Gin(c) => op_out_dim(&c.nn, self.in_dim()),
            Conv::Gat(c) => {
                if c.concat {
                    c.heads * c.channels
                } else {
                    c.channels
                }
            }
        }
    }
}

/// One op of a model.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A message-passing layer (body only).
    Conv {
        /// Its state-dict prefix.
        prefix: String,
        /// The layer.
        conv: Conv,
    },
    /// A dense layer, row by row.
    Linear {
        /// Its state-dict prefix.
        prefix: String,
        /// The layer.
        lin: Linear,
    },
    /// `BatchNorm1d` in eval mode, row by row.
    BatchNorm {
        /// Its state-dict prefix.
        prefix: String,
        /// The affine map.
        bn: BatchNorm,
    },
    /// An activation.
    Act(Act),
    /// Dropout: the identity at inference.
    Dropout,
}

impl Op {
    /// The width this op gives for input width `d`.
    pub fn out_dim(&self, d: usize) -> usize {
        match self {
            Op::Conv { conv, .. } => conv.out_dim(),
            Op::Linear { lin, .. } => lin.out_dim,
            _ => d,
        }
    }
}

/// The input width of the first op with weights, if any.
fn op_in_dim(ops: &[Op]) -> Option<usize> {
    ops.iter().find_map(|o| match o {
        Op::Conv { conv, .. } => Some(conv.in_dim()),
        Op::Linear { lin, .. } => Some(lin.in_dim),
        Op::BatchNorm { bn, .. } => Some(bn.scale.len()),
        _ => None,
    })
}

/// The width after `ops` for input width `d`.
fn op_out_dim(ops: &[Op], d: usize) -> usize {
    ops.iter().fold(d, |d, o| o.out_dim(d))
}

/// How the body's node embeddings become one row per explained instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readout {
    /// A global pool over each graph's nodes (graph tasks).
    Pool(Pool),
    /// The target node's row (node tasks).
    Node,
}

/// The model's last op: what its output rows hold, and what is attributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// `log_softmax`: log-probabilities (the tutorial's).
    #[default]
    LogSoftmax,
    /// `softmax`: probabilities.
    Softmax,
    /// No output op: the logits.
    Logits,
}

impl Output {
    /// The card's name (`log_softmax`, `softmax`, `logits`).
    pub fn name(self) -> &'static str {
        match self {
            Output::LogSoftmax => "log_softmax",
            Output::Softmax => "softmax",
            Output::Logits => "logits",
        }
    }
}

/// A model: body → readout → head → output.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Graph or node task.
    pub task: Task,
    /// The ops on the nodes, in order (every conv is here).
    pub body: Vec<Op>,
    /// How the node embeddings become rows.
    pub readout: Readout,
    /// The row-wise ops after the readout.
    pub head: Vec<Op>,
    /// The output op.
    pub output: Output,
    /// Node feature width `F`.
    num_features: usize,
    /// True for the PyG tutorial family (GraphConv + ReLU blocks, pool, `lin1`, ReLU,
    /// `lin2`, `log_softmax`), which the GPU's fused kernel runs.
    tutorial: bool,
    /// True when an architecture card defined the model (else it was built in code or
    /// inferred as the tutorial family).
    from_card: bool,
}

/// The tutorial family's parts of a [`Model`], borrowed ([`Model::tutorial_parts`]).
#[derive(Debug, Clone)]
pub struct TutorialParts<'a> {
    /// The GraphConv layers (sum aggregation), each followed by ReLU.
    pub convs: Vec<&'a GraphConv>,
    /// The head's hidden layer.
    pub lin1: &'a Linear,
    /// The output layer (before `log_softmax`).
    pub lin2: &'a Linear,
    /// The global pool.
    pub pool: Pool,
}

/// The former name of [`Model`], from when graph-ig explained the GraphConv tutorial
/// family only.
pub type GraphConvNet = Model;

impl Model {
    /// Builds a model from its parts, checking that the widths chain and that the ops
    /// fit their place (convs in the body only, a pool for graph tasks).
    pub fn new(
        task: Task,
        body: Vec<Op>,
        readout: Readout,
        head: Vec<Op>,
        output: Output,
    ) -> Result<Model> {
        let bad = |m: String| Error::model("<memory>", m);
        let num_features =
            op_in_dim(&body).ok_or_else(|| bad("the body has no op with weights".into()))?;
        if !body.iter().any(|o| matches!(o, Op::Conv { .. })) {
            return Err(bad("the model has no message-passing layer".into()));
        }
        if head.iter().any(|o| matches!(o, Op::Conv { .. })) {
            return Err(bad("a conv after the readout".into()));
        }
        match (task, readout) {
            (Task::Graph, Readout::Node) => {
                return Err(bad("a graph task needs a global pool".into()))
            }
            (Task::Node, Readout::Pool(_)) => {
                return Err(bad("a node task has no global pool".into()))
            }
            _ => {}
        }
        let mut d = num_features;
        for (i, op) in body.iter().chain(&head).enumerate() {
            check_op_input(op, d).map_err(|m| bad(format!("op {}: {m}", i + 1)))?;
            d = op.out_dim(d);
        }
        if d < 2 {
            return Err(bad(format!(
                "the model has {d} output(s); a classifier needs at least 2 classes"
            )));
        }
        let mut m = Model {
            task,
            body,
            readout,
            head,
            output,
            num_features,
            tutorial: false,
            from_card: false,
        };
        m.tutorial = m.is_tutorial_shape();
        Ok(m)
    }

    /// The tutorial family: `convs` (`(lin_rel, lin_root)` pairs) with ReLU, `pool`,
    /// `lin1`, ReLU, `lin2`, `log_softmax`.
    pub fn tutorial(
        convs: Vec<(Linear, Linear)>,
        lin1: Linear,
        lin2: Linear,
        pool: Pool,
    ) -> Result<Model> {
        let mut body = Vec::new();
        for (k, (lin_rel, lin_root)) in convs.into_iter().enumerate() {
            body.push(Op::Conv {
                prefix: format!("conv{}", k + 1),
                conv: Conv::Graph(GraphConv {
                    aggr: Aggr::Add,
                    lin_rel,
                    lin_root,
                }),
            });
            body.push(Op::Act(Act::Relu));
        }
        let head = vec![
            Op::Linear {
                prefix: "lin1".into(),
                lin: lin1,
            },
            Op::Act(Act::Relu),
            Op::Linear {
                prefix: "lin2".into(),
                lin: lin2,
            },
        ];
        Model::new(
            Task::Graph,
            body,
            Readout::Pool(pool),
            head,
            Output::LogSoftmax,
        )
    }

    /// Loads a PyG `state_dict` saved with `safetensors.torch.save_file`, with the card
    /// in its metadata (`graph_ig.arch`) or, without one, the tutorial family inferred
    /// from the keys (pooling [`Pool::Add`]; change it with [`Model::with_pool`]).
    pub fn from_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    /// Loads a state dict from bytes (card from its metadata, or inferred); `origin`
    /// names them in errors.
    pub fn from_safetensors_bytes(bytes: &[u8], origin: impl AsRef<Path>) -> Result<Self> {
        load::load(bytes, origin.as_ref(), None)
    }

    /// Loads a state dict from bytes with the architecture given by `card` (which wins
    /// over a card in the file's metadata).
    pub fn from_safetensors_bytes_with_card(
        bytes: &[u8],
        origin: impl AsRef<Path>,
        card: &Card,
    ) -> Result<Self> {
        load::load(bytes, origin.as_ref(), Some(card))
    }

    /// The same network with another global pool (graph tasks; used by the CLI's
    /// `--pool` for models without a card).
    pub fn with_pool(mut self, pool: Pool) -> Self {
        if let Readout::Pool(_) = self.readout {
            self.readout = Readout::Pool(pool);
        }
        self
    }

    /// The global pool of a graph task (`None` for a node task).
    pub fn pool(&self) -> Option<Pool> {
        match self.readout {
            Readout::Pool(p) => Some(p),
            Readout::Node => None,
        }
    }

    /// True when an architecture card defined the model (its pooling is the card's).
    pub fn from_card(&self) -> bool {
        self.from_card
    }

    /// Marks the model as defined by a card.
    pub(crate) fn set_from_card(&mut self) {
        self.from_card = true;
    }

    /// True for the PyG tutorial family, which the GPU's fused kernel runs.
    pub fn is_tutorial(&self) -> bool {
        self.tutorial
    }

    fn is_tutorial_shape(&self) -> bool {
        let body_ok = self.body.len().is_multiple_of(2)
            && self.body.chunks(2).all(|p| {
                matches!(
                    p,
                    [
                        Op::Conv {
                            conv: Conv::Graph(GraphConv {
                                aggr: Aggr::Add,
                                ..
                            }),
                            ..
                        },
                        Op::Act(Act::Relu)
                    ]
                )
            });
        let head_ok = matches!(
            self.head.as_slice(),
            [Op::Linear { .. }, Op::Act(Act::Relu), Op::Linear { .. }]
        );
        body_ok && head_ok && self.output == Output::LogSoftmax && self.task == Task::Graph
    }

    /// The tutorial family's parts, borrowed, or `None` for any other model (the GPU's
    /// fused kernel runs this family only; every path runs every model).
    pub fn tutorial_parts(&self) -> Option<TutorialParts<'_>> {
        if !self.tutorial {
            return None;
        }
        let convs = self
            .convs()
            .map(|c| match c {
                Conv::Graph(g) => Some(g),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let lins: Vec<&Linear> = self
            .head
            .iter()
            .filter_map(|o| match o {
                Op::Linear { lin, .. } => Some(lin),
                _ => None,
            })
            .collect();
        let (&[lin1, lin2], Some(pool)) = (lins.as_slice(), self.pool()) else {
            return None;
        };
        Some(TutorialParts {
            convs,
            lin1,
            lin2,
            pool,
        })
    }

    /// The tutorial family's parts, or an error that names `what` (the fused kernel) and
    /// the model's shape.
    pub fn require_tutorial(&self, what: &str) -> Result<TutorialParts<'_>> {
        self.tutorial_parts().ok_or_else(|| {
            Error::Device(format!(
                "internal error: {what} runs only the tutorial family (GraphConv + ReLU blocks, \
                 a pool, lin1, ReLU, lin2, log_softmax); this model is {} ({} task)",
                self.describe(),
                match self.task {
                    Task::Graph => "graph",
                    Task::Node => "node",
                }
            ))
        })
    }

    /// Node feature width `F` the first layer takes.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// Checks that `batch` has the node feature width this model takes.
    pub fn check_batch(&self, batch: &crate::GraphBatch) -> Result<()> {
        if batch.num_features() != self.num_features() {
            return Err(Error::Mismatch(format!(
                "the batch has {} node features, the model takes {}",
                batch.num_features(),
                self.num_features()
            )));
        }
        Ok(())
    }

    /// Number of output classes `C`.
    pub fn num_classes(&self) -> usize {
        op_out_dim(&self.head, self.embedding_dim())
    }

    /// Width of the body's output (the readout's input and output).
    pub fn embedding_dim(&self) -> usize {
        op_out_dim(&self.body, self.num_features)
    }

    /// The convs of the body, in order.
    pub fn convs(&self) -> impl Iterator<Item = &Conv> {
        self.body.iter().filter_map(|o| match o {
            Op::Conv { conv, .. } => Some(conv),
            _ => None,
        })
    }

    /// Number of conv layers `L`.
    pub fn num_layers(&self) -> usize {
        self.convs().count()
    }

    /// Body op ranges of the conv blocks: block `l` (0-based) runs from its conv up to,
    /// not including, the next conv (or to the end of the body). Grad-CAM's layer `l + 1`
    /// is the output of block `l`.
    pub fn blocks(&self) -> Vec<std::ops::Range<usize>> {
        let starts: Vec<usize> = (0..self.body.len())
            .filter(|&i| matches!(self.body[i], Op::Conv { .. }))
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| s..starts.get(k + 1).copied().unwrap_or(self.body.len()))
            .collect()
    }

    /// Widths of the node embeddings: `F`, then the output of each conv block.
    pub fn widths(&self) -> Vec<usize> {
        let mut out = vec![self.num_features];
        let mut d = self.num_features;
        let blocks = self.blocks();
        let mut next = blocks.iter().map(|b| b.end).peekable();
        for (i, op) in self.body.iter().enumerate() {
            d = op.out_dim(d);
            if next.peek() == Some(&(i + 1)) {
                out.push(d);
                next.next();
            }
        }
        out
    }

    /// The widest row any op of the model writes (for buffer sizes).
    pub fn max_width(&self) -> usize {
        let mut d = self.num_features;
        let mut m = d;
        for op in self.body.iter().chain(&self.head) {
            if let Op::Conv {
                conv: Conv::Gat(g), ..
            } = op
            {
                m = m.max(g.heads * g.channels);
            }
            if let Op::Conv {
                conv: Conv::Gin(g), ..
            } = op
            {
                let mut e = d;
                for o in &g.nn {
                    e = o.out_dim(e);
                    m = m.max(e);
                }
            }
            d = op.out_dim(d);
            m = m.max(d);
        }
        m
    }

    /// Every dense weight of the model, in order (the convs' lins, then the head's), for
    /// changing weights in place (tests, pruning).
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        fn of<'a>(ops: &'a mut [Op], out: &mut Vec<&'a mut Linear>) {
            for op in ops.iter_mut() {
                match op {
                    Op::Linear { lin, .. } => out.push(lin),
                    Op::Conv { conv, .. } => match conv {
                        Conv::Graph(c) => {
                            out.push(&mut c.lin_rel);
                            out.push(&mut c.lin_root);
                        }
                        Conv::Gcn(c) => out.push(&mut c.lin),
                        Conv::Sage(c) => {
                            out.push(&mut c.lin_l);
                            if let Some(r) = &mut c.lin_r {
                                out.push(r);
                            }
                        }
                        Conv::Gin(c) => of(&mut c.nn, out),
                        Conv::Gat(c) => out.push(&mut c.lin),
                    },
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        of(&mut self.body, &mut out);
        of(&mut self.head, &mut out);
        out
    }

    /// The last Linear of the head (the classifier), mutably.
    pub fn classifier_mut(&mut self) -> Option<&mut Linear> {
        self.head.iter_mut().rev().find_map(|o| match o {
            Op::Linear { lin, .. } => Some(lin),
            _ => None,
        })
    }

    /// The last Linear of the head (the classifier), if the head has one.
    pub fn classifier(&self) -> Option<&Linear> {
        self.head.iter().rev().find_map(|o| match o {
            Op::Linear { lin, .. } => Some(lin),
            _ => None,
        })
    }

    /// A short description: `GCNConv×2 → mean pool → Linear×2 → log_softmax`.
    pub fn describe(&self) -> String {
        let mut convs: Vec<(&str, usize)> = Vec::new();
        for c in self.convs() {
            match convs.last_mut() {
                Some((n, k)) if *n == c.name() => *k += 1,
                _ => convs.push((c.name(), 1)),
            }
        }
        let convs: Vec<String> = convs
            .iter()
            .map(|(n, k)| {
                if *k > 1 {
                    format!("{n}×{k}")
                } else {
                    n.to_string()
                }
            })
            .collect();
        let readout = match self.readout {
            Readout::Pool(p) => format!("{p} pool"),
            Readout::Node => "node".into(),
        };
        let lins = self
            .head
            .iter()
            .filter(|o| matches!(o, Op::Linear { .. }))
            .count();
        let head = match lins {
            0 => String::new(),
            1 => " → Linear".to_string(),
            k => format!(" → Linear×{k}"),
        };
        format!(
            "{} → {readout}{head} → {}",
            convs.join(" → "),
            self.output.name()
        )
    }
}

/// Checks that `op` takes input width `d`.
fn check_op_input(op: &Op, d: usize) -> std::result::Result<(), String> {
    let want = match op {
        Op::Conv { conv, .. } => Some(conv.in_dim()),
        Op::Linear { lin, .. } => Some(lin.in_dim),
        Op::BatchNorm { bn, .. } => Some(bn.scale.len()),
        _ => None,
    };
    match want {
        Some(w) if w != d => Err(format!("takes width {w}, but its input has width {d}")),
        _ => Ok(()),
    }
}
