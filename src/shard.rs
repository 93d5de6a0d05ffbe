//! Shards: one sweep split into N contiguous, balanced ranges of rows (graphs, or
//! target nodes), each run by its own process, and joined again by [`merge`].
//!
//! - [`balanced`] cuts a range where the running edge count (plus one per graph, so
//!   that graphs without edges count too) crosses k/N of the total: deterministic,
//!   and the same on every machine.
//! - [`choose`] takes the shard from `--shard K/N`, or else from the scheduler's
//!   environment: SLURM job arrays (`SLURM_ARRAY_TASK_ID` with
//!   `SLURM_ARRAY_TASK_COUNT` or `_MIN`/`_MAX`/`_STEP`), SLURM multi-task steps
//!   (`SLURM_PROCID`/`SLURM_NTASKS`; inside an array the two combine), or a
//!   Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with `--shards N`).
//! - A shard of output `OUT` is written to [`shard_path`]
//!   (`OUT_STEM.shard-K-of-N.safetensors`), with the metadata of the unsharded run
//!   plus [`KEYS`]; merging drops those keys, so the merged file is the unsharded
//!   run's file, byte for byte.

pub mod merge;

use crate::{Error, Result};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Metadata keys a shard adds: `shard` (`K/N`), `shard_rows` (its rows, `a..b`) and
/// `shard_total_rows` (all rows of the run, `A..B`).
pub const KEYS: [&str; 3] = ["shard", "shard_rows", "shard_total_rows"];

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based shard number.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// Shard `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 || index >= count {
            return Err(Error::Config(format!(
                "shard {index} of {count}: the shard number must be 0..{count}",
            )));
        }
        Ok(Shard { index, count })
    }
}

impl std::str::FromStr for Shard {
    type Err = Error;
    /// Parses `K/N` (0-based K).
    fn from_str(s: &str) -> Result<Shard> {
        let bad = || {
            Error::Config(format!(
                "--shard {s:?}: expected K/N, shard K (0-based) of N, e.g. 0/4"
            ))
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(k, n)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `range` cut into `count` contiguous parts balanced by `edges[g] + 1` per row.
/// Parts may be empty when there are more shards than rows.
pub fn balanced(edges: &[u32], range: Range<usize>, count: usize) -> Vec<Range<usize>> {
    let count = count.max(1);
    let w = |g: usize| u128::from(edges.get(g).copied().unwrap_or(0)) + 1;
    let total: u128 = range.clone().map(w).sum();
    let mut cuts = Vec::with_capacity(count + 1);
    cuts.push(range.start);
    let mut acc = 0u128;
    let mut g = range.start;
    for k in 1..count {
        // The first row whose preceding weight reaches k/N of the total.
        let goal = total * k as u128 / count as u128;
        while g < range.end && acc + w(g) <= goal {
            acc += w(g);
            g += 1;
        }
        cuts.push(g);
    }
    cuts.push(range.end);
    cuts.windows(2).map(|c| c[0]..c[1]).collect()
}

/// The shard a run takes, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The shard.
    pub shard: Shard,
    /// Where it came from, for the run's first line (e.g. `SLURM_ARRAY_TASK_ID=2 of
    /// SLURM_ARRAY_TASK_COUNT=4`).
    pub why: String,
}

/// The shard of this run: `flag` (`--shard K/N`) wins; otherwise the scheduler's
/// environment (read through `env`), with `shards` (`--shards N`) as the count for a
/// Kubernetes Indexed Job. `None`: no sharding.
pub fn choose(
    flag: Option<Shard>,
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Chosen>> {
    if let Some(shard) = flag {
        if let Some(n) = shards.filter(|&n| n != shard.count) {
            return Err(Error::Config(format!(
                "--shard {shard} and --shards {n} disagree on the number of shards"
            )));
        }
        return Ok(Some(Chosen {
            shard,
            why: "--shard".into(),
        }));
    }
    let num = |key: &str| -> Result<Option<usize>> {
        match env(key) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                Error::Config(format!("environment variable {key}={v:?} is not a number"))
            }),
        }
    };
    let array = slurm_array(&num)?;
    let tasks = match (num("SLURM_PROCID")?, num("SLURM_NTASKS")?) {
        (Some(id), Some(n)) if n > 1 => Some((Shard::new(id, n)?, n)),
        _ => None,
    };
    let k8s = num("JOB_COMPLETION_INDEX")?;
    let chosen = match (array, tasks, k8s) {
        (Some((a, why)), None, _) => Some(Chosen { shard: a, why }),
        (None, Some((t, n)), _) => Some(Chosen {
            shard: t,
            why: format!("SLURM_PROCID={} of SLURM_NTASKS={n}", t.index),
        }),
        (Some((a, why)), Some((t, n)), _) => Some(Chosen {
            shard: Shard::new(a.index * n + t.index, a.count * n)?,
            why: format!("{why}, SLURM_PROCID={} of SLURM_NTASKS={n}", t.index),
        }),
        (None, None, Some(i)) => {
            let n = shards.ok_or_else(|| {
                Error::Config(format!(
                    "JOB_COMPLETION_INDEX={i} is set (a Kubernetes Indexed Job), but not the \
                     number of shards: pass the Job's completions as --shards N (or --shard K/N)"
                ))
            })?;
            Some(Chosen {
                shard: Shard::new(i, n).map_err(|_| {
                    Error::Config(format!(
                        "JOB_COMPLETION_INDEX={i} is not below --shards {n}"
                    ))
                })?,
                why: format!("JOB_COMPLETION_INDEX={i} of --shards {n}"),
            })
        }
        (None, None, None) => None,
    };
    match (chosen, shards) {
        (Some(c), Some(n)) if n != c.shard.count => Err(Error::Config(format!(
            "--shards {n}, but {} gives {} shards",
            c.why, c.shard.count
        ))),
        (None, Some(n)) => Err(Error::Config(format!(
            "--shards {n} needs a shard number: --shard K/{n}, or JOB_COMPLETION_INDEX, \
             SLURM_ARRAY_TASK_ID or SLURM_PROCID in the environment"
        ))),
        (c, _) => Ok(c),
    }
}

/// A SLURM job array's task as a shard, from `SLURM_ARRAY_TASK_*`.
fn slurm_array(num: &dyn Fn(&str) -> Result<Option<usize>>) -> Result<Option<(Shard, String)>> {
    let Some(id) = num("SLURM_ARRAY_TASK_ID")? else {
        return Ok(None);
    };
    let count = num("SLURM_ARRAY_TASK_COUNT")?;
    let min = num("SLURM_ARRAY_TASK_MIN")?;
    let max = num("SLURM_ARRAY_TASK_MAX")?;
    let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
    let unclear = |what: String| {
        Error::Config(format!(
            "SLURM_ARRAY_TASK_ID={id}: {what}; pass --shard K/N to say which shard this task is"
        ))
    };
    let (index, n, why) = match (min, max) {
        (Some(min), Some(max)) if max >= min && id >= min && (id - min) % step == 0 => {
            let n = (max - min) / step + 1;
            if let Some(c) = count.filter(|&c| c != n) {
                return Err(unclear(format!(
                    "the array's ids {min}..={max} (step {step}) are not its \
                     SLURM_ARRAY_TASK_COUNT={c} tasks (an id list such as 0,3,7?)"
                )));
            }
            let why = if min == 0 && step == 1 {
                format!("SLURM_ARRAY_TASK_ID={id} of {n} array tasks")
            } else {
                format!("SLURM_ARRAY_TASK_ID={id} of the array {min}-{max}:{step} ({n} tasks)")
            };
            ((id - min) / step, n, why)
        }
        (Some(_), Some(_)) => {
            return Err(unclear(format!(
                "not in the array's range SLURM_ARRAY_TASK_MIN..MAX ({min:?}..{max:?}, step {step})"
            )))
        }
        _ => match count {
            Some(c) => (
                id,
                c,
                format!("SLURM_ARRAY_TASK_ID={id} of SLURM_ARRAY_TASK_COUNT={c}"),
            ),
            None => {
                return Err(unclear(
                    "neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX is set".into(),
                ))
            }
        },
    };
    let shard = Shard::new(index, n).map_err(|_| unclear(format!("not below {n} tasks")))?;
    Ok(Some((shard, why)))
}

/// Where shard `shard` of output `out` is written: `out`'s stem with
/// `.shard-K-of-N` (zero-padded to N's width) before its extension.
pub fn shard_path(out: &Path, shard: Shard) -> PathBuf {
    let width = (shard.count.max(1) - 1).to_string().len().max(1);
    let stem = out.file_stem().unwrap_or_default().to_string_lossy();
    let ext = out
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    out.with_file_name(format!(
        "{stem}.shard-{:0width$}-of-{}{ext}",
        shard.index, shard.count
    ))
}

/// The shard a file name made by [`shard_path`] names, and the stem before it.
pub fn parse_shard_name(name: &str) -> Option<(String, Shard)> {
    let base = name.strip_suffix(".safetensors").unwrap_or(name);
    let (stem, rest) = base.rsplit_once(".shard-")?;
    let (k, n) = rest.split_once("-of-")?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(k) || !all_digits(n) {
        return None;
    }
    Some((
        stem.to_string(),
        Shard::new(k.parse().ok()?, n.parse().ok()?).ok()?,
    ))
}

/// `a..b` as written in metadata.
pub fn range_text(r: &Range<usize>) -> String {
    format!("{}..{}", r.start, r.end)
}

/// Parses `a..b` from metadata.
pub fn parse_range(s: &str) -> Option<Range<usize>> {
    let (a, b) = s.split_once("..")?;
    let (a, b) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b).then_some(a..b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn balanced_cuts_tile_the_range_and_balance_edges() {
        let edges: Vec<u32> = (0..1000).map(|g| (g * 7919 % 97) as u32).collect();
        for n in [1, 2, 3, 4, 7, 999, 1000, 1500] {
            let parts = balanced(&edges, 10..1000, n);
            assert_eq!(parts.len(), n);
            assert_eq!(parts[0].start, 10);
            assert_eq!(parts[n - 1].end, 1000);
            for w in parts.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            if n <= 7 {
                let weight = |r: &Range<usize>| r.clone().map(|g| edges[g] as u64 + 1).sum::<u64>();
                let total = weight(&(10..1000));
                for p in &parts {
                    let dev = weight(p).abs_diff(total / n as u64);
                    assert!(dev <= 98, "{n} shards: {p:?} has weight {}", weight(p));
                }
            }
        }
        assert_eq!(balanced(&[], 0..0, 3), vec![0..0, 0..0, 0..0]);
    }

    #[test]
    fn shard_comes_from_the_flag_or_the_scheduler() {
        let none = env(&[]);
        assert_eq!(choose(None, None, &none).unwrap(), None);
        let c = choose(Some("1/4".parse().unwrap()), None, &none)
            .unwrap()
            .unwrap();
        assert_eq!(c.shard, Shard::new(1, 4).unwrap());
        let a = env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "1"),
        ]);
        let c = choose(None, None, &a).unwrap().unwrap();
        assert_eq!(c.shard, Shard::new(2, 4).unwrap());
        assert!(c.why.contains("SLURM_ARRAY_TASK_ID=2"), "{}", c.why);
        let stepped = env(&[
            ("SLURM_ARRAY_TASK_ID", "15"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_MAX", "25"),
            ("SLURM_ARRAY_TASK_STEP", "5"),
        ]);
        assert_eq!(
            choose(None, None, &stepped).unwrap().unwrap().shard,
            Shard::new(2, 5).unwrap()
        );
        let list = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "7"),
        ]);
        let e = choose(None, None, &list).unwrap_err().to_string();
        assert!(e.contains("--shard K/N"), "{e}");
        let steps = env(&[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")]);
        assert_eq!(
            choose(None, None, &steps).unwrap().unwrap().shard,
            Shard::new(1, 2).unwrap()
        );
        let both = env(&[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_PROCID", "1"),
            ("SLURM_NTASKS", "2"),
        ]);
        assert_eq!(
            choose(None, None, &both).unwrap().unwrap().shard,
            Shard::new(3, 6).unwrap()
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3")]);
        assert!(choose(None, None, &k8s).is_err());
        assert_eq!(
            choose(None, Some(8), &k8s).unwrap().unwrap().shard,
            Shard::new(3, 8).unwrap()
        );
        assert!(choose(None, Some(3), &k8s).is_err());
        assert!(choose(None, Some(3), &none).is_err());
        assert!(choose(Some("0/2".parse().unwrap()), Some(3), &none).is_err());
        let bad = env(&[
            ("SLURM_ARRAY_TASK_ID", "x"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ]);
        assert!(choose(None, None, &bad).is_err());
    }

    #[test]
    fn shard_names_round_trip() {
        for (k, n) in [(0, 1), (3, 4), (7, 12), (99, 100), (0, 1000)] {
            let s = Shard::new(k, n).unwrap();
            let p = shard_path(Path::new("out/run.safetensors"), s);
            let name = p.file_name().unwrap().to_str().unwrap();
            assert_eq!(
                parse_shard_name(name),
                Some(("run".to_string(), s)),
                "{name}"
            );
        }
        assert_eq!(
            shard_path(Path::new("r.safetensors"), Shard::new(2, 12).unwrap()),
            PathBuf::from("r.shard-02-of-12.safetensors")
        );
        for bad in ["0/0", "4/4", "a/2", "1", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
