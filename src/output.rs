//! Safetensors output of an attribution run, readable from numpy and torch.
//!
//! Tensors (names are a stable interface):
//! - `edge_attr` f32 `[E]` (edge order of the input) and `node_attr` f32 `[N, F]`;
//! - `edge_ptr`, `node_ptr` i64 `[G+1]`; `edge_index` i64 `[2, E]` (0-based node ids of this file);
//! - `graph_index` i64 `[G]`: each graph's 0-based index in the dataset;
//! - `log_probs` f32 `[G, C]`, `target` i64 `[G]`;
//! - `delta` f32 `[G]` and `steps` i64 `[G]`: for the edge attributions when
//!   they were computed, otherwise for the node attributions;
//! - `node_delta`, `node_steps`: for the node attributions when both were computed
//!   separately (`--wrt separate`); a joint attribution (`--wrt both`) has one
//!   `delta` and one `steps` for both parts;
//! - `undirected_edge_attr` f32 `[U]`, `undirected_edge_index` i64 `[2, U]`,
//!   `undirected_edge_ptr` i64 `[G+1]`: both directions of each bond summed;
//! - `edge_gt` u8 `[E]`: ground-truth marks, when the dataset has them;
//! - `node_score` f32 `[N]`: the node-level methods (Grad-CAM, contrastive gradient,
//!   EB, c-EB).
//!
//! Node tasks (`../shared/docs/pyg-interchange.md`, section 4) write one row per
//! target instead of per graph: `target_node` i64 `[T]`, and each target's edges and
//! nodes in CSR (`edge_ptr`, `node_ptr` `[T+1]`) with their ids in the input,
//! `edge_id` i64 `[K]` and `node_id` i64 `[M]`; `edge_index` holds input node ids, and
//! there is no `graph_index` and no undirected aggregation.
//!
//! Files are written atomically and byte for byte reproducibly ([`write_safetensors`]):
//! the same run writes the same bytes.

pub mod assemble;
mod write;

pub use write::{
    filesystem_refusal, free_space, is_no_space, is_temp_of, prepare_output, safetensors_bytes,
    temp_path, write_atomic, write_error, write_safetensors, Layout,
};

use crate::explain::undirected::aggregate_edge_directions;
use crate::{Attributions, Error, GraphBatch, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One tensor to write: dtype, shape and little-endian bytes.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// Raw little-endian data.
    pub data: Vec<u8>,
}

impl Tensor {
    /// An f32 tensor from f64 values (rounded to nearest).
    pub fn f32(shape: Vec<usize>, v: impl IntoIterator<Item = f64>) -> Self {
        let v: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
        Tensor {
            dtype: Dtype::F32,
            shape,
            data: bytemuck::cast_slice(&v).to_vec(),
        }
    }
    /// An i64 tensor.
    pub fn i64(shape: Vec<usize>, v: impl IntoIterator<Item = i64>) -> Self {
        let v: Vec<i64> = v.into_iter().collect();
        Tensor {
            dtype: Dtype::I64,
            shape,
            data: bytemuck::cast_slice(&v).to_vec(),
        }
    }
    /// A u8 tensor.
    pub fn u8(shape: Vec<usize>, v: Vec<u8>) -> Self {
        Tensor {
            dtype: Dtype::U8,
            shape,
            data: v,
        }
    }
}

/// The tensors of a run over `batch`; `first_graph` is the dataset index of its first graph.
pub fn result_tensors(
    batch: &GraphBatch,
    attr: &Attributions,
    first_graph: usize,
) -> Result<Vec<(String, Tensor)>> {
    let (g, n, e, f, c) = (
        batch.num_graphs(),
        batch.num_nodes(),
        batch.num_edges(),
        batch.num_features(),
        attr.num_classes,
    );
    let ptr = |p: &[usize]| Tensor::i64(vec![p.len()], p.iter().map(|&v| v as i64));
    let steps = |s: &[usize]| Tensor::i64(vec![g], s.iter().map(|&v| v as i64));
    let ids = |v: &[u32]| Tensor::i64(vec![v.len()], v.iter().map(|&x| i64::from(x)));
    let mut t: Vec<(String, Tensor)> = vec![
        ("node_ptr".into(), ptr(batch.node_ptr())),
        ("edge_ptr".into(), ptr(batch.edge_ptr())),
    ];
    match batch.node_task() {
        // Node tasks: one row per target; nodes and edges carry their ids in the input.
        Some(task) => {
            let input_id = |v: &u32| i64::from(task.node_id[*v as usize]);
            t.push(("target_node".into(), ids(&task.target_node)));
            t.push(("node_id".into(), ids(&task.node_id)));
            t.push(("edge_id".into(), ids(&task.edge_id)));
            t.push((
                "edge_index".into(),
                Tensor::i64(
                    vec![2, e],
                    batch.src().iter().chain(batch.dst()).map(input_id),
                ),
            ));
        }
        None => {
            t.push((
                "edge_index".into(),
                Tensor::i64(
                    vec![2, e],
                    batch.src().iter().chain(batch.dst()).map(|&v| v as i64),
                ),
            ));
            t.push((
                "graph_index".into(),
                Tensor::i64(vec![g], (first_graph..first_graph + g).map(|v| v as i64)),
            ));
        }
    }
    t.extend([
        (
            "log_probs".into(),
            Tensor::f32(vec![g, c], attr.log_probs.iter().copied()),
        ),
        (
            "target".into(),
            Tensor::i64(vec![g], attr.target.iter().map(|&v| v as i64)),
        ),
    ]);
    if let Some(s) = &attr.node_score {
        t.push(("node_score".into(), Tensor::f32(vec![n], s.iter().copied())));
    }
    if let Some(gt) = batch.edge_gt() {
        t.push(("edge_gt".into(), Tensor::u8(vec![e], gt.to_vec())));
    }
    if let Some(ea) = &attr.edge {
        t.push(("edge_attr".into(), Tensor::f32(vec![e], ea.iter().copied())));
        // Attention scores (--method attention) have no delta.
        if let (Some(d), Some(s)) = (&attr.edge_delta, &attr.edge_steps) {
            t.push(("delta".into(), Tensor::f32(vec![g], d.iter().copied())));
            t.push(("steps".into(), steps(s)));
        }
    }
    if let (Some(ea), None) = (&attr.edge, batch.node_task()) {
        let u = aggregate_edge_directions(batch, ea)?;
        let nu = u.attr.len();
        t.push((
            "undirected_edge_attr".into(),
            Tensor::f32(vec![nu], u.attr.iter().copied()),
        ));
        t.push((
            "undirected_edge_index".into(),
            Tensor::i64(
                vec![2, nu],
                u.index
                    .iter()
                    .map(|p| p.0 as i64)
                    .chain(u.index.iter().map(|p| p.1 as i64)),
            ),
        ));
        t.push(("undirected_edge_ptr".into(), ptr(&u.ptr)));
    }
    if let Some(na) = &attr.node {
        t.push((
            "node_attr".into(),
            Tensor::f32(vec![n, f], na.iter().copied()),
        ));
        // A joint attribution (--wrt both) has one delta, already written with the edges.
        if let (Some(d), Some(s)) = (&attr.node_delta, &attr.node_steps) {
            let (dn, sn) = if attr.edge.is_some() {
                ("node_delta", "node_steps")
            } else {
                ("delta", "steps")
            };
            t.push((dn.into(), Tensor::f32(vec![g], d.iter().copied())));
            t.push((sn.into(), steps(s)));
        }
    }
    Ok(t)
}

/// A safetensors file read back: tensors as f64 or i64 vectors, and the metadata.
#[derive(Debug)]
pub struct ReadBack {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl ReadBack {
    /// Reads a file; a folder of shard outputs (`graph-ig explain --shard`) is read as
    /// the file that merging them writes ([`crate::shard::merge`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let bytes = if path.is_dir() {
            crate::shard::merge::merged_bytes(&path)?
        } else {
            std::fs::read(&path).map_err(|e| Error::io(&path, e))?
        };
        let r = ReadBack { path, bytes };
        r.parsed()?;
        Ok(r)
    }

    fn parsed(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Safetensors {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    /// The file's metadata.
    pub fn metadata(&self) -> Result<HashMap<String, String>> {
        let (_, m) = SafeTensors::read_metadata(&self.bytes).map_err(|e| Error::Safetensors {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        Ok(m.metadata().clone().unwrap_or_default())
    }

    /// The names of all tensors.
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self.parsed()?.names().into_iter().cloned().collect())
    }

    /// Shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Result<Option<Vec<usize>>> {
        Ok(self.parsed()?.tensor(name).ok().map(|t| t.shape().to_vec()))
    }

    /// A float or integer tensor as f64 values; `None` if absent.
    pub fn f64s(&self, name: &str) -> Result<Option<Vec<f64>>> {
        let st = self.parsed()?;
        let Ok(t) = st.tensor(name) else {
            return Ok(None);
        };
        let d = t.data();
        let v = match t.dtype() {
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
            Dtype::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            Dtype::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
                .collect(),
            Dtype::U8 => d.iter().map(|&b| b as f64).collect(),
            other => {
                return Err(Error::Safetensors {
                    path: self.path.clone(),
                    message: format!("tensor {name} has unsupported dtype {other:?}"),
                })
            }
        };
        Ok(Some(v))
    }

    /// An integer tensor as i64 values; `None` if absent.
    pub fn i64s(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self
            .f64s(name)?
            .map(|v| v.into_iter().map(|x| x as i64).collect()))
    }
}
