//! The structure of a chunk of graphs on the device, shared by every step, and the
//! device memory one step of a graph needs; mirrors `cpu::network`.
//!
//! Activations are step-major (`row = s * num_nodes + i`); the graph structure is
//! uploaded once per chunk. The network itself runs on [`crate::nn::Network`] over
//! [`super::backend::GpuBackend`].

use super::launch::Gpu;
use crate::graph::khop::Degrees;
use crate::model::{Conv, Model, Op};
use crate::nn::HostStructure;
use crate::{Error, GraphBatch, Result};

/// The host's copy of a chunk's structure (what [`crate::nn::Backend::host_structure`]
/// gives the structural coefficients).
#[derive(Debug, Clone, Default)]
pub struct HostGraphs {
    /// Node offsets `[G+1]`.
    pub node_ptr: Vec<usize>,
    /// Source of every edge `[E]` (chunk node ids).
    pub src: Vec<u32>,
    /// Target of every edge `[E]`.
    pub dst: Vec<u32>,
    /// The data's edge weights `[E]`.
    pub edge_weight: Option<Vec<f32>>,
    /// Node tasks: the explained node of every graph, local to its graph `[G]`.
    pub centers: Option<Vec<u32>>,
    /// Node tasks: every node's whole-graph in-degree statistics.
    pub degrees: Option<Degrees>,
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
    /// Node tasks: the explained node of every graph as a chunk node id `[G]` (empty for
    /// graph tasks).
    pub center: G::Buf<i32>,
    /// Node features `[N, F]`.
    pub x: G::Buf<f32>,
    /// The host's copy of the structure.
    pub host: HostGraphs,
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
    /// once per chunk, and shared by every step. The batch is valid (every node id and
    /// node-task centre in range), so every index the kernels read is.
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
        let task = b.node_task();
        let mut center = Vec::new();
        if let Some(t) = task {
            for gr in b.graphs() {
                let c = t.center[gr.index] as usize;
                if c >= gr.num_nodes() {
                    return Err(Error::Device(format!(
                        "internal error: graph {} explains its node {c}, but it has {} nodes",
                        gr.index,
                        gr.num_nodes()
                    )));
                }
                center.push((gr.nodes.start + c) as i32);
            }
        }
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
            center: gpu.upload(&center)?,
            x: gpu.upload(b.features())?,
            host: HostGraphs {
                node_ptr: b.node_ptr().to_vec(),
                src: b.src().to_vec(),
                dst: b.dst().to_vec(),
                edge_weight: b.edge_weight().map(<[f32]>::to_vec),
                centers: task.map(|t| t.center.clone()),
                degrees: task.map(|t| t.degrees.clone()),
            },
        })
    }

    /// The structure as the host sees it.
    pub fn host_structure(&self) -> HostStructure<'_> {
        let h = &self.host;
        HostStructure {
            node_ptr: &h.node_ptr,
            src: &h.src,
            dst: &h.dst,
            edge_weight: h.edge_weight.as_deref(),
            centers: h.centers.as_deref(),
            degrees: h.degrees.as_ref(),
        }
    }
}

/// Per-node and per-edge floats one step of a sequence of ops keeps or uses, from input
/// width `d`: `(node floats, edge floats per edge, output width)`.
fn seq_floats(ops: &[Op], mut d: usize) -> (usize, usize, usize) {
    let (mut node, mut edge) = (0, 0);
    for op in ops {
        let out = op.out_dim(d);
        node += out;
        if let Op::Conv { conv, .. } = op {
            // The conv's internals: aggregations, tie counts, transformed features, GAT's
            // scores and coefficients (edges and self-loops) and their gradients.
            match conv {
                Conv::Graph(_) | Conv::Sage(_) => node += 2 * d + out,
                Conv::Gcn(_) => node += out,
                Conv::Gin(g) => node += d + seq_floats(&g.nn, d).0,
                Conv::Gat(g) => {
                    let hc = g.heads * g.channels;
                    node += 2 * hc + 8 * g.heads;
                    edge += 8 * g.heads;
                }
            }
        }
        d = out;
    }
    (node, edge, d)
}

/// Bytes of device memory one step of a graph with `n` nodes and `e` edges needs on the
/// layered path: everything the forward pass keeps for the backward pass, the backward
/// pass's live gradients, the inputs and the gradients being summed.
pub fn step_bytes(model: &Model, n: usize, e: usize) -> usize {
    let f = model.num_features();
    let (body, per_edge, d) = seq_floats(&model.body, f);
    let (head, _, _) = seq_floats(&model.head, d);
    let widest = model.max_width().max(f);
    let node_floats = n * (body + 4 * widest + 3 * f);
    let edge_floats = e * (per_edge + 4);
    let instance_floats = 4 * (head + d + model.num_classes());
    4 * (node_floats + edge_floats + instance_floats)
}
