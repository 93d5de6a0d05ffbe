//! Where a sweep reads its graphs from: a [`GraphSource`] hands out contiguous ranges
//! of a dataset's graphs as [`GraphBatch`]es, so that a sweep never needs the whole
//! dataset in memory.
//!
//! - [`InMemory`]: a batch already loaded (the library's usual case, node tasks).
//! - Streaming sources read a range from disk on demand; their first pass keeps only
//!   per-graph sizes and file offsets.
//!
//! Every source obeys one rule: `source.load(a..b)` is exactly what loading the whole
//! dataset and taking `subset(a..b)` gives, field for field.

use super::GraphBatch;
use crate::Result;
use std::ops::Range;

/// A dataset of graphs, read a contiguous range at a time.
pub trait GraphSource: Sync {
    /// Graphs in the dataset.
    fn num_graphs(&self) -> usize;
    /// Node features per node.
    fn num_features(&self) -> usize;
    /// Edges of each graph, `[G]` (for balancing shards by edge count).
    fn edge_counts(&self) -> &[u32];
    /// Nodes of each graph, `[G]`.
    fn node_counts(&self) -> &[u32];
    /// Graphs `range` as a batch (its node ids start at 0), equal to the whole
    /// dataset's `subset(range)`. An error names the file and line at fault.
    fn load(&self, range: Range<usize>) -> Result<GraphBatch>;
    /// A content hash (hex SHA-256) of the whole dataset, the same on every machine
    /// and for every range a run reads, so that shards and resumed runs can check
    /// that they read the same data.
    fn fingerprint(&self) -> &str;
    /// Whether the dataset has ground-truth edge marks (`edge_gt`).
    fn has_edge_gt(&self) -> bool;
}

/// A batch already in memory.
pub struct InMemory<'a> {
    batch: std::borrow::Cow<'a, GraphBatch>,
    nodes: Vec<u32>,
    edges: Vec<u32>,
    fingerprint: String,
}

impl<'a> InMemory<'a> {
    /// Wraps `batch`; hashes its content once.
    pub fn new(batch: &'a GraphBatch) -> Self {
        Self::from_cow(std::borrow::Cow::Borrowed(batch))
    }

    /// Takes `batch` over.
    pub fn owned(batch: GraphBatch) -> InMemory<'static> {
        InMemory::from_cow(std::borrow::Cow::Owned(batch))
    }

    fn from_cow(batch: std::borrow::Cow<'a, GraphBatch>) -> Self {
        let count = |p: &[usize]| p.windows(2).map(|w| (w[1] - w[0]) as u32).collect();
        InMemory {
            nodes: count(batch.node_ptr()),
            edges: count(batch.edge_ptr()),
            fingerprint: batch_fingerprint(&batch),
            batch,
        }
    }
}

impl InMemory<'_> {
    /// The batch.
    pub fn batch(&self) -> &GraphBatch {
        &self.batch
    }
}

impl GraphSource for InMemory<'_> {
    fn num_graphs(&self) -> usize {
        self.batch.num_graphs()
    }
    fn num_features(&self) -> usize {
        self.batch.num_features()
    }
    fn edge_counts(&self) -> &[u32] {
        &self.edges
    }
    fn node_counts(&self) -> &[u32] {
        &self.nodes
    }
    fn load(&self, range: Range<usize>) -> Result<GraphBatch> {
        if range == (0..self.batch.num_graphs()) {
            return Ok(self.batch.as_ref().clone());
        }
        self.batch.subset(range)
    }
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    fn has_edge_gt(&self) -> bool {
        self.batch.edge_gt().is_some()
    }
}

/// Hex SHA-256 of a batch's features, edges and offsets.
pub fn batch_fingerprint(b: &GraphBatch) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(bytemuck::cast_slice::<f32, u8>(b.features()));
    h.update(bytemuck::cast_slice::<u32, u8>(b.src()));
    h.update(bytemuck::cast_slice::<u32, u8>(b.dst()));
    for p in b.node_ptr().iter().chain(b.edge_ptr()) {
        h.update((*p as u64).to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
