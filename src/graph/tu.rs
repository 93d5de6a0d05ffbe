//! Reader for the TU Dortmund graph-classification text format.
//!
//! Files, for a dataset `NAME` in folder `DIR`:
//! - `NAME_A.txt` (required): one directed edge per line, `src, dst`, 1-based global node ids.
//!   Its line order is the canonical edge order of every output of graph-ig.
//! - `NAME_graph_indicator.txt` (required): the 1-based graph id of every node.
//! - `NAME_node_labels.txt`: integer label(s) per node, turned into one-hot features.
//! - `NAME_node_attributes.txt`: float features per node (used with `use_node_attr`).
//! - `NAME_edge_labels.txt`, `NAME_edge_gt.txt`: one value per line of `NAME_A.txt`.
//! - `NAME_graph_labels.txt`: one label per graph, remapped to `0..K` like PyG does.
//!
//! Features follow PyG's `TUDataset` exactly: each label column is shifted by
//! its minimum over the whole file and one-hot encoded; node attributes, when
//! used, come first.
//!
//! Two readers share the line-level parsing and checks of this module: [`load_tu`]
//! reads the whole dataset into one batch, and [`super::tu_stream::TuSource`] reads it
//! a range of graphs at a time. Files are read line by line (never whole into memory)
//! and every problem is an error naming the file and the line.

use super::{GraphBatch, GraphParts};
use crate::{Error, Result};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// How to turn a TU dataset into node features.
#[derive(Debug, Clone, Default)]
pub struct TuOptions {
    /// Put `NAME_node_attributes.txt` in front of the one-hot labels, like
    /// PyG's `TUDataset(use_node_attr=True)`. Off by default, as in PyG.
    pub use_node_attr: bool,
}

/// One text file of the dataset, read a line at a time.
///
/// Lines end at `\n` (a final `\r` is dropped too); a final newline does not make an
/// extra line, an empty file has none. [`Lines::next_line`] reads into the caller's
/// buffer, which then holds the line's bytes with their ending, so that a reader can
/// hash exactly what it read.
pub(super) struct Lines {
    path: PathBuf,
    reader: BufReader<std::fs::File>,
    /// The 1-based number of the last line read (0 before the first).
    line: usize,
    /// The byte offset of the next line.
    offset: u64,
}

impl Lines {
    /// Opens `path` at its start.
    pub(super) fn open(path: PathBuf) -> Result<Lines> {
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Lines {
            path,
            reader: BufReader::with_capacity(1 << 16, file),
            line: 0,
            offset: 0,
        })
    }

    /// Opens `path` if it exists.
    pub(super) fn open_optional(path: PathBuf) -> Result<Option<Lines>> {
        if path.exists() {
            Self::open(path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Opens `path` at byte `offset`, where line `line + 1` starts.
    pub(super) fn open_at(path: PathBuf, offset: u64, line: usize) -> Result<Lines> {
        let mut l = Self::open(path)?;
        l.reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(&l.path, e))?;
        l.offset = offset;
        l.line = line;
        Ok(l)
    }

    /// The file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size now, from the open handle.
    pub(super) fn len(&self) -> Result<u64> {
        self.reader
            .get_ref()
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Lines read so far.
    pub(super) fn count(&self) -> usize {
        self.line
    }

    /// The byte offset where the next line starts.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// The next line without its ending, with its 1-based number; `None` at the end.
    /// `buf` receives the line's bytes, ending included.
    pub(super) fn next_line<'b>(
        &mut self,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<(usize, &'b str)>> {
        Ok(self.next_raw(buf)?.map(|(ln, text, _)| (ln, text)))
    }

    /// [`Lines::next_line`], with the line's bytes (its ending included) as well.
    pub(super) fn next_raw<'b>(
        &mut self,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<(usize, &'b str, &'b [u8])>> {
        buf.clear();
        let got = self
            .reader
            .read_until(b'\n', buf)
            .map_err(|e| Error::io(&self.path, e))?;
        if got == 0 {
            return Ok(None);
        }
        self.line += 1;
        self.offset += got as u64;
        let bytes: &'b [u8] = buf;
        let mut text = bytes;
        text = text.strip_suffix(b"\n").unwrap_or(text);
        text = text.strip_suffix(b"\r").unwrap_or(text);
        match std::str::from_utf8(text) {
            Ok(t) => Ok(Some((self.line, t, bytes))),
            Err(e) => Err(Error::Parse {
                path: self.path.clone(),
                line: self.line,
                message: format!("is not UTF-8 text (byte {})", e.valid_up_to() + 1),
            }),
        }
    }

    /// An error on line `line`.
    pub(super) fn err(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Parse {
            path: self.path.clone(),
            line,
            message: message.into(),
        }
    }

    /// An error about the whole file.
    pub(super) fn dataset_err(&self, message: impl Into<String>) -> Error {
        Error::Dataset {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// Checks that the file had `want` lines, like `what`.
    pub(super) fn expect_lines(&self, want: usize, what: &str) -> Result<()> {
        if self.line != want {
            return Err(self.dataset_err(format!(
                "has {} lines but {what} has {want}; the files disagree",
                self.line
            )));
        }
        Ok(())
    }

    /// Parses line `ln` into comma-separated fields of type `T` (into `out`, cleared
    /// first); `want_fields` is the number of fields required, if fixed.
    pub(super) fn fields<T: std::str::FromStr>(
        &self,
        ln: usize,
        line: &str,
        want_fields: Option<usize>,
        out: &mut Vec<T>,
    ) -> Result<()> {
        out.clear();
        if line.trim().is_empty() && !line.contains(',') {
            return Err(self.err(ln, "empty line"));
        }
        if let Some(w) = want_fields {
            let found = line.split(',').count();
            if found != w {
                return Err(self.err(
                    ln,
                    format!("expected {w} comma-separated values, found {found}"),
                ));
            }
        }
        for f in line.split(',').map(str::trim) {
            out.push(f.parse::<T>().map_err(|_| {
                self.err(
                    ln,
                    format!("cannot parse {f:?} as {}", std::any::type_name::<T>()),
                )
            })?);
        }
        Ok(())
    }

    /// Parses a line holding one integer.
    pub(super) fn int(&self, ln: usize, line: &str, buf: &mut Vec<i64>) -> Result<i64> {
        self.fields(ln, line, Some(1), buf)?;
        Ok(buf[0])
    }
}

/// The checks of `NAME_graph_indicator.txt`, a node at a time: ids start at 1, are
/// sorted and have no gaps.
pub(super) struct Indicator {
    current: i64,
    nodes: usize,
}

impl Indicator {
    pub(super) fn new() -> Self {
        Indicator {
            current: 1,
            nodes: 0,
        }
    }

    /// Checks the graph id `g` of the next node (line `ln` of `f`); `true` when the
    /// node starts a graph after the first.
    pub(super) fn push(&mut self, f: &Lines, ln: usize, g: i64) -> Result<bool> {
        let i = self.nodes;
        self.nodes += 1;
        if g == self.current {
            return Ok(false);
        }
        if g == self.current + 1 && i > 0 {
            self.current = g;
            return Ok(true);
        }
        Err(f.err(
            ln,
            format!(
                "graph id {g} after {}: ids must start at 1, be sorted and have no gaps",
                if i == 0 { 0 } else { self.current }
            ),
        ))
    }

    /// Checks the file had a node at all; returns the node count.
    pub(super) fn finish(&self, f: &Lines) -> Result<usize> {
        if self.nodes == 0 {
            return Err(f.dataset_err("has no nodes: the dataset is empty"));
        }
        Ok(self.nodes)
    }
}

/// Checks the edge `r` (two 1-based node ids) on line `ln` of `NAME_A.txt`: both ends
/// among the `n` nodes, in one graph (`graph_of` maps a 0-based node to its graph), and
/// not in a graph before `last_graph` (edges are grouped by graph), which it updates.
/// Returns the graph and the 0-based ends.
pub(super) fn check_edge(
    f: &Lines,
    ln: usize,
    r: &[i64],
    n: usize,
    graph_of: impl Fn(usize) -> usize,
    last_graph: &mut usize,
) -> Result<(usize, usize, usize)> {
    let mut ends = [0usize; 2];
    for (j, &v) in r.iter().enumerate().take(2) {
        if v < 1 || v as u64 > n as u64 {
            return Err(f.err(
                ln,
                format!("node id {v} is out of range 1..={n} (the graph indicator has {n} nodes)"),
            ));
        }
        ends[j] = v as usize - 1;
    }
    let (gs, gd) = (graph_of(ends[0]), graph_of(ends[1]));
    if gs != gd {
        return Err(f.err(
            ln,
            format!(
                "edge ({}, {}) crosses graphs: node {} is in graph {} but node {} is in graph {}",
                r[0],
                r[1],
                r[0],
                gs + 1,
                r[1],
                gd + 1
            ),
        ));
    }
    if gs < *last_graph {
        return Err(f.err(
            ln,
            format!(
                "an edge of graph {} follows edges of graph {}: edges must be grouped by graph",
                gs + 1,
                *last_graph + 1
            ),
        ));
    }
    *last_graph = gs;
    Ok((gs, ends[0], ends[1]))
}

/// The checks of `NAME_node_attributes.txt`, a line at a time: every line as wide as
/// the first, every value finite.
#[derive(Default)]
pub(super) struct Attributes {
    width: Option<usize>,
}

impl Attributes {
    /// Checks the values `row` of line `ln`.
    pub(super) fn push(&mut self, f: &Lines, ln: usize, row: &[f32]) -> Result<()> {
        let w = *self.width.get_or_insert(row.len());
        if row.len() != w {
            return Err(f.err(ln, format!("{} values, but line 1 has {w}", row.len())));
        }
        if let Some(v) = row.iter().find(|v| !v.is_finite()) {
            return Err(f.err(ln, format!("value {v} is not finite")));
        }
        Ok(())
    }

    /// Values per node (0 for an empty file).
    pub(super) fn width(&self) -> usize {
        self.width.unwrap_or(0)
    }
}

/// Opens `NAME_node_attributes.txt` for `use_node_attr`; a missing file says why it is needed.
pub(super) fn open_attributes(path: PathBuf) -> Result<Lines> {
    Lines::open(path).map_err(|err| match err {
        Error::Io { path, .. } => Error::Dataset {
            path,
            message: "use_node_attr is set but the file cannot be read".into(),
        },
        other => other,
    })
}

/// What the one-hot encoding of `NAME_node_labels.txt` needs from the whole file:
/// the number of label columns and each column's minimum and maximum.
#[derive(Default)]
pub(super) struct LabelStats {
    cols: Option<usize>,
    min: Vec<i64>,
    max: Vec<i64>,
}

impl LabelStats {
    /// Takes the labels `row` of line `ln`: as many as line 1 has.
    pub(super) fn push(&mut self, f: &Lines, ln: usize, row: &[i64]) -> Result<()> {
        match self.cols {
            None => {
                self.cols = Some(row.len());
                self.min = row.to_vec();
                self.max = row.to_vec();
            }
            Some(cols) if cols != row.len() => {
                return Err(f.err(ln, format!("{} labels, but line 1 has {cols}", row.len())))
            }
            Some(_) => {
                for (c, &v) in row.iter().enumerate() {
                    self.min[c] = self.min[c].min(v);
                    self.max[c] = self.max[c].max(v);
                }
            }
        }
        Ok(())
    }

    /// The encoding for a model of `num_features` inputs, after `attr_width` node
    /// attributes: one label column fills what the attributes leave; several columns
    /// take their ranges, which must fit.
    pub(super) fn one_hot(
        &self,
        num_features: usize,
        attr_width: usize,
        name: &str,
        dir: &Path,
    ) -> Result<OneHot> {
        let cols = self.cols.unwrap_or(0);
        let widths: Vec<usize> = if cols == 1 {
            if num_features < attr_width {
                return Err(Error::Mismatch(format!(
                    "the model takes {num_features} features but the node attributes alone have {attr_width}"
                )));
            }
            vec![num_features - attr_width]
        } else {
            // Widths of any i64 range, summed without overflow; more than the model
            // takes is refused here, before N × width features are allocated.
            let widths: Vec<u64> = (0..cols)
                .map(|c| {
                    let w = self.max[c] as i128 - self.min[c] as i128 + 1;
                    u64::try_from(w).unwrap_or(u64::MAX)
                })
                .collect();
            let total = widths.iter().fold(0u64, |t, &w| t.saturating_add(w));
            if total.saturating_add(attr_width as u64) > num_features as u64 {
                return Err(Error::Mismatch(format!(
                    "dataset {name} in {}: its {cols} node label columns give {total} one-hot \
                     features{}, the model expects {num_features}",
                    dir.display(),
                    if attr_width > 0 {
                        format!(" after {attr_width} node attributes")
                    } else {
                        String::new()
                    }
                )));
            }
            widths.into_iter().map(|w| w as usize).collect()
        };
        let total = widths.iter().sum();
        Ok(OneHot {
            mins: self.min.clone(),
            widths,
            total,
        })
    }

    /// Whether every label of the file fits `enc` (else [`OneHot::encode`] fails on
    /// some line).
    pub(super) fn fits(&self, enc: &OneHot) -> bool {
        (0..self.cols.unwrap_or(0))
            .all(|c| (self.max[c] as i128 - enc.mins[c] as i128) < enc.widths[c] as i128)
    }
}

/// The one-hot encoding of node labels: each column shifted by its minimum.
#[derive(Debug, Clone)]
pub(super) struct OneHot {
    mins: Vec<i64>,
    widths: Vec<usize>,
    total: usize,
}

impl OneHot {
    /// Features per node.
    pub(super) fn width(&self) -> usize {
        self.total
    }

    /// Writes the one-hot features of the labels `row` (line `ln`) into `out`
    /// (`width()` zeros).
    pub(super) fn encode(&self, f: &Lines, ln: usize, row: &[i64], out: &mut [f32]) -> Result<()> {
        if row.len() != self.widths.len() || out.len() != self.total {
            return Err(f.err(
                ln,
                format!("{} labels, but line 1 has {}", row.len(), self.widths.len()),
            ));
        }
        let mut off = 0;
        for (c, &label) in row.iter().enumerate() {
            // i128: a label and the minimum may be any two i64 values.
            let v = label as i128 - self.mins[c] as i128;
            if v < 0 || v >= self.widths[c] as i128 {
                return Err(f.err(
                    ln,
                    format!(
                        "node label {label} (one-hot index {v} after subtracting the minimum {}) does not fit the model's {} input features",
                        self.mins[c], self.widths[c]
                    ),
                ));
            }
            out[off + v as usize] = 1.0;
            off += self.widths[c];
        }
        Ok(())
    }
}

/// The width check after the feature blocks: attributes and one-hot labels must give
/// the model's `num_features`.
pub(super) fn check_width(
    width: usize,
    num_features: usize,
    name: &str,
    dir: &Path,
    opts: &TuOptions,
) -> Result<()> {
    if width != num_features {
        return Err(Error::Mismatch(format!(
            "dataset {name} in {} gives {width} node features (attributes used: {}), the model expects {num_features}",
            dir.display(),
            opts.use_node_attr
        )));
    }
    Ok(())
}

/// Checks a ground-truth mark of `NAME_edge_gt.txt` (line `ln`): 0 or 1.
pub(super) fn check_mark(f: &Lines, ln: usize, m: i64) -> Result<u8> {
    match m {
        0 | 1 => Ok(m as u8),
        _ => Err(f.err(ln, format!("mark {m} is not 0 or 1"))),
    }
}

/// A graph label's class id: its index among the sorted distinct labels `uniq` of the
/// file, as PyG remaps them.
pub(super) fn class_id(uniq: &[i64], label: i64) -> Option<i64> {
    uniq.binary_search(&label).ok().map(|i| i as i64)
}

/// Loads a TU dataset whose one-hot node features have width `num_features`
/// (the model's input width). See the module docs for the files read.
pub fn load_tu(
    dir: impl AsRef<Path>,
    name: &str,
    num_features: usize,
    opts: &TuOptions,
) -> Result<GraphBatch> {
    let dir = dir.as_ref();
    let file = |suffix: &str| dir.join(format!("{name}_{suffix}.txt"));
    let (mut buf, mut ints, mut floats) = (Vec::new(), Vec::<i64>::new(), Vec::<f32>::new());

    // Nodes and graphs.
    let mut gi = Lines::open(file("graph_indicator"))?;
    let mut check = Indicator::new();
    let mut node_ptr = vec![0usize];
    while let Some((ln, line)) = gi.next_line(&mut buf)? {
        let g = gi.int(ln, line, &mut ints)?;
        if check.push(&gi, ln, g)? {
            node_ptr.push(ln - 1);
        }
    }
    let n = check.finish(&gi)?;
    // The features are N × F floats (twice, while the blocks are joined): check before
    // allocating, since F comes from the model file and N from the indicator.
    crate::memory::check(
        || format!("the node features of {n} nodes × {num_features} features"),
        crate::memory::product(&[n as u64, num_features as u64, 4, 2]),
        || "this dataset and model need a machine with more memory".into(),
    )?;
    node_ptr.push(n);
    let g = node_ptr.len() - 1;
    let graph_of = |node: usize| node_ptr.partition_point(|&s| s <= node) - 1;

    // Edges.
    let mut a = Lines::open(file("A"))?;
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    let mut edge_ptr = vec![0usize; g + 1];
    let mut last_graph = 0usize;
    while let Some((ln, line)) = a.next_line(&mut buf)? {
        a.fields(ln, line, Some(2), &mut ints)?;
        let (gs, s, d) = check_edge(&a, ln, &ints, n, graph_of, &mut last_graph)?;
        edge_ptr[gs + 1] += 1;
        src.push(s);
        dst.push(d);
    }
    for i in 0..g {
        edge_ptr[i + 1] += edge_ptr[i];
    }
    let e = src.len();

    // Node features.
    let mut attrs: Option<(Vec<f32>, usize)> = None;
    if opts.use_node_attr {
        let mut na = open_attributes(file("node_attributes"))?;
        let mut check = Attributes::default();
        let mut values = Vec::new();
        while let Some((ln, line)) = na.next_line(&mut buf)? {
            na.fields(ln, line, None, &mut floats)?;
            check.push(&na, ln, &floats)?;
            values.extend_from_slice(&floats);
        }
        na.expect_lines(n, "the graph indicator")?;
        attrs = Some((values, check.width()));
    }
    let attr_width = attrs.as_ref().map_or(0, |a| a.1);
    let labels = match Lines::open_optional(file("node_labels"))? {
        Some(mut nl) => {
            let mut stats = LabelStats::default();
            let mut rows: Vec<i64> = Vec::new();
            while let Some((ln, line)) = nl.next_line(&mut buf)? {
                nl.fields(ln, line, None, &mut ints)?;
                stats.push(&nl, ln, &ints)?;
                rows.extend_from_slice(&ints);
            }
            nl.expect_lines(n, "the graph indicator")?;
            let enc = stats.one_hot(num_features, attr_width, name, dir)?;
            Some((nl, rows, enc))
        }
        None => None,
    };
    let width = attr_width + labels.as_ref().map_or(0, |l| l.2.width());
    check_width(width, num_features, name, dir, opts)?;
    let mut x = vec![0f32; n * width];
    if let Some((values, w)) = &attrs {
        for i in 0..n {
            x[i * width..i * width + w].copy_from_slice(&values[i * w..(i + 1) * w]);
        }
    }
    if let Some((nl, rows, enc)) = &labels {
        let cols = rows.len() / n;
        for i in 0..n {
            enc.encode(
                nl,
                i + 1,
                &rows[i * cols..(i + 1) * cols],
                &mut x[i * width + attr_width..(i + 1) * width],
            )?;
        }
    }

    // Per-edge and per-graph extras.
    let a_name = format!("{name}_A.txt");
    let edge_labels = match Lines::open_optional(file("edge_labels"))? {
        Some(mut el) => {
            let mut v = Vec::new();
            while let Some((ln, line)) = el.next_line(&mut buf)? {
                el.fields(ln, line, None, &mut ints)?;
                v.push(ints[0]);
            }
            el.expect_lines(e, &a_name)?;
            Some(v)
        }
        None => None,
    };
    let edge_gt = match Lines::open_optional(file("edge_gt"))? {
        Some(mut gt) => {
            let mut v = Vec::new();
            while let Some((ln, line)) = gt.next_line(&mut buf)? {
                let m = gt.int(ln, line, &mut ints)?;
                v.push(check_mark(&gt, ln, m)?);
            }
            gt.expect_lines(e, &a_name)?;
            Some(v)
        }
        None => None,
    };
    let graph_labels = match Lines::open_optional(file("graph_labels"))? {
        Some(mut gl) => {
            let mut v = Vec::new();
            while let Some((ln, line)) = gl.next_line(&mut buf)? {
                v.push(gl.int(ln, line, &mut ints)?);
            }
            gl.expect_lines(g, "the graph indicator's graph count")?;
            let uniq: Vec<i64> = v
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            Some(v.iter().map(|&l| class_id(&uniq, l).unwrap_or(0)).collect())
        }
        None => None,
    };

    GraphBatch::from_parts(GraphParts {
        num_features,
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
