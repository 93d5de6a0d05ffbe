//! The fused path: `kernels/fused.cu` runs every step of a graph's attribution in
//! one block, with all activations in shared memory. Graphs too large for the
//! block's shared memory take the layered path; both give the same numbers up
//! to float32 rounding.

use super::launch::{need, Arg, Gpu, Shape};
use super::network::DeviceGraphs;
use crate::explain::{Method, Storage};
use crate::{Error, GraphConvNet, Pool, Result};

/// Bytes one stored activation takes.
fn storage_bytes(storage: Storage) -> usize {
    match storage {
        Storage::F32 => 4,
        Storage::Bf16 | Storage::F16 => 2,
    }
}

/// Shared memory, in bytes, the fused kernel needs for a graph of `n` nodes and `e`
/// edges with activations stored as `storage` (the layout at the top of `kernels/fused.cu`).
pub fn smem_bytes(model: &GraphConvNet, n: usize, e: usize, storage: Storage) -> usize {
    let widths = model.widths();
    let hidden = model
        .tutorial_parts()
        .map_or(model.max_width(), |t| t.lin1.out_dim);
    let d = widths.iter().copied().max().unwrap_or(1).max(hidden);
    let stored: usize = widths.iter().map(|w| n * w).sum();
    let floats =
        3 * n * d + 2 * n * widths[1] + e + 4 * d + 2 * hidden + 3 * model.num_classes() + 2;
    4 * floats + storage_bytes(storage) * stored
}

/// True when the fused kernel can run this graph on `gpu`.
pub fn fits<G: Gpu>(gpu: &G, model: &GraphConvNet, n: usize, e: usize, storage: Storage) -> bool {
    smem_bytes(model, n, e, storage) <= gpu.max_shared_bytes()
}

/// A model packed for the fused kernel: all parameters in one buffer, and the widths.
pub struct PackedModel<G: Gpu> {
    params: G::Buf<f32>,
    dims: G::Buf<i32>,
    len: usize,
}

impl<G: Gpu> PackedModel<G> {
    /// Packs and uploads the parameters in the order `kernels/fused.cu` reads them
    /// (the conv weights twice: as they are, then transposed).
    pub fn upload(gpu: &G, m: &GraphConvNet) -> Result<Self> {
        let t = m.require_tutorial("the fused kernel")?;
        let mut p: Vec<f32> = Vec::new();
        let push = |p: &mut Vec<f32>, v: &[f64]| p.extend(v.iter().map(|&x| x as f32));
        for c in &t.convs {
            push(&mut p, &c.lin_rel.weight);
            push(&mut p, &c.lin_rel.bias);
            push(&mut p, &c.lin_root.weight);
        }
        for l in [t.lin1, t.lin2] {
            push(&mut p, &l.weight);
            push(&mut p, &l.bias);
        }
        let transposed_at = p.len();
        for c in &t.convs {
            push(&mut p, &c.lin_rel.transposed());
            push(&mut p, &c.lin_root.transposed());
        }
        let mut dims = vec![m.num_layers() as i32];
        dims.extend(m.widths().iter().map(|&w| w as i32));
        dims.push(t.lin1.out_dim as i32);
        dims.push(m.num_classes() as i32);
        dims.push(i32::try_from(transposed_at).map_err(|_| {
            Error::Device(format!(
                "the model has {transposed_at} parameters before its transposed copies, \
                 more than the fused kernel indexes"
            ))
        })?);
        Ok(PackedModel {
            len: p.len(),
            params: gpu.upload(&p)?,
            dims: gpu.upload(&dims)?,
        })
    }
}

/// The inputs of one fused launch besides the graphs.
pub struct FusedJob<'a, G: Gpu> {
    /// The packed model.
    pub model: &'a PackedModel<G>,
    /// The model (for sizes and pooling).
    pub net: &'a GraphConvNet,
    /// The method.
    pub method: Method,
    /// Edge mode (the edge mask) or node mode (the features).
    pub edges: bool,
    /// Use the edge-mode shortcut for layer 1 (computed once per graph, not per step).
    pub shortcut: bool,
    /// IG: multiply by `input − baseline` (node mode; edge mode is unaffected).
    pub multiply_by_inputs: bool,
    /// The storage type of the activations.
    pub storage: Storage,
}

/// The device results of one fused launch.
pub struct FusedOut<G: Gpu> {
    /// Attributions `[E]` or `[N, F]`.
    pub attr: G::Buf<f32>,
    /// Convergence delta per graph.
    pub delta: G::Buf<f32>,
    /// F(input) per graph.
    pub f_in: G::Buf<f32>,
    /// F(baseline) per graph.
    pub f_base: G::Buf<f32>,
}

/// Runs the fused kernel over every graph of `g` with the step table (`alphas`, `weights`).
#[allow(clippy::too_many_arguments)]
pub fn run<G: Gpu>(
    gpu: &G,
    job: &FusedJob<'_, G>,
    g: &DeviceGraphs<G>,
    max_nodes: usize,
    max_edges: usize,
    base: Option<&G::Buf<f32>>,
    alphas: &[f32],
    weights: &[f32],
    targets: &G::Buf<i32>,
) -> Result<FusedOut<G>> {
    let f = g.num_features;
    let len = if job.edges {
        g.num_edges
    } else {
        g.num_nodes * f
    };
    need(gpu, &job.model.params, job.model.len, "fused params")?;
    need(gpu, targets, g.num_graphs, "fused targets")?;
    if let Some(b) = base {
        need(gpu, b, g.num_nodes * f, "fused base")?;
    }
    let mut out = FusedOut {
        attr: gpu.zeros::<f32>(len)?,
        delta: gpu.zeros::<f32>(g.num_graphs)?,
        f_in: gpu.zeros::<f32>(g.num_graphs)?,
        f_base: gpu.zeros::<f32>(g.num_graphs)?,
    };
    let mut shape = Shape::blocks(gpu, g.num_graphs);
    shape.smem = smem_bytes(job.net, max_nodes, max_edges, job.storage) as u32;
    let a = gpu.upload(alphas)?;
    let w = gpu.upload(weights)?;
    let finish = match job.method {
        Method::IntegratedGradients if job.multiply_by_inputs => 0,
        Method::IntegratedGradients => 3,
        Method::Saliency => 1,
        // The CPU-only methods are rejected before any launch.
        _ => 2,
    };
    let pool = match job.net.pool() {
        None => {
            return Err(Error::Device(
                "the fused kernel runs graph tasks only".into(),
            ))
        }
        Some(Pool::Add) => 0,
        Some(Pool::Mean) => 1,
        Some(Pool::Max) => 2,
    };
    let kernel = match job.storage {
        Storage::F32 => "fused_ig",
        Storage::Bf16 => "fused_ig_bf16",
        Storage::F16 => "fused_ig_f16",
    };
    // SAFETY: the parameters, targets, base and outputs were checked above; the graph
    // structure comes from a validated batch, every target is a class of the model
    // (validated with the configuration), and the shared memory holds the largest graph
    // (`smem_bytes`, the layout the kernel reads).
    unsafe {
        gpu.launch(
            kernel,
            shape,
            &mut [
                Arg::I(&g.node_ptr),
                Arg::I(&g.edge_ptr),
                Arg::I(&g.in_ptr),
                Arg::I(&g.in_src),
                Arg::I(&g.out_ptr),
                Arg::I(&g.out_dst),
                Arg::I(&g.src),
                Arg::I(&g.dst),
                Arg::F(&g.x),
                base.map_or(Arg::Null, Arg::F),
                Arg::F(&job.model.params),
                Arg::I(&job.model.dims),
                Arg::F(&a),
                Arg::F(&w),
                Arg::Int(alphas.len() as i32),
                Arg::I(targets),
                Arg::Out(&mut out.attr),
                Arg::Out(&mut out.delta),
                Arg::Out(&mut out.f_in),
                Arg::Out(&mut out.f_base),
                Arg::Int(g.num_graphs as i32),
                Arg::Int(if job.edges { 0 } else { 1 }),
                Arg::Int(finish),
                Arg::Int(pool),
                Arg::Int(i32::from(job.shortcut)),
            ],
        )
    }?;
    Ok(out)
}
