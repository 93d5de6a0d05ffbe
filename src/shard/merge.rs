//! `graph-ig merge`: shard outputs joined into the file one unsharded run writes.
//!
//! The shards must be every shard `0..N` of one run: the same metadata apart from
//! [`super::KEYS`] (so the same command, model, dataset and graph-ig version), rows
//! that tile the run's rows without gap or overlap, and the same tensors. Anything
//! else is refused with an error that names the files and the difference.

use super::{parse_range, parse_shard_name, Shard, KEYS};
use crate::output::assemble::{PartFile, Plan};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a merge joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSummary {
    /// Shards joined.
    pub shards: usize,
    /// Rows (graphs or target nodes) in the merged file.
    pub rows: usize,
    /// Bytes of the merged file.
    pub bytes: u64,
}

/// The shard files named by `inputs`: files as given, folders expanded to the
/// `*.shard-K-of-N.safetensors` files they hold (all of one run).
pub fn shard_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            files.push(input.clone());
            continue;
        }
        let entries = std::fs::read_dir(input).map_err(|e| Error::io(input, e))?;
        let mut found: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for e in entries {
            let e = e.map_err(|e| Error::io(input, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".safetensors") || !e.path().is_file() {
                continue;
            }
            if let Some((stem, _)) = parse_shard_name(&name) {
                found.entry(stem).or_default().push(e.path());
            }
        }
        match found.len() {
            0 => {
                return Err(Error::Config(format!(
                    "{}: no shard files (NAME.shard-K-of-N.safetensors) in this folder",
                    input.display()
                )))
            }
            1 => files.extend(found.into_values().flatten()),
            _ => {
                return Err(Error::Config(format!(
                    "{}: holds the shards of {} runs ({}); name one run's files",
                    input.display(),
                    found.len(),
                    found.keys().cloned().collect::<Vec<_>>().join(", ")
                )))
            }
        }
    }
    files.sort();
    Ok(files)
}

/// A checked merge: the parts in row order and the merged file's metadata.
#[derive(Debug)]
pub struct Merge {
    /// The shard files, by shard number.
    pub parts: Vec<PartFile>,
    /// The metadata of the unsharded run.
    pub metadata: BTreeMap<String, String>,
    /// All rows of the run.
    pub rows: std::ops::Range<usize>,
}

impl Merge {
    /// Reads the headers of the shard `files` and checks that they are every shard of one run.
    pub fn check(files: &[PathBuf]) -> Result<Merge> {
        let refuse = |m: String| Err(Error::Mismatch(m));
        let mut shards: Vec<(Shard, std::ops::Range<usize>, PartFile)> = Vec::new();
        for f in files {
            let p = PartFile::open(f)?;
            let key = |k: &str| p.metadata.get(k).cloned();
            let (Some(s), Some(r)) = (key("shard"), key("shard_rows")) else {
                return refuse(format!(
                    "{}: not a shard (its metadata has no shard and shard_rows); it may be a \
                     finished unsharded output",
                    f.display()
                ));
            };
            let shard: Shard = s.parse().map_err(|_| {
                Error::Mismatch(format!("{}: metadata shard={s:?} is not K/N", f.display()))
            })?;
            let rows = parse_range(&r).ok_or_else(|| {
                Error::Mismatch(format!(
                    "{}: metadata shard_rows={r:?} is not a range a..b",
                    f.display()
                ))
            })?;
            if p.rows() != rows.len() {
                return refuse(format!(
                    "{}: holds {} rows, but its metadata says shard_rows={r} ({} rows)",
                    f.display(),
                    p.rows(),
                    rows.len()
                ));
            }
            shards.push((shard, rows, p));
        }
        let Some((first, _, p0)) = shards.first() else {
            return refuse("no shard files given".into());
        };
        let (n, p0) = (first.count, p0.clone());
        let common = |p: &PartFile| -> BTreeMap<String, String> {
            let mut m = p.metadata.clone();
            for k in KEYS {
                m.remove(k);
            }
            m
        };
        let want = common(&p0);
        for (s, _, p) in &shards[1..] {
            if s.count != n {
                return refuse(format!(
                    "{} is shard {s} and {} is shard {first}: shards of runs split {} and {n} ways",
                    p.path.display(),
                    p0.path.display(),
                    s.count
                ));
            }
            let got = common(p);
            let keys: std::collections::BTreeSet<&String> = want.keys().chain(got.keys()).collect();
            if let Some(k) = keys.into_iter().find(|k| want.get(*k) != got.get(*k)) {
                let show =
                    |v: Option<&String>| v.map_or("nothing".to_string(), |v| format!("{v:?}"));
                let what = match k.as_str() {
                    "graph_ig_version" => "written by different versions of graph-ig",
                    "model" | "model_sha256" | "arch" => "shards of different models",
                    "dataset" | "data_sha256" => "shards of different datasets",
                    _ => "shards of different commands",
                };
                return refuse(format!(
                    "{what}: {k} is {} in {} and {} in {}",
                    show(want.get(k)),
                    p0.path.display(),
                    show(got.get(k)),
                    p.path.display()
                ));
            }
            if p.metadata.get("shard_total_rows") != p0.metadata.get("shard_total_rows") {
                return refuse(format!(
                    "shards of different selections: shard_total_rows differs between {} and {}",
                    p0.path.display(),
                    p.path.display()
                ));
            }
        }
        let total = p0
            .metadata
            .get("shard_total_rows")
            .and_then(|r| parse_range(r))
            .ok_or_else(|| {
                Error::Mismatch(format!(
                    "{}: metadata has no valid shard_total_rows",
                    p0.path.display()
                ))
            })?;
        shards.sort_by_key(|(s, _, _)| s.index);
        for w in shards.windows(2) {
            if w[0].0.index == w[1].0.index {
                return refuse(format!(
                    "shard {} appears twice: {} and {}",
                    w[0].0,
                    w[0].2.path.display(),
                    w[1].2.path.display()
                ));
            }
        }
        let have: Vec<usize> = shards.iter().map(|(s, _, _)| s.index).collect();
        if let Some(missing) = (0..n).find(|k| !have.contains(k)) {
            let partial = shards.first().map(|(_, _, p)| {
                let mut q = super::shard_path(
                    &p.path.with_file_name(format!(
                        "{}.safetensors",
                        parse_shard_name(&p.path.file_name().unwrap_or_default().to_string_lossy())
                            .map_or_else(String::new, |(stem, _)| stem)
                    )),
                    Shard {
                        index: missing,
                        count: n,
                    },
                )
                .into_os_string();
                q.push(".partial");
                PathBuf::from(q)
            });
            let hint = match partial.filter(|p| p.exists()) {
                Some(p) => format!(
                    "; {} holds its unfinished chunks: rerun that shard to finish it",
                    p.display()
                ),
                None => String::new(),
            };
            return refuse(format!(
                "shard {missing}/{n} is missing (have {}){hint}",
                have.iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut at = total.start;
        for (s, rows, p) in &shards {
            if rows.start != at {
                let how = if rows.start < at {
                    "overlaps"
                } else {
                    "leaves a gap before"
                };
                return refuse(format!(
                    "shard {s} ({}) has rows {}..{}, which {how} the rows before it (up to {at})",
                    p.path.display(),
                    rows.start,
                    rows.end
                ));
            }
            at = rows.end;
        }
        if at != total.end {
            return refuse(format!(
                "the shards end at row {at}, but the run has rows {}..{}",
                total.start, total.end
            ));
        }
        Ok(Merge {
            parts: shards.into_iter().map(|(_, _, p)| p).collect(),
            metadata: want,
            rows: total,
        })
    }

    /// The join plan into `out` ([`Plan`]).
    pub fn plan(&self, out: &Path) -> Result<Plan<'_>> {
        Plan::new(&self.parts, &self.metadata, out)
    }
}

/// Merges the shards named by `inputs` (files or folders) into `out`, atomically.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<MergeSummary> {
    let m = Merge::check(&shard_files(inputs)?)?;
    let plan = m.plan(out)?;
    crate::output::prepare_output(out)?;
    plan.write_to(out)?;
    Ok(MergeSummary {
        shards: m.parts.len(),
        rows: m.rows.len(),
        bytes: plan.file_size(),
    })
}

/// The merged bytes of the shards in folder `dir`, in memory (for the commands that
/// read a result file: `eval`, `top`, `render`).
pub fn merged_bytes(dir: &Path) -> Result<Vec<u8>> {
    let m = Merge::check(&shard_files(&[dir.to_path_buf()])?)?;
    m.plan(dir)?.bytes(dir)
}
