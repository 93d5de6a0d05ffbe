//! Graph batches: many graphs in one flat structure, the layout every backend uses.
//!
//! A [`GraphBatch`] stores node features `[N, F]` (f32, row-major), directed
//! edges `(src, dst)` with global node ids, grouped by graph in input order,
//! and the offsets `node_ptr [G+1]` and `edge_ptr [G+1]`. Graph `g` owns nodes
//! `node_ptr[g]..node_ptr[g+1]` and edges `edge_ptr[g]..edge_ptr[g+1]`.
//!
//! Every constructor validates its input completely; an invalid batch cannot
//! be built, so the kernels never see out-of-range indices.

mod builder;
pub mod khop;
pub mod pyg;
pub mod pyg_stream;
pub mod source;
mod stream;
pub mod targets;
pub mod tu;
pub mod tu_stream;

pub use builder::{GraphBatchBuilder, GraphParts};

use std::ops::Range;

/// Many graphs in one structure. Build it with [`GraphBatch::from_parts`],
/// [`GraphBatch::builder`] or [`tu::load_tu`].
#[derive(Debug, Clone, PartialEq)]
pub struct GraphBatch {
    pub(crate) num_features: usize,
    pub(crate) x: Vec<f32>,
    pub(crate) src: Vec<u32>,
    pub(crate) dst: Vec<u32>,
    pub(crate) node_ptr: Vec<usize>,
    pub(crate) edge_ptr: Vec<usize>,
    pub(crate) edge_labels: Option<Vec<i64>>,
    pub(crate) edge_gt: Option<Vec<u8>>,
    pub(crate) graph_labels: Option<Vec<i64>>,
    pub(crate) edge_weight: Option<Vec<f32>>,
    /// Node tasks: the instance batch's targets, id maps and whole-graph degrees.
    pub(crate) node_task: Option<Box<khop::NodeTask>>,
}

/// One graph of a batch, by its ranges into the batch arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRef {
    /// The graph's index in the batch.
    pub index: usize,
    /// Its nodes, as global node ids.
    pub nodes: Range<usize>,
    /// Its edges, as positions in the batch's edge arrays.
    pub edges: Range<usize>,
}

impl GraphRef {
    /// Number of nodes of this graph.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }
    /// Number of directed edges of this graph.
    pub fn num_edges(&self) -> usize {
        self.edges.len()
    }
}

impl GraphBatch {
    /// Starts a checked builder that takes one graph at a time with local node ids.
    pub fn builder(num_features: usize) -> GraphBatchBuilder {
        GraphBatchBuilder::new(num_features)
    }

    /// Number of graphs `G`.
    pub fn num_graphs(&self) -> usize {
        self.node_ptr.len() - 1
    }
    /// Total number of nodes `N`.
    pub fn num_nodes(&self) -> usize {
        *self.node_ptr.last().unwrap_or(&0)
    }
    /// Total number of directed edges `E`.
    pub fn num_edges(&self) -> usize {
        self.src.len()
    }
    /// Node feature width `F`.
    pub fn num_features(&self) -> usize {
        self.num_features
    }
    /// Node features, row-major `[N, F]`.
    pub fn features(&self) -> &[f32] {
        &self.x
    }
    /// Source node (global id) of every edge.
    pub fn src(&self) -> &[u32] {
        &self.src
    }
    /// Destination node (global id) of every edge.
    pub fn dst(&self) -> &[u32] {
        &self.dst
    }
    /// Node offsets `[G+1]`.
    pub fn node_ptr(&self) -> &[usize] {
        &self.node_ptr
    }
    /// Edge offsets `[G+1]`.
    pub fn edge_ptr(&self) -> &[usize] {
        &self.edge_ptr
    }
    /// Edge labels (for Mutagenicity, the bond valence), one per edge, if known.
    pub fn edge_labels(&self) -> Option<&[i64]> {
        self.edge_labels.as_deref()
    }
    /// Ground-truth explanation marks (1 = the edge belongs to the motif), one per edge, if known.
    pub fn edge_gt(&self) -> Option<&[u8]> {
        self.edge_gt.as_deref()
    }

    /// The data's edge weights `[E]` (PyG's `edge_weight`), when it has them.
    pub fn edge_weight(&self) -> Option<&[f32]> {
        self.edge_weight.as_deref()
    }
    /// Node tasks ([`khop::node_instances`]): each graph is a target's computation
    /// subgraph; this says which node it explains and where its nodes and edges come from.
    pub fn node_task(&self) -> Option<&khop::NodeTask> {
        self.node_task.as_deref()
    }

    /// Graph labels (class ids starting at 0), one per graph, if known.
    pub fn graph_labels(&self) -> Option<&[i64]> {
        self.graph_labels.as_deref()
    }

    /// Graph `g` by its node and edge ranges. Panics if `g >= num_graphs()`.
    pub fn graph(&self, g: usize) -> GraphRef {
        GraphRef {
            index: g,
            nodes: self.node_ptr[g]..self.node_ptr[g + 1],
            edges: self.edge_ptr[g]..self.edge_ptr[g + 1],
        }
    }

    /// Iterates over all graphs.
    pub fn graphs(&self) -> impl Iterator<Item = GraphRef> + '_ {
        (0..self.num_graphs()).map(|g| self.graph(g))
    }

    /// A new batch holding the given graphs of this one, in that order, renumbered from 0.
    pub fn select(&self, graphs: &[usize]) -> crate::Result<GraphBatch> {
        let f = self.num_features;
        let mut p = builder::GraphParts {
            num_features: f,
            node_ptr: vec![0],
            edge_ptr: vec![0],
            ..Default::default()
        };
        let (mut labels, mut gts, mut gl, mut ew) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &g in graphs {
            if g >= self.num_graphs() {
                return Err(crate::Error::Config(format!(
                    "graph {g} is outside the batch's {} graphs",
                    self.num_graphs()
                )));
            }
            let gr = self.graph(g);
            let shift = p.x.len() / f;
            p.x.extend_from_slice(&self.x[gr.nodes.start * f..gr.nodes.end * f]);
            for e in gr.edges.clone() {
                p.src.push(self.src[e] as usize - gr.nodes.start + shift);
                p.dst.push(self.dst[e] as usize - gr.nodes.start + shift);
            }
            if let Some(l) = &self.edge_labels {
                labels.extend_from_slice(&l[gr.edges.clone()]);
            }
            if let Some(m) = &self.edge_gt {
                gts.extend_from_slice(&m[gr.edges.clone()]);
            }
            if let Some(l) = &self.graph_labels {
                gl.push(l[g]);
            }
            if let Some(w) = &self.edge_weight {
                ew.extend_from_slice(&w[gr.edges.clone()]);
            }
            p.node_ptr.push(p.x.len() / f);
            p.edge_ptr.push(p.src.len());
        }
        p.edge_labels = self.edge_labels.as_ref().map(|_| labels);
        p.edge_gt = self.edge_gt.as_ref().map(|_| gts);
        p.graph_labels = self.graph_labels.as_ref().map(|_| gl);
        p.edge_weight = self.edge_weight.as_ref().map(|_| ew);
        let mut out = GraphBatch::from_parts(p)?;
        out.node_task = self
            .node_task
            .as_ref()
            .map(|t| Box::new(t.select(graphs, &self.node_ptr, &self.edge_ptr)));
        Ok(out)
    }

    /// A new batch holding graphs `range` of this one, renumbered from 0.
    pub fn subset(&self, range: Range<usize>) -> crate::Result<GraphBatch> {
        let g = self.num_graphs();
        if range.start >= range.end || range.end > g {
            return Err(crate::Error::Config(format!(
                "graph range {}..{} is empty or outside the dataset's {} graphs (0..{})",
                range.start, range.end, g, g
            )));
        }
        let nodes = self.node_ptr[range.start]..self.node_ptr[range.end];
        let edges = self.edge_ptr[range.start]..self.edge_ptr[range.end];
        let n0 = nodes.start;
        let shift = |v: &[u32]| v[edges.clone()].iter().map(|&i| i - n0 as u32).collect();
        Ok(GraphBatch {
            num_features: self.num_features,
            x: self.x[nodes.start * self.num_features..nodes.end * self.num_features].to_vec(),
            src: shift(&self.src),
            dst: shift(&self.dst),
            node_ptr: self.node_ptr[range.start..=range.end]
                .iter()
                .map(|p| p - n0)
                .collect(),
            edge_ptr: self.edge_ptr[range.start..=range.end]
                .iter()
                .map(|p| p - edges.start)
                .collect(),
            edge_labels: self.edge_labels.as_ref().map(|v| v[edges.clone()].to_vec()),
            edge_gt: self.edge_gt.as_ref().map(|v| v[edges.clone()].to_vec()),
            graph_labels: self
                .graph_labels
                .as_ref()
                .map(|v| v[range.clone()].to_vec()),
            edge_weight: self.edge_weight.as_ref().map(|v| v[edges.clone()].to_vec()),
            node_task: self.node_task.as_ref().map(|t| {
                let ids: Vec<usize> = range.clone().collect();
                Box::new(t.select(&ids, &self.node_ptr, &self.edge_ptr))
            }),
        })
    }
}
