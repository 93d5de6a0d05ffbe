//! [`PygSource`]: a PyG data file ([`super::pyg`]) read a range of graphs at a time,
//! for datasets larger than memory.
//!
//! The file is memory-mapped. [`PygSource::open`] checks it in one pass over each tensor,
//! a window at a time, with the decoders of [`super::pyg`] and the checks of
//! [`super::pyg::load`] (same kinds of error, naming the tensor); it keeps the node and
//! edge count of every graph and a hash of every segment of
//! 256 graphs. [`PygSource::load`] decodes the
//! slices of the range's graphs from the map. Pages read are handed back to the system
//! after each window and each load, so that resident memory stays bounded by the range,
//! not by the file.
//!
//! **Fallback.** A range of graphs is a slice of every tensor only when each graph's
//! edges are contiguous in `edge_index` (PyG's own batches always are). When edges of
//! different graphs interleave, [`super::pyg::load`] regroups them with a permutation
//! (`edge_perm`); then the source reads the whole file into memory instead, and
//! [`PygSource::is_streaming`] says so.
//!
//! For every range, `PygSource::open(p)?.load(a..b)?` equals
//! `pyg::load(p)?.batch.subset(a..b)?` field for field. A file changed since `open`
//! (its size, modification time, or the bytes of a segment read) is an error naming it.
//! Only graph-level data streams: node tasks read the whole file with [`super::pyg::load`].

use super::pyg::{dtype_name, Decoder, PygData};
use super::source::GraphSource;
use super::stream::{hex, Offsets, SegmentHash, CHECKPOINT};
use super::{GraphBatch, GraphParts};
use crate::{Error, Result};
use memmap2::Mmap;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Elements decoded at a time in the first pass.
const WINDOW: usize = 1 << 18;

/// Where a tensor's bytes are in the map.
#[derive(Debug, Clone, Copy)]
struct Tensor {
    dtype: Dtype,
    /// Byte offset of element 0 in the file.
    start: usize,
    /// Elements in all.
    len: usize,
}

impl Tensor {
    fn of(map: &[u8], t: &TensorView<'_>) -> Tensor {
        Tensor {
            dtype: t.dtype(),
            start: t.data().as_ptr() as usize - map.as_ptr() as usize,
            len: t.shape().iter().product(),
        }
    }
    /// The bytes of elements `elems`.
    fn bytes(&self, elems: Range<usize>) -> Range<usize> {
        let s = self.dtype.size();
        self.start + elems.start * s..self.start + elems.end * s
    }
}

/// The memory-mapped file and what the first pass found in it.
#[derive(Debug)]
struct Mapped {
    file: std::fs::File,
    map: Mmap,
    len: u64,
    modified: Option<SystemTime>,
    num_features: usize,
    x: Tensor,
    edge_index: Tensor,
    /// `y` when it has one entry per graph.
    graph_labels: Option<Tensor>,
    edge_gt: Option<Tensor>,
    edge_weight: Option<Tensor>,
    offsets: Offsets,
    /// The hash of every segment's bytes in all the tensors above.
    segs: Vec<u64>,
}

/// How the graphs are read.
#[derive(Debug)]
enum Inner {
    Mapped(Box<Mapped>),
    /// Edges of different graphs interleave: the whole file, read by [`super::pyg::load`].
    Memory {
        data: Box<PygData>,
        nodes: Vec<u32>,
        edges: Vec<u32>,
    },
}

/// A PyG data file read a range of graphs at a time (see the module docs).
#[derive(Debug)]
pub struct PygSource {
    path: PathBuf,
    fingerprint: String,
    notes: Vec<String>,
    ignored: Vec<String>,
    inner: Inner,
}

/// Hands the pages of `bytes` back to the system (they are read again from the file
/// if needed).
fn release(map: &Mmap, bytes: Range<usize>) {
    if bytes.is_empty() || bytes.end > map.len() {
        return;
    }
    // SAFETY: the map is a read-only, shared mapping of a file: MADV_DONTNEED only drops
    // this process's page-table entries for the range, and a later read faults the same
    // bytes in again from the file. No Rust reference sees different contents, so no
    // aliasing or validity rule is broken.
    let _ = unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, bytes.start, bytes.len())
    };
}

/// The checks of [`super::pyg::load`], a window at a time.
struct Pass<'a> {
    path: &'a Path,
    map: &'a Mmap,
    st: SafeTensors<'a>,
    used: BTreeSet<String>,
}

impl<'a> Pass<'a> {
    fn err(&self, key: &str, message: impl Into<String>) -> Error {
        Error::Data {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn get(&mut self, key: &str) -> Option<TensorView<'a>> {
        let t = self.st.tensor(key).ok()?;
        self.used.insert(key.to_string());
        Some(t)
    }

    fn require(&mut self, key: &str) -> Result<TensorView<'a>> {
        self.get(key)
            .ok_or_else(|| self.err(key, "missing; a PyG data file needs x and edge_index"))
    }

    fn shape(&self, key: &str, t: &TensorView<'_>, want: &[Option<usize>]) -> Result<()> {
        super::pyg::check_shape(self.path, key, t.shape(), want)
    }

    /// Calls `each` with the decoder and the bytes of every window of elements
    /// `elems` of `t` (the window's first element index is the decoder's origin).
    fn windows(
        &self,
        t: &Tensor,
        elems: Range<usize>,
        step: usize,
        mut each: impl FnMut(&Decoder<'_>, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut at = elems.start;
        while at < elems.end {
            let end = (at + step.max(1)).min(elems.end);
            let bytes = t.bytes(at..end);
            let dec = Decoder {
                path: self.path,
                origin: at,
            };
            each(&dec, &self.map[bytes.clone()])?;
            release(self.map, bytes);
            at = end;
        }
        Ok(())
    }
}

impl PygSource {
    /// Opens the PyG data file `path` (see the module docs).
    pub fn open(path: impl AsRef<Path>) -> Result<PygSource> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        // SAFETY: the map is read-only and private to this source. A file changed by
        // another process while it is mapped is the one hazard: every load checks the
        // size and modification time first and the hashes of the bytes it read after,
        // so a change is reported rather than used (a truncation racing a load can
        // still stop the process with SIGBUS, as with any mapped file).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        let mut sha = Sha256::new();
        sha.update(b"graph-ig PyG data v1\0");
        sha.update((map.len() as u64).to_le_bytes());
        for chunk in map.chunks(1 << 24) {
            sha.update(chunk);
        }
        release(&map, 0..map.len());
        let fingerprint = hex(&sha.finalize());

        let st = SafeTensors::deserialize(&map).map_err(|e| Error::Safetensors {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut p = Pass {
            path: &path,
            map: &map,
            st,
            used: BTreeSet::new(),
        };
        let mut notes = Vec::new();

        // Features: dtype and values here, non-finite values once the graphs are known.
        let xt = p.require("x")?;
        p.shape("x", &xt, &[None, None])?;
        let (n, f) = (xt.shape()[0], xt.shape()[1]);
        if n == 0 {
            return Err(p.err("x", "has no nodes (shape [0, F])"));
        }
        if f == 0 {
            return Err(p.err("x", format!("has no features (shape [{n}, 0])")));
        }
        if n > u32::MAX as usize {
            return Err(p.err("x", format!("{n} nodes exceed the u32 index range")));
        }
        let x = Tensor::of(&map, &xt);
        let x_dtype = dtype_name(x.dtype);
        let (mut rounded, mut bad) = (0usize, None::<(usize, f32)>);
        p.windows(&x, 0..n * f, (WINDOW / f).max(1) * f, |d, b| {
            let v = d.floats("x", x.dtype, b, true)?;
            rounded += v.rounded;
            if bad.is_none() {
                if let Some(i) = v.values.iter().position(|v| !v.is_finite()) {
                    bad = Some((d.origin + i, v.values[i]));
                }
            }
            Ok(())
        })?;
        if rounded > 0 {
            notes.push(format!(
                "x: {rounded} of {} values ({x_dtype}) are not exactly representable in f32 and were rounded to the nearest f32",
                n * f
            ));
        }

        // Graphs: node counts from batch and/or ptr.
        let batch = match p.get("batch") {
            Some(t) => {
                p.shape("batch", &t, &[Some(n)])?;
                let bt = Tensor::of(&map, &t);
                let mut prev: Option<i64> = None;
                let (mut negative, mut unsorted) = (None, None);
                p.windows(&bt, 0..n, WINDOW, |d, bytes| {
                    let b = d.ints("batch", bt.dtype, bytes)?;
                    for (k, &v) in b.iter().enumerate() {
                        let i = d.origin + k;
                        if v < 0 && negative.is_none() {
                            negative = Some((i, v));
                        }
                        if let Some(pv) = prev {
                            if v < pv && unsorted.is_none() {
                                unsorted = Some((i, v, pv));
                            }
                        }
                        prev = Some(v);
                    }
                    Ok(())
                })?;
                if let Some((i, v)) = negative {
                    return Err(p.err("batch", format!("node {i}: graph id {v} is negative")));
                }
                if let Some((i, v, pv)) = unsorted {
                    return Err(p.err("batch", format!(
                        "not sorted: node {i} is in graph {v} but node {} is in graph {pv}; nodes must be grouped by graph in increasing order",
                        i - 1
                    )));
                }
                Some((bt, prev.unwrap_or(0)))
            }
            None => None,
        };
        let ptr = match p.get("ptr") {
            Some(t) => {
                p.shape("ptr", &t, &[None])?;
                let pt = Tensor::of(&map, &t);
                let mut ptr: Vec<u64> = Vec::with_capacity(pt.len);
                p.windows(&pt, 0..pt.len, WINDOW, |d, bytes| {
                    ptr.extend(d.ints("ptr", pt.dtype, bytes)?.iter().map(|&v| v as u64));
                    Ok(())
                })?;
                let signed = |v: u64| v as i64;
                if ptr.len() < 2 {
                    return Err(p.err(
                        "ptr",
                        format!("has {} entries; it needs G+1 >= 2", ptr.len()),
                    ));
                }
                if ptr[0] != 0 {
                    return Err(p.err("ptr", format!("starts at {}, not 0", signed(ptr[0]))));
                }
                if let Some(g) = ptr.windows(2).position(|w| signed(w[1]) < signed(w[0])) {
                    return Err(p.err(
                        "ptr",
                        format!(
                            "decreases at graph {g}: {} then {}",
                            signed(ptr[g]),
                            signed(ptr[g + 1])
                        ),
                    ));
                }
                let last = signed(ptr[ptr.len() - 1]);
                if last != n as i64 {
                    return Err(p.err("ptr", format!("ends at {last} but x has {n} nodes")));
                }
                Some(ptr)
            }
            None => None,
        };
        let node_ptr: Vec<u64> = match (&batch, ptr) {
            (None, None) => vec![0, n as u64],
            (None, Some(ptr)) => ptr,
            (Some((bt, max)), ptr) => {
                let max = *max as u64;
                let g = match &ptr {
                    Some(ptr) => ptr.len() - 1,
                    None => usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1),
                };
                if max >= g as u64 {
                    return Err(p.err(
                        "ptr",
                        format!(
                            "disagrees with batch: ptr describes {g} graphs but batch has graph id {max}"
                        ),
                    ));
                }
                if g > n {
                    // More graphs than nodes: some graph must be empty.
                    let missing = first_missing(&p, bt, n, g)?;
                    return Err(p.err(
                        "batch",
                        format!(
                            "graph {missing} has no nodes; every graph needs at least one node"
                        ),
                    ));
                }
                let mut derived = vec![0u64; g + 1];
                p.windows(bt, 0..n, WINDOW, |d, bytes| {
                    for v in d.ints("batch", bt.dtype, bytes)? {
                        if let Some(c) = derived.get_mut(v as usize + 1) {
                            *c += 1;
                        }
                    }
                    Ok(())
                })?;
                for i in 0..g {
                    derived[i + 1] += derived[i];
                }
                if let Some(ptr) = &ptr {
                    if let Some(i) = (0..=g).find(|&i| ptr[i] != derived[i]) {
                        return Err(p.err(
                            "ptr",
                            format!(
                                "disagrees with batch: ptr[{i}] = {} but batch puts {} nodes in graphs before graph {i}",
                                ptr[i] as i64, derived[i]
                            ),
                        ));
                    }
                }
                derived
            }
        };
        let g = node_ptr.len() - 1;
        if let Some(e) = (0..g).find(|&i| node_ptr[i] == node_ptr[i + 1]) {
            let key = if batch.is_some() { "batch" } else { "ptr" };
            return Err(p.err(
                key,
                format!("graph {e} has no nodes; every graph needs at least one node"),
            ));
        }
        let counts: Vec<u32> = node_ptr.windows(2).map(|w| (w[1] - w[0]) as u32).collect();
        drop(node_ptr);
        let mut offsets = Offsets::new(counts);
        if let Some((i, v)) = bad {
            let node = i / f;
            let gi = offsets.graph_of_node(node as u64, &mut (0, 0));
            let what = if x.dtype == Dtype::F64 {
                let raw = &map[x.bytes(i..i + 1)];
                let mut a = [0u8; 8];
                a.copy_from_slice(raw);
                let v = f64::from_le_bytes(a);
                if v.is_finite() {
                    format!("value {v:e} is outside the f32 range")
                } else {
                    format!("value {v} is not finite")
                }
            } else {
                format!("value {v} is not finite")
            };
            return Err(p.err(
                "x",
                format!(
                    "graph {gi}, node {} (global {node}), feature {}: {what}",
                    node as u64 - offsets.node_off(gi),
                    i % f
                ),
            ));
        }

        // Edges: in range, within one graph, and grouped by graph (else the fallback).
        let et = p.require("edge_index")?;
        p.shape("edge_index", &et, &[Some(2), None])?;
        let e = et.shape()[1];
        let ei = Tensor::of(&map, &et);
        let mut edges = vec![0u32; g];
        let mut grouped = true;
        let (mut last, mut hs, mut hd) = (0usize, (0usize, 0u64), (0usize, 0u64));
        let mut k0 = 0;
        while k0 < e {
            let k1 = (k0 + WINDOW).min(e);
            let dec = |origin| Decoder {
                path: &path,
                origin,
            };
            let (sb, db) = (ei.bytes(k0..k1), ei.bytes(e + k0..e + k1));
            let src = dec(k0).ints("edge_index", ei.dtype, &map[sb.clone()])?;
            let dst = dec(e + k0).ints("edge_index", ei.dtype, &map[db.clone()])?;
            for (j, (&s, &d)) in src.iter().zip(&dst).enumerate() {
                let k = k0 + j;
                for (end, v) in [("source", s), ("target", d)] {
                    if v < 0 || v >= n as i64 {
                        return Err(p.err(
                            "edge_index",
                            format!("edge {k}: {end} node {v} is out of range 0..{n}"),
                        ));
                    }
                }
                let gs = offsets.graph_of_node(s as u64, &mut hs);
                let gd = offsets.graph_of_node(d as u64, &mut hd);
                if gs != gd {
                    return Err(p.err(
                        "edge_index",
                        format!(
                            "edge {k} ({s} -> {d}) crosses graphs: node {s} is in graph {gs}, node {d} in graph {gd}"
                        ),
                    ));
                }
                grouped &= gs >= last;
                last = gs;
                // At most E ≤ the u32 edge ids of a batch per graph.
                edges[gs] = edges[gs].saturating_add(1);
            }
            release(&map, sb);
            release(&map, db);
            k0 = k1;
        }
        if !grouped || e > u32::MAX as usize {
            // The slices of a range are not contiguous: read it all.
            drop(p);
            let data = super::pyg::from_bytes(&map, &path)?;
            let count = |ptr: &[usize]| ptr.windows(2).map(|w| (w[1] - w[0]) as u32).collect();
            let (nodes, edges) = (count(data.batch.node_ptr()), count(data.batch.edge_ptr()));
            let mut notes = data.notes.clone();
            notes.push(
                "edges of different graphs interleave: the file is read into memory, not streamed"
                    .into(),
            );
            return Ok(PygSource {
                path: path.clone(),
                fingerprint,
                ignored: data.ignored.clone(),
                notes,
                inner: Inner::Memory {
                    data: Box::new(data),
                    nodes,
                    edges,
                },
            });
        }
        offsets.set_edges(edges);

        // Labels.
        let mut graph_labels = None;
        if let Some(t) = p.get("y") {
            if !(t.shape().len() == 1 || (t.shape().len() == 2 && t.shape()[1] == 1)) {
                return Err(p.err(
                    "y",
                    format!("shape {:?}, expected [G] or [N] (class ids)", t.shape()),
                ));
            }
            let yt = Tensor::of(&map, &t);
            let mut neg = None;
            p.windows(&yt, 0..yt.len, WINDOW, |d, bytes| {
                let y = d.ints("y", yt.dtype, bytes)?;
                if neg.is_none() {
                    neg = y.iter().position(|&v| v < 0).map(|i| (d.origin + i, y[i]));
                }
                Ok(())
            })?;
            if yt.len != g && yt.len != n {
                return Err(p.err(
                    "y",
                    format!(
                        "has {} entries, matching neither the {g} graphs (graph labels) nor the {n} nodes (node labels)",
                        yt.len
                    ),
                ));
            }
            if let Some((i, v)) = neg {
                return Err(p.err(
                    "y",
                    format!("entry {i}: label {v} is negative; class ids start at 0"),
                ));
            }
            if yt.len == g {
                graph_labels = Some(yt);
            }
        }

        // Masks and ground truth: checked, not kept (node tasks read the whole file).
        let flags = |p: &mut Pass<'_>, key: &str, len: usize| -> Result<Option<Tensor>> {
            let Some(t) = p.get(key) else {
                return Ok(None);
            };
            p.shape(key, &t, &[Some(len)])?;
            let ft = Tensor::of(&map, &t);
            p.windows(&ft, 0..len, WINDOW, |d, bytes| {
                d.flags(key, ft.dtype, bytes).map(drop)
            })?;
            Ok(Some(ft))
        };
        for key in ["train_mask", "val_mask", "test_mask", "node_gt"] {
            flags(&mut p, key, n)?;
        }
        let edge_gt = flags(&mut p, "edge_gt", e)?;
        let edge_weight = match p.get("edge_weight") {
            Some(t) => {
                p.shape("edge_weight", &t, &[Some(e)])?;
                let wt = Tensor::of(&map, &t);
                let mut rounded = 0;
                p.windows(&wt, 0..e, WINDOW, |d, bytes| {
                    let w = d.floats("edge_weight", wt.dtype, bytes, false)?;
                    if let Some(k) = w.values.iter().position(|v| !v.is_finite()) {
                        return Err(d_err(
                            d,
                            "edge_weight",
                            format!(
                                "edge {}: weight {} is not finite in f32",
                                d.origin + k,
                                w.values[k]
                            ),
                        ));
                    }
                    rounded += w.rounded;
                    Ok(())
                })?;
                if rounded > 0 {
                    notes.push(format!(
                        "edge_weight: {rounded} of {e} values are not exactly representable in f32 and were rounded to the nearest f32"
                    ));
                }
                Some(wt)
            }
            None => None,
        };
        let ignored: Vec<String> =
            p.st.names()
                .into_iter()
                .filter(|k| !p.used.contains(*k))
                .cloned()
                .collect::<BTreeSet<String>>()
                .into_iter()
                .collect();
        drop(p);

        let mut m = Mapped {
            modified: meta.modified().ok(),
            len: meta.len(),
            file,
            map,
            num_features: f,
            x,
            edge_index: ei,
            graph_labels,
            edge_gt,
            edge_weight,
            offsets,
            segs: Vec::new(),
        };
        m.segs = (0..m.offsets.segments())
            .map(|s| m.segment_hash(s))
            .collect();
        Ok(PygSource {
            path,
            fingerprint,
            notes,
            ignored,
            inner: Inner::Mapped(Box::new(m)),
        })
    }

    /// Whether ranges are read from the map (`false`: the file is in memory, see the
    /// module docs).
    pub fn is_streaming(&self) -> bool {
        matches!(self.inner, Inner::Mapped(_))
    }

    /// Remarks about the conversion (rounded values, the in-memory fallback), once each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The names of the tensors that are not read (sorted).
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn changed(&self, detail: String) -> Error {
        Error::Dataset {
            path: self.path.clone(),
            message: format!("changed since it was opened ({detail}); open it again"),
        }
    }
}

/// An error from a window's decoder.
fn d_err(d: &Decoder<'_>, key: &str, message: String) -> Error {
    Error::Data {
        path: d.path.to_path_buf(),
        key: key.to_string(),
        message,
    }
}

/// The first graph id in `0..g` that `batch` (sorted) skips.
fn first_missing(p: &Pass<'_>, bt: &Tensor, n: usize, g: usize) -> Result<usize> {
    let mut expect = 0i64;
    let mut found = None;
    p.windows(bt, 0..n, WINDOW, |d, bytes| {
        for v in d.ints("batch", bt.dtype, bytes)? {
            if found.is_none() && v > expect {
                found = Some(expect);
            }
            expect = expect.max(v + 1);
        }
        Ok(())
    })?;
    Ok(found.map_or(expect.max(0) as usize, |v| v as usize).min(g))
}

impl Mapped {
    /// The byte ranges of the tensors' slices for graphs `range`.
    fn slices(&self, range: Range<usize>) -> Vec<Range<usize>> {
        let o = &self.offsets;
        let (n0, n1) = (
            o.node_off(range.start) as usize,
            o.node_off(range.end) as usize,
        );
        let (e0, e1) = (
            o.edge_off(range.start) as usize,
            o.edge_off(range.end) as usize,
        );
        let e = self.edge_index.len / 2;
        let f = self.num_features;
        let mut out = vec![
            self.x.bytes(n0 * f..n1 * f),
            self.edge_index.bytes(e0..e1),
            self.edge_index.bytes(e + e0..e + e1),
        ];
        out.extend(self.graph_labels.map(|t| t.bytes(range.clone())));
        out.extend(self.edge_gt.map(|t| t.bytes(e0..e1)));
        out.extend(self.edge_weight.map(|t| t.bytes(e0..e1)));
        out
    }

    /// The hash of segment `s`'s bytes.
    fn segment_hash(&self, s: usize) -> u64 {
        let o = &self.offsets;
        let range = o.seg_graph(s) as usize..o.seg_graph(s + 1) as usize;
        let mut h = SegmentHash::new();
        for b in self.slices(range) {
            h.feed(&self.map[b.clone()]);
            release(&self.map, b);
        }
        h.finish()
    }
}

impl GraphSource for PygSource {
    fn num_graphs(&self) -> usize {
        self.node_counts().len()
    }
    fn num_features(&self) -> usize {
        match &self.inner {
            Inner::Mapped(m) => m.num_features,
            Inner::Memory { data, .. } => data.batch.num_features(),
        }
    }
    fn edge_counts(&self) -> &[u32] {
        match &self.inner {
            Inner::Mapped(m) => m.offsets.edges(),
            Inner::Memory { edges, .. } => edges,
        }
    }
    fn node_counts(&self) -> &[u32] {
        match &self.inner {
            Inner::Mapped(m) => m.offsets.nodes(),
            Inner::Memory { nodes, .. } => nodes,
        }
    }
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    fn has_edge_gt(&self) -> bool {
        match &self.inner {
            Inner::Mapped(m) => m.edge_gt.is_some(),
            Inner::Memory { data, .. } => data.batch.edge_gt().is_some(),
        }
    }

    fn load(&self, range: Range<usize>) -> Result<GraphBatch> {
        let m = match &self.inner {
            Inner::Memory { data, .. } => {
                if range == (0..data.batch.num_graphs()) {
                    return Ok(data.batch.clone());
                }
                return data.batch.subset(range);
            }
            Inner::Mapped(m) => m,
        };
        let g = m.offsets.num_graphs();
        if range.start >= range.end || range.end > g {
            return Err(Error::Config(format!(
                "graph range {}..{} is empty or outside the dataset's {} graphs (0..{})",
                range.start, range.end, g, g
            )));
        }
        let meta = m.file.metadata().map_err(|e| Error::io(&self.path, e))?;
        if meta.len() != m.len {
            return Err(self.changed(format!("it had {} bytes, now {}", m.len, meta.len())));
        }
        if meta.modified().ok() != m.modified {
            return Err(self.changed("its modification time changed".into()));
        }
        let o = &m.offsets;
        let segs = range.start / CHECKPOINT..(range.end - 1) / CHECKPOINT + 1;
        let nodes = o.node_off(range.start) as usize..o.node_off(range.end) as usize;
        let edges = o.edge_off(range.start) as usize..o.edge_off(range.end) as usize;
        let f = m.num_features;
        crate::memory::check(
            || {
                format!(
                    "graphs {}..{} ({} nodes × {f} features, {} edges)",
                    range.start,
                    range.end,
                    nodes.len(),
                    edges.len()
                )
            },
            crate::memory::product(&[nodes.len() as u64, f as u64, 8])
                .saturating_add(crate::memory::product(&[edges.len() as u64, 64])),
            || "load fewer graphs at a time (a smaller chunk)".into(),
        )?;
        let dec = |origin| Decoder {
            path: &self.path,
            origin,
        };
        let e = m.edge_index.len / 2;
        let bytes = |r: Range<usize>| &m.map[r];
        let x = dec(nodes.start * f)
            .floats(
                "x",
                m.x.dtype,
                bytes(m.x.bytes(nodes.start * f..nodes.end * f)),
                true,
            )?
            .values;
        let local = |v: i64| -> Result<usize> {
            (v as u64)
                .checked_sub(nodes.start as u64)
                .filter(|&l| v >= 0 && l < nodes.len() as u64)
                .map(|l| l as usize)
                .ok_or_else(|| {
                    self.changed(format!(
                        "edge_index holds node {v} for graphs {}..{}",
                        range.start, range.end
                    ))
                })
        };
        let ints = |r: Range<usize>| {
            dec(r.start).ints(
                "edge_index",
                m.edge_index.dtype,
                bytes(m.edge_index.bytes(r)),
            )
        };
        let src = ints(edges.clone())?
            .into_iter()
            .map(local)
            .collect::<Result<Vec<_>>>()?;
        let dst = ints(e + edges.start..e + edges.end)?
            .into_iter()
            .map(local)
            .collect::<Result<Vec<_>>>()?;
        let graph_labels = match m.graph_labels {
            Some(t) => Some(dec(range.start).ints("y", t.dtype, bytes(t.bytes(range.clone())))?),
            None => None,
        };
        let edge_gt = match m.edge_gt {
            Some(t) => {
                Some(dec(edges.start).flags("edge_gt", t.dtype, bytes(t.bytes(edges.clone())))?)
            }
            None => None,
        };
        let edge_weight = match m.edge_weight {
            Some(t) => Some(
                dec(edges.start)
                    .floats("edge_weight", t.dtype, bytes(t.bytes(edges.clone())), false)?
                    .values,
            ),
            None => None,
        };
        // The bytes decoded are those the first pass checked, or the load fails.
        for s in segs {
            if m.segment_hash(s) != m.segs[s] {
                return Err(self.changed(format!(
                    "the bytes of graphs {}..{} differ",
                    o.seg_graph(s),
                    o.seg_graph(s + 1)
                )));
            }
        }
        for b in m.slices(range.clone()) {
            release(&m.map, b);
        }
        let ptr = |count: &[u32]| {
            std::iter::once(0)
                .chain(count[range.clone()].iter().scan(0usize, |t, &c| {
                    *t += c as usize;
                    Some(*t)
                }))
                .collect()
        };
        GraphBatch::from_parts(GraphParts {
            num_features: f,
            x,
            src,
            dst,
            node_ptr: ptr(o.nodes()),
            edge_ptr: ptr(o.edges()),
            edge_labels: None,
            edge_gt,
            graph_labels,
            edge_weight,
        })
    }
}
