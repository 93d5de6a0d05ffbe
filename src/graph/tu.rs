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

use super::{GraphBatch, GraphParts};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// How to turn a TU dataset into node features.
#[derive(Debug, Clone, Default)]
pub struct TuOptions {
    /// Put `NAME_node_attributes.txt` in front of the one-hot labels, like
    /// PyG's `TUDataset(use_node_attr=True)`. Off by default, as in PyG.
    pub use_node_attr: bool,
}

/// One text file of the dataset, read into lines.
struct TextFile {
    path: PathBuf,
    text: String,
}

impl TextFile {
    fn read(path: PathBuf) -> Result<Self> {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Ok(TextFile { path, text })
    }

    fn read_optional(path: PathBuf) -> Result<Option<Self>> {
        if path.exists() {
            Self::read(path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Lines with their 1-based numbers; a final newline does not make an extra line.
    fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text
            .strip_suffix('\n')
            .unwrap_or(&self.text)
            .split('\n')
            .filter(|_| !self.text.is_empty())
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .enumerate()
            .map(|(i, l)| (i + 1, l))
    }

    fn err(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Parse {
            path: self.path.clone(),
            line,
            message: message.into(),
        }
    }

    /// Parses every line into comma-separated fields of type `T`.
    fn rows<T: std::str::FromStr>(&self, want_fields: Option<usize>) -> Result<Vec<Vec<T>>> {
        let mut out = Vec::new();
        for (ln, line) in self.lines() {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() == 1 && fields[0].is_empty() {
                return Err(self.err(ln, "empty line"));
            }
            if let Some(w) = want_fields {
                if fields.len() != w {
                    return Err(self.err(
                        ln,
                        format!(
                            "expected {w} comma-separated values, found {}",
                            fields.len()
                        ),
                    ));
                }
            }
            let row = fields
                .iter()
                .map(|f| {
                    f.parse::<T>().map_err(|_| {
                        self.err(
                            ln,
                            format!("cannot parse {f:?} as {}", std::any::type_name::<T>()),
                        )
                    })
                })
                .collect::<Result<Vec<T>>>()?;
            out.push(row);
        }
        Ok(out)
    }

    /// Parses a file of one integer per line.
    fn column(&self) -> Result<Vec<i64>> {
        Ok(self
            .rows::<i64>(Some(1))?
            .into_iter()
            .map(|r| r[0])
            .collect())
    }

    fn expect_lines(&self, got: usize, want: usize, what: &str) -> Result<()> {
        if got != want {
            return Err(Error::Dataset {
                path: self.path.clone(),
                message: format!("has {got} lines but {what} has {want}; the files disagree"),
            });
        }
        Ok(())
    }
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

    // Nodes and graphs.
    let gi = TextFile::read(file("graph_indicator"))?;
    let indicator = gi.column()?;
    if indicator.is_empty() {
        return Err(Error::Dataset {
            path: gi.path.clone(),
            message: "has no nodes: the dataset is empty".into(),
        });
    }
    let n = indicator.len();
    // The features are N × F floats (twice, while the blocks are joined): check before
    // allocating, since F comes from the model file and N from the indicator.
    crate::memory::check(
        || format!("the node features of {n} nodes × {num_features} features"),
        crate::memory::product(&[n as u64, num_features as u64, 4, 2]),
        || "this dataset and model need a machine with more memory".into(),
    )?;
    let mut node_ptr = vec![0usize];
    let mut current = 1i64; // the 1-based id of the graph being read
    for (i, &g) in indicator.iter().enumerate() {
        if g == current {
            continue;
        }
        if g == current + 1 && i > 0 {
            node_ptr.push(i);
            current = g;
            continue;
        }
        return Err(gi.err(
            i + 1,
            format!(
                "graph id {g} after {}: ids must start at 1, be sorted and have no gaps",
                if i == 0 { 0 } else { current }
            ),
        ));
    }
    node_ptr.push(n);
    let g = node_ptr.len() - 1;
    let graph_of = |node: usize| indicator[node] as usize - 1;

    // Edges.
    let a = TextFile::read(file("A"))?;
    let rows = a.rows::<i64>(Some(2))?;
    let mut src = Vec::with_capacity(rows.len());
    let mut dst = Vec::with_capacity(rows.len());
    let mut edge_ptr = vec![0usize; g + 1];
    let mut last_graph = 0usize;
    for (k, r) in rows.iter().enumerate() {
        let line = k + 1;
        let mut ends = [0usize; 2];
        for (j, &v) in r.iter().enumerate() {
            if v < 1 || v as usize > n {
                return Err(a.err(
                    line,
                    format!(
                        "node id {v} is out of range 1..={n} (the graph indicator has {n} nodes)"
                    ),
                ));
            }
            ends[j] = v as usize - 1;
        }
        let (gs, gd) = (graph_of(ends[0]), graph_of(ends[1]));
        if gs != gd {
            return Err(a.err(
                line,
                format!(
                    "edge ({}, {}) crosses graphs: node {} is in graph {} but node {} is in graph {}",
                    r[0], r[1], r[0], gs + 1, r[1], gd + 1
                ),
            ));
        }
        if gs < last_graph {
            return Err(a.err(
                line,
                format!(
                    "an edge of graph {} follows edges of graph {}: edges must be grouped by graph",
                    gs + 1,
                    last_graph + 1
                ),
            ));
        }
        last_graph = gs;
        edge_ptr[gs + 1] += 1;
        src.push(ends[0]);
        dst.push(ends[1]);
    }
    for i in 0..g {
        edge_ptr[i + 1] += edge_ptr[i];
    }
    let e = src.len();

    // Node features.
    let mut columns: Vec<Vec<f32>> = Vec::new(); // per-node feature blocks, concatenated later
    let mut width = 0usize;
    if opts.use_node_attr {
        let na = TextFile::read(file("node_attributes")).map_err(|err| match err {
            Error::Io { path, .. } => Error::Dataset {
                path,
                message: "use_node_attr is set but the file cannot be read".into(),
            },
            other => other,
        })?;
        let rows = na.rows::<f32>(None)?;
        na.expect_lines(rows.len(), n, "the graph indicator")?;
        let w = rows.first().map_or(0, Vec::len);
        for (k, r) in rows.iter().enumerate() {
            if r.len() != w {
                return Err(na.err(k + 1, format!("{} values, but line 1 has {w}", r.len())));
            }
            if let Some(v) = r.iter().find(|v| !v.is_finite()) {
                return Err(na.err(k + 1, format!("value {v} is not finite")));
            }
        }
        width += w;
        columns.push(rows.into_iter().flatten().collect());
    }
    let labels_block = match TextFile::read_optional(file("node_labels"))? {
        Some(nl) => {
            let rows = nl.rows::<i64>(None)?;
            nl.expect_lines(rows.len(), n, "the graph indicator")?;
            let cols = rows.first().map_or(0, Vec::len);
            if let Some(k) = rows.iter().position(|r| r.len() != cols) {
                return Err(nl.err(
                    k + 1,
                    format!("{} labels, but line 1 has {cols}", rows[k].len()),
                ));
            }
            let mins: Vec<i64> = (0..cols)
                .map(|c| rows.iter().map(|r| r[c]).min().unwrap_or(0))
                .collect();
            let widths: Vec<usize> = if cols == 1 {
                if num_features < width {
                    return Err(Error::Mismatch(format!(
                        "the model takes {num_features} features but the node attributes alone have {width}"
                    )));
                }
                vec![num_features - width]
            } else {
                // Widths of any i64 range, summed without overflow; more than the model
                // takes is refused here, before N × width features are allocated.
                let widths: Vec<u64> = (0..cols)
                    .map(|c| {
                        let max = rows.iter().map(|r| r[c]).max().unwrap_or(0);
                        (max as i128 - mins[c] as i128 + 1) as u64
                    })
                    .collect();
                let total = widths.iter().fold(0u64, |t, &w| t.saturating_add(w));
                if total.saturating_add(width as u64) > num_features as u64 {
                    return Err(Error::Mismatch(format!(
                        "dataset {name} in {}: its {cols} node label columns give {total} one-hot \
                         features{}, the model expects {num_features}",
                        dir.display(),
                        if width > 0 {
                            format!(" after {width} node attributes")
                        } else {
                            String::new()
                        }
                    )));
                }
                widths.into_iter().map(|w| w as usize).collect()
            };
            let total: usize = widths.iter().sum();
            let mut block = vec![0f32; n * total];
            for (k, r) in rows.iter().enumerate() {
                let mut off = 0;
                for c in 0..cols {
                    // i128: a label and the minimum may be any two i64 values.
                    let v = r[c] as i128 - mins[c] as i128;
                    if v >= widths[c] as i128 {
                        return Err(nl.err(
                            k + 1,
                            format!(
                                "node label {} (one-hot index {v} after subtracting the minimum {}) does not fit the model's {} input features",
                                r[c], mins[c], widths[c]
                            ),
                        ));
                    }
                    block[k * total + off + v as usize] = 1.0;
                    off += widths[c];
                }
            }
            Some((block, total))
        }
        None => None,
    };
    if let Some((block, w)) = labels_block {
        width += w;
        columns.push(block);
    }
    if width != num_features {
        return Err(Error::Mismatch(format!(
            "dataset {name} in {} gives {width} node features (attributes used: {}), the model expects {num_features}",
            dir.display(),
            opts.use_node_attr
        )));
    }
    let x = if columns.len() == 1 {
        columns.pop().unwrap_or_default()
    } else {
        let widths: Vec<usize> = columns.iter().map(|c| c.len() / n).collect();
        let mut x = Vec::with_capacity(n * width);
        for i in 0..n {
            for (c, w) in columns.iter().zip(&widths) {
                x.extend_from_slice(&c[i * w..(i + 1) * w]);
            }
        }
        x
    };

    // Per-edge and per-graph extras.
    let edge_labels = match TextFile::read_optional(file("edge_labels"))? {
        Some(el) => {
            let rows = el.rows::<i64>(None)?;
            el.expect_lines(rows.len(), e, &format!("{name}_A.txt"))?;
            Some(rows.iter().map(|r| r[0]).collect())
        }
        None => None,
    };
    let edge_gt = match TextFile::read_optional(file("edge_gt"))? {
        Some(gt) => {
            let v = gt.column()?;
            gt.expect_lines(v.len(), e, &format!("{name}_A.txt"))?;
            if let Some(k) = v.iter().position(|&m| m != 0 && m != 1) {
                return Err(gt.err(k + 1, format!("mark {} is not 0 or 1", v[k])));
            }
            Some(v.iter().map(|&m| m as u8).collect())
        }
        None => None,
    };
    let graph_labels = match TextFile::read_optional(file("graph_labels"))? {
        Some(gl) => {
            let v = gl.column()?;
            gl.expect_lines(v.len(), g, "the graph indicator's graph count")?;
            // PyG remaps labels through their sorted unique values.
            let mut uniq = v.clone();
            uniq.sort_unstable();
            uniq.dedup();
            Some(
                v.iter()
                    .map(|l| uniq.binary_search(l).unwrap_or(0) as i64)
                    .collect(),
            )
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
