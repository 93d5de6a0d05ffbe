//! The whole network on one graph: forward to log-probabilities and backward
//! of one target log-probability to the edge weights and node features.

use super::dense::{
    linear_backward_input, linear_forward, log_softmax, log_softmax_target_grad, relu,
    relu_backward, rows_times_transposed,
};
use super::message_passing::{
    scatter_add_backward_input, scatter_add_backward_weight, scatter_add_forward, Csr,
};
use super::pooling::{pool_backward, pool_forward};
use crate::GraphConvNet;

/// One graph with node ids local to it.
#[derive(Debug, Clone)]
pub struct LocalGraph {
    /// Number of nodes.
    pub n: usize,
    /// Local source node of every edge.
    pub src: Vec<u32>,
    /// Local target node of every edge.
    pub dst: Vec<u32>,
    /// The edges grouped by destination, for the forward gather.
    pub csr: Csr,
}

impl LocalGraph {
    /// A graph of `n` nodes with the given local edges. Ids must be below `n`.
    pub fn new(n: usize, src: Vec<u32>, dst: Vec<u32>) -> Self {
        let csr = Csr::by_destination(n, &src, &dst);
        LocalGraph { n, src, dst, csr }
    }

    /// Graph `g` of a batch, with local ids.
    pub fn from_batch(batch: &crate::GraphBatch, g: usize) -> Self {
        let gr = batch.graph(g);
        let n0 = gr.nodes.start as u32;
        let local = |v: &[u32]| v[gr.edges.clone()].iter().map(|i| i - n0).collect();
        Self::new(gr.num_nodes(), local(batch.src()), local(batch.dst()))
    }
}

/// Activations of one forward pass, kept for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct Activations {
    /// `h[l]` is the input of conv layer `l + 1` (`h[0]` = node features); `h[L]` is pooled.
    pub h: Vec<Vec<f64>>,
    /// Pooled graph embedding.
    pub pooled: Vec<f64>,
    /// Hidden head activation after ReLU.
    pub z1: Vec<f64>,
    /// Class scores before the softmax.
    pub logits: Vec<f64>,
    /// Log-probabilities.
    pub log_probs: Vec<f64>,
}

/// A model made ready for the CPU forward pass: each conv layer's two weights
/// transposed to `[in, out]`, so that a node's output row is a sum of weight rows
/// scaled by its non-zero inputs (one-hot atom features and post-ReLU activations
/// are mostly zeros). Build it once and share it across graphs and steps.
#[derive(Debug, Clone)]
pub struct Network<'m> {
    /// The model.
    pub model: &'m GraphConvNet,
    /// `(lin_rel, lin_root)` weights of each conv layer, transposed.
    transposed: Vec<(Vec<f64>, Vec<f64>)>,
}

impl<'m> Network<'m> {
    /// Prepares `model`.
    pub fn new(model: &'m GraphConvNet) -> Self {
        let transposed = model
            .convs
            .iter()
            .map(|c| (c.lin_rel.transposed(), c.lin_root.transposed()))
            .collect();
        Network { model, transposed }
    }

    /// Forward pass with node features `x [n, F]` and edge weights `w [E]`.
    pub fn forward(&self, g: &LocalGraph, x: &[f64], w: &[f64], act: &mut Activations) {
        let (model, n) = (self.model, g.n);
        act.h.resize(model.num_layers() + 1, Vec::new());
        act.h[0].clear();
        act.h[0].extend_from_slice(x);
        let mut agg = Vec::new();
        for (l, (conv, (rel_t, root_t))) in model.convs.iter().zip(&self.transposed).enumerate() {
            let (din, dout) = (conv.lin_rel.in_dim, conv.lin_rel.out_dim);
            let (prev, next) = act.h.split_at_mut(l + 1);
            let hin = &prev[l];
            agg.resize(n * din, 0.0);
            scatter_add_forward(&g.csr, &g.src, w, hin, din, &mut agg);
            let out = &mut next[0];
            out.resize(n * dout, 0.0);
            // out = b + W_rel agg + W_root h, summed in that order.
            for row in out.chunks_exact_mut(dout) {
                row.copy_from_slice(&conv.lin_rel.bias);
            }
            rows_times_transposed(rel_t, din, dout, &agg, n, out);
            rows_times_transposed(root_t, din, dout, hin, n, out);
            relu(out);
        }
        let d = model.lin1.in_dim;
        act.pooled = pool_forward(model.pool, &act.h[model.num_layers()], n, d);
        act.z1.resize(model.lin1.out_dim, 0.0);
        linear_forward(&model.lin1, &act.pooled, 1, &mut act.z1);
        relu(&mut act.z1);
        let mut z2 = vec![0.0; model.lin2.out_dim];
        linear_forward(&model.lin2, &act.z1, 1, &mut z2);
        act.log_probs = log_softmax(&z2);
        act.logits = z2;
    }

    /// Just the log-probabilities.
    pub fn log_probs(&self, g: &LocalGraph, x: &[f64], w: &[f64]) -> Vec<f64> {
        let mut act = Activations::default();
        self.forward(g, x, w, &mut act);
        act.log_probs
    }
}

/// [`Network::forward`] for a one-off pass (prepares the model each call).
pub fn forward(model: &GraphConvNet, g: &LocalGraph, x: &[f64], w: &[f64], act: &mut Activations) {
    Network::new(model).forward(g, x, w, act);
}

/// [`Network::log_probs`] for a one-off pass (prepares the model each call).
pub fn log_probs(model: &GraphConvNet, g: &LocalGraph, x: &[f64], w: &[f64]) -> Vec<f64> {
    Network::new(model).log_probs(g, x, w)
}

/// Backward of `log_probs[target]` after [`forward`] with the same `w`.
/// Writes (overwrites) `dx [n, F]` and `dw [E]` when given.
pub fn backward(
    model: &GraphConvNet,
    g: &LocalGraph,
    w: &[f64],
    act: &Activations,
    target: usize,
    dx: Option<&mut [f64]>,
    dw: Option<&mut [f64]>,
) {
    let dz2 = log_softmax_target_grad(&act.log_probs, target);
    backward_from(model, g, w, act, &dz2, dx, dw, None);
}

/// Backward pass from a gradient `dz2` wrt the class scores (before the softmax).
/// Writes `dx` and `dw` when given, and, with `layers`, the gradient wrt every conv
/// layer's output `h[1..=L]` (after its ReLU) into `layers[0..L]`.
#[allow(clippy::too_many_arguments)]
pub fn backward_from(
    model: &GraphConvNet,
    g: &LocalGraph,
    w: &[f64],
    act: &Activations,
    dz2: &[f64],
    dx: Option<&mut [f64]>,
    mut dw: Option<&mut [f64]>,
    mut layers: Option<&mut Vec<Vec<f64>>>,
) {
    let n = g.n;
    let num_layers = model.num_layers();
    if let Some(l) = layers.as_deref_mut() {
        l.clear();
        l.resize(num_layers, Vec::new());
    }
    let mut dz1 = vec![0.0; model.lin1.out_dim];
    linear_backward_input(&model.lin2, dz2, 1, &mut dz1);
    relu_backward(&act.z1, &mut dz1);
    let mut dpooled = vec![0.0; model.lin1.in_dim];
    linear_backward_input(&model.lin1, &dz1, 1, &mut dpooled);
    let d_last = model.lin1.in_dim;
    let mut dh = vec![0.0; n * d_last];
    pool_backward(model.pool, &act.h[num_layers], n, d_last, &dpooled, &mut dh);
    if let Some(dw) = dw.as_deref_mut() {
        dw.fill(0.0);
    }
    let mut d_agg = Vec::new();
    for l in (0..num_layers).rev() {
        let conv = &model.convs[l];
        let din = conv.lin_rel.in_dim;
        // dh now holds the gradient of h[l+1]; turn it into that of the pre-activation.
        if let Some(rec) = layers.as_deref_mut() {
            rec[l] = dh.clone();
        }
        relu_backward(&act.h[l + 1], &mut dh);
        d_agg.clear();
        d_agg.resize(n * din, 0.0);
        linear_backward_input(&conv.lin_rel, &dh, n, &mut d_agg);
        if let Some(dw) = dw.as_deref_mut() {
            scatter_add_backward_weight(&g.src, &g.dst, &d_agg, &act.h[l], din, dw);
        }
        if l == 0 && dx.is_none() {
            break;
        }
        let mut dprev = vec![0.0; n * din];
        linear_backward_input(&conv.lin_root, &dh, n, &mut dprev);
        scatter_add_backward_input(&g.src, &g.dst, w, &d_agg, din, &mut dprev);
        dh = dprev;
    }
    if let Some(dx) = dx {
        dx.copy_from_slice(&dh);
    }
}
