//! Joining result files row by row without holding them in memory: a sweep's chunk
//! files into its output, and shard outputs into the file one unsharded run writes.
//!
//! Every part holds the tensors of [`crate::output::result_tensors`] for a contiguous
//! range of rows (graphs, or target nodes). Joining them gives exactly the tensors of
//! one run over all rows:
//! - offsets (`node_ptr`, `edge_ptr`, `undirected_edge_ptr`) continue from the
//!   previous part (each part's own offsets start at 0);
//! - node ids (`edge_index` and `undirected_edge_index` of a graph task, which count
//!   from the file's first node) are shifted by the nodes of the parts before;
//!   a node task's ids are ids in the input graph and stay as they are;
//! - `edge_index`-like tensors `[2, E]` join along their second axis, all others
//!   along their first.
//!
//! Only headers are read up front; the data is copied through a small buffer, so
//! memory does not grow with the number or size of the parts.

use super::write::{write_atomic, write_error, Layout};
use crate::{Error, Result};
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Largest header accepted (safetensors' own limit is 100 MB).
const MAX_HEADER: u64 = 100 << 20;

/// Bytes copied at a time.
const BLOCK: usize = 1 << 20;

/// One tensor's entry in a file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// Absolute byte offsets of the data in the file.
    pub range: (u64, u64),
}

/// A result file known by its header: metadata and where each tensor lies.
#[derive(Debug, Clone)]
pub struct PartFile {
    /// The file.
    pub path: PathBuf,
    /// Its `__metadata__`.
    pub metadata: BTreeMap<String, String>,
    /// Its tensors by name.
    pub tensors: BTreeMap<String, TensorEntry>,
}

impl PartFile {
    /// Reads and checks the header of the safetensors file `path` (not its data).
    pub fn open(path: impl AsRef<Path>) -> Result<PartFile> {
        let path = path.as_ref().to_path_buf();
        let bad = |message: String| Error::Safetensors {
            path: path.clone(),
            message,
        };
        let mut f = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let size = f.metadata().map_err(|e| Error::io(&path, e))?.len();
        let mut len = [0u8; 8];
        f.read_exact(&mut len)
            .map_err(|_| bad(format!("is {size} bytes long, too short for a header")))?;
        let n = u64::from_le_bytes(len);
        if n > MAX_HEADER || n + 8 > size {
            return Err(bad(format!(
                "header of {n} bytes does not fit the file of {size} bytes (truncated?)"
            )));
        }
        let mut header = vec![0u8; n as usize];
        f.read_exact(&mut header).map_err(|e| Error::io(&path, e))?;
        let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
            .map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
        let mut metadata = BTreeMap::new();
        let mut tensors = BTreeMap::new();
        for (name, v) in json {
            if name == "__metadata__" {
                metadata = serde_json::from_value(v)
                    .map_err(|e| bad(format!("__metadata__ is not a map of strings: {e}")))?;
                continue;
            }
            let entry =
                raw_entry(&v).ok_or_else(|| bad(format!("tensor {name}: bad header entry {v}")))?;
            let r = entry;
            let (a, b) = (r.data_offsets.0 + 8 + n, r.data_offsets.1 + 8 + n);
            let want = r
                .shape
                .iter()
                .try_fold(r.dtype.size() as u64, |s, &d| s.checked_mul(d as u64));
            if b < a || b > size || want != Some(b - a) {
                return Err(bad(format!(
                    "tensor {name}: offsets {:?} do not hold shape {:?} of {:?} in a file of \
                     {size} bytes (truncated?)",
                    r.data_offsets, r.shape, r.dtype
                )));
            }
            tensors.insert(
                name,
                TensorEntry {
                    dtype: r.dtype,
                    shape: r.shape,
                    range: (a, b),
                },
            );
        }
        Ok(PartFile {
            path,
            metadata,
            tensors,
        })
    }

    /// Whether this is a node task's file (one row per target node).
    pub fn node_task(&self) -> bool {
        self.tensors.contains_key("target_node")
    }

    /// Rows (graphs, or target nodes) in this file: the length of `target`.
    pub fn rows(&self) -> usize {
        self.tensors
            .get("target")
            .and_then(|t| t.shape.first().copied())
            .unwrap_or(0)
    }

    /// The last value of the i64 offsets tensor `name` (its total count).
    fn last_i64(&self, name: &str) -> Result<i64> {
        let t = &self.tensors[name];
        let mut f = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let mut first = [0u8; 8];
        let mut last = [0u8; 8];
        f.seek(SeekFrom::Start(t.range.0))
            .and_then(|_| f.read_exact(&mut first))
            .and_then(|_| f.seek(SeekFrom::Start(t.range.1 - 8)))
            .and_then(|_| f.read_exact(&mut last))
            .map_err(|e| Error::io(&self.path, e))?;
        if i64::from_le_bytes(first) != 0 {
            return Err(Error::Safetensors {
                path: self.path.clone(),
                message: format!("tensor {name} does not start at 0"),
            });
        }
        Ok(i64::from_le_bytes(last))
    }
}

/// A header entry as written: `{"dtype", "shape", "data_offsets"}`.
struct RawEntry {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

/// Parses a header entry; `None` when it is malformed.
fn raw_entry(v: &serde_json::Value) -> Option<RawEntry> {
    let dtype: Dtype = serde_json::from_value(v.get("dtype")?.clone()).ok()?;
    let shape = v
        .get("shape")?
        .as_array()?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()?;
    let o = v.get("data_offsets")?.as_array()?;
    let (a, b) = (o.first()?.as_u64()?, o.get(1)?.as_u64()?);
    (o.len() == 2).then_some(RawEntry {
        dtype,
        shape,
        data_offsets: (a, b),
    })
}

/// How one tensor joins across parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    /// Concatenated along the first axis.
    Rows,
    /// `[G+1]` offsets: later parts drop their leading 0 and are shifted.
    Offsets,
    /// `[2, K]` pairs, joined along the second axis; node ids shifted when `shift`.
    Pairs { shift: bool },
}

fn join_of(name: &str, node_task: bool) -> Join {
    match name {
        "node_ptr" | "edge_ptr" | "undirected_edge_ptr" => Join::Offsets,
        "edge_index" => Join::Pairs { shift: !node_task },
        "undirected_edge_index" => Join::Pairs { shift: true },
        _ => Join::Rows,
    }
}

/// A checked plan for joining parts: the output layout and, per part, the shifts.
#[derive(Debug)]
pub struct Plan<'a> {
    parts: &'a [PartFile],
    names: Vec<String>,
    joins: Vec<Join>,
    layout: Layout,
    /// Per part: the value added to each tensor's offsets or node ids.
    shifts: Vec<BTreeMap<String, i64>>,
}

impl<'a> Plan<'a> {
    /// Checks that `parts` (in row order) hold the same tensors with compatible
    /// shapes and plans their join into a file with `metadata`; `out` names the
    /// output in errors.
    pub fn new(
        parts: &'a [PartFile],
        metadata: &BTreeMap<String, String>,
        out: &Path,
    ) -> Result<Plan<'a>> {
        let Some(first) = parts.first() else {
            return Err(Error::Config(format!(
                "{}: no files to join",
                out.display()
            )));
        };
        let node_task = first.node_task();
        let names: Vec<String> = first.tensors.keys().cloned().collect();
        let mismatch = |p: &PartFile, message: String| {
            Error::Mismatch(format!(
                "{} and {}: {message}; they are not parts of one run",
                first.path.display(),
                p.path.display()
            ))
        };
        for p in &parts[1..] {
            let theirs: Vec<&String> = p.tensors.keys().collect();
            if theirs != names.iter().collect::<Vec<_>>() {
                return Err(mismatch(
                    p,
                    format!(
                        "hold different tensors ({} against {})",
                        names.join(", "),
                        theirs
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let joins: Vec<Join> = names.iter().map(|n| join_of(n, node_task)).collect();
        let mut shapes = Vec::with_capacity(names.len());
        for (name, join) in names.iter().zip(&joins) {
            let t0 = &first.tensors[name];
            let mut shape = t0.shape.clone();
            for (k, p) in parts.iter().enumerate() {
                let t = &p.tensors[name];
                let axis = match join {
                    Join::Pairs { .. } => 1,
                    _ => 0,
                };
                let fixed = |s: &[usize]| -> Vec<usize> {
                    s.iter()
                        .enumerate()
                        .filter(|&(i, _)| i != axis)
                        .map(|(_, &d)| d)
                        .collect()
                };
                if t.dtype != t0.dtype
                    || t.shape.len() != t0.shape.len()
                    || t.shape.len() <= axis
                    || fixed(&t.shape) != fixed(&t0.shape)
                    || (*join == Join::Offsets && (t.dtype != Dtype::I64 || t.shape[0] == 0))
                    || (matches!(join, Join::Pairs { .. }) && t.dtype != Dtype::I64)
                {
                    return Err(mismatch(
                        p,
                        format!(
                            "tensor {name} is {:?} {:?} in one and {:?} {:?} in the other",
                            t0.dtype, t0.shape, t.dtype, t.shape
                        ),
                    ));
                }
                if k > 0 {
                    match join {
                        Join::Offsets => shape[0] += t.shape[0] - 1,
                        _ => shape[axis] += t.shape[axis],
                    }
                }
            }
            shapes.push(shape);
        }
        // Shifts: the running totals of nodes, edges and bonds before each part.
        let mut shifts = Vec::with_capacity(parts.len());
        let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
        for p in parts {
            let mut s = BTreeMap::new();
            for (name, join) in names.iter().zip(&joins) {
                let by = match (name.as_str(), join) {
                    (_, Join::Offsets) => Some(name.as_str()),
                    (_, Join::Pairs { shift: true }) => Some("node_ptr"),
                    _ => None,
                };
                if let Some(by) = by {
                    s.insert(name.clone(), totals.get(by).copied().unwrap_or(0));
                }
            }
            for name in ["node_ptr", "edge_ptr", "undirected_edge_ptr"] {
                if p.tensors.contains_key(name) {
                    *totals.entry(name).or_insert(0) += p.last_i64(name)?;
                }
            }
            shifts.push(s);
        }
        let entries: Vec<(&str, Dtype, &[usize])> = names
            .iter()
            .zip(&shapes)
            .map(|(n, s)| (n.as_str(), first.tensors[n].dtype, s.as_slice()))
            .collect();
        let layout = Layout::new(out, &entries, metadata)?;
        Ok(Plan {
            parts,
            names,
            joins,
            layout,
            shifts,
        })
    }

    /// Bytes of the joined file.
    pub fn file_size(&self) -> u64 {
        self.layout.file_size()
    }

    /// Writes the joined file to `w`.
    pub fn write(&self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(&self.layout.prefix)?;
        let mut buf = vec![0u8; BLOCK];
        for &k in &self.layout.order {
            let name = &self.names[k];
            let join = self.joins[k];
            let rows = match join {
                Join::Pairs { .. } => 2,
                _ => 1,
            };
            for row in 0..rows {
                for (i, p) in self.parts.iter().enumerate() {
                    let t = &p.tensors[name];
                    let len = (t.range.1 - t.range.0) / rows;
                    let mut start = t.range.0 + row * len;
                    let end = start + len;
                    // Later parts' offsets drop their leading 0.
                    if join == Join::Offsets && i > 0 {
                        start += 8;
                    }
                    let shift = self.shifts[i].get(name).copied().unwrap_or(0);
                    // A part that fails to read is named in the error.
                    let named = |e: std::io::Error| {
                        std::io::Error::new(e.kind(), format!("{}: {e}", p.path.display()))
                    };
                    let mut f = File::open(&p.path).map_err(named)?;
                    f.seek(SeekFrom::Start(start)).map_err(named)?;
                    while start < end {
                        let n = (BLOCK as u64).min(end - start) as usize;
                        f.read_exact(&mut buf[..n]).map_err(named)?;
                        if shift != 0 {
                            for c in buf[..n].chunks_exact_mut(8) {
                                let v = i64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                                c.copy_from_slice(&(v + shift).to_le_bytes());
                            }
                        }
                        w.write_all(&buf[..n])?;
                        start += n as u64;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the joined file to `out` atomically.
    pub fn write_to(&self, out: &Path) -> Result<()> {
        let size = self.file_size();
        write_atomic(out, size, |f| {
            let mut w = std::io::BufWriter::with_capacity(BLOCK, f);
            self.write(&mut w)?;
            w.flush()
        })
    }

    /// The joined file's bytes, in memory.
    pub fn bytes(&self, out: &Path) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(self.file_size() as usize);
        self.write(&mut v).map_err(|e| write_error(out, e, 0))?;
        Ok(v)
    }
}
