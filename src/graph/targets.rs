//! The `--nodes` selection of node-task targets (`../shared/docs/pyg-interchange.md`,
//! section 4): `all`, `A..B` (0-based, half-open, `A..` and `..B` too), `train`, `val`,
//! `test` (the data file's masks) or `i,j,k` (node ids, explained in that order).

use crate::{Error, Result};

/// A parsed `--nodes` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeSelection {
    /// Every node.
    All,
    /// Nodes `start..end` (`end` `None`: to the last node).
    Range(usize, Option<usize>),
    /// The nodes of a mask of the data file (`train`, `val`, `test`).
    Mask(String),
    /// These nodes, in this order.
    List(Vec<usize>),
}

impl std::str::FromStr for NodeSelection {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::Config(format!(
                "--nodes {s:?}: {why}; use all, A..B, train, val, test or a list i,j,k of node ids"
            ))
        };
        match s {
            "all" => return Ok(NodeSelection::All),
            "train" | "val" | "test" => return Ok(NodeSelection::Mask(s.to_string())),
            _ => {}
        }
        if let Some((a, b)) = s.split_once("..") {
            let num = |t: &str| t.parse::<usize>().map_err(|_| bad("not a node range"));
            let start = if a.is_empty() { 0 } else { num(a)? };
            let end = if b.is_empty() { None } else { Some(num(b)?) };
            return Ok(NodeSelection::Range(start, end));
        }
        let ids: Vec<usize> = s
            .split(',')
            .map(|t| {
                t.parse::<usize>()
                    .map_err(|_| bad(&format!("{t:?} is not a node id")))
            })
            .collect::<Result<_>>()?;
        let mut seen = std::collections::HashSet::new();
        if let Some(d) = ids.iter().find(|&&v| !seen.insert(v)) {
            return Err(bad(&format!("node {d} is listed twice")));
        }
        Ok(NodeSelection::List(ids))
    }
}

impl NodeSelection {
    /// The target node ids for a graph of `n` nodes; `mask(name)` gives a mask of the
    /// data file, or `None` when the file has none.
    pub fn resolve(
        &self,
        n: usize,
        mask: impl Fn(&str) -> Option<Vec<bool>>,
    ) -> Result<Vec<usize>> {
        let out: Vec<usize> = match self {
            NodeSelection::All => (0..n).collect(),
            NodeSelection::Range(a, b) => {
                let b = b.unwrap_or(n);
                if *a >= b || b > n {
                    return Err(Error::Config(format!(
                        "--nodes {a}..{b}: the range is empty or beyond the graph's {n} nodes"
                    )));
                }
                (*a..b).collect()
            }
            NodeSelection::Mask(name) => {
                let m = mask(name).ok_or_else(|| {
                    Error::Config(format!("--nodes {name}: the data file has no {name}_mask"))
                })?;
                if m.len() != n {
                    return Err(Error::Config(format!(
                        "--nodes {name}: {name}_mask has {} entries for {n} nodes",
                        m.len()
                    )));
                }
                (0..n).filter(|&v| m[v]).collect()
            }
            NodeSelection::List(ids) => {
                if let Some(&v) = ids.iter().find(|&&v| v >= n) {
                    return Err(Error::Config(format!(
                        "--nodes: node {v} does not exist; the graph has nodes 0..{n}"
                    )));
                }
                ids.clone()
            }
        };
        if out.is_empty() {
            return Err(Error::Config("--nodes selects no node".into()));
        }
        Ok(out)
    }
}
