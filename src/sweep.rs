//! A dataset-wide attribution sweep that writes as it goes and resumes.
//!
//! The graphs are read from a [`GraphSource`] and processed in chunks
//! ([`chunk_graphs`]). Each finished chunk is written atomically to
//! `OUT.partial/chunk-START-END.safetensors`; a rerun with the same settings, model
//! and data reuses the finished chunks and computes only the rest. When every chunk is
//! done, the chunk files are joined into `OUT` (atomically, streaming:
//! [`crate::output::assemble`]) and the partial folder is removed. Only one chunk's
//! graphs and results are in memory at a time, so a sweep's memory does not grow with
//! the dataset.
//! - Several devices ([`Sweep::devices`]): each chunk is split into balanced parts,
//!   one per device, each run by its own host thread; the results are the same bits
//!   as on one device, since every graph is computed on its own.
//!
//! - One writer per output: the sweep holds an exclusive lock on the partial folder
//!   ([`lock`]); a second sweep on the same `OUT` fails at once with [`Error::Busy`] and
//!   touches nothing.
//! - Same run, same bytes: every file is written deterministically
//!   ([`crate::output::write_safetensors`]), and resumed chunks are read back exactly
//!   as fresh ones are, so a resumed run writes the bytes of an uninterrupted one.
//! - Nothing left behind: a failed sweep removes its temporary files. It keeps its
//!   finished chunks only when there are some ([`Error::Incomplete`] says how many),
//!   and otherwise removes the partial folder. A stop request ([`Sweep::run_until`])
//!   ends the sweep after the chunk in flight with [`Error::Interrupted`].

pub mod lock;

use crate::graph::source::GraphSource;
use crate::memory;
use crate::metrics::ground_truth_auc;
use crate::output::assemble::{PartFile, Plan};
use crate::output::{
    is_temp_of, prepare_output, result_tensors, safetensors_bytes, write_atomic, ReadBack,
};
use crate::{
    explain_with_progress, Attributions, Device, Error, ExplainConfig, GraphBatch, GraphConvNet,
    Result,
};
use lock::{OutputLock, LOCK_FILE};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Graphs per chunk of a sweep on the CPU.
pub const CHUNK_GRAPHS: usize = 256;

/// Graphs per chunk of a sweep on a GPU (or in interpret mode): large enough to
/// fill the device with one launch sequence.
pub const GPU_CHUNK_GRAPHS: usize = 8192;

/// Graphs per chunk of a sweep on `devices` (each GPU gets a full GPU chunk).
pub fn chunk_graphs(devices: &[Device]) -> usize {
    match devices {
        [Device::Cpu] | [] => CHUNK_GRAPHS,
        d => GPU_CHUNK_GRAPHS * d.len(),
    }
}

/// What a sweep runs on.
pub struct Sweep<'a> {
    /// The model.
    pub model: &'a GraphConvNet,
    /// The dataset (or, for node tasks, the target instances).
    pub source: &'a dyn GraphSource,
    /// The rows (graphs, or instances) of `source` to explain; the output's
    /// `graph_index` holds their indices in `source`.
    pub rows: Range<usize>,
    /// The attribution settings.
    pub config: &'a ExplainConfig,
    /// Where to run: one device, or several that share each chunk (`cuda:all`,
    /// `interpret:2`). The CPU is one device that uses every core.
    pub devices: Vec<Device>,
    /// Metadata written into the output (method, rule, model hash, dataset, ...).
    pub metadata: BTreeMap<String, String>,
    /// Node tasks: the input graph the instances come from (`--method attention` reads
    /// its coefficients on the whole graph).
    pub whole: Option<&'a GraphBatch>,
}

/// What a finished sweep did. The results themselves are in the output file.
#[derive(Debug, Clone, Default)]
pub struct SweepSummary {
    /// Graphs in the output.
    pub graphs: usize,
    /// Graphs taken from an earlier, interrupted run.
    pub resumed_graphs: usize,
    /// Seconds spent computing in this run.
    pub seconds: f64,
    /// The largest |completeness delta| over all graphs (0 when there is none).
    pub max_abs_delta: f64,
    /// The fewest and the most steps any graph used, when the method has steps.
    pub steps: Option<(usize, usize)>,
    /// The mean over graphs with marked edges of the ROC-AUC of |edge attribution|
    /// against the ground truth, and the number of such graphs.
    pub ground_truth: Option<(f64, usize)>,
    /// Bytes of the output file.
    pub bytes: u64,
}

impl SweepSummary {
    /// Adds a chunk's results (as written, in f32) to the running figures.
    fn add(&mut self, batch: &GraphBatch, a: &Attributions, auc_sum: &mut f64) {
        self.max_abs_delta = self.max_abs_delta.max(a.max_abs_delta());
        for s in a.edge_steps.iter().chain(a.node_steps.iter()).flatten() {
            let (lo, hi) = self.steps.unwrap_or((*s, *s));
            self.steps = Some((lo.min(*s), hi.max(*s)));
        }
        if let (Some(e), Some(gt)) = (&a.edge, batch.edge_gt()) {
            if let Some(auc) = ground_truth_auc(e, gt, batch.edge_ptr()) {
                *auc_sum += auc.mean_graph_auc * auc.graphs as f64;
                let graphs = self.ground_truth.map_or(0, |g| g.1) + auc.graphs;
                self.ground_truth = Some((*auc_sum / graphs as f64, graphs));
            }
        }
    }
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The partial-results folder of output `out`: `OUT.partial`.
pub fn partial_dir(out: &Path) -> PathBuf {
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
    // A joint attribution's node part has no delta of its own.
    let has_nodes =
        r.f64s("node_attr")?.is_some() && (!has_edges || r.f64s("node_delta")?.is_some());
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

/// Host memory the results of a chunk `batch` hold (the attributions in f64,
/// the output tensors, and the bonds of the undirected view), for [`memory::check`].
fn result_bytes(batch: &GraphBatch, config: &ExplainConfig, classes: usize) -> u64 {
    let (g, n, e, f) = (
        batch.num_graphs() as u64,
        batch.num_nodes() as u64,
        batch.num_edges() as u64,
        batch.num_features() as u64,
    );
    let nodes = if config.wrt.nodes() {
        memory::product(&[n, f, 8 + 4])
    } else {
        0
    };
    // Per edge: attribution (f64, f32), edge index (2 × i64), bonds (f32 and 2 × i64).
    let edges = memory::product(&[e, 8 + 4 + 16 + 4 + 16]);
    let graphs = memory::product(&[g, classes.max(1) as u64 + 8, 8 + 4]);
    nodes
        .saturating_add(edges)
        .saturating_add(graphs)
        .saturating_add(memory::product(&[n, 8 + 4]))
}

/// Removes leftovers of killed runs: temporary files in the partial folder, and
/// temporary files of `out` beside it. Only called while holding the lock.
fn remove_stale_temporaries(out: &Path, dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let (Some(name), Some(parent)) = (out.file_name(), out.parent()) else {
        return;
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let name = name.to_string_lossy();
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            if is_temp_of(&e.file_name().to_string_lossy(), &name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
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
        self.run_until(out, restart, progress, &AtomicBool::new(false))
    }

    /// [`Sweep::run`], stopping after the chunk in flight once `stop` is set (from
    /// another thread, e.g. a signal handler): the finished chunks stay in
    /// `OUT.partial` and the result is [`Error::Interrupted`].
    pub fn run_until(
        &self,
        out: &Path,
        restart: bool,
        progress: &(dyn Fn(usize) + Sync),
        stop: &AtomicBool,
    ) -> Result<SweepSummary> {
        if self.devices.is_empty() {
            return Err(Error::Device("a sweep needs at least one device".into()));
        }
        if self.rows.end > self.source.num_graphs() || self.rows.start > self.rows.end {
            return Err(Error::Config(format!(
                "rows {}..{} of a dataset of {} graphs",
                self.rows.start,
                self.rows.end,
                self.source.num_graphs()
            )));
        }
        // Settings and data errors come before any output is touched.
        let chunk = chunk_graphs(&self.devices);
        let first = self
            .source
            .load(self.rows.start..(self.rows.start + chunk).min(self.rows.end))?;
        self.config.validate(self.model, &first)?;
        drop(first);
        for d in &self.devices {
            d.open()?;
            d.supports_storage(self.config.storage)?;
        }
        let g = self.rows.len();
        prepare_output(out)?;
        let dir = partial_dir(out);
        let lock = OutputLock::acquire(out, &dir)?;
        remove_stale_temporaries(out, &dir);
        match self.sweep_chunks(out, &dir, restart, progress, stop) {
            Ok((mut summary, parts)) => {
                let joined = parts
                    .iter()
                    .map(PartFile::open)
                    .collect::<Result<Vec<_>>>()
                    .and_then(|parts| {
                        let plan = Plan::new(&parts, &self.metadata, out)?;
                        plan.write_to(out)?;
                        Ok(plan.file_size())
                    });
                match joined {
                    Ok(bytes) => summary.bytes = bytes,
                    Err(e) => {
                        return Err(Error::Incomplete {
                            source: Box::new(e),
                            kept: g,
                            total: g,
                            dir,
                        })
                    }
                }
                lock.remove_folder()?;
                Ok(summary)
            }
            // A refused resume keeps the folder as it is.
            Err(e @ Error::Resume { .. }) => Err(e),
            // An interruption keeps its chunks, if it has any.
            Err(e @ Error::Interrupted { kept, .. }) => {
                if kept == 0 {
                    let _ = lock.remove_folder();
                }
                Err(e)
            }
            Err(error) => match graphs_on_disk(&dir, g) {
                0 => {
                    // Nothing a rerun could resume: leave nothing behind.
                    let _ = lock.remove_folder();
                    Err(error)
                }
                kept => Err(Error::Incomplete {
                    source: Box::new(error),
                    kept,
                    total: g,
                    dir,
                }),
            },
        }
    }

    /// The fingerprint of a chunk file: the run's metadata, the data's hash, the rows
    /// and the chunking. A resumed run reuses only chunks with the same fingerprint.
    fn fingerprint(&self, chunk: usize) -> BTreeMap<String, String> {
        let mut f = self.metadata.clone();
        f.insert("data_sha256".into(), self.source.fingerprint().to_string());
        f.insert("first_graph".into(), self.rows.start.to_string());
        f.insert(
            "rows".into(),
            format!("{}..{}", self.rows.start, self.rows.end),
        );
        f.insert("chunk_graphs".into(), chunk.to_string());
        f
    }

    /// Checks or writes the manifest, then computes (or reuses) every chunk; returns
    /// the summary and the chunk files in order.
    fn sweep_chunks(
        &self,
        _out: &Path,
        dir: &Path,
        restart: bool,
        progress: &(dyn Fn(usize) + Sync),
        stop: &AtomicBool,
    ) -> Result<(SweepSummary, Vec<PathBuf>)> {
        let chunk = chunk_graphs(&self.devices);
        let fingerprint = self.fingerprint(chunk);
        let manifest = serde_json::to_string_pretty(&fingerprint).unwrap_or_default();
        let manifest_path = dir.join("manifest.json");
        let others = || -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .map(|r| {
                    r.flatten()
                        .filter(|e| e.file_name() != LOCK_FILE)
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default()
        };
        if restart {
            for p in others() {
                let removed = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                removed.map_err(|e| Error::io(&p, e))?;
            }
        }
        if manifest_path.exists() {
            let old = std::fs::read_to_string(&manifest_path).map_err(|e| Error::Resume {
                path: manifest_path.clone(),
                message: format!(
                    "cannot read the manifest of earlier partial results ({e}); pass --restart to discard them"
                ),
            })?;
            if old != manifest {
                return Err(Error::Resume {
                    path: dir.to_path_buf(),
                    message: "holds partial results of a run with other settings, model or data; \
                              rerun with the same settings to continue it, or pass --restart to discard it"
                        .into(),
                });
            }
        } else if let Some(stray) = others().first() {
            return Err(Error::Resume {
                path: manifest_path.clone(),
                message: format!(
                    "is missing, but the folder holds other files ({}): not partial results of graph-ig; \
                     pass --restart to discard them",
                    stray.display()
                ),
            });
        } else {
            write_atomic(&manifest_path, manifest.len() as u64, |f| {
                f.write_all(manifest.as_bytes())
            })?;
        }

        let rows = self.rows.clone();
        let g = rows.len();
        let c = self.model.num_classes();
        let mut summary = SweepSummary {
            graphs: g,
            ..Default::default()
        };
        let mut auc_sum = 0.0;
        let mut parts = Vec::with_capacity(g.div_ceil(chunk.max(1)));
        let started = Instant::now();
        // An empty selection still writes one (empty) chunk, so that the output has
        // every tensor.
        let starts: Vec<usize> = if g == 0 {
            vec![rows.start]
        } else {
            rows.clone().step_by(chunk).collect()
        };
        for start in starts {
            if stop.load(Ordering::SeqCst) {
                return Err(Error::Interrupted {
                    kept: graphs_on_disk(dir, g),
                    total: g,
                    dir: dir.to_path_buf(),
                });
            }
            let end = (start + chunk).min(rows.end);
            let sub = self.source.load(start..end)?;
            let path = chunk_path(dir, start - rows.start, end - rows.start);
            let done = if path.exists() {
                // A chunk that cannot be read back is recomputed, never trusted.
                read_chunk(&path, &sub, c).ok()
            } else {
                None
            };
            let attr = match done {
                Some(a) => {
                    summary.resumed_graphs += end - start;
                    progress(end - start);
                    a
                }
                None => {
                    self.config.validate(self.model, &sub)?;
                    let needed = result_bytes(&sub, self.config, c);
                    memory::check(
                        || format!("holding the results of a chunk of {} graphs", end - start),
                        needed,
                        || "free some memory: a sweep holds one chunk of graphs at a time".into(),
                    )?;
                    let a = self.compute(&sub, progress)?;
                    let tensors = result_tensors(&sub, &a, start)?;
                    let bytes = safetensors_bytes(&path, &tensors, &fingerprint)?;
                    drop(tensors);
                    write_atomic(&path, bytes.len() as u64, |f| f.write_all(&bytes)).map_err(
                        |e| {
                            with_run_estimate(e, bytes.len() as u64, end - start, rows.end - end, g)
                        },
                    )?;
                    // What is written is what the final file holds: read it back in f32.
                    read_chunk(&path, &sub, c)?
                }
            };
            summary.add(&sub, &attr, &mut auc_sum);
            parts.push(path);
        }
        summary.seconds = started.elapsed().as_secs_f64();
        Ok((summary, parts))
    }

    /// The results of one chunk: on the single device, or split across the devices,
    /// one host thread each.
    fn compute(&self, sub: &GraphBatch, progress: &(dyn Fn(usize) + Sync)) -> Result<Attributions> {
        if let (crate::Method::Attention(_), Some(whole)) = (self.config.method, self.whole) {
            let a = crate::attention::explain(self.model, sub, self.config, Some(whole))?;
            progress(sub.num_graphs());
            return Ok(a);
        }
        let [device] = self.devices.as_slice() else {
            let edges: Vec<u32> = sub
                .edge_ptr()
                .windows(2)
                .map(|w| (w[1] - w[0]) as u32)
                .collect();
            let parts = crate::shard::balanced(&edges, 0..sub.num_graphs(), self.devices.len());
            let results: Vec<Result<Attributions>> = std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .devices
                    .iter()
                    .zip(parts)
                    .map(|(&d, r)| {
                        s.spawn(move || {
                            let part = sub.subset(r)?;
                            explain_with_progress(self.model, &part, self.config, d, progress)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::Device("a device thread panicked".into()))
                        })
                    })
                    .collect()
            });
            let mut all = Attributions::default();
            for r in results {
                all.append(r?);
            }
            return Ok(all);
        };
        explain_with_progress(self.model, sub, self.config, *device, progress)
    }
}

/// Graphs of a run of `total` graphs whose chunk files are in `dir` (by their names).
fn graphs_on_disk(dir: &Path, total: usize) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let graphs: usize = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let range = name.strip_prefix("chunk-")?.strip_suffix(".safetensors")?;
            let (a, b) = range.split_once('-')?;
            let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
            b.checked_sub(a)
        })
        .sum();
    graphs.min(total)
}

/// Adds to a full-disk error on a chunk of `chunk_graphs` graphs (`chunk_bytes` bytes)
/// what the rest of the run will write: the other `remaining` graphs' chunks and the
/// final file of `total` graphs (about the size of all chunks).
fn with_run_estimate(
    e: Error,
    chunk_bytes: u64,
    chunk_graphs: usize,
    remaining: usize,
    total: usize,
) -> Error {
    match e {
        Error::NoSpace {
            path,
            needed,
            free,
            more: None,
        } => {
            let per_graph = chunk_bytes / chunk_graphs.max(1) as u64;
            Error::NoSpace {
                path,
                needed,
                more: Some(per_graph.saturating_mul((remaining + total) as u64)),
                free,
            }
        }
        e => e,
    }
}
