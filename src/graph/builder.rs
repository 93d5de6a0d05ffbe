//! Checked construction of [`GraphBatch`] from Rust vectors.

use super::GraphBatch;
use crate::{Error, Result};

/// The raw arrays of a batch, with global node ids. Turn them into a
/// [`GraphBatch`] with [`GraphBatch::from_parts`], which checks everything.
#[derive(Debug, Clone, Default)]
pub struct GraphParts {
    /// Node feature width `F`.
    pub num_features: usize,
    /// Node features, row-major `[N, F]`.
    pub x: Vec<f32>,
    /// Source node (global id) of every edge.
    pub src: Vec<usize>,
    /// Destination node (global id) of every edge.
    pub dst: Vec<usize>,
    /// Node offsets `[G+1]`.
    pub node_ptr: Vec<usize>,
    /// Edge offsets `[G+1]`.
    pub edge_ptr: Vec<usize>,
    /// Optional edge labels `[E]`.
    pub edge_labels: Option<Vec<i64>>,
    /// Optional ground-truth edge marks `[E]` (0 or 1).
    pub edge_gt: Option<Vec<u8>>,
    /// Optional graph labels `[G]`, class ids from 0.
    pub graph_labels: Option<Vec<i64>>,
    /// Optional edge weights `[E]` (the data's `edge_weight`, for GraphConv and GCNConv).
    pub edge_weight: Option<Vec<f32>>,
}

fn check_ptr(name: &str, ptr: &[usize], total: usize) -> Result<()> {
    if ptr.first() != Some(&0) {
        return Err(Error::Batch(format!("{name} must start at 0")));
    }
    if let Some(g) = ptr.windows(2).position(|w| w[1] < w[0]) {
        return Err(Error::Batch(format!(
            "{name} decreases at graph {g}: {} then {}",
            ptr[g],
            ptr[g + 1]
        )));
    }
    if *ptr.last().unwrap_or(&0) != total {
        return Err(Error::Batch(format!(
            "{name} ends at {} but there are {total} entries",
            ptr.last().unwrap_or(&0)
        )));
    }
    Ok(())
}

impl GraphBatch {
    /// Builds a batch from raw arrays, checking every invariant:
    /// offsets, index ranges, that no edge crosses graphs, that every graph has
    /// a node, that features are finite and that optional arrays have the right length.
    pub fn from_parts(p: GraphParts) -> Result<GraphBatch> {
        let f = p.num_features;
        if f == 0 {
            return Err(Error::Batch("num_features must be at least 1".into()));
        }
        if p.node_ptr.len() < 2 {
            return Err(Error::Batch(
                "the batch holds no graphs (empty dataset)".into(),
            ));
        }
        let g = p.node_ptr.len() - 1;
        if p.edge_ptr.len() != g + 1 {
            return Err(Error::Batch(format!(
                "node_ptr has {} entries (G = {g}) but edge_ptr has {}; both must have G+1",
                p.node_ptr.len(),
                p.edge_ptr.len()
            )));
        }
        if !p.x.len().is_multiple_of(f) {
            return Err(Error::Batch(format!(
                "x has {} values, not a multiple of F = {f}",
                p.x.len()
            )));
        }
        let n = p.x.len() / f;
        if n > u32::MAX as usize {
            return Err(Error::Batch(format!(
                "{n} nodes exceed the u32 index range"
            )));
        }
        check_ptr("node_ptr", &p.node_ptr, n)?;
        if p.src.len() != p.dst.len() {
            return Err(Error::Batch(format!(
                "src has {} entries but dst has {}",
                p.src.len(),
                p.dst.len()
            )));
        }
        let e = p.src.len();
        check_ptr("edge_ptr", &p.edge_ptr, e)?;
        for gi in 0..g {
            let nodes = p.node_ptr[gi]..p.node_ptr[gi + 1];
            if nodes.is_empty() {
                return Err(Error::Batch(format!("graph {gi} has no nodes")));
            }
            for (k, ei) in (p.edge_ptr[gi]..p.edge_ptr[gi + 1]).enumerate() {
                for (end, v) in [("source", p.src[ei]), ("target", p.dst[ei])] {
                    if v >= n {
                        return Err(Error::Batch(format!(
                            "graph {gi}, edge {k} (batch edge {ei}): {end} node {v} is out of range 0..{n}"
                        )));
                    }
                    if !nodes.contains(&v) {
                        let other = p.node_ptr.partition_point(|&s| s <= v) - 1;
                        return Err(Error::Batch(format!(
                            "graph {gi}, edge {k} (batch edge {ei}) crosses graphs: {end} node {v} belongs to graph {other}, not to graph {gi} (nodes {}..{})",
                            nodes.start, nodes.end
                        )));
                    }
                }
            }
        }
        if let Some(i) = p.x.iter().position(|v| !v.is_finite()) {
            let node = i / f;
            let gi = p.node_ptr.partition_point(|&s| s <= node) - 1;
            return Err(Error::Batch(format!(
                "graph {gi}, node {} (global {node}), feature {}: value {} is not finite",
                node - p.node_ptr[gi],
                i % f,
                p.x[i]
            )));
        }
        let check_len = |name: &str, len: Option<usize>, want: usize| match len {
            Some(l) if l != want => Err(Error::Batch(format!(
                "{name} has {l} entries, expected {want}"
            ))),
            _ => Ok(()),
        };
        check_len("edge_labels", p.edge_labels.as_ref().map(Vec::len), e)?;
        check_len("edge_gt", p.edge_gt.as_ref().map(Vec::len), e)?;
        check_len("graph_labels", p.graph_labels.as_ref().map(Vec::len), g)?;
        check_len("edge_weight", p.edge_weight.as_ref().map(Vec::len), e)?;
        if let Some(i) = p.edge_weight.iter().flatten().position(|v| !v.is_finite()) {
            let gi = p.edge_ptr.partition_point(|&s| s <= i) - 1;
            return Err(Error::Batch(format!(
                "graph {gi}, edge {} (batch edge {i}): edge weight {} is not finite",
                i - p.edge_ptr[gi],
                p.edge_weight.as_ref().map_or(0.0, |v| v[i])
            )));
        }
        if let Some((i, v)) = p
            .graph_labels
            .iter()
            .flatten()
            .enumerate()
            .find(|(_, &v)| v < 0)
        {
            return Err(Error::Batch(format!(
                "graph {i}: label {v} is negative; class ids start at 0"
            )));
        }
        if let Some(i) = p.edge_gt.iter().flatten().position(|&v| v > 1) {
            let gi = p.edge_ptr.partition_point(|&s| s <= i) - 1;
            return Err(Error::Batch(format!(
                "graph {gi}, edge {} (batch edge {i}): ground-truth mark {} must be 0 or 1",
                i - p.edge_ptr[gi],
                p.edge_gt.as_ref().map_or(0, |v| v[i])
            )));
        }
        Ok(GraphBatch {
            num_features: f,
            x: p.x,
            src: p.src.iter().map(|&v| v as u32).collect(),
            dst: p.dst.iter().map(|&v| v as u32).collect(),
            node_ptr: p.node_ptr,
            edge_ptr: p.edge_ptr,
            edge_labels: p.edge_labels,
            edge_gt: p.edge_gt,
            graph_labels: p.graph_labels,
            edge_weight: p.edge_weight,
            node_task: None,
        })
    }
}

/// Builds a [`GraphBatch`] one graph at a time, with node ids local to each graph.
///
/// ```
/// use graph_ig::GraphBatch;
/// let batch = GraphBatch::builder(2)
///     .graph(&[1.0, 0.0, 0.0, 1.0], &[(0, 1), (1, 0)])
///     .graph(&[0.5, 0.5], &[])
///     .build()
///     .unwrap();
/// assert_eq!(batch.num_graphs(), 2);
/// assert_eq!(batch.src(), &[0, 1]);
/// ```
#[derive(Debug)]
pub struct GraphBatchBuilder {
    parts: GraphParts,
    labels: Vec<Option<i64>>,
    gts: Vec<Option<Vec<u8>>>,
    error: Option<Error>,
}

impl GraphBatchBuilder {
    /// A builder for graphs with `num_features` features per node.
    pub fn new(num_features: usize) -> Self {
        GraphBatchBuilder {
            parts: GraphParts {
                num_features,
                node_ptr: vec![0],
                edge_ptr: vec![0],
                ..GraphParts::default()
            },
            labels: Vec::new(),
            gts: Vec::new(),
            error: None,
        }
    }

    /// Adds a graph: its node features `[n, F]` row-major and its edges with local node ids.
    pub fn graph(self, x: &[f32], edges: &[(usize, usize)]) -> Self {
        self.push(x, edges, None, None)
    }

    /// Adds a graph with a graph label and (optionally) ground-truth edge marks.
    pub fn labelled_graph(
        self,
        x: &[f32],
        edges: &[(usize, usize)],
        label: i64,
        edge_gt: Option<&[u8]>,
    ) -> Self {
        self.push(x, edges, Some(label), edge_gt)
    }

    fn push(
        mut self,
        x: &[f32],
        edges: &[(usize, usize)],
        label: Option<i64>,
        edge_gt: Option<&[u8]>,
    ) -> Self {
        if self.error.is_some() {
            return self;
        }
        let g = self.labels.len();
        let f = self.parts.num_features;
        if f == 0 || !x.len().is_multiple_of(f) {
            self.error = Some(Error::Batch(format!(
                "graph {g}: {} feature values is not a multiple of F = {f}",
                x.len()
            )));
            return self;
        }
        let n = x.len() / f;
        if let Some(gt) = edge_gt {
            if gt.len() != edges.len() {
                self.error = Some(Error::Batch(format!(
                    "graph {g}: {} ground-truth marks for {} edges",
                    gt.len(),
                    edges.len()
                )));
                return self;
            }
        }
        for (k, &(s, d)) in edges.iter().enumerate() {
            if s >= n || d >= n {
                self.error = Some(Error::Batch(format!(
                    "graph {g}, edge {k}: ({s}, {d}) is out of range; the graph has {n} nodes"
                )));
                return self;
            }
        }
        let n0 = *self.parts.node_ptr.last().unwrap_or(&0);
        self.parts.x.extend_from_slice(x);
        self.parts.src.extend(edges.iter().map(|e| e.0 + n0));
        self.parts.dst.extend(edges.iter().map(|e| e.1 + n0));
        self.parts.node_ptr.push(n0 + n);
        self.parts.edge_ptr.push(self.parts.src.len());
        self.labels.push(label);
        self.gts.push(edge_gt.map(<[u8]>::to_vec));
        self
    }

    /// Checks everything and returns the batch. Labels and ground-truth marks
    /// are kept only if every graph has them.
    pub fn build(mut self) -> Result<GraphBatch> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.labels.iter().all(Option::is_some) {
            self.parts.graph_labels = Some(self.labels.iter().flatten().copied().collect());
        }
        if self.gts.iter().all(Option::is_some) {
            self.parts.edge_gt = Some(self.gts.into_iter().flatten().flatten().collect());
        }
        GraphBatch::from_parts(self.parts)
    }
}
