//! The GraphConv network of the classic PyG tutorial, loaded from a PyG `state_dict`.
//!
//! Forward pass: `relu(GraphConv)` × L, global pooling (add, mean or max),
//! `relu(lin1)`, `lin2`, `log_softmax`. A GraphConv layer computes
//! `x_i' = lin_rel(Σ_{j→i} w_ji x_j) + lin_root(x_i)`, where the bias lives in
//! `lin_rel` and `lin_root` has none (PyG 2.x).
//!
//! Weights are read from a safetensors file under PyG's own key names:
//! `conv{k}.lin_rel.weight [out, in]`, `conv{k}.lin_rel.bias [out]`,
//! `conv{k}.lin_root.weight [out, in]`, `lin1.weight`, `lin1.bias`,
//! `lin2.weight`, `lin2.bias`. Tensors may be f32, f64, f16 or bf16; they are
//! held in f64.

use crate::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Global pooling over the nodes of each graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pool {
    /// `global_add_pool` (the tutorial's choice).
    #[default]
    Add,
    /// `global_mean_pool`.
    Mean,
    /// `global_max_pool`; gradients split evenly among tied maxima, like PyTorch.
    Max,
}

impl std::str::FromStr for Pool {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "add" | "sum" => Ok(Pool::Add),
            "mean" => Ok(Pool::Mean),
            "max" => Ok(Pool::Max),
            _ => Err(Error::Config(format!(
                "unknown pooling {s:?}; use add, mean or max"
            ))),
        }
    }
}

impl std::fmt::Display for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pool::Add => "add",
            Pool::Mean => "mean",
            Pool::Max => "max",
        })
    }
}

/// A dense layer `y = W x + b` with `W` row-major `[out, in]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// Output width.
    pub out_dim: usize,
    /// Input width.
    pub in_dim: usize,
    /// Weights, row-major `[out, in]`.
    pub weight: Vec<f64>,
    /// Bias `[out]` (zeros when the layer has none).
    pub bias: Vec<f64>,
}

impl Linear {
    /// The weights transposed to `[in, out]`.
    pub fn transposed(&self) -> Vec<f64> {
        transpose(&self.weight, self.out_dim, self.in_dim)
    }
}

/// A row-major `[rows, cols]` matrix transposed to `[cols, rows]`.
pub fn transpose<T: Copy + Default>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut t = vec![T::default(); m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// One GraphConv layer.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphConvLayer {
    /// Applied to the aggregated neighbour sum; holds the bias.
    pub lin_rel: Linear,
    /// Applied to the node itself; its bias is always zero.
    pub lin_root: Linear,
}

/// A GraphConv network: conv layers, pooling and a two-layer MLP head.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphConvNet {
    /// The conv layers, in order.
    pub convs: Vec<GraphConvLayer>,
    /// The hidden head layer (followed by ReLU).
    pub lin1: Linear,
    /// The output layer (followed by log-softmax).
    pub lin2: Linear,
    /// The pooling between the convs and the head.
    pub pool: Pool,
}

/// Reads one tensor as f64, whatever its float dtype.
fn tensor_f64(path: &Path, key: &str, t: &safetensors::tensor::TensorView<'_>) -> Result<Vec<f64>> {
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
                format!("{key}: dtype {other:?} is not supported; use f32, f64, f16 or bf16"),
            ))
        }
    };
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::model(
            path,
            format!("{key}: value {} at flat index {i} is not finite", v[i]),
        ));
    }
    Ok(v)
}

/// The state dict's tensors, taken out one by one so that leftovers can be reported.
struct StateDict<'a> {
    path: PathBuf,
    tensors: HashMap<String, safetensors::tensor::TensorView<'a>>,
}

impl StateDict<'_> {
    fn take(
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
            return Err(Error::model(
                &self.path,
                format!("{key}: shape {got:?}, expected [{}]", want.join(", ")),
            ));
        }
        Ok(Some((got, tensor_f64(&self.path, key, &t)?)))
    }

    fn require(&mut self, key: &str, shape: &[Option<usize>]) -> Result<(Vec<usize>, Vec<f64>)> {
        self.take(key, shape)?
            .ok_or_else(|| Error::model(&self.path, format!("missing key {key}")))
    }

    /// Reads `{prefix}.weight` (with `in_dim` fixed when known) and the optional `{prefix}.bias`.
    fn linear(&mut self, prefix: &str, in_dim: Option<usize>, with_bias: bool) -> Result<Linear> {
        let (shape, weight) = self.require(&format!("{prefix}.weight"), &[None, in_dim])?;
        let (out_dim, in_dim) = (shape[0], shape[1]);
        if out_dim == 0 || in_dim == 0 {
            return Err(Error::model(
                &self.path,
                format!("{prefix}.weight has an empty shape {shape:?}"),
            ));
        }
        let bias = if with_bias {
            self.take(&format!("{prefix}.bias"), &[Some(out_dim)])?
                .map_or_else(|| vec![0.0; out_dim], |b| b.1)
        } else {
            vec![0.0; out_dim]
        };
        Ok(Linear {
            out_dim,
            in_dim,
            weight,
            bias,
        })
    }
}

impl GraphConvNet {
    /// Loads a PyG `state_dict` saved with `safetensors.torch.save_file`.
    /// Pooling is [`Pool::Add`]; change it with [`GraphConvNet::with_pool`].
    pub fn from_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    /// Loads a state dict from bytes; `origin` names them in errors.
    pub fn from_safetensors_bytes(bytes: &[u8], origin: impl AsRef<Path>) -> Result<Self> {
        let path = origin.as_ref().to_path_buf();
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut sd = StateDict {
            path: path.clone(),
            tensors: st.tensors().into_iter().collect(),
        };
        // Conv layers must be conv1..convL with no gaps.
        let mut conv_ids: BTreeMap<usize, ()> = BTreeMap::new();
        for key in sd.tensors.keys() {
            if let Some(rest) = key.strip_prefix("conv") {
                if let Some((num, _)) = rest.split_once('.') {
                    if let Ok(k) = num.parse::<usize>() {
                        conv_ids.insert(k, ());
                    }
                }
            }
        }
        let num_convs = conv_ids.len();
        if num_convs == 0 {
            return Err(Error::model(
                &path,
                "no conv layers: missing key conv1.lin_rel.weight",
            ));
        }
        if let Some((i, k)) = conv_ids.keys().enumerate().find(|(i, k)| **k != i + 1) {
            return Err(Error::model(
                &path,
                format!("conv layers must be numbered conv1..conv{num_convs}; found conv{k} where conv{} was expected", i + 1),
            ));
        }
        let mut convs = Vec::with_capacity(num_convs);
        let mut in_dim = None;
        for k in 1..=num_convs {
            let lin_rel = sd.linear(&format!("conv{k}.lin_rel"), in_dim, true)?;
            let lin_root = sd.linear(&format!("conv{k}.lin_root"), Some(lin_rel.in_dim), false)?;
            if lin_root.out_dim != lin_rel.out_dim {
                return Err(Error::model(
                    &path,
                    format!(
                        "conv{k}.lin_root.weight has {} outputs but conv{k}.lin_rel.weight has {}",
                        lin_root.out_dim, lin_rel.out_dim
                    ),
                ));
            }
            if sd.tensors.contains_key(&format!("conv{k}.lin_root.bias")) {
                return Err(Error::model(
                    &path,
                    format!(
                        "unexpected key conv{k}.lin_root.bias: PyG's GraphConv has no root bias"
                    ),
                ));
            }
            in_dim = Some(lin_rel.out_dim);
            convs.push(GraphConvLayer { lin_rel, lin_root });
        }
        let lin1 = sd.linear("lin1", in_dim, true)?;
        let lin2 = sd.linear("lin2", Some(lin1.out_dim), true)?;
        if lin2.out_dim < 2 {
            return Err(Error::model(
                &path,
                format!(
                    "lin2 has {} output(s); a classifier needs at least 2 classes",
                    lin2.out_dim
                ),
            ));
        }
        if !sd.tensors.is_empty() {
            let mut left: Vec<&String> = sd.tensors.keys().collect();
            left.sort();
            return Err(Error::model(&path, format!("unexpected keys: {left:?}")));
        }
        Ok(GraphConvNet {
            convs,
            lin1,
            lin2,
            pool: Pool::Add,
        })
    }

    /// The same network with another pooling.
    pub fn with_pool(mut self, pool: Pool) -> Self {
        self.pool = pool;
        self
    }

    /// Node feature width `F` the first layer takes.
    pub fn num_features(&self) -> usize {
        self.convs[0].lin_rel.in_dim
    }

    /// Checks that `batch` has the node feature width this model takes.
    pub fn check_batch(&self, batch: &crate::GraphBatch) -> Result<()> {
        if batch.num_features() != self.num_features() {
            return Err(Error::Mismatch(format!(
                "the batch has {} node features, the model takes {}",
                batch.num_features(),
                self.num_features()
            )));
        }
        Ok(())
    }

    /// Number of output classes `C`.
    pub fn num_classes(&self) -> usize {
        self.lin2.out_dim
    }

    /// Number of conv layers `L`.
    pub fn num_layers(&self) -> usize {
        self.convs.len()
    }

    /// Widths of the node embeddings: `F`, then each conv layer's output.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.num_features())
            .chain(self.convs.iter().map(|c| c.lin_rel.out_dim))
            .collect()
    }
}
