//! Reader for the PyG data file: a PyG `Batch` or `Data` saved with safetensors
//! (`../shared/docs/pyg-interchange.md`, section 1), selected with `--data FILE.safetensors`.
//!
//! | tensor | dtype | shape | |
//! |---|---|---|---|
//! | `x` | any numeric dtype or bool | `[N, F]` | required; converted to f32 (see below) |
//! | `edge_index` | any integer (i64 typical, i32) | `[2, E]` | required; row 0 source, row 1 target |
//! | `batch` | any integer | `[N]` | graph of each node, non-decreasing; absent: graphs from `ptr`, or one graph |
//! | `ptr` | any integer | `[G+1]` | optional node offsets; must agree with `batch` |
//! | `y` | any integer | `[G]` or `[N]` (or `[.., 1]`) | graph labels if `G` long, node labels if `N` long (both if `G = N`) |
//! | `edge_weight` | any float | `[E]` | optional, finite |
//! | `train_mask`, `val_mask`, `test_mask` | bool or u8 (0/1) | `[N]` | optional |
//! | `edge_gt`, `node_gt` | bool or u8 (0/1) | `[E]`, `[N]` | optional ground truth |
//!
//! Every other tensor (`edge_attr` included, which no conv reads) is ignored and named in
//! [`PygData::ignored`].
//!
//! **Features.** `x` becomes f32. f32, f16, bf16, f8, bool, and integers of magnitude at most
//! 2^24 convert exactly, so a 0/1 `x` stored as u8 or bool gives bit-identical features to the
//! same `x` stored as f32. f64 values (and larger integers) that f32 cannot hold exactly are
//! rounded to the nearest f32; the count is reported once in [`PygData::notes`]. A value outside
//! f32's range, NaN or ±inf is an error naming its node and feature.
//!
//! **Edge order.** Within a graph, edges keep the file's order. A [`GraphBatch`] holds each
//! graph's edges contiguously; if the file interleaves edges of different graphs they are
//! grouped by graph with a stable sort, and [`PygData::edge_perm`] records the permutation:
//! batch edge `k` is file edge `edge_perm[k]`. [`PygData::to_file_order`] maps a per-edge output
//! back to the file's order. PyG's own batches (`Batch.from_data_list`) are always grouped, so
//! for them `edge_perm` is `None` and batch order is file order.
//!
//! Graphs: node `i` belongs to graph `batch[i]`; graph `g` owns nodes `ptr[g]..ptr[g+1]`. An
//! empty graph (a repeated `ptr` entry, or a graph id that `batch` skips) is an error, as is an
//! edge between two graphs. Nothing here panics on any input: every problem is an
//! [`Error::Data`] naming the tensor, or an [`Error::Safetensors`] for a corrupt file.

use super::{GraphBatch, GraphParts};
use crate::{Error, Result};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Decodes the little-endian `$n`-byte elements of the bytes `$d` with `$f([u8; $n])`.
macro_rules! decode {
    ($d:expr, $n:expr, $f:expr) => {
        $d.chunks_exact($n)
            .map(|c| {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                $f(a)
            })
            .collect::<Vec<_>>()
    };
}

/// A PyG data file read into a [`GraphBatch`], with what a batch does not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct PygData {
    /// The graphs: features, edges (grouped by graph, see [`PygData::edge_perm`]), graph
    /// labels (`y` of length G) and `edge_gt`, in batch edge order.
    pub batch: GraphBatch,
    /// `y` of length N: one class id per node.
    pub node_labels: Option<Vec<i64>>,
    /// `train_mask` `[N]`.
    pub train_mask: Option<Vec<bool>>,
    /// `val_mask` `[N]`.
    pub val_mask: Option<Vec<bool>>,
    /// `test_mask` `[N]`.
    pub test_mask: Option<Vec<bool>>,
    /// `edge_weight` `[E]` as f32, in batch edge order (also in the batch, for the convs
    /// that take edge weights).
    pub edge_weight: Option<Vec<f32>>,
    /// `node_gt` `[N]` (0 or 1).
    pub node_gt: Option<Vec<u8>>,
    /// `None` when batch edge order is the file's; else batch edge `k` is file edge `edge_perm[k]`.
    pub edge_perm: Option<Vec<usize>>,
    /// The names of the tensors that were not read (sorted), `edge_attr` among them.
    pub ignored: Vec<String>,
    /// Remarks about the conversion (f64 values rounded to f32), for the user, once each.
    pub notes: Vec<String>,
    /// The dtype `x` was stored in, as safetensors names it (`F32`, `U8`, `BOOL`, ...).
    pub x_dtype: String,
}

impl PygData {
    /// Maps a per-edge array in batch edge order (`[E]`, or `[E, k]` row-major with `k =
    /// values.len() / E`) to the file's edge order. Returns the input unchanged when the
    /// orders agree, and `None` if `values.len()` is not a multiple of E.
    pub fn to_file_order<T: Clone>(&self, values: &[T]) -> Option<Vec<T>> {
        let e = self.batch.num_edges();
        let Some(perm) = &self.edge_perm else {
            return Some(values.to_vec());
        };
        if !values.len().is_multiple_of(e) {
            return None;
        }
        let k = values.len() / e;
        let mut out = values.to_vec();
        for (b, &f) in perm.iter().enumerate() {
            out[f * k..(f + 1) * k].clone_from_slice(&values[b * k..(b + 1) * k]);
        }
        Some(out)
    }

    /// The file's index of batch edge `k` (`k < E`).
    pub fn file_edge(&self, k: usize) -> usize {
        self.edge_perm.as_ref().map_or(k, |p| p[k])
    }
}

/// Reads a PyG data file. See the module docs for what it holds.
pub fn load(path: impl AsRef<Path>) -> Result<PygData> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes, path)
}

/// Reads a PyG data file from memory; `origin` names it in errors (a path, or `<memory>`).
pub fn from_bytes(bytes: &[u8], origin: impl AsRef<Path>) -> Result<PygData> {
    let path = origin.as_ref().to_path_buf();
    let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Reader {
        path,
        st,
        used: BTreeSet::new(),
    }
    .read()
}

/// The tensors of the file, with the names read so far.
struct Reader<'a> {
    path: PathBuf,
    st: SafeTensors<'a>,
    used: BTreeSet<String>,
}

/// Values of one tensor converted to f32, with how many were rounded.
pub(super) struct Floats {
    pub(super) values: Vec<f32>,
    pub(super) rounded: usize,
}

pub(super) fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

/// Decodes an 8-bit float with `e` exponent bits (bias `2^(e-1) - 1`) and `m` mantissa bits.
/// `fn_style` is the E4M3FN encoding: no infinities, NaN only at all ones.
fn f8_to_f32(b: u8, e: u32, m: u32, fn_style: bool) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0f32 } else { 1.0 };
    let exp = ((b >> m) & ((1 << e) - 1) as u8) as i32;
    let man = (b & ((1 << m) - 1) as u8) as f32;
    let bias = (1i32 << (e - 1)) - 1;
    let max_exp = (1i32 << e) - 1;
    let scale = (1u32 << m) as f32;
    if fn_style {
        if exp == max_exp && man as u32 == (1 << m) - 1 {
            return f32::NAN;
        }
    } else if exp == max_exp {
        return if man == 0.0 {
            sign * f32::INFINITY
        } else {
            f32::NAN
        };
    }
    if exp == 0 {
        sign * man / scale * 2f32.powi(1 - bias)
    } else {
        sign * (1.0 + man / scale) * 2f32.powi(exp - bias)
    }
}

/// Decodes the values of a tensor, or of a window of one whose first element is
/// element `origin` of the tensor (the index that errors name).
pub(super) struct Decoder<'a> {
    /// The file, for errors.
    pub(super) path: &'a Path,
    /// The tensor index of the first element decoded.
    pub(super) origin: usize,
}

impl Decoder<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> Error {
        Error::Data {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// Integer values as i64 (any integer dtype).
    pub(super) fn ints(&self, key: &str, dtype: Dtype, d: &[u8]) -> Result<Vec<i64>> {
        Ok(match dtype {
            Dtype::I64 => decode!(d, 8, i64::from_le_bytes),
            Dtype::I32 => decode!(d, 4, |a| i32::from_le_bytes(a) as i64),
            Dtype::I16 => decode!(d, 2, |a| i16::from_le_bytes(a) as i64),
            Dtype::I8 => decode!(d, 1, |a| i8::from_le_bytes(a) as i64),
            Dtype::U8 => decode!(d, 1, |a| u8::from_le_bytes(a) as i64),
            Dtype::U16 => decode!(d, 2, |a| u16::from_le_bytes(a) as i64),
            Dtype::U32 => decode!(d, 4, |a| u32::from_le_bytes(a) as i64),
            Dtype::U64 => {
                let mut out = Vec::with_capacity(d.len() / 8);
                for (i, c) in d.chunks_exact(8).enumerate() {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    let v = u64::from_le_bytes(a);
                    let v = i64::try_from(v).map_err(|_| {
                        self.err(
                            key,
                            format!(
                                "value {v} at flat index {} exceeds the i64 range",
                                self.origin + i
                            ),
                        )
                    })?;
                    out.push(v);
                }
                out
            }
            other => {
                return Err(self.err(
                    key,
                    format!(
                        "dtype {} is not an integer dtype; expected I64 (or I32)",
                        dtype_name(other)
                    ),
                ))
            }
        })
    }

    /// 0/1 flags from a BOOL or U8 tensor.
    pub(super) fn flags(&self, key: &str, dtype: Dtype, d: &[u8]) -> Result<Vec<u8>> {
        match dtype {
            Dtype::BOOL | Dtype::U8 => {}
            other => {
                return Err(self.err(
                    key,
                    format!(
                        "dtype {} is not allowed; expected BOOL or U8 (0/1)",
                        dtype_name(other)
                    ),
                ))
            }
        }
        if let Some(i) = d.iter().position(|&b| b > 1) {
            let at = self.origin + i;
            return Err(self.err(key, format!("value {} at index {at} is not 0 or 1", d[i])));
        }
        Ok(d.to_vec())
    }

    /// Any numeric (or bool) tensor as f32 (integers only with `allow_ints`), counting the
    /// values that f32 cannot hold exactly. Values outside f32's range become ±inf (the
    /// callers reject non-finite values).
    pub(super) fn floats(
        &self,
        key: &str,
        dtype: Dtype,
        d: &[u8],
        allow_ints: bool,
    ) -> Result<Floats> {
        let mut rounded = 0usize;
        let values: Vec<f32> = match dtype {
            Dtype::F32 => decode!(d, 4, f32::from_le_bytes),
            Dtype::F16 => decode!(d, 2, |a| half::f16::from_le_bytes(a).to_f32()),
            Dtype::BF16 => decode!(d, 2, |a| half::bf16::from_le_bytes(a).to_f32()),
            Dtype::F8_E4M3 => d.iter().map(|&b| f8_to_f32(b, 4, 3, true)).collect(),
            Dtype::F8_E5M2 => d.iter().map(|&b| f8_to_f32(b, 5, 2, false)).collect(),
            Dtype::F64 => {
                let raw: Vec<f64> = decode!(d, 8, f64::from_le_bytes);
                rounded = raw
                    .iter()
                    .filter(|&&v| v.is_finite() && (v as f32).is_finite() && v as f32 as f64 != v)
                    .count();
                raw.iter().map(|&v| v as f32).collect()
            }
            other if !allow_ints => {
                return Err(self.err(
                    key,
                    format!(
                        "dtype {} is not a float dtype; expected F32 (or F64, F16, BF16)",
                        dtype_name(other)
                    ),
                ))
            }
            Dtype::BOOL => {
                if let Some(i) = d.iter().position(|&b| b > 1) {
                    return Err(self.err(
                        key,
                        format!(
                            "bool byte {} at flat index {} is not 0 or 1",
                            d[i],
                            self.origin + i
                        ),
                    ));
                }
                d.iter().map(|&b| b as f32).collect()
            }
            _ => {
                let raw = self.ints(key, dtype, d)?;
                rounded = raw
                    .iter()
                    .filter(|&&v| v as f32 as i128 != v as i128)
                    .count();
                raw.iter().map(|&v| v as f32).collect()
            }
        };
        Ok(Floats { values, rounded })
    }
}

/// Checks the rank of a tensor's shape `got`, and the dims of `want` given as `Some`;
/// the error names the file and the key. Shared by the in-memory and streaming readers.
pub(crate) fn check_shape(
    path: &std::path::Path,
    key: &str,
    got: &[usize],
    want: &[Option<usize>],
) -> Result<()> {
    let ok =
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| w.is_none_or(|w| w == *g));
    if ok {
        return Ok(());
    }
    let want: Vec<String> = want
        .iter()
        .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
        .collect();
    Err(Error::Data {
        path: path.to_path_buf(),
        key: key.to_string(),
        message: format!(
            "shape {got:?}, expected [{}] (rank {})",
            want.join(", "),
            want.len()
        ),
    })
}

impl<'a> Reader<'a> {
    fn err(&self, key: &str, message: impl Into<String>) -> Error {
        Error::Data {
            path: self.path.clone(),
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

    /// Checks the rank (and the dims given as `Some`) of a tensor's shape.
    fn shape(&self, key: &str, t: &TensorView<'_>, want: &[Option<usize>]) -> Result<()> {
        check_shape(&self.path, key, t.shape(), want)
    }

    /// A rank-1 tensor `[len]`.
    fn vector(&self, key: &str, t: &TensorView<'_>, len: Option<usize>) -> Result<()> {
        self.shape(key, t, &[len])
    }

    /// The value decoders, for whole tensors.
    fn dec(&self) -> Decoder<'_> {
        Decoder {
            path: &self.path,
            origin: 0,
        }
    }

    fn ints(&self, key: &str, t: &TensorView<'_>) -> Result<Vec<i64>> {
        self.dec().ints(key, t.dtype(), t.data())
    }

    fn flags(&self, key: &str, t: &TensorView<'_>) -> Result<Vec<u8>> {
        self.dec().flags(key, t.dtype(), t.data())
    }

    fn floats(&self, key: &str, t: &TensorView<'_>, allow_ints: bool) -> Result<Floats> {
        self.dec().floats(key, t.dtype(), t.data(), allow_ints)
    }

    fn read(mut self) -> Result<PygData> {
        // Features.
        let xt = self.require("x")?;
        self.shape("x", &xt, &[None, None])?;
        let (n, f) = (xt.shape()[0], xt.shape()[1]);
        if n == 0 {
            return Err(self.err("x", "has no nodes (shape [0, F])"));
        }
        if f == 0 {
            return Err(self.err("x", format!("has no features (shape [{n}, 0])")));
        }
        if n > u32::MAX as usize {
            return Err(self.err("x", format!("{n} nodes exceed the u32 index range")));
        }
        let x_dtype = dtype_name(xt.dtype());
        let xs = self.floats("x", &xt, true)?;
        let mut notes = Vec::new();
        if xs.rounded > 0 {
            notes.push(format!(
                "x: {} of {} values ({x_dtype}) are not exactly representable in f32 and were rounded to the nearest f32",
                xs.rounded,
                xs.values.len()
            ));
        }

        // Graphs: node offsets from batch and/or ptr.
        let batch = match self.get("batch") {
            Some(t) => {
                self.vector("batch", &t, Some(n))?;
                let b = self.ints("batch", &t)?;
                if let Some(i) = b.iter().position(|&v| v < 0) {
                    return Err(
                        self.err("batch", format!("node {i}: graph id {} is negative", b[i]))
                    );
                }
                if let Some(i) = b.windows(2).position(|w| w[1] < w[0]) {
                    return Err(self.err(
                        "batch",
                        format!(
                            "not sorted: node {} is in graph {} but node {} is in graph {}; nodes must be grouped by graph in increasing order",
                            i + 1,
                            b[i + 1],
                            i,
                            b[i]
                        ),
                    ));
                }
                Some(b)
            }
            None => None,
        };
        let ptr = match self.get("ptr") {
            Some(t) => {
                self.vector("ptr", &t, None)?;
                let p = self.ints("ptr", &t)?;
                if p.len() < 2 {
                    return Err(
                        self.err("ptr", format!("has {} entries; it needs G+1 >= 2", p.len()))
                    );
                }
                if p[0] != 0 {
                    return Err(self.err("ptr", format!("starts at {}, not 0", p[0])));
                }
                if let Some(g) = p.windows(2).position(|w| w[1] < w[0]) {
                    return Err(self.err(
                        "ptr",
                        format!("decreases at graph {g}: {} then {}", p[g], p[g + 1]),
                    ));
                }
                let last = p[p.len() - 1];
                if last != n as i64 {
                    return Err(self.err("ptr", format!("ends at {last} but x has {n} nodes")));
                }
                Some(p.iter().map(|&v| v as usize).collect::<Vec<usize>>())
            }
            None => None,
        };
        let node_ptr: Vec<usize> = match (&batch, ptr) {
            (None, None) => vec![0, n],
            (None, Some(p)) => p,
            (Some(b), p) => {
                let max = b[n - 1] as u64;
                let g = match &p {
                    Some(p) => p.len() - 1,
                    None => usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1),
                };
                if max >= g as u64 {
                    return Err(self.err(
                        "ptr",
                        format!(
                            "disagrees with batch: ptr describes {g} graphs but batch has graph id {max}"
                        ),
                    ));
                }
                if g > n {
                    // More graphs than nodes: some graph must be empty.
                    let missing = (0..g as i64)
                        .find(|id| b.binary_search(id).is_err())
                        .unwrap_or(0);
                    return Err(self.err(
                        "batch",
                        format!(
                            "graph {missing} has no nodes; every graph needs at least one node"
                        ),
                    ));
                }
                let mut derived = vec![0usize; g + 1];
                for &v in b {
                    derived[v as usize + 1] += 1;
                }
                for i in 0..g {
                    derived[i + 1] += derived[i];
                }
                if let Some(p) = &p {
                    if let Some(i) = (0..=g).find(|&i| p[i] != derived[i]) {
                        return Err(self.err(
                            "ptr",
                            format!(
                                "disagrees with batch: ptr[{i}] = {} but batch puts {} nodes in graphs before graph {i}",
                                p[i], derived[i]
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
            return Err(self.err(
                key,
                format!("graph {e} has no nodes; every graph needs at least one node"),
            ));
        }
        let mut graph_of = vec![0u32; n];
        for gi in 0..g {
            graph_of[node_ptr[gi]..node_ptr[gi + 1]].fill(gi as u32);
        }

        // Non-finite features, named by graph and node.
        if let Some(i) = xs.values.iter().position(|v| !v.is_finite()) {
            let node = i / f;
            let gi = graph_of[node] as usize;
            let what = if xt.dtype() == Dtype::F64 {
                let raw = &xt.data()[i * 8..i * 8 + 8];
                let mut a = [0u8; 8];
                a.copy_from_slice(raw);
                let v = f64::from_le_bytes(a);
                if v.is_finite() {
                    format!("value {v:e} is outside the f32 range")
                } else {
                    format!("value {v} is not finite")
                }
            } else {
                format!("value {} is not finite", xs.values[i])
            };
            return Err(self.err(
                "x",
                format!(
                    "graph {gi}, node {} (global {node}), feature {}: {what}",
                    node - node_ptr[gi],
                    i % f
                ),
            ));
        }

        // Edges.
        let et = self.require("edge_index")?;
        self.shape("edge_index", &et, &[Some(2), None])?;
        let e = et.shape()[1];
        let ei = self.ints("edge_index", &et)?;
        let (src, dst) = ei.split_at(e);
        let mut edge_graph = Vec::with_capacity(e);
        for k in 0..e {
            for (end, v) in [("source", src[k]), ("target", dst[k])] {
                if v < 0 || v >= n as i64 {
                    return Err(self.err(
                        "edge_index",
                        format!("edge {k}: {end} node {v} is out of range 0..{n}"),
                    ));
                }
            }
            let (gs, gd) = (graph_of[src[k] as usize], graph_of[dst[k] as usize]);
            if gs != gd {
                return Err(self.err(
                    "edge_index",
                    format!(
                        "edge {k} ({} -> {}) crosses graphs: node {} is in graph {gs}, node {} in graph {gd}",
                        src[k], dst[k], src[k], dst[k]
                    ),
                ));
            }
            edge_graph.push(gs);
        }
        let mut edge_ptr = vec![0usize; g + 1];
        for &gi in &edge_graph {
            edge_ptr[gi as usize + 1] += 1;
        }
        for i in 0..g {
            edge_ptr[i + 1] += edge_ptr[i];
        }
        let edge_perm = if edge_graph.windows(2).all(|w| w[0] <= w[1]) {
            None
        } else {
            let mut next = edge_ptr.clone();
            let mut perm = vec![0usize; e];
            for (k, &gi) in edge_graph.iter().enumerate() {
                perm[next[gi as usize]] = k;
                next[gi as usize] += 1;
            }
            Some(perm)
        };
        let order = |k: usize| edge_perm.as_ref().map_or(k, |p| p[k]);

        // Labels.
        let (mut graph_labels, mut node_labels) = (None, None);
        if let Some(t) = self.get("y") {
            if !(t.shape().len() == 1 || (t.shape().len() == 2 && t.shape()[1] == 1)) {
                return Err(self.err(
                    "y",
                    format!("shape {:?}, expected [G] or [N] (class ids)", t.shape()),
                ));
            }
            let y = self.ints("y", &t)?;
            if y.len() != g && y.len() != n {
                return Err(self.err(
                    "y",
                    format!(
                        "has {} entries, matching neither the {g} graphs (graph labels) nor the {n} nodes (node labels)",
                        y.len()
                    ),
                ));
            }
            if let Some(i) = y.iter().position(|&v| v < 0) {
                return Err(self.err(
                    "y",
                    format!(
                        "entry {i}: label {} is negative; class ids start at 0",
                        y[i]
                    ),
                ));
            }
            if y.len() == n {
                node_labels = Some(y.clone());
            }
            if y.len() == g {
                graph_labels = Some(y);
            }
        }

        // Masks and ground truth.
        let node_flags = |this: &mut Self, key: &str| -> Result<Option<Vec<u8>>> {
            match this.get(key) {
                Some(t) => {
                    this.vector(key, &t, Some(n))?;
                    this.flags(key, &t).map(Some)
                }
                None => Ok(None),
            }
        };
        let to_bool = |v: Option<Vec<u8>>| v.map(|v| v.into_iter().map(|b| b == 1).collect());
        let train_mask = to_bool(node_flags(&mut self, "train_mask")?);
        let val_mask = to_bool(node_flags(&mut self, "val_mask")?);
        let test_mask = to_bool(node_flags(&mut self, "test_mask")?);
        let node_gt = node_flags(&mut self, "node_gt")?;
        let edge_gt = match self.get("edge_gt") {
            Some(t) => {
                self.vector("edge_gt", &t, Some(e))?;
                let v = self.flags("edge_gt", &t)?;
                Some((0..e).map(|k| v[order(k)]).collect::<Vec<u8>>())
            }
            None => None,
        };
        let edge_weight = match self.get("edge_weight") {
            Some(t) => {
                self.vector("edge_weight", &t, Some(e))?;
                let w = self.floats("edge_weight", &t, false)?;
                if let Some(k) = w.values.iter().position(|v| !v.is_finite()) {
                    return Err(self.err(
                        "edge_weight",
                        format!("edge {k}: weight {} is not finite in f32", w.values[k]),
                    ));
                }
                if w.rounded > 0 {
                    notes.push(format!(
                        "edge_weight: {} of {e} values are not exactly representable in f32 and were rounded to the nearest f32",
                        w.rounded
                    ));
                }
                Some((0..e).map(|k| w.values[order(k)]).collect::<Vec<f32>>())
            }
            None => None,
        };

        let ignored: Vec<String> = self
            .st
            .names()
            .into_iter()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        let batch = GraphBatch::from_parts(GraphParts {
            num_features: f,
            x: xs.values,
            src: (0..e).map(|k| src[order(k)] as usize).collect(),
            dst: (0..e).map(|k| dst[order(k)] as usize).collect(),
            node_ptr,
            edge_ptr,
            edge_labels: None,
            edge_gt,
            graph_labels,
            edge_weight: edge_weight.clone(),
        })?;
        Ok(PygData {
            batch,
            node_labels,
            train_mask,
            val_mask,
            test_mask,
            edge_weight,
            node_gt,
            edge_perm,
            ignored,
            notes,
            x_dtype,
        })
    }
}
