//! Computation subgraphs of node-task targets (`../shared/docs/pyg-interchange.md`,
//! section 4).
//!
//! A node's prediction by a network of `L` convs depends only on its computation
//! subgraph: the edges whose target node is at most `L − 1` hops from it (following the
//! edges' direction towards it) and the nodes at most `L` hops from it. Each target
//! becomes one graph of an instance batch, so every method, rule and device explains
//! nodes exactly as it explains graphs. Nodes keep their order (by id in the input) and
//! edges theirs, so every sum runs in the same order as on the whole graph.
//!
//! The one trap: GCN's normalisation (and every mean) needs each node's in-degree in
//! the whole graph, and a node `L` hops away has in-edges the subgraph leaves out.
//! The instance batch therefore carries every node's whole-graph [`Degrees`].

use super::{GraphBatch, GraphParts};
use crate::{Error, Result};
use rayon::prelude::*;
use std::collections::HashMap;

/// Whole-graph in-degree statistics of each node of an instance batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Degrees {
    /// Incoming edges, self-loops included.
    pub count: Vec<f64>,
    /// Σ of the incoming edges' weights (1 without edge weights), self-loops included,
    /// summed in edge order.
    pub weight: Vec<f64>,
    /// The same without self-loops.
    pub weight_nonloop: Vec<f64>,
    /// The weight of the node's last input self-loop; NaN when it has none.
    pub loop_weight: Vec<f64>,
}

impl Degrees {
    fn gather(&self, nodes: impl Iterator<Item = usize>) -> Degrees {
        let mut d = Degrees::default();
        for v in nodes {
            d.count.push(self.count[v]);
            d.weight.push(self.weight[v]);
            d.weight_nonloop.push(self.weight_nonloop[v]);
            d.loop_weight.push(self.loop_weight[v]);
        }
        d
    }

    /// The whole-graph statistics of every node of `batch`.
    pub fn of(batch: &GraphBatch) -> Degrees {
        let n = batch.num_nodes();
        let mut d = Degrees {
            count: vec![0.0; n],
            weight: vec![0.0; n],
            weight_nonloop: vec![0.0; n],
            loop_weight: vec![f64::NAN; n],
        };
        for e in 0..batch.num_edges() {
            let (s, t) = (batch.src()[e] as usize, batch.dst()[e] as usize);
            let w = batch.edge_weight().map_or(1.0, |w| f64::from(w[e]));
            d.count[t] += 1.0;
            d.weight[t] += w;
            if s == t {
                d.loop_weight[t] = w;
            } else {
                d.weight_nonloop[t] += w;
            }
        }
        d
    }

    /// The statistics of nodes `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Degrees {
        self.gather(range)
    }
}

/// What an instance batch of node-task targets holds besides its graphs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeTask {
    /// The explained node of every instance, as a node id of the input.
    pub target_node: Vec<u32>,
    /// The explained node of every instance, as a node index within the instance.
    pub center: Vec<u32>,
    /// Every node of the batch as a node id of the input.
    pub node_id: Vec<u32>,
    /// Every edge of the batch as an edge index of the input.
    pub edge_id: Vec<u32>,
    /// Every node's whole-graph in-degree statistics.
    pub degrees: Degrees,
}

impl NodeTask {
    /// The part of graphs `graphs` (their nodes and edges) of a batch with offsets
    /// `node_ptr`, `edge_ptr`.
    pub(super) fn select(&self, graphs: &[usize], node_ptr: &[usize], edge_ptr: &[usize]) -> Self {
        let nodes = || graphs.iter().flat_map(|&g| node_ptr[g]..node_ptr[g + 1]);
        let edges = graphs.iter().flat_map(|&g| edge_ptr[g]..edge_ptr[g + 1]);
        NodeTask {
            target_node: graphs.iter().map(|&g| self.target_node[g]).collect(),
            center: graphs.iter().map(|&g| self.center[g]).collect(),
            node_id: nodes().map(|v| self.node_id[v]).collect(),
            edge_id: edges.map(|e| self.edge_id[e]).collect(),
            degrees: self.degrees.gather(nodes()),
        }
    }
}

/// The cost of an extraction, for the sweep's summary.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExtractStats {
    /// Seconds spent.
    pub seconds: f64,
    /// Nodes in all subgraphs.
    pub nodes: usize,
    /// Edges in all subgraphs.
    pub edges: usize,
    /// The largest subgraph's nodes and edges.
    pub largest: (usize, usize),
}

/// One target's subgraph: its nodes and edges as ids of the input, both ascending, and
/// the target's index among the nodes.
fn subgraph(
    in_ptr: &[usize],
    in_edges: &[u32],
    src: &[u32],
    v: u32,
    hops: usize,
) -> (Vec<u32>, Vec<u32>, u32) {
    let mut dist: HashMap<u32, usize> = HashMap::new();
    dist.insert(v, 0);
    let mut frontier = vec![v];
    let mut edges = Vec::new();
    for d in 0..hops {
        let mut next = Vec::new();
        for &u in &frontier {
            for &e in &in_edges[in_ptr[u as usize]..in_ptr[u as usize + 1]] {
                edges.push(e);
                let s = src[e as usize];
                if let std::collections::hash_map::Entry::Vacant(slot) = dist.entry(s) {
                    slot.insert(d + 1);
                    next.push(s);
                }
            }
        }
        frontier = next;
    }
    edges.sort_unstable();
    let mut nodes: Vec<u32> = dist.into_keys().collect();
    nodes.sort_unstable();
    let center = nodes.partition_point(|&u| u < v) as u32;
    (nodes, edges, center)
}

/// The instance batch of `targets` (node ids of `batch`) for a network of `hops` convs:
/// one graph per target, its computation subgraph. `labels` (one per node of `batch`)
/// become the instances' graph labels, so that `--target label` explains each node's
/// label. Targets may repeat; the order is kept.
pub fn node_instances(
    batch: &GraphBatch,
    targets: &[usize],
    hops: usize,
    labels: Option<&[i64]>,
) -> Result<(GraphBatch, ExtractStats)> {
    let started = std::time::Instant::now();
    let n = batch.num_nodes();
    if let Some(&v) = targets.iter().find(|&&v| v >= n) {
        return Err(Error::Config(format!(
            "target node {v} does not exist; the graph has nodes 0..{n}"
        )));
    }
    if targets.is_empty() {
        return Err(Error::Config("no target nodes to explain".into()));
    }
    // The edges into every node, in edge order.
    let mut in_ptr = vec![0usize; n + 1];
    for &t in batch.dst() {
        in_ptr[t as usize + 1] += 1;
    }
    for i in 0..n {
        in_ptr[i + 1] += in_ptr[i];
    }
    let mut fill = in_ptr.clone();
    let mut in_edges = vec![0u32; batch.num_edges()];
    for (e, &t) in batch.dst().iter().enumerate() {
        in_edges[fill[t as usize]] = e as u32;
        fill[t as usize] += 1;
    }
    let subs: Vec<(Vec<u32>, Vec<u32>, u32)> = targets
        .par_iter()
        .map(|&v| subgraph(&in_ptr, &in_edges, batch.src(), v as u32, hops))
        .collect();
    let degrees = Degrees::of(batch);
    let f = batch.num_features();
    let mut p = GraphParts {
        num_features: f,
        node_ptr: vec![0],
        edge_ptr: vec![0],
        graph_labels: labels.map(|_| Vec::with_capacity(targets.len())),
        edge_weight: batch.edge_weight().map(|_| Vec::new()),
        edge_gt: batch.edge_gt().map(|_| Vec::new()),
        ..Default::default()
    };
    let mut task = NodeTask::default();
    let mut stats = ExtractStats::default();
    for (k, (nodes, edges, center)) in subs.iter().enumerate() {
        let base = p.x.len() / f;
        let local: HashMap<u32, usize> = nodes.iter().enumerate().map(|(i, &u)| (u, i)).collect();
        for &u in nodes {
            p.x.extend_from_slice(&batch.features()[u as usize * f..(u as usize + 1) * f]);
        }
        for &e in edges {
            let e = e as usize;
            let (s, t) = (batch.src()[e], batch.dst()[e]);
            p.src.push(base + local[&s]);
            p.dst.push(base + local[&t]);
            if let (Some(w), Some(all)) = (p.edge_weight.as_mut(), batch.edge_weight()) {
                w.push(all[e]);
            }
            if let (Some(g), Some(all)) = (p.edge_gt.as_mut(), batch.edge_gt()) {
                g.push(all[e]);
            }
        }
        if let (Some(l), Some(all)) = (p.graph_labels.as_mut(), labels) {
            l.push(all[targets[k]]);
        }
        p.node_ptr.push(p.x.len() / f);
        p.edge_ptr.push(p.src.len());
        task.target_node.push(targets[k] as u32);
        task.center.push(*center);
        task.node_id.extend_from_slice(nodes);
        task.edge_id.extend_from_slice(edges);
        stats.nodes += nodes.len();
        stats.edges += edges.len();
        if nodes.len() + edges.len() > stats.largest.0 + stats.largest.1 {
            stats.largest = (nodes.len(), edges.len());
        }
    }
    task.degrees = degrees.gather(task.node_id.iter().map(|&v| v as usize));
    let mut out = GraphBatch::from_parts(p)?;
    out.node_task = Some(Box::new(task));
    stats.seconds = started.elapsed().as_secs_f64();
    Ok((out, stats))
}
