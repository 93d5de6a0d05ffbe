//! A dataset-wide attribution sweep that writes as it goes and resumes.
//!
//! The graphs are processed in chunks ([`chunk_graphs`]). Each finished chunk
//! is written atomically to `OUT.partial/chunk-START-END.safetensors`; a rerun
//! with the same settings, model and data reuses the finished chunks and
//! computes only the rest. When every chunk is done, the chunks are assembled
//! into `OUT` (atomically) and the partial folder is removed.

use crate::output::{result_tensors, write_safetensors, ReadBack};
use crate::{
    explain_with_progress, Attributions, Device, Error, ExplainConfig, GraphBatch, GraphConvNet,
    Result,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Graphs per chunk of a sweep on the CPU.
pub const CHUNK_GRAPHS: usize = 256;

/// Graphs per chunk of a sweep on a GPU (or in interpret mode): large enough to
/// fill the device with one launch sequence.
pub const GPU_CHUNK_GRAPHS: usize = 8192;

/// Graphs per chunk of a sweep on `device`.
pub fn chunk_graphs(device: Device) -> usize {
    match device {
        Device::Cpu => CHUNK_GRAPHS,
        _ => GPU_CHUNK_GRAPHS,
    }
}

/// What a sweep runs on.
pub struct Sweep<'a> {
    /// The model.
    pub model: &'a GraphConvNet,
    /// The selected graphs.
    pub batch: &'a GraphBatch,
    /// The dataset index of `batch`'s first graph.
    pub first_graph: usize,
    /// The attribution settings.
    pub config: &'a ExplainConfig,
    /// Where to run.
    pub device: Device,
    /// Metadata written into the output (method, rule, model hash, dataset, ...).
    pub metadata: BTreeMap<String, String>,
}

/// What a finished sweep did.
#[derive(Debug, Clone)]
pub struct SweepSummary {
    /// The results of all graphs.
    pub attributions: Attributions,
    /// Graphs in the output.
    pub graphs: usize,
    /// Graphs taken from an earlier, interrupted run.
    pub resumed_graphs: usize,
    /// Seconds spent computing in this run.
    pub seconds: f64,
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fingerprint of the data, so that a resumed sweep never mixes datasets.
fn batch_fingerprint(b: &GraphBatch) -> String {
    let mut h = Sha256::new();
    h.update(bytemuck::cast_slice::<f32, u8>(b.features()));
    h.update(bytemuck::cast_slice::<u32, u8>(b.src()));
    h.update(bytemuck::cast_slice::<u32, u8>(b.dst()));
    for p in b.node_ptr().iter().chain(b.edge_ptr()) {
        h.update((*p as u64).to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn partial_dir(out: &Path) -> PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

fn chunk_path(dir: &Path, start: usize, end: usize) -> PathBuf {
    dir.join(format!("chunk-{start:09}-{end:09}.safetensors"))
}

/// Reads a finished chunk back into attributions.
fn read_chunk(path: &Path, batch: &GraphBatch, num_classes: usize) -> Result<Attributions> {
    let r = ReadBack::open(path)?;
    let get = |name: &str, len: usize| -> Result<Option<Vec<f64>>> {
        match r.f64s(name)? {
            Some(v) if v.len() != len => Err(Error::Resume {
                path: path.to_path_buf(),
                message: format!("tensor {name} has {} values, expected {len}", v.len()),
            }),
            v => Ok(v),
        }
    };
    let g = batch.num_graphs();
    let missing = |name: &str| Error::Resume {
        path: path.to_path_buf(),
        message: format!("tensor {name} is missing"),
    };
    let steps = |v: Option<Vec<f64>>| v.map(|v| v.into_iter().map(|s| s as usize).collect());
    let has_edges = r.f64s("edge_attr")?.is_some();
    let has_nodes = r.f64s("node_attr")?.is_some();
    let (dn, sn) = if has_edges {
        ("node_delta", "node_steps")
    } else {
        ("delta", "steps")
    };
    Ok(Attributions {
        num_classes,
        num_features: batch.num_features(),
        edge: get("edge_attr", batch.num_edges())?,
        node: get("node_attr", batch.num_nodes() * batch.num_features())?,
        log_probs: get("log_probs", g * num_classes)?.ok_or_else(|| missing("log_probs"))?,
        target: get("target", g)?
            .ok_or_else(|| missing("target"))?
            .into_iter()
            .map(|t| t as usize)
            .collect(),
        edge_delta: if has_edges { get("delta", g)? } else { None },
        edge_steps: if has_edges {
            steps(get("steps", g)?)
        } else {
            None
        },
        node_delta: if has_nodes { get(dn, g)? } else { None },
        node_steps: if has_nodes { steps(get(sn, g)?) } else { None },
        node_score: get("node_score", batch.num_nodes())?,
    })
}

impl Sweep<'_> {
    /// Runs the sweep into `out`. `progress(k)` is called as graphs finish
    /// (also for resumed ones). With `restart`, earlier partial results are discarded.
    pub fn run(
        &self,
        out: &Path,
        restart: bool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<SweepSummary> {
        self.config.validate(self.model, self.batch)?;
        self.device.open()?;
        self.device.supports(self.config.method)?;
        self.device.supports_storage(self.config.storage)?;
        let dir = partial_dir(out);
        let mut fingerprint = self.metadata.clone();
        fingerprint.insert("data_sha256".into(), batch_fingerprint(self.batch));
        fingerprint.insert("first_graph".into(), self.first_graph.to_string());
        let chunk = chunk_graphs(self.device);
        fingerprint.insert("chunk_graphs".into(), chunk.to_string());
        let manifest = serde_json::to_string_pretty(&fingerprint).unwrap_or_default();
        let manifest_path = dir.join("manifest.json");
        if restart && dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        if dir.exists() {
            let old = std::fs::read_to_string(&manifest_path).map_err(|e| Error::Resume {
                path: manifest_path.clone(),
                message: format!(
                    "cannot read the manifest of earlier partial results ({e}); pass --restart to discard them"
                ),
            })?;
            if old != manifest {
                return Err(Error::Resume {
                    path: dir,
                    message: "holds partial results of a run with other settings, model or data; \
                              rerun with the same settings to continue it, or pass --restart to discard it"
                        .into(),
                });
            }
        } else {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let tmp = dir.join("manifest.json.tmp");
            std::fs::write(&tmp, &manifest).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        }

        let g = self.batch.num_graphs();
        let c = self.model.num_classes();
        let mut all = Attributions::default();
        let mut resumed = 0;
        let started = Instant::now();
        let meta: HashMap<String, String> = fingerprint.into_iter().collect();
        for start in (0..g).step_by(chunk) {
            let end = (start + chunk).min(g);
            let sub = self.batch.subset(start..end)?;
            let path = chunk_path(&dir, start, end);
            let done = if path.exists() {
                // A chunk that cannot be read back is recomputed, never trusted.
                read_chunk(&path, &sub, c).ok()
            } else {
                None
            };
            let attr = match done {
                Some(a) => {
                    resumed += end - start;
                    progress(end - start);
                    a
                }
                None => {
                    let a = explain_with_progress(
                        self.model,
                        &sub,
                        self.config,
                        self.device,
                        progress,
                    )?;
                    let tensors = result_tensors(&sub, &a, self.first_graph + start)?;
                    write_safetensors(&path, &tensors, &meta)?;
                    // What is written is what the final file holds: read it back in f32.
                    read_chunk(&path, &sub, c)?
                }
            };
            all.append(attr);
        }
        let tensors = result_tensors(self.batch, &all, self.first_graph)?;
        let meta: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        write_safetensors(out, &tensors, &meta)?;
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(SweepSummary {
            attributions: all,
            graphs: g,
            resumed_graphs: resumed,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}
