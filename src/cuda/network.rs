//! The whole network on the device for S steps of a chunk of graphs at once;
//! mirrors `cpu::network`.
//!
//! Activations are step-major (`row = s * num_nodes + i`); the graph structure
//! is uploaded once per chunk and shared by all steps.

use super::dense::{
    linear_backward_input, linear_forward, log_softmax_grad, relu_backward, DeviceWeight,
};
use super::launch::Gpu;
use super::message_passing::{
    scatter_add_backward_input, scatter_add_backward_weight, scatter_add_forward, Weights,
};
use super::pooling::{pool_backward, pool_forward};
use crate::model::Linear;
use crate::{Error, GraphBatch, GraphConvNet, Pool, Result};

/// A dense layer on the device (f32).
pub struct DeviceLinear<G: Gpu> {
    /// Weights `[out, in]`, in both layouts.
    pub w: DeviceWeight<G>,
    /// Bias `[out]`.
    pub b: G::Buf<f32>,
    /// Input width.
    pub in_dim: usize,
    /// Output width.
    pub out_dim: usize,
}

impl<G: Gpu> DeviceLinear<G> {
    fn upload(gpu: &G, l: &Linear) -> Result<Self> {
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        Ok(DeviceLinear {
            w: DeviceWeight::upload(gpu, &f(&l.weight), l.out_dim, l.in_dim)?,
            b: gpu.upload(&f(&l.bias))?,
            in_dim: l.in_dim,
            out_dim: l.out_dim,
        })
    }
}

/// A [`GraphConvNet`] on the device.
pub struct DeviceModel<G: Gpu> {
    /// Per conv layer: `lin_rel` (with the bias) and `lin_root`.
    pub convs: Vec<(DeviceLinear<G>, DeviceLinear<G>)>,
    /// The head's hidden layer.
    pub lin1: DeviceLinear<G>,
    /// The output layer.
    pub lin2: DeviceLinear<G>,
    /// The pooling.
    pub pool: Pool,
}

impl<G: Gpu> DeviceModel<G> {
    /// Uploads the weights, rounded to f32.
    pub fn upload(gpu: &G, m: &GraphConvNet) -> Result<Self> {
        let m = m.require_tutorial("the GPU path")?;
        Ok(DeviceModel {
            convs: m
                .convs
                .iter()
                .map(|c| {
                    Ok((
                        DeviceLinear::upload(gpu, &c.lin_rel)?,
                        DeviceLinear::upload(gpu, &c.lin_root)?,
                    ))
                })
                .collect::<Result<_>>()?,
            lin1: DeviceLinear::upload(gpu, m.lin1)?,
            lin2: DeviceLinear::upload(gpu, m.lin2)?,
            pool: m.pool,
        })
    }
}

/// The structure and features of a chunk of graphs on the device.
pub struct DeviceGraphs<G: Gpu> {
    /// Graphs in the chunk.
    pub num_graphs: usize,
    /// Nodes in the chunk.
    pub num_nodes: usize,
    /// Edges in the chunk.
    pub num_edges: usize,
    /// Node feature width.
    pub num_features: usize,
    /// Node offsets `[G+1]`.
    pub node_ptr: G::Buf<i32>,
    /// Edge offsets `[G+1]`.
    pub edge_ptr: G::Buf<i32>,
    /// Graph of every node `[N]`.
    pub node_graph: G::Buf<i32>,
    /// Source of every edge `[E]` (chunk node ids).
    pub src: G::Buf<i32>,
    /// Target of every edge `[E]`.
    pub dst: G::Buf<i32>,
    /// Incoming-edge CSR offsets `[N+1]`.
    pub in_ptr: G::Buf<i32>,
    /// Sources of the incoming edges, sorted by (target, source, edge id) `[E]`.
    pub in_src: G::Buf<i32>,
    /// Edge ids of those incoming edges `[E]`.
    pub in_eid: G::Buf<i32>,
    /// Outgoing-edge CSR offsets `[N+1]`.
    pub out_ptr: G::Buf<i32>,
    /// Targets of the outgoing edges, sorted by (source, edge id) `[E]`.
    pub out_dst: G::Buf<i32>,
    /// Edge ids of those outgoing edges `[E]`.
    pub out_eid: G::Buf<i32>,
    /// Node features `[N, F]`.
    pub x: G::Buf<f32>,
}

/// CSR offsets and the order of `edges` grouped by `key`, ties broken by `then` and edge id.
fn csr(n: usize, key: &[u32], then: Option<&[u32]>) -> (Vec<i32>, Vec<usize>) {
    let mut order: Vec<usize> = (0..key.len()).collect();
    order.sort_by_key(|&e| (key[e], then.map_or(0, |t| t[e]), e));
    let mut ptr = vec![0i32; n + 1];
    for &k in key {
        ptr[k as usize + 1] += 1;
    }
    for i in 0..n {
        ptr[i + 1] += ptr[i];
    }
    (ptr, order)
}

impl<G: Gpu> DeviceGraphs<G> {
    /// Uploads a chunk (a batch of its own, node ids from 0). The CSRs are built here,
    /// once per chunk, and shared by every step.
    pub fn upload(gpu: &G, b: &GraphBatch) -> Result<Self> {
        let (n, e) = (b.num_nodes(), b.num_edges());
        if n.max(e).max(n * b.num_features()) >= i32::MAX as usize {
            return Err(Error::Device(format!(
                "a chunk of {n} nodes and {e} edges exceeds the kernels' 32-bit indices"
            )));
        }
        let i32s = |v: &[usize]| v.iter().map(|&x| x as i32).collect::<Vec<i32>>();
        let mut node_graph = vec![0i32; n];
        for gr in b.graphs() {
            node_graph[gr.nodes].fill(gr.index as i32);
        }
        let (in_ptr, in_order) = csr(n, b.dst(), Some(b.src()));
        let (out_ptr, out_order) = csr(n, b.src(), None);
        let in_src: Vec<i32> = in_order.iter().map(|&k| b.src()[k] as i32).collect();
        let out_dst: Vec<i32> = out_order.iter().map(|&k| b.dst()[k] as i32).collect();
        let u32s = |v: &[u32]| v.iter().map(|&x| x as i32).collect::<Vec<i32>>();
        Ok(DeviceGraphs {
            num_graphs: b.num_graphs(),
            num_nodes: n,
            num_edges: e,
            num_features: b.num_features(),
            node_ptr: gpu.upload(&i32s(b.node_ptr()))?,
            edge_ptr: gpu.upload(&i32s(b.edge_ptr()))?,
            node_graph: gpu.upload(&node_graph)?,
            src: gpu.upload(&u32s(b.src()))?,
            dst: gpu.upload(&u32s(b.dst()))?,
            in_ptr: gpu.upload(&in_ptr)?,
            in_src: gpu.upload(&in_src)?,
            in_eid: gpu.upload(&i32s(&in_order))?,
            out_ptr: gpu.upload(&out_ptr)?,
            out_dst: gpu.upload(&out_dst)?,
            out_eid: gpu.upload(&i32s(&out_order))?,
            x: gpu.upload(b.features())?,
        })
    }
}

/// The activations of S steps, kept for the backward pass.
pub struct Activations<G: Gpu> {
    /// `h[l]`: input of conv layer `l + 1` (`h[0]` = the step's node features).
    pub h: Vec<G::Buf<f32>>,
    /// Pooled embeddings `[S·G, d]`.
    pub pooled: G::Buf<f32>,
    /// Max-pool tie counts `[S·G, d]`.
    pub ties: G::Buf<f32>,
    /// Hidden head activations `[S·G, hidden]`.
    pub z1: G::Buf<f32>,
    /// Log-probabilities `[S·G, C]`.
    pub logp: G::Buf<f32>,
    /// Gradient of the target log-probability wrt the logits, when asked for.
    pub dz2: Option<G::Buf<f32>>,
}

/// Forward pass of `steps` steps: node features `h0 [S·N, F]`, edge weights `w`.
/// With `grad`, also the gradient of each instance's `target` log-probability wrt the logits.
#[allow(clippy::too_many_arguments)]
pub fn forward<G: Gpu>(
    gpu: &G,
    m: &DeviceModel<G>,
    g: &DeviceGraphs<G>,
    steps: usize,
    h0: G::Buf<f32>,
    w: Weights<'_, G>,
    target: &G::Buf<i32>,
    grad: bool,
) -> Result<Activations<G>> {
    let rows = steps * g.num_nodes;
    let inst = steps * g.num_graphs;
    let mut h = vec![h0];
    for (rel, root) in &m.convs {
        let mut agg = gpu.zeros::<f32>(rows * rel.in_dim)?;
        scatter_add_forward(gpu, g, w, steps, &h[h.len() - 1], rel.in_dim, &mut agg)?;
        let mut out = gpu.zeros::<f32>(rows * rel.out_dim)?;
        let prev = &h[h.len() - 1];
        linear_forward(
            gpu,
            &agg,
            &rel.w,
            Some(&rel.b),
            Some((prev, &root.w)),
            &mut out,
            rows,
            rel.in_dim,
            rel.out_dim,
            true,
        )?;
        h.push(out);
    }
    let d = m.lin1.in_dim;
    let mut pooled = gpu.zeros::<f32>(inst * d)?;
    let mut ties = gpu.zeros::<f32>(inst * d)?;
    pool_forward(
        gpu,
        g,
        m.pool,
        steps,
        &h[h.len() - 1],
        d,
        &mut pooled,
        &mut ties,
    )?;
    let mut z1 = gpu.zeros::<f32>(inst * m.lin1.out_dim)?;
    linear_forward(
        gpu,
        &pooled,
        &m.lin1.w,
        Some(&m.lin1.b),
        None,
        &mut z1,
        inst,
        d,
        m.lin1.out_dim,
        true,
    )?;
    let c = m.lin2.out_dim;
    let mut z2 = gpu.zeros::<f32>(inst * c)?;
    linear_forward(
        gpu,
        &z1,
        &m.lin2.w,
        Some(&m.lin2.b),
        None,
        &mut z2,
        inst,
        m.lin2.in_dim,
        c,
        false,
    )?;
    let mut logp = gpu.zeros::<f32>(inst * c)?;
    let mut dz2 = if grad {
        Some(gpu.zeros::<f32>(inst * c)?)
    } else {
        None
    };
    log_softmax_grad(
        gpu,
        &z2,
        target,
        &mut logp,
        dz2.as_mut(),
        inst,
        g.num_graphs,
        c,
    )?;
    Ok(Activations {
        h,
        pooled,
        ties,
        z1,
        logp,
        dz2,
    })
}

/// Backward pass after [`forward`] with `grad` (or with `act.dz2` set by the caller):
/// the gradient wrt the node features `[S·N, F]` and/or the edge weights `[S·E]`.
/// With `layers`, also the gradient wrt every conv layer's output `h[1..=L]` (after
/// its ReLU) into `layers[0..L]`, as `cpu::network::backward_from` records it.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn backward<G: Gpu>(
    gpu: &G,
    m: &DeviceModel<G>,
    g: &DeviceGraphs<G>,
    steps: usize,
    w: Weights<'_, G>,
    act: &Activations<G>,
    want_dx: bool,
    want_dw: bool,
    layers: Option<&mut Vec<G::Buf<f32>>>,
) -> Result<(Option<G::Buf<f32>>, Option<G::Buf<f32>>)> {
    let rows = steps * g.num_nodes;
    let inst = steps * g.num_graphs;
    let dz2 = act.dz2.as_ref().ok_or_else(|| {
        Error::Device("internal error: backward without the forward gradient".into())
    })?;
    let mut dz1 = gpu.zeros::<f32>(inst * m.lin2.in_dim)?;
    linear_backward_input(
        gpu,
        dz2,
        &m.lin2.w,
        Some(&act.z1),
        &mut dz1,
        inst,
        m.lin2.in_dim,
        m.lin2.out_dim,
        false,
    )?;
    let d = m.lin1.in_dim;
    let mut dpooled = gpu.zeros::<f32>(inst * d)?;
    linear_backward_input(
        gpu,
        &dz1,
        &m.lin1.w,
        None,
        &mut dpooled,
        inst,
        d,
        m.lin1.out_dim,
        false,
    )?;
    let num_layers = m.convs.len();
    let record = layers.is_some();
    // Recorded gradients of h[L], h[L-1], ..., h[1] (from the top).
    let mut rec: Vec<G::Buf<f32>> = Vec::new();
    let mut dh = gpu.zeros::<f32>(rows * d)?;
    pool_backward(
        gpu,
        g,
        m.pool,
        steps,
        &act.h[num_layers],
        &act.pooled,
        &act.ties,
        &dpooled,
        d,
        !record,
        &mut dh,
    )?;
    if record && num_layers > 0 {
        let masked = relu_backward(gpu, &act.h[num_layers], &dh, rows * d)?;
        rec.push(std::mem::replace(&mut dh, masked));
    }
    let mut dw = if want_dw {
        Some(gpu.zeros::<f32>(steps * g.num_edges)?)
    } else {
        None
    };
    for l in (0..num_layers).rev() {
        let (rel, root) = &m.convs[l];
        let din = rel.in_dim;
        if l == 0 && !want_dx && dw.is_none() {
            break;
        }
        // dh is the gradient of layer l+1's pre-activation here.
        let mut d_agg = gpu.zeros::<f32>(rows * din)?;
        linear_backward_input(
            gpu,
            &dh,
            &rel.w,
            None,
            &mut d_agg,
            rows,
            din,
            rel.out_dim,
            false,
        )?;
        if let Some(dw) = dw.as_mut() {
            scatter_add_backward_weight(gpu, g, steps, &d_agg, &act.h[l], din, dw)?;
        }
        if l == 0 && !want_dx {
            break;
        }
        let mut dprev = gpu.zeros::<f32>(rows * din)?;
        linear_backward_input(
            gpu,
            &dh,
            &root.w,
            None,
            &mut dprev,
            rows,
            din,
            root.out_dim,
            false,
        )?;
        let mask = if l > 0 && !record {
            Some(&act.h[l])
        } else {
            None
        };
        scatter_add_backward_input(gpu, g, w, steps, &d_agg, mask, din, &mut dprev)?;
        if record && l > 0 {
            let masked = relu_backward(gpu, &act.h[l], &dprev, rows * din)?;
            rec.push(dprev);
            dh = masked;
        } else {
            dh = dprev;
        }
    }
    if let Some(out) = layers {
        rec.reverse();
        *out = rec;
    }
    Ok((if want_dx { Some(dh) } else { None }, dw))
}

/// Bytes of device memory one step of a graph with `n` nodes and `e` edges needs.
pub fn step_bytes(model: &GraphConvNet, n: usize, e: usize) -> usize {
    let widths = model.widths();
    let sum: usize = widths.iter().sum();
    let max = widths
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(model.max_width());
    // Kept activations, plus the transient buffers of one layer (agg/out or dh/d_agg/dprev),
    // plus the edge gradient and the step's gradient copy.
    4 * (n * (sum + 3 * max + widths[0]) + 2 * e + 8 * (max + model.num_classes()))
}
