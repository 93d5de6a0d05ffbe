//! [`TuSource`]: a TU dataset read a range of graphs at a time, for datasets larger
//! than memory.
//!
//! [`TuSource::open`] makes one pass over the files, line by line, with the checks of
//! [`super::tu::load_tu`] (shared with it, so the same inputs give the same errors). It
//! keeps the node and edge count of every graph and, every
//! 256 graphs, where the segment of every file
//! starts and a hash of its bytes; the rest of the pass is dropped. What the encoding
//! needs from whole files is kept too: the label columns' minima (one-hot), the sorted
//! distinct graph labels (PyG's remapping).
//!
//! [`TuSource::load`] seeks every file to the checkpoint before the range and parses
//! the lines of the range only. It reads whole segments and compares their hashes, so a
//! file changed or truncated since the first pass is an error naming it, never other data.
//!
//! For every range, `TuSource::open(d, n, f, o)?.load(a..b)?` equals
//! `load_tu(d, n, f, o)?.subset(a..b)?` field for field.

use super::source::GraphSource;
use super::stream::{bump, hex, Offsets, Recorder, Segment, SegmentHash, CHECKPOINT};
use super::tu::{
    check_edge, check_mark, check_width, class_id, open_attributes, Attributes, Indicator,
    LabelStats, Lines, OneHot, TuOptions,
};
use super::{GraphBatch, GraphParts};
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What a line of a file describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Node,
    Edge,
    Graph,
}

/// The files a [`TuSource`] reads, in the order of the first pass (and of the fingerprint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Indicator,
    A,
    Attributes,
    NodeLabels,
    EdgeLabels,
    EdgeGt,
    GraphLabels,
}

impl Kind {
    fn unit(self) -> Unit {
        match self {
            Kind::Indicator | Kind::Attributes | Kind::NodeLabels => Unit::Node,
            Kind::A | Kind::EdgeLabels | Kind::EdgeGt => Unit::Edge,
            Kind::GraphLabels => Unit::Graph,
        }
    }
}

/// One file of the dataset, as the first pass found it.
#[derive(Debug, Clone)]
struct TuFile {
    kind: Kind,
    path: PathBuf,
    /// Its size in bytes.
    len: u64,
    /// Where each segment starts, with the hash of its bytes.
    segs: Vec<Segment>,
}

/// A TU dataset on disk, read a range of graphs at a time (see the module docs).
#[derive(Debug, Clone)]
pub struct TuSource {
    dir: PathBuf,
    name: String,
    num_features: usize,
    files: Vec<TuFile>,
    offsets: Offsets,
    /// Values per node of `NAME_node_attributes.txt` (0 without `use_node_attr`).
    attr_width: usize,
    one_hot: Option<OneHot>,
    /// The sorted distinct graph labels.
    graph_label_values: Option<Vec<i64>>,
    fingerprint: String,
}

/// The fingerprint's part for one file: its name, its length, then its bytes (fed as read).
fn hash_file_header(sha: &mut Sha256, lines: &Lines) -> Result<u64> {
    let len = lines.len()?;
    let name = lines
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    sha.update((name.len() as u64).to_le_bytes());
    sha.update(name.as_bytes());
    sha.update(len.to_le_bytes());
    Ok(len)
}

/// Checks that the pass read the `len` bytes the file had when it was opened.
fn check_read_all(lines: &Lines, len: u64) -> Result<()> {
    if lines.offset() != len {
        return Err(lines.dataset_err(format!(
            "changed while being read: it had {len} bytes, {} were read",
            lines.offset()
        )));
    }
    Ok(())
}

/// The first pass over a file whose segment starts are known: segment `s` starts at
/// line `start(s)` (0-based). `each` checks a line. Returns the segments.
fn scan(
    lines: &mut Lines,
    sha: &mut Sha256,
    segments: usize,
    start: impl Fn(usize) -> u64,
    mut each: impl FnMut(&Lines, usize, &str) -> Result<()>,
) -> Result<Vec<Segment>> {
    let len = hash_file_header(sha, lines)?;
    let mut rec = Recorder::new();
    let mut buf = Vec::new();
    let mut unit = 0u64;
    loop {
        let at = lines.offset();
        let Some((ln, text, raw)) = lines.next_raw(&mut buf)? else {
            break;
        };
        while rec.started() < segments && start(rec.started()) <= unit {
            rec.begin(at);
        }
        rec.feed(raw);
        sha.update(raw);
        each(lines, ln, text)?;
        unit += 1;
    }
    check_read_all(lines, len)?;
    Ok(rec.finish(lines.offset(), segments))
}

impl TuSource {
    /// Opens the TU dataset `NAME` in `dir` for a model of `num_features` inputs (the
    /// arguments of [`super::tu::load_tu`]), with one pass over its files that checks
    /// everything `load_tu` checks. Memory: two u32 per graph, and a few numbers per
    /// file every 256 graphs.
    pub fn open(
        dir: impl AsRef<Path>,
        name: &str,
        num_features: usize,
        opts: &TuOptions,
    ) -> Result<TuSource> {
        let dir = dir.as_ref();
        let file = |suffix: &str| dir.join(format!("{name}_{suffix}.txt"));
        let mut sha = Sha256::new();
        sha.update(b"graph-ig TU dataset v1\0");
        sha.update((num_features as u64).to_le_bytes());
        sha.update([opts.use_node_attr as u8]);
        let (mut buf, mut ints, mut floats) = (Vec::new(), Vec::<i64>::new(), Vec::<f32>::new());
        let mut files = Vec::new();

        // Nodes and graphs: the segments start where graphs 0, K, 2K, ... start.
        let mut gi = Lines::open(file("graph_indicator"))?;
        let len = hash_file_header(&mut sha, &gi)?;
        let mut check = Indicator::new();
        let mut nodes: Vec<u32> = Vec::new();
        let mut rec = Recorder::new();
        loop {
            let at = gi.offset();
            let Some((ln, text, raw)) = gi.next_raw(&mut buf)? else {
                break;
            };
            let g = gi.int(ln, text, &mut ints)?;
            if check.push(&gi, ln, g)? || ln == 1 {
                if nodes.len().is_multiple_of(CHECKPOINT) {
                    rec.begin(at);
                }
                nodes.push(0);
            }
            let k = nodes.len();
            if let Some(c) = nodes.last_mut() {
                bump(c, || {
                    gi.err(ln, format!("graph {k} has more than {} nodes", u32::MAX))
                })?;
            }
            rec.feed(raw);
            sha.update(raw);
        }
        let n = check.finish(&gi)?;
        check_read_all(&gi, len)?;
        let mut offsets = Offsets::new(nodes);
        let segments = offsets.segments();
        let g = offsets.num_graphs();
        files.push(TuFile {
            kind: Kind::Indicator,
            path: gi.path().to_path_buf(),
            len,
            segs: rec.finish(gi.offset(), segments),
        });

        // Edges: the segments start at the first edge of graph 0, K, 2K, ...
        let mut a = Lines::open(file("A"))?;
        let len = hash_file_header(&mut sha, &a)?;
        let mut edges = vec![0u32; g];
        let mut last_graph = 0usize;
        let mut rec = Recorder::new();
        let hint = std::cell::Cell::new((0usize, 0u64));
        loop {
            let at = a.offset();
            let Some((ln, text, raw)) = a.next_raw(&mut buf)? else {
                break;
            };
            a.fields(ln, text, Some(2), &mut ints)?;
            let graph_of = |v: usize| {
                let mut h = hint.get();
                let gv = offsets.graph_of_node(v as u64, &mut h);
                hint.set(h);
                gv
            };
            let (gs, _, _) = check_edge(&a, ln, &ints, n, graph_of, &mut last_graph)?;
            while rec.started() < segments && rec.started() * CHECKPOINT <= gs {
                rec.begin(at);
            }
            bump(&mut edges[gs], || {
                a.err(
                    ln,
                    format!("graph {} has more than {} edges", gs + 1, u32::MAX),
                )
            })?;
            rec.feed(raw);
            sha.update(raw);
        }
        check_read_all(&a, len)?;
        let e = a.count();
        files.push(TuFile {
            kind: Kind::A,
            path: a.path().to_path_buf(),
            len,
            segs: rec.finish(a.offset(), segments),
        });
        offsets.set_edges(edges);
        let node_start = |s: usize| offsets.seg_node(s);
        let edge_start = |s: usize| offsets.seg_edge(s);

        // Node features.
        let mut attr_width = 0;
        if opts.use_node_attr {
            let mut na = open_attributes(file("node_attributes"))?;
            let mut check = Attributes::default();
            let segs = scan(&mut na, &mut sha, segments, node_start, |f, ln, text| {
                f.fields(ln, text, None, &mut floats)?;
                check.push(f, ln, &floats)
            })?;
            na.expect_lines(n, "the graph indicator")?;
            attr_width = check.width();
            files.push(TuFile {
                kind: Kind::Attributes,
                path: na.path().to_path_buf(),
                len: na.offset(),
                segs,
            });
        }
        let mut one_hot = None;
        if let Some(mut nl) = Lines::open_optional(file("node_labels"))? {
            let mut stats = LabelStats::default();
            let segs = scan(&mut nl, &mut sha, segments, node_start, |f, ln, text| {
                f.fields(ln, text, None, &mut ints)?;
                stats.push(f, ln, &ints)
            })?;
            nl.expect_lines(n, "the graph indicator")?;
            let enc = stats.one_hot(num_features, attr_width, name, dir)?;
            let fits = stats.fits(&enc);
            files.push(TuFile {
                kind: Kind::NodeLabels,
                path: nl.path().to_path_buf(),
                len: nl.offset(),
                segs,
            });
            one_hot = Some((enc, fits, nl));
        }
        let width = attr_width + one_hot.as_ref().map_or(0, |(enc, _, _)| enc.width());
        check_width(width, num_features, name, dir, opts)?;
        let one_hot = match one_hot {
            Some((enc, false, nl)) => {
                // Some label does not fit the model: find the first, as load_tu does.
                let mut again = Lines::open(nl.path().to_path_buf())?;
                let mut row = vec![0f32; enc.width()];
                while let Some((ln, text)) = again.next_line(&mut buf)? {
                    again.fields(ln, text, None, &mut ints)?;
                    row.fill(0.0);
                    enc.encode(&again, ln, &ints, &mut row)?;
                }
                return Err(nl.dataset_err("changed while being read"));
            }
            other => other.map(|(enc, _, _)| enc),
        };

        // Per-edge and per-graph extras.
        let a_name = format!("{name}_A.txt");
        if let Some(mut el) = Lines::open_optional(file("edge_labels"))? {
            let segs = scan(&mut el, &mut sha, segments, edge_start, |f, ln, text| {
                f.fields(ln, text, None, &mut ints)
            })?;
            el.expect_lines(e, &a_name)?;
            files.push(TuFile {
                kind: Kind::EdgeLabels,
                path: el.path().to_path_buf(),
                len: el.offset(),
                segs,
            });
        }
        if let Some(mut gt) = Lines::open_optional(file("edge_gt"))? {
            let segs = scan(&mut gt, &mut sha, segments, edge_start, |f, ln, text| {
                let m = f.int(ln, text, &mut ints)?;
                check_mark(f, ln, m).map(drop)
            })?;
            gt.expect_lines(e, &a_name)?;
            files.push(TuFile {
                kind: Kind::EdgeGt,
                path: gt.path().to_path_buf(),
                len: gt.offset(),
                segs,
            });
        }
        let mut graph_label_values = None;
        if let Some(mut gl) = Lines::open_optional(file("graph_labels"))? {
            let mut values = BTreeSet::new();
            let graph_start = |s: usize| offsets.seg_graph(s);
            let segs = scan(&mut gl, &mut sha, segments, graph_start, |f, ln, text| {
                values.insert(f.int(ln, text, &mut ints)?);
                Ok(())
            })?;
            gl.expect_lines(g, "the graph indicator's graph count")?;
            files.push(TuFile {
                kind: Kind::GraphLabels,
                path: gl.path().to_path_buf(),
                len: gl.offset(),
                segs,
            });
            graph_label_values = Some(values.into_iter().collect());
        }

        Ok(TuSource {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            num_features,
            files,
            offsets,
            attr_width,
            one_hot,
            graph_label_values,
            fingerprint: hex(&sha.finalize()),
        })
    }

    /// The dataset's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The dataset's name (the prefix of its files).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All nodes of the dataset.
    pub fn num_nodes(&self) -> u64 {
        self.offsets.total_nodes()
    }

    /// All edges of the dataset.
    pub fn num_edges(&self) -> u64 {
        self.offsets.total_edges()
    }

    /// The error for a file that is not what the first pass read.
    fn changed(file: &TuFile, detail: String) -> Error {
        Error::Dataset {
            path: file.path.clone(),
            message: format!(
                "changed since the dataset was opened ({detail}); open the dataset again"
            ),
        }
    }

    /// Reads segments `segs` of `file` (the first of line `start(segs.start)`), checks
    /// their hashes, and hands the lines `want` (0-based line indices) to `each`.
    fn read(
        &self,
        file: &TuFile,
        segs: Range<usize>,
        start: &dyn Fn(usize) -> u64,
        want: Range<u64>,
        mut each: impl FnMut(&Lines, usize, &str, u64) -> Result<()>,
    ) -> Result<()> {
        let first = start(segs.start);
        let mut lines = Lines::open_at(
            file.path.clone(),
            file.segs[segs.start].offset,
            first as usize,
        )?;
        let now = lines.len()?;
        if now != file.len {
            return Err(Self::changed(
                file,
                format!("it had {} bytes, now {now}", file.len),
            ));
        }
        let mut buf = Vec::new();
        for s in segs {
            let mut hash = SegmentHash::new();
            let mut failed = None;
            let (lo, hi) = (start(s), start(s + 1));
            for u in lo..hi {
                let (ln, text, raw) = match lines.next_raw(&mut buf) {
                    Ok(Some(l)) => l,
                    Ok(None) => {
                        return Err(Self::changed(
                            file,
                            format!("it ends before line {}", u + 1),
                        ))
                    }
                    Err(Error::Parse { line, message, .. }) => {
                        return Err(Self::changed(file, format!("line {line} {message}")))
                    }
                    Err(e) => return Err(e),
                };
                hash.feed(raw);
                if failed.is_none() && want.contains(&u) {
                    failed = each(&lines, ln, text, u).err();
                }
            }
            if hash.finish() != file.segs[s].hash {
                return Err(Self::changed(
                    file,
                    format!("lines {}..={} differ", lo + 1, hi),
                ));
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl GraphSource for TuSource {
    fn num_graphs(&self) -> usize {
        self.offsets.num_graphs()
    }
    fn num_features(&self) -> usize {
        self.num_features
    }
    fn edge_counts(&self) -> &[u32] {
        self.offsets.edges()
    }
    fn node_counts(&self) -> &[u32] {
        self.offsets.nodes()
    }
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    fn has_edge_gt(&self) -> bool {
        self.files.iter().any(|f| f.kind == Kind::EdgeGt)
    }

    fn load(&self, range: Range<usize>) -> Result<GraphBatch> {
        let g = self.num_graphs();
        if range.start >= range.end || range.end > g {
            return Err(Error::Config(format!(
                "graph range {}..{} is empty or outside the dataset's {} graphs (0..{})",
                range.start, range.end, g, g
            )));
        }
        let o = &self.offsets;
        let nodes = o.node_off(range.start)..o.node_off(range.end);
        let edges = o.edge_off(range.start)..o.edge_off(range.end);
        let (nn, ne) = (
            (nodes.end - nodes.start) as usize,
            (edges.end - edges.start) as usize,
        );
        let f = self.num_features;
        crate::memory::check(
            || {
                format!(
                    "graphs {}..{} ({nn} nodes × {f} features, {ne} edges)",
                    range.start, range.end
                )
            },
            crate::memory::product(&[nn as u64, f as u64, 4])
                .saturating_add(crate::memory::product(&[ne as u64, 48])),
            || "load fewer graphs at a time (a smaller chunk)".into(),
        )?;
        let segs = range.start / CHECKPOINT..(range.end - 1) / CHECKPOINT + 1;
        let mut x = vec![0f32; nn * f];
        let (mut src, mut dst) = (Vec::with_capacity(ne), Vec::with_capacity(ne));
        let (mut edge_labels, mut edge_gt, mut graph_labels) = (None, None, None);
        let (mut ints, mut floats) = (Vec::<i64>::new(), Vec::<f32>::new());
        let aw = self.attr_width;
        for file in &self.files {
            let node_start = |s: usize| o.seg_node(s);
            let edge_start = |s: usize| o.seg_edge(s);
            let graph_start = |s: usize| o.seg_graph(s);
            let (start, want): (&dyn Fn(usize) -> u64, Range<u64>) = match file.kind.unit() {
                Unit::Node => (&node_start, nodes.clone()),
                Unit::Edge => (&edge_start, edges.clone()),
                Unit::Graph => (&graph_start, range.start as u64..range.end as u64),
            };
            // The graph of the current line, with its first node and its first edge.
            let mut cur = (range.start, nodes.start, edges.start);
            let mut advance = |u: u64, unit: Unit| {
                let count = |g: usize| match unit {
                    Unit::Node => o.nodes()[g] as u64,
                    _ => o.edges()[g] as u64,
                };
                loop {
                    let (gc, nlo, elo) = cur;
                    let lo = if unit == Unit::Node { nlo } else { elo };
                    if u < lo + count(gc) || gc + 1 >= range.end {
                        return cur;
                    }
                    cur = (
                        gc + 1,
                        nlo + o.nodes()[gc] as u64,
                        elo + o.edges()[gc] as u64,
                    );
                }
            };
            match file.kind {
                Kind::Indicator => self.read(file, segs.clone(), start, want, |l, ln, t, u| {
                    let id = l.int(ln, t, &mut ints)?;
                    let (gc, _, _) = advance(u, Unit::Node);
                    if id != gc as i64 + 1 {
                        return Err(Self::changed(
                            file,
                            format!("line {ln}: graph id {id}, it was {}", gc + 1),
                        ));
                    }
                    Ok(())
                })?,
                Kind::A => self.read(file, segs.clone(), start, want, |l, ln, t, u| {
                    l.fields(ln, t, Some(2), &mut ints)?;
                    let (gc, nlo, _) = advance(u, Unit::Edge);
                    let own = nlo..nlo + o.nodes()[gc] as u64;
                    let mut local = [0usize; 2];
                    for (j, &v) in ints.iter().enumerate() {
                        if v < 1 || !own.contains(&(v as u64 - 1)) {
                            return Err(Self::changed(
                                file,
                                format!("line {ln}: node {v} is not in graph {}", gc + 1),
                            ));
                        }
                        local[j] = (v as u64 - 1 - nodes.start) as usize;
                    }
                    src.push(local[0]);
                    dst.push(local[1]);
                    Ok(())
                })?,
                Kind::Attributes => self.read(file, segs.clone(), start, want, |l, ln, t, u| {
                    l.fields(ln, t, None, &mut floats)?;
                    let mut check = Attributes::default();
                    check.push(l, ln, &floats)?;
                    if floats.len() != aw {
                        return Err(Self::changed(
                            file,
                            format!("line {ln} has {} values, it had {aw}", floats.len()),
                        ));
                    }
                    let row = (u - nodes.start) as usize;
                    x[row * f..row * f + aw].copy_from_slice(&floats);
                    Ok(())
                })?,
                Kind::NodeLabels => {
                    let Some(enc) = &self.one_hot else {
                        return Err(Self::changed(file, "no label encoding".into()));
                    };
                    self.read(file, segs.clone(), start, want, |l, ln, t, u| {
                        l.fields(ln, t, None, &mut ints)?;
                        let row = (u - nodes.start) as usize;
                        enc.encode(l, ln, &ints, &mut x[row * f + aw..(row + 1) * f])
                    })?
                }
                Kind::EdgeLabels => {
                    let mut v = Vec::with_capacity(ne);
                    self.read(file, segs.clone(), start, want, |l, ln, t, _| {
                        l.fields(ln, t, None, &mut ints)?;
                        v.push(ints[0]);
                        Ok(())
                    })?;
                    edge_labels = Some(v);
                }
                Kind::EdgeGt => {
                    let mut v = Vec::with_capacity(ne);
                    self.read(file, segs.clone(), start, want, |l, ln, t, _| {
                        let m = l.int(ln, t, &mut ints)?;
                        v.push(check_mark(l, ln, m)?);
                        Ok(())
                    })?;
                    edge_gt = Some(v);
                }
                Kind::GraphLabels => {
                    let uniq = self.graph_label_values.as_deref().unwrap_or(&[]);
                    let mut v = Vec::with_capacity(range.len());
                    self.read(file, segs.clone(), start, want, |l, ln, t, _| {
                        let label = l.int(ln, t, &mut ints)?;
                        v.push(class_id(uniq, label).ok_or_else(|| {
                            Self::changed(file, format!("line {ln}: label {label} is new"))
                        })?);
                        Ok(())
                    })?;
                    graph_labels = Some(v);
                }
            }
        }
        let node_ptr = std::iter::once(0)
            .chain(range.clone().scan(0usize, |t, g| {
                *t += o.nodes()[g] as usize;
                Some(*t)
            }))
            .collect();
        let edge_ptr = std::iter::once(0)
            .chain(range.clone().scan(0usize, |t, g| {
                *t += o.edges()[g] as usize;
                Some(*t)
            }))
            .collect();
        GraphBatch::from_parts(GraphParts {
            num_features: f,
            x,
            src,
            dst,
            node_ptr,
            edge_ptr,
            edge_labels,
            edge_gt,
            graph_labels,
            edge_weight: None,
        })
    }
}
