//! The most important edges or nodes of a graph, in order.
//!
//! [`top_k`] selects the `k` largest scores of a slice by partial selection
//! (`select_nth_unstable_by`, then a sort of the `k` chosen only), so it costs
//! O(n + k log k). [`AttrFile`] opens an output file of `graph-ig explain` and
//! answers per-graph questions: the top directed edges, the top bonds (both
//! directions summed) and the top nodes.
//!
//! ```
//! use graph_ig::topk::{top_k, Ranking};
//! let s = [0.1, -0.7, 0.3, f64::NAN, 0.3];
//! assert_eq!(top_k(&s, 2, Ranking::Abs), vec![(1, -0.7), (2, 0.3)]);
//! assert_eq!(top_k(&s, 2, Ranking::Signed), vec![(2, 0.3), (4, 0.3)]);
//! ```
//!
//! Choice for `k = 0`: [`top_k`] returns an empty vector (the answer to the
//! question asked), while the per-graph helpers of [`AttrFile`] and
//! `graph-ig top` reject it with [`Error::Config`], since asking a file for
//! nothing is almost certainly a mistake.

use crate::graph::GraphRef;
use crate::labels::LabeledGraphs;
use crate::output::ReadBack;
use crate::{Error, Result};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What "most important" means: how scores (attributions) are ranked.
///
/// One choice for every command: `graph-ig top --by` and `graph-ig eval
/// --ranking` both take `abs`, or `signed` (also spelled `value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ranking {
    /// Largest absolute value first (`|a|`: large effects of either sign are
    /// important; the usual reading of attributions).
    #[default]
    Abs,
    /// Largest value first (`a` itself: the most positive evidence for the
    /// explained class first). Spelled `signed` or `value`.
    Signed,
}

impl std::str::FromStr for Ranking {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "abs" => Ok(Ranking::Abs),
            "signed" | "value" => Ok(Ranking::Signed),
            other => Err(Error::Config(format!(
                "unknown ranking {other:?}: expected abs, or signed (also spelled value)"
            ))),
        }
    }
}

impl std::fmt::Display for Ranking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ranking::Abs => "abs",
            Ranking::Signed => "signed",
        })
    }
}

impl Ranking {
    /// The key by which a score is ranked (larger first): `|v|` or `v`.
    pub fn key(self, v: f64) -> f64 {
        match self {
            Ranking::Abs => v.abs(),
            Ranking::Signed => v,
        }
    }

    /// A short description for messages and headings.
    pub fn describe(self) -> &'static str {
        match self {
            Ranking::Abs => "|attribution|",
            Ranking::Signed => "attribution",
        }
    }
}

/// Descending by key, NaN last, ties by lower index: a total order on `(key, index)`.
fn rank(a: (usize, f64), b: (usize, f64)) -> Ordering {
    let by_key = match (a.1.is_nan(), b.1.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        // Not NaN: partial_cmp always answers; -0.0 and 0.0 tie.
        (false, false) => b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal),
    };
    by_key.then(a.0.cmp(&b.0))
}

/// The `k` most important scores as `(index, score)`, most important first.
///
/// Ties are broken by the lower index; NaN scores rank after every number
/// (never panic); `k > scores.len()` gives all scores, ranked; `k = 0` gives
/// an empty vector. Only the `k` selected scores are sorted.
pub fn top_k(scores: &[f64], k: usize, order: Ranking) -> Vec<(usize, f64)> {
    let k = k.min(scores.len());
    if k == 0 {
        return Vec::new();
    }
    let mut keyed: Vec<(usize, f64)> = scores
        .iter()
        .enumerate()
        .map(|(i, &v)| (i, order.key(v)))
        .collect();
    if k < keyed.len() {
        keyed.select_nth_unstable_by(k - 1, |a, b| rank(*a, *b));
        keyed.truncate(k);
    }
    keyed.sort_unstable_by(|a, b| rank(*a, *b));
    keyed.into_iter().map(|(i, _)| (i, scores[i])).collect()
}

/// One of the top edges of a graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopEdge {
    /// Its position among the graph's edges (directed: in the input's edge
    /// order; undirected: in the order of the `undirected_edge_*` tensors).
    pub position: usize,
    /// Source node, numbered from 0 within the graph (for bonds, the smaller id).
    pub src: usize,
    /// Target node, numbered from 0 within the graph.
    pub dst: usize,
    /// The attribution.
    pub score: f64,
}

/// One of the top nodes of a graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopNode {
    /// The node, numbered from 0 within the graph.
    pub node: usize,
    /// Its attribution: the sum of the attributions of its features.
    pub score: f64,
}

/// The bond-level (undirected) tensors of a file.
#[derive(Debug, Clone)]
struct Undirected {
    ptr: Vec<usize>,
    src: Vec<usize>,
    dst: Vec<usize>,
    attr: Vec<f64>,
}

/// An output file of `graph-ig explain`, read and checked, with per-graph queries.
///
/// Graphs are addressed by their position `g` in the file (`0..num_graphs()`);
/// [`AttrFile::graph_index`] gives the dataset index of each and
/// [`AttrFile::position_of`] goes back.
#[derive(Debug, Clone)]
pub struct AttrFile {
    path: PathBuf,
    metadata: HashMap<String, String>,
    node_ptr: Vec<usize>,
    edge_ptr: Vec<usize>,
    src: Vec<usize>,
    dst: Vec<usize>,
    graph_index: Vec<usize>,
    target: Option<Vec<i64>>,
    log_probs: Option<Vec<f64>>,
    edge_attr: Option<Vec<f64>>,
    edge_gt: Option<Vec<f64>>,
    node_attr: Option<(Vec<f64>, usize)>,
    node_score: Option<Vec<f64>>,
    undirected: Option<Undirected>,
}

/// The whole-file tensors of an [`AttrFile`], borrowed: every graph at once, in
/// the file's order. Node ids are the file's (numbered from 0 over all its
/// graphs), and every tensor has been checked against the offsets.
#[derive(Debug, Clone, Copy)]
pub struct FileTensors<'a> {
    /// Node offsets `[G+1]`: graph `g` owns nodes `node_ptr[g]..node_ptr[g+1]`.
    pub node_ptr: &'a [usize],
    /// Edge offsets `[G+1]`: graph `g` owns edges `edge_ptr[g]..edge_ptr[g+1]`.
    pub edge_ptr: &'a [usize],
    /// Source node of every directed edge `[E]` (row 0 of `edge_index`).
    pub src: &'a [usize],
    /// Target node of every directed edge `[E]` (row 1 of `edge_index`).
    pub dst: &'a [usize],
    /// The explained class of every graph `[G]` (`target`), if present.
    pub target: Option<&'a [i64]>,
    /// Log-probabilities `[G · C]`, row-major (`log_probs`), if present.
    pub log_probs: Option<&'a [f64]>,
    /// Edge attributions `[E]` (`edge_attr`), if present.
    pub edge_attr: Option<&'a [f64]>,
    /// Ground-truth edge marks `[E]` (`edge_gt`, 1.0 = marked), if present.
    pub edge_gt: Option<&'a [f64]>,
    /// Node-level scores `[N]` (`node_score`, from Grad-CAM, the contrastive
    /// gradient, EB or c-EB), if present.
    pub node_score: Option<&'a [f64]>,
}

impl AttrFile {
    /// Opens and checks a file written by `graph-ig explain` (or [`crate::sweep`]).
    pub fn open(path: impl AsRef<Path>) -> Result<AttrFile> {
        let path = path.as_ref().to_path_buf();
        let rb = ReadBack::open(&path)?;
        let bad = |message: String| Error::Dataset {
            path: path.clone(),
            message,
        };
        let required = |name: &str| -> Result<Vec<f64>> {
            rb.f64s(name)?.ok_or_else(|| {
                bad(format!(
                    "has no tensor {name}: is it an output file of graph-ig explain?"
                ))
            })
        };
        let to_usize = |name: &str, v: Vec<f64>| -> Result<Vec<usize>> {
            v.into_iter()
                .map(|x| {
                    if x >= 0.0 && x.fract() == 0.0 && x <= usize::MAX as f64 {
                        Ok(x as usize)
                    } else {
                        Err(bad(format!("tensor {name} holds {x}, not an index")))
                    }
                })
                .collect()
        };
        let node_ptr = to_usize("node_ptr", required("node_ptr")?)?;
        let edge_ptr = to_usize("edge_ptr", required("edge_ptr")?)?;
        let edge_index = to_usize("edge_index", required("edge_index")?)?;
        let graph_index = to_usize("graph_index", required("graph_index")?)?;
        let g = graph_index.len();
        check_ptr("node_ptr", &node_ptr, g, None).map_err(&bad)?;
        let n = node_ptr.last().copied().unwrap_or(0);
        if edge_index.len() % 2 != 0 {
            return Err(bad("edge_index has an odd number of values".into()));
        }
        let e = edge_index.len() / 2;
        check_ptr("edge_ptr", &edge_ptr, g, Some(e)).map_err(&bad)?;
        let (src, dst) = (edge_index[..e].to_vec(), edge_index[e..].to_vec());
        check_edges("edge_index", &src, &dst, &edge_ptr, &node_ptr).map_err(&bad)?;

        let sized = |name: &str, want: usize| -> Result<Option<Vec<f64>>> {
            match rb.f64s(name)? {
                Some(v) if v.len() != want => Err(bad(format!(
                    "tensor {name} has {} values, expected {want}",
                    v.len()
                ))),
                other => Ok(other),
            }
        };
        let edge_attr = sized("edge_attr", e)?;
        let edge_gt = sized("edge_gt", e)?;
        let node_score = sized("node_score", n)?;
        let target = rb.i64s("target")?;
        if let Some(t) = &target {
            if t.len() != g {
                return Err(bad(format!(
                    "tensor target has {} values, expected {g}",
                    t.len()
                )));
            }
        }
        let log_probs = rb.f64s("log_probs")?;
        if let Some(lp) = &log_probs {
            if g > 0 && lp.len() % g != 0 {
                return Err(bad(format!(
                    "tensor log_probs has {} values, not a multiple of {g} graphs",
                    lp.len()
                )));
            }
        }
        let node_attr = match rb.f64s("node_attr")? {
            Some(v) => {
                let f = v.len().checked_div(n).unwrap_or(0);
                if f * n != v.len() {
                    return Err(bad(format!(
                        "tensor node_attr has {} values, not a multiple of {n} nodes",
                        v.len()
                    )));
                }
                Some((v, f))
            }
            None => None,
        };
        let undirected = match rb.f64s("undirected_edge_attr")? {
            Some(attr) => {
                let u = attr.len();
                let ptr = to_usize("undirected_edge_ptr", required("undirected_edge_ptr")?)?;
                let idx = to_usize("undirected_edge_index", required("undirected_edge_index")?)?;
                check_ptr("undirected_edge_ptr", &ptr, g, Some(u)).map_err(&bad)?;
                if idx.len() != 2 * u {
                    return Err(bad(format!(
                        "tensor undirected_edge_index has {} values, expected {}",
                        idx.len(),
                        2 * u
                    )));
                }
                let (s, d) = (idx[..u].to_vec(), idx[u..].to_vec());
                check_edges("undirected_edge_index", &s, &d, &ptr, &node_ptr).map_err(&bad)?;
                Some(Undirected {
                    ptr,
                    src: s,
                    dst: d,
                    attr,
                })
            }
            None => None,
        };
        Ok(AttrFile {
            metadata: rb.metadata()?,
            path,
            node_ptr,
            edge_ptr,
            src,
            dst,
            graph_index,
            target,
            log_probs,
            edge_attr,
            edge_gt,
            node_attr,
            node_score,
            undirected,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every graph's tensors at once (see [`FileTensors`]).
    pub fn tensors(&self) -> FileTensors<'_> {
        FileTensors {
            node_ptr: &self.node_ptr,
            edge_ptr: &self.edge_ptr,
            src: &self.src,
            dst: &self.dst,
            target: self.target.as_deref(),
            log_probs: self.log_probs.as_deref(),
            edge_attr: self.edge_attr.as_deref(),
            edge_gt: self.edge_gt.as_deref(),
            node_score: self.node_score.as_deref(),
        }
    }

    /// A metadata value (`method`, `target`, `pool`, `model`, `model_sha256`, ...), if any.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The file's metadata (method, rule, steps, target, dataset, graphs, ...).
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The attribution method recorded in the metadata (`ig`, `saliency`, ...), if any.
    pub fn method(&self) -> Option<&str> {
        self.metadata.get("method").map(String::as_str)
    }

    /// The dataset name recorded in the metadata, if any.
    pub fn dataset(&self) -> Option<&str> {
        self.metadata.get("dataset").map(String::as_str)
    }

    /// Number of graphs in the file.
    pub fn num_graphs(&self) -> usize {
        self.graph_index.len()
    }

    /// The dataset index of the file's graph `g`. Panics if `g >= num_graphs()`.
    pub fn graph_index(&self, g: usize) -> usize {
        self.graph_index[g]
    }

    /// The dataset indices of all graphs of the file.
    pub fn graph_indices(&self) -> &[usize] {
        &self.graph_index
    }

    /// The position in the file of dataset graph `dataset_graph`, if the file holds it.
    pub fn position_of(&self, dataset_graph: usize) -> Option<usize> {
        self.graph_index.iter().position(|&d| d == dataset_graph)
    }

    /// A description of the dataset graphs the file holds, for messages (`0..5`, or a count).
    pub fn describe_graphs(&self) -> String {
        let gi = &self.graph_index;
        match (gi.first(), gi.last()) {
            (Some(&a), Some(&b)) if gi.windows(2).all(|w| w[1] == w[0] + 1) => {
                format!("dataset graphs {a}..{}", b + 1)
            }
            (Some(_), Some(_)) => format!("{} dataset graphs", gi.len()),
            _ => "no graphs".into(),
        }
    }

    /// Checks that `g` is a graph of the file.
    pub fn check_graph(&self, g: usize) -> Result<()> {
        if g >= self.num_graphs() {
            return Err(Error::Config(format!(
                "graph {g} is outside the {} graphs of {} (0..{})",
                self.num_graphs(),
                self.path.display(),
                self.num_graphs()
            )));
        }
        Ok(())
    }

    /// The explained class of graph `g`, if the file records it.
    pub fn target(&self, g: usize) -> Option<i64> {
        self.target.as_ref()?.get(g).copied()
    }

    /// The model's probability of the explained class for graph `g`, if recorded.
    pub fn target_probability(&self, g: usize) -> Option<f64> {
        let lp = self.log_probs.as_ref()?;
        let c = lp.len() / self.num_graphs().max(1);
        let t = usize::try_from(self.target(g)?).ok()?;
        if t >= c {
            return None;
        }
        lp.get(g * c + t).map(|v| v.exp())
    }

    /// The file's node ids of graph `g` (global within the file).
    pub fn nodes(&self, g: usize) -> Result<Range<usize>> {
        self.check_graph(g)?;
        Ok(self.node_ptr[g]..self.node_ptr[g + 1])
    }

    /// The positions of graph `g`'s edges in the file's edge tensors.
    pub fn edges(&self, g: usize) -> Result<Range<usize>> {
        self.check_graph(g)?;
        Ok(self.edge_ptr[g]..self.edge_ptr[g + 1])
    }

    /// Graph `g`'s directed edges as `(src, dst)`, numbered from 0 within the graph.
    pub fn edge_pairs(&self, g: usize) -> Result<Vec<(usize, usize)>> {
        let n0 = self.nodes(g)?.start;
        Ok(self
            .edges(g)?
            .map(|e| (self.src[e] - n0, self.dst[e] - n0))
            .collect())
    }

    fn missing(&self, what: &str, hint: &str) -> Error {
        Error::Dataset {
            path: self.path.clone(),
            message: format!("has no {what}; {hint}"),
        }
    }

    /// Graph `g`'s edge attributions, one per directed edge.
    pub fn edge_attr(&self, g: usize) -> Result<&[f64]> {
        let r = self.edges(g)?;
        let a = self.edge_attr.as_ref().ok_or_else(|| {
            self.missing(
                "edge attributions (tensor edge_attr)",
                "run graph-ig explain with --wrt edges or --wrt both",
            )
        })?;
        Ok(&a[r])
    }

    /// Graph `g`'s ground-truth marks (1.0 = in the motif), when the file has them.
    pub fn edge_gt(&self, g: usize) -> Result<Option<&[f64]>> {
        let r = self.edges(g)?;
        Ok(self.edge_gt.as_ref().map(|m| &m[r]))
    }

    /// Graph `g`'s bonds with their summed attributions: `(u, v, attr)`, `u <= v`,
    /// numbered from 0 within the graph. Uses the `undirected_edge_*` tensors.
    pub fn bonds(&self, g: usize) -> Result<Vec<(usize, usize, f64)>> {
        let n0 = self.nodes(g)?.start;
        let u = self.undirected.as_ref().ok_or_else(|| {
            self.missing(
                "bond attributions (tensors undirected_edge_*)",
                "run graph-ig explain with --wrt edges or --wrt both",
            )
        })?;
        Ok((u.ptr[g]..u.ptr[g + 1])
            .map(|i| (u.src[i] - n0, u.dst[i] - n0, u.attr[i]))
            .collect())
    }

    /// Graph `g`'s node-level scores (tensor `node_score`, written by the
    /// node-level methods: Grad-CAM, the contrastive gradient, EB, c-EB).
    pub fn node_score(&self, g: usize) -> Result<&[f64]> {
        let r = self.nodes(g)?;
        let s = self.node_score.as_ref().ok_or_else(|| {
            self.missing(
                "node scores (tensor node_score)",
                "run graph-ig explain with --method grad-cam, contrastive-gradient, eb or c-eb",
            )
        })?;
        Ok(&s[r])
    }

    /// Graph `g`'s node attributions: for each node, the sum over its features
    /// (tensor `node_attr`); for a file of a node-level method, which has no
    /// `node_attr`, its `node_score`.
    pub fn node_scores(&self, g: usize) -> Result<Vec<f64>> {
        let r = self.nodes(g)?;
        let Some((a, f)) = self.node_attr.as_ref() else {
            if self.node_score.is_some() {
                return Ok(self.node_score(g)?.to_vec());
            }
            return Err(self.missing(
                "node attributions (tensor node_attr) or node scores (tensor node_score)",
                "run graph-ig explain with --wrt nodes or --wrt both, or a node-level method \
                 (--method grad-cam, contrastive-gradient, eb or c-eb)",
            ));
        };
        Ok(r.map(|i| a[i * f..(i + 1) * f].iter().sum()).collect())
    }

    /// The `k` most important directed edges of graph `g`, in order.
    /// Errors if `k = 0`, `g` is out of range or the file has no edge attributions.
    pub fn top_edges(&self, g: usize, k: usize, order: Ranking) -> Result<Vec<TopEdge>> {
        check_k(k)?;
        let a = self.edge_attr(g)?;
        let pairs = self.edge_pairs(g)?;
        Ok(top_k(a, k, order)
            .into_iter()
            .map(|(i, score)| TopEdge {
                position: i,
                src: pairs[i].0,
                dst: pairs[i].1,
                score,
            })
            .collect())
    }

    /// The `k` most important bonds of graph `g` (both directions summed), in order.
    pub fn top_bonds(&self, g: usize, k: usize, order: Ranking) -> Result<Vec<TopEdge>> {
        check_k(k)?;
        let b = self.bonds(g)?;
        let scores: Vec<f64> = b.iter().map(|x| x.2).collect();
        Ok(top_k(&scores, k, order)
            .into_iter()
            .map(|(i, score)| TopEdge {
                position: i,
                src: b[i].0,
                dst: b[i].1,
                score,
            })
            .collect())
    }

    /// The `k` most important nodes of graph `g`, in order (node attribution =
    /// the sum of its feature attributions, or the node score; see
    /// [`AttrFile::node_scores`]).
    pub fn top_nodes(&self, g: usize, k: usize, order: Ranking) -> Result<Vec<TopNode>> {
        check_k(k)?;
        let s = self.node_scores(g)?;
        Ok(top_k(&s, k, order)
            .into_iter()
            .map(|(node, score)| TopNode { node, score })
            .collect())
    }
}

impl AttrFile {
    /// Checks that the file's graph `g` is graph [`AttrFile::graph_index`]`(g)`
    /// of `data`: same number of nodes, same edges in the same order. Returns
    /// that dataset graph.
    pub fn match_dataset(&self, g: usize, data: &LabeledGraphs) -> Result<GraphRef> {
        let nodes = self.nodes(g)?;
        let d = self.graph_index[g];
        let b = &data.batch;
        let mismatch = |what: String| {
            Error::Mismatch(format!(
                "{} and {} do not fit: {what}; was the file made from another dataset?",
                self.path.display(),
                data.describe()
            ))
        };
        if d >= b.num_graphs() {
            return Err(mismatch(format!(
                "the file holds dataset graph {d}, the dataset has {} graphs",
                b.num_graphs()
            )));
        }
        let gr = b.graph(d);
        if gr.num_nodes() != nodes.len() {
            return Err(mismatch(format!(
                "graph {d} has {} nodes in the dataset, {} in the file",
                gr.num_nodes(),
                nodes.len()
            )));
        }
        let pairs = self.edge_pairs(g)?;
        if gr.num_edges() != pairs.len() {
            return Err(mismatch(format!(
                "graph {d} has {} edges in the dataset, {} in the file",
                gr.num_edges(),
                pairs.len()
            )));
        }
        let n0 = gr.nodes.start;
        for (i, (e, &(s, t))) in gr.edges.clone().zip(&pairs).enumerate() {
            let (ds, dt) = (b.src()[e] as usize - n0, b.dst()[e] as usize - n0);
            if (ds, dt) != (s, t) {
                return Err(mismatch(format!(
                    "edge {i} of graph {d} is ({ds}, {dt}) in the dataset, ({s}, {t}) in the file"
                )));
            }
        }
        Ok(gr)
    }
}

fn check_k(k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::Config("k must be at least 1".into()));
    }
    Ok(())
}

/// Checks an offsets tensor: `g + 1` values, from 0, non-decreasing, ending at `total` if given.
fn check_ptr(
    name: &str,
    ptr: &[usize],
    g: usize,
    total: Option<usize>,
) -> std::result::Result<(), String> {
    if ptr.len() != g + 1 {
        return Err(format!(
            "tensor {name} has {} values, expected {} (graphs + 1)",
            ptr.len(),
            g + 1
        ));
    }
    if ptr[0] != 0 || ptr.windows(2).any(|w| w[1] < w[0]) {
        return Err(format!("tensor {name} does not rise from 0"));
    }
    if let Some(t) = total {
        if ptr[g] != t {
            return Err(format!(
                "tensor {name} ends at {} but there are {t} entries",
                ptr[g]
            ));
        }
    }
    Ok(())
}

/// Checks that every edge of every graph joins nodes of that graph.
fn check_edges(
    name: &str,
    src: &[usize],
    dst: &[usize],
    ptr: &[usize],
    node_ptr: &[usize],
) -> std::result::Result<(), String> {
    for g in 0..ptr.len() - 1 {
        let nodes = node_ptr[g]..node_ptr[g + 1];
        for e in ptr[g]..ptr[g + 1] {
            if !nodes.contains(&src[e]) || !nodes.contains(&dst[e]) {
                return Err(format!(
                    "tensor {name}: entry {e} ({}, {}) leaves graph {g}'s nodes {}..{}",
                    src[e], dst[e], nodes.start, nodes.end
                ));
            }
        }
    }
    Ok(())
}
