//! A PyG `state_dict` saved as safetensors, taken apart key by key so that every
//! key is checked (shape, dtype, finiteness) and leftovers can be reported.

use crate::{Error, Result};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Reads one tensor as f64, whatever its float dtype; `op` names the layer in errors.
fn tensor_f64(path: &Path, key: &str, op: &str, t: &TensorView<'_>) -> Result<Vec<f64>> {
    let data = t.data();
    let v: Vec<f64> = match t.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        other => {
            return Err(Error::model(
                path,
                format!("{key}{op}: dtype {other:?} is not supported; use f32, f64, f16 or bf16"),
            ))
        }
    };
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::model(
            path,
            format!("{key}{op}: value {} at flat index {i} is not finite", v[i]),
        ));
    }
    Ok(v)
}

/// The tensors of a state dict and the safetensors metadata, taken out one by one.
pub(crate) struct StateDict<'a> {
    pub(crate) path: PathBuf,
    tensors: HashMap<String, TensorView<'a>>,
    /// The safetensors metadata (`__metadata__`).
    pub(crate) metadata: BTreeMap<String, String>,
    /// The layer being read, for error messages (` (conv2: GATConv, layer 3)`).
    op: String,
}

impl<'a> StateDict<'a> {
    /// Parses safetensors `bytes`; `path` names them in errors.
    pub(crate) fn parse(bytes: &'a [u8], path: &Path) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| Error::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let metadata = header
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(StateDict {
            path: path.to_path_buf(),
            tensors: st.tensors().into_iter().collect(),
            metadata,
            op: String::new(),
        })
    }

    /// Names the layer that the next reads belong to (for error messages).
    pub(crate) fn set_op(&mut self, op: impl Into<String>) {
        let op = op.into();
        self.op = if op.is_empty() {
            op
        } else {
            format!(" ({op})")
        };
    }

    /// An error about the current layer.
    pub(crate) fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::model(&self.path, format!("{message}{}", self.op))
    }

    /// True when `key` is present (not yet taken).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// The keys not taken yet, sorted.
    pub(crate) fn keys(&self) -> Vec<&String> {
        let mut k: Vec<&String> = self.tensors.keys().collect();
        k.sort();
        k
    }

    /// Takes `key` (if present) and checks its shape (`None` dimensions are free).
    pub(crate) fn take(
        &mut self,
        key: &str,
        shape: &[Option<usize>],
    ) -> Result<Option<(Vec<usize>, Vec<f64>)>> {
        let Some(t) = self.tensors.remove(key) else {
            return Ok(None);
        };
        let got = t.shape().to_vec();
        let ok = got.len() == shape.len()
            && got
                .iter()
                .zip(shape)
                .all(|(g, w)| w.is_none_or(|w| w == *g));
        if !ok {
            let want: Vec<String> = shape
                .iter()
                .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
                .collect();
            return Err(self.err(format!(
                "{key}: shape {got:?}, expected [{}]",
                want.join(", ")
            )));
        }
        Ok(Some((got, tensor_f64(&self.path, key, &self.op, &t)?)))
    }

    /// Takes a key that must be present.
    pub(crate) fn require(
        &mut self,
        key: &str,
        shape: &[Option<usize>],
    ) -> Result<(Vec<usize>, Vec<f64>)> {
        self.take(key, shape)?
            .ok_or_else(|| self.err(format!("missing key {key}")))
    }

    /// Takes a BatchNorm's `num_batches_tracked` (an int64 counter that inference ignores):
    /// any integer dtype and a 0-d or 1-element shape are accepted.
    pub(crate) fn take_counter(&mut self, key: &str) -> Result<()> {
        if let Some(t) = self.tensors.remove(key) {
            let int = matches!(
                t.dtype(),
                Dtype::I64 | Dtype::I32 | Dtype::I16 | Dtype::I8 | Dtype::U8
            );
            if !int || t.shape().iter().product::<usize>() != 1 {
                return Err(self.err(format!(
                    "{key}: expected a 0-d integer counter, got {:?} {:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
        }
        Ok(())
    }
}
