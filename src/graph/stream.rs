//! What the streaming sources ([`super::tu_stream::TuSource`],
//! [`super::pyg_stream::PygSource`]) keep of a dataset after their first pass: the node
//! and edge count of every graph, and the running totals at every checkpoint, a graph
//! in [`CHECKPOINT`]. A checkpoint starts a segment; the sources record where each
//! segment starts in their files and a hash of its bytes, and a load reads whole
//! segments, so that it can tell whether the bytes changed since the first pass.

use crate::{Error, Result};
use std::hash::Hasher;

/// Graphs per segment.
pub(crate) const CHECKPOINT: usize = 256;

/// Per-graph node and edge counts with their totals at every checkpoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct Offsets {
    nodes: Vec<u32>,
    edges: Vec<u32>,
    /// Nodes before graph `c * CHECKPOINT`, for `c` in `0..=segments` (the last: all).
    node_ck: Vec<u64>,
    /// Edges before graph `c * CHECKPOINT`, likewise.
    edge_ck: Vec<u64>,
}

/// Totals before every checkpoint, and the grand total last.
fn checkpoints(counts: &[u32]) -> Vec<u64> {
    let mut out = Vec::with_capacity(counts.len() / CHECKPOINT + 2);
    let mut total = 0u64;
    for (g, &c) in counts.iter().enumerate() {
        if g.is_multiple_of(CHECKPOINT) {
            out.push(total);
        }
        total += c as u64;
    }
    out.push(total);
    out
}

impl Offsets {
    /// The offsets of graphs with these node counts (edges set later, [`Offsets::set_edges`]).
    pub(crate) fn new(nodes: Vec<u32>) -> Self {
        let node_ck = checkpoints(&nodes);
        let edges = vec![0; nodes.len()];
        let edge_ck = checkpoints(&edges);
        Offsets {
            nodes,
            edges,
            node_ck,
            edge_ck,
        }
    }

    /// Sets the edge counts (as many as graphs).
    pub(crate) fn set_edges(&mut self, edges: Vec<u32>) {
        debug_assert_eq!(edges.len(), self.nodes.len());
        self.edge_ck = checkpoints(&edges);
        self.edges = edges;
    }

    /// Graphs.
    pub(crate) fn num_graphs(&self) -> usize {
        self.nodes.len()
    }
    /// Nodes of each graph.
    pub(crate) fn nodes(&self) -> &[u32] {
        &self.nodes
    }
    /// Edges of each graph.
    pub(crate) fn edges(&self) -> &[u32] {
        &self.edges
    }
    /// All nodes.
    pub(crate) fn total_nodes(&self) -> u64 {
        *self.node_ck.last().unwrap_or(&0)
    }
    /// All edges.
    pub(crate) fn total_edges(&self) -> u64 {
        *self.edge_ck.last().unwrap_or(&0)
    }
    /// Segments: `ceil(G / CHECKPOINT)`.
    pub(crate) fn segments(&self) -> usize {
        self.node_ck.len() - 1
    }

    fn offset(ck: &[u64], counts: &[u32], g: usize) -> u64 {
        let c = g / CHECKPOINT;
        ck[c]
            + counts[c * CHECKPOINT..g]
                .iter()
                .map(|&v| v as u64)
                .sum::<u64>()
    }
    /// Nodes before graph `g` (`g <= G`).
    pub(crate) fn node_off(&self, g: usize) -> u64 {
        Self::offset(&self.node_ck, &self.nodes, g)
    }
    /// Edges before graph `g` (`g <= G`).
    pub(crate) fn edge_off(&self, g: usize) -> u64 {
        Self::offset(&self.edge_ck, &self.edges, g)
    }
    /// The first node of segment `s` (`s <= segments`).
    pub(crate) fn seg_node(&self, s: usize) -> u64 {
        self.node_ck[s]
    }
    /// The first edge of segment `s` (`s <= segments`).
    pub(crate) fn seg_edge(&self, s: usize) -> u64 {
        self.edge_ck[s]
    }
    /// The first graph of segment `s` (`s <= segments`).
    pub(crate) fn seg_graph(&self, s: usize) -> u64 {
        (s * CHECKPOINT).min(self.nodes.len()) as u64
    }

    /// The graph of node `node` (`node` < all nodes). `hint` is where the previous call
    /// ended (a graph and its first node; start with `(0, 0)`): nodes met in order are
    /// found in constant time.
    pub(crate) fn graph_of_node(&self, node: u64, hint: &mut (usize, u64)) -> usize {
        let (mut g, mut lo) = *hint;
        if lo <= node && g < self.nodes.len() && node < lo + self.nodes[g] as u64 {
            return g;
        }
        let c = self
            .node_ck
            .partition_point(|&o| o <= node)
            .saturating_sub(1)
            .min(self.segments().saturating_sub(1));
        if node < lo || self.node_ck[c] > lo {
            (g, lo) = (c * CHECKPOINT, self.node_ck[c]);
        }
        while g + 1 < self.nodes.len() && lo + self.nodes[g] as u64 <= node {
            lo += self.nodes[g] as u64;
            g += 1;
        }
        *hint = (g, lo);
        g
    }
}

/// One segment of a file: where it starts, and a hash of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Byte offset of its first line (or first element).
    pub offset: u64,
    /// [`SegmentHash`] of its bytes.
    pub hash: u64,
}

/// The hash that tells whether a segment's bytes changed: SipHash (std's
/// `DefaultHasher`, fixed keys) fed the same pieces in the first pass and on a load.
pub(crate) struct SegmentHash(std::hash::DefaultHasher);

impl SegmentHash {
    /// An empty hash.
    pub(crate) fn new() -> Self {
        SegmentHash(std::hash::DefaultHasher::new())
    }
    /// Feeds bytes.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
    /// The hash.
    pub(crate) fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// Records the segments of a file during a first pass.
pub(crate) struct Recorder {
    segs: Vec<Segment>,
    hash: SegmentHash,
}

impl Recorder {
    /// No segment yet.
    pub(crate) fn new() -> Self {
        Recorder {
            segs: Vec::new(),
            hash: SegmentHash::new(),
        }
    }
    /// Segments started so far.
    pub(crate) fn started(&self) -> usize {
        self.segs.len()
    }
    /// Ends the current segment and starts the next at byte `offset`.
    pub(crate) fn begin(&mut self, offset: u64) {
        if let Some(last) = self.segs.last_mut() {
            last.hash = self.hash.finish();
        }
        self.hash = SegmentHash::new();
        self.segs.push(Segment { offset, hash: 0 });
    }
    /// Feeds bytes of the current segment.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.hash.feed(bytes);
    }
    /// Ends the pass at byte `eof`: segments not started yet (empty, at the end) start
    /// there, up to `total`.
    pub(crate) fn finish(mut self, eof: u64, total: usize) -> Vec<Segment> {
        while self.segs.len() < total {
            self.begin(eof);
        }
        if let Some(last) = self.segs.last_mut() {
            last.hash = self.hash.finish();
        }
        self.segs
    }
}

/// A count that must fit u32 (nodes or edges of one graph).
pub(crate) fn bump(count: &mut u32, what: impl FnOnce() -> Error) -> Result<()> {
    *count = count.checked_add(1).ok_or_else(what)?;
    Ok(())
}

/// Hex digits of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
