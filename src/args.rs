//! Parsers of command-line values that clap leaves as text: graph ranges and lists,
//! and lists of numbers. They live in the library so that the fuzz target `args`
//! (`fuzz/`) runs exactly what the command line runs.

use crate::{Error, Result};
use std::ops::Range;

/// The bounds of `--graphs A..B`, `A..` or `..B` (0-based, half-open; `A..` ends at
/// `usize::MAX`), not yet checked against anything.
pub fn graph_bounds(s: &str) -> Result<Range<usize>> {
    let bad = || {
        Error::Config(format!(
            "--graphs {s:?}: expected A..B, A.. or ..B with 0-based graph indices"
        ))
    };
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let bound = |t: &str, open: usize| {
        let t = t.trim();
        if t.is_empty() {
            Ok(open)
        } else {
            t.parse().map_err(|_| bad())
        }
    };
    Ok(bound(a, 0)?..bound(b, usize::MAX)?)
}

/// `--graphs` of `graph-ig explain` for a dataset of `total` graphs (`A..` ends at
/// `total`): a non-empty range inside the dataset.
pub fn graph_range(s: &str, total: usize) -> Result<Range<usize>> {
    let r = graph_bounds(s)?;
    let (a, b) = (r.start, if r.end == usize::MAX { total } else { r.end });
    if a >= b || b > total {
        return Err(Error::Config(format!(
            "--graphs {s}: the range is empty or beyond the dataset's {total} graphs"
        )));
    }
    Ok(a..b)
}

/// `--graphs` of `graph-ig top`: a non-empty range of dataset indices (`A..` ends at
/// `usize::MAX`).
pub fn nonempty_graph_bounds(s: &str) -> Result<Range<usize>> {
    let r = graph_bounds(s)?;
    if r.start >= r.end {
        return Err(Error::Config(format!("--graphs {s}: the range is empty")));
    }
    Ok(r)
}

/// `--graph` of `graph-ig render`: one 0-based graph index or a comma-separated list.
pub fn graph_list(s: &str) -> Result<Vec<usize>> {
    let list: Vec<usize> = s
        .split(',')
        .map(|p| {
            p.trim().parse::<usize>().map_err(|_| {
                Error::Config(format!(
                    "--graph {s:?}: expected a 0-based graph index or a comma-separated list"
                ))
            })
        })
        .collect::<Result<_>>()?;
    if list.is_empty() {
        return Err(Error::Config("--graph: no graph given".into()));
    }
    Ok(list)
}

/// A comma-separated list of numbers given to `flag`.
pub fn number_list(flag: &str, s: &str) -> Result<Vec<f64>> {
    s.split(',')
        .map(|t| {
            t.trim()
                .parse::<f64>()
                .map_err(|_| Error::Config(format!("{flag} {s:?}: {t:?} is not a number")))
        })
        .collect()
}

/// Exactly two comma-separated numbers given to `flag` (`--charact-weights w+,w-`).
pub fn number_pair(flag: &str, s: &str) -> Result<(f64, f64)> {
    match number_list(flag, s)?[..] {
        [a, b] => Ok((a, b)),
        _ => Err(Error::Config(format!(
            "{flag} {s:?}: expected two numbers w+,w-"
        ))),
    }
}
