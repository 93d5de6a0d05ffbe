//! Names for the integer labels of a TU dataset: atom symbols, bond kinds and
//! class names.
//!
//! - [`LabelMap`] reads `NAME_label_readme.txt`, the file in which the TU
//!   collection records how node, edge and class labels were converted to
//!   integers (see `Mutagenicity_label_readme.txt`).
//! - [`NodeLabels`] reads the raw integer label of every node
//!   (`NAME_node_labels.txt`, first column), which [`crate::graph::tu::load_tu`]
//!   turns into one-hot features and does not keep.
//! - [`LabeledGraphs`] is a dataset's structure with those labels: what
//!   `graph-ig top` and `graph-ig render` need to name atoms and bonds.

use crate::graph::tu::{load_tu, TuOptions};
use crate::synthetic::{self, SyntheticConfig, ATOM_SYMBOLS};
use crate::{Error, GraphBatch, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The label maps of a dataset: integer label → name, for nodes, edges and classes.
///
/// Only the first component (`Component 0:`) of multi-column node or edge
/// labels is kept; further components are checked and ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelMap {
    /// Node label → name (for molecules, the atom symbol).
    pub node: BTreeMap<i64, String>,
    /// Edge label → name (for Mutagenicity, the valence `1`, `2` or `3`).
    pub edge: BTreeMap<i64, String>,
    /// Graph label (as written in `NAME_graph_labels.txt`) → class name.
    pub class: BTreeMap<i64, String>,
    /// What the edge labels mean, from a header line like `Edge labels:  [valence]`.
    pub edge_kind: Option<String>,
}

/// Which map a section of the label readme fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Node,
    Edge,
    Class,
}

impl LabelMap {
    /// Reads `DIR/NAME_label_readme.txt`; `Ok(None)` if the file does not exist.
    pub fn read_tu(dir: impl AsRef<Path>, name: &str) -> Result<Option<LabelMap>> {
        let path = dir.as_ref().join(format!("{name}_label_readme.txt"));
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        LabelMap::parse(&text, &path).map(Some)
    }

    /// Parses the text of a label readme; `path` names the file in errors.
    ///
    /// The TU format: a line `Node labels were converted to integer values using
    /// this map:` (likewise `Edge labels`, `Class labels`) opens a section; in
    /// it, `Component K:` lines start a component and indented lines
    /// `<tab>INTEGER<tab>NAME` give the entries. The first line that is neither
    /// ends the section; other text of the file is free. An indented line inside
    /// a section that is not an entry, or a label given twice, is an error.
    ///
    /// The format written by `graph-ig synth` (`Node labels: 0..13 = C O ...`,
    /// `Edge labels: valence 0 = single, 1 = double, ...`) is read as well.
    pub fn parse(text: &str, path: &Path) -> Result<LabelMap> {
        let err = |line: usize, message: String| Error::Parse {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut map = LabelMap::default();
        let mut section: Option<Section> = None;
        let mut component: usize = 0;
        for (i, raw) in text.lines().enumerate() {
            let ln = i + 1;
            let line = raw.trim_end_matches('\r');
            let trimmed = line.trim();
            let lower = trimmed.to_ascii_lowercase();
            if lower.contains("converted to integer values") {
                section = if lower.starts_with("node") {
                    Some(Section::Node)
                } else if lower.starts_with("edge") {
                    Some(Section::Edge)
                } else if lower.starts_with("class") || lower.starts_with("graph") {
                    Some(Section::Class)
                } else {
                    return Err(err(
                        ln,
                        format!("a label map for unknown items: {trimmed:?} (expected Node, Edge or Class labels)"),
                    ));
                };
                component = 0;
                continue;
            }
            if section.is_none() {
                if let Some(rest) = trimmed.strip_prefix("Edge labels:") {
                    let rest = rest.trim();
                    if let Some(kind) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                        map.edge_kind = Some(kind.trim().to_string());
                        continue;
                    }
                }
                map.graph_ig_line(trimmed, ln, path)?;
                continue;
            }
            let Some(sec) = section else { continue };
            if trimmed.is_empty() {
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix("Component") {
                let k = rest.trim().trim_end_matches(':').trim();
                component = k.parse().map_err(|_| {
                    err(
                        ln,
                        format!("cannot read the component number in {trimmed:?}"),
                    )
                })?;
                continue;
            }
            let indented = line.starts_with(['\t', ' ']);
            if !indented {
                // Free text after the section.
                section = None;
                continue;
            }
            let mut parts = trimmed.splitn(2, char::is_whitespace);
            let key = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default().trim();
            let key: i64 = key.parse().map_err(|_| {
                err(
                    ln,
                    format!("expected '<integer label> <name>' in the {sec:?} label map, found {trimmed:?}"),
                )
            })?;
            if name.is_empty() {
                return Err(err(ln, format!("label {key} has no name")));
            }
            if component > 0 {
                continue;
            }
            let target = match sec {
                Section::Node => &mut map.node,
                Section::Edge => &mut map.edge,
                Section::Class => &mut map.class,
            };
            if let Some(old) = target.insert(key, name.to_string()) {
                return Err(err(
                    ln,
                    format!("label {key} is given twice ({old:?} and {name:?})"),
                ));
            }
        }
        Ok(map)
    }

    /// One line of the format `graph-ig synth` writes, if it is one.
    fn graph_ig_line(&mut self, line: &str, ln: usize, path: &Path) -> Result<()> {
        let err = |message: String| Error::Parse {
            path: path.to_path_buf(),
            line: ln,
            message,
        };
        if let Some(rest) = line.strip_prefix("Node labels:") {
            // "Node labels: 0..13 = C O Cl ..."
            let Some((range, names)) = rest.split_once('=') else {
                return Ok(());
            };
            let Some((a, _)) = range.trim().split_once("..") else {
                return Ok(());
            };
            let first: i64 = a
                .trim()
                .parse()
                .map_err(|_| err(format!("cannot read the first label in {line:?}")))?;
            for (k, name) in names.split_whitespace().enumerate() {
                self.node.insert(first + k as i64, name.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("Edge labels:") {
            // "Edge labels: valence 0 = single, 1 = double, 2 = triple"
            let rest = rest.trim();
            let (kind, entries) = match rest.split_once(char::is_whitespace) {
                Some((k, e)) if !k.contains('=') && k.parse::<i64>().is_err() => (Some(k), e),
                _ => (None, rest),
            };
            for entry in entries.split(',') {
                let Some((k, name)) = entry.split_once('=') else {
                    return Ok(());
                };
                let k: i64 = k
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("cannot read the edge label in {entry:?}")))?;
                self.edge.insert(k, name.trim().to_string());
            }
            if let Some(kind) = kind {
                self.edge_kind = Some(kind.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("Graph labels:") {
            // "Graph labels: 0 = has the planted nitro group, 1 = has none"
            for entry in rest.split(',') {
                let Some((k, name)) = entry.split_once('=') else {
                    return Ok(());
                };
                let Ok(k) = k.trim().parse::<i64>() else {
                    return Ok(());
                };
                self.class.insert(k, name.trim().to_string());
            }
        }
        Ok(())
    }

    /// The label map of the built-in synthetic molecules ([`crate::synthetic`]).
    pub fn synthetic() -> LabelMap {
        LabelMap {
            node: ATOM_SYMBOLS
                .iter()
                .enumerate()
                .map(|(i, s)| (i as i64, s.to_string()))
                .collect(),
            edge: [(0, "1"), (1, "2"), (2, "3")]
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect(),
            class: [(0, "mutagen"), (1, "nonmutagen")]
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect(),
            edge_kind: Some("valence".into()),
        }
    }

    /// The name of node label `label`, if the map has it.
    pub fn node_name(&self, label: i64) -> Option<&str> {
        self.node.get(&label).map(String::as_str)
    }

    /// The name of class `class`, if the map has it.
    pub fn class_name(&self, class: i64) -> Option<&str> {
        self.class.get(&class).map(String::as_str)
    }

    /// The bond order (1, 2 or 3) of edge label `label`, when the edge labels
    /// are valences (`1`, `2`, `3`) or named `single`, `double`, `triple`.
    pub fn bond_order(&self, label: i64) -> Option<u8> {
        let name = self.edge.get(&label)?;
        match name.to_ascii_lowercase().as_str() {
            "1" | "single" | "-" => Some(1),
            "2" | "double" | "=" => Some(2),
            "3" | "triple" | "#" => Some(3),
            _ => None,
        }
    }

    /// A readable name for edge label `label`: `single`, `double` or `triple`
    /// for bond orders, otherwise the map's name.
    pub fn bond_name(&self, label: i64) -> Option<String> {
        match self.bond_order(label) {
            Some(1) => Some("single".into()),
            Some(2) => Some("double".into()),
            Some(3) => Some("triple".into()),
            _ => self.edge.get(&label).cloned(),
        }
    }
}

/// The raw integer label of every node of a dataset (first label column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLabels(pub Vec<i64>);

impl NodeLabels {
    /// Reads the first column of `DIR/NAME_node_labels.txt`; `Ok(None)` if the file does not exist.
    pub fn read_tu(dir: impl AsRef<Path>, name: &str) -> Result<Option<NodeLabels>> {
        let path = dir.as_ref().join(format!("{name}_node_labels.txt"));
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut v = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let first = line.split(',').next().unwrap_or_default().trim();
            let label = first.parse::<i64>().map_err(|_| Error::Parse {
                path: path.clone(),
                line: i + 1,
                message: format!("cannot parse {first:?} as a node label"),
            })?;
            v.push(label);
        }
        Ok(Some(NodeLabels(v)))
    }

    /// Recovers labels from one-hot node features: the position of each row's
    /// largest value plus `offset` (the smallest label of the dataset, 0 for
    /// Mutagenicity). Meant for batches whose features are exactly one-hot labels.
    pub fn from_one_hot(batch: &GraphBatch, offset: i64) -> NodeLabels {
        let f = batch.num_features().max(1);
        NodeLabels(
            batch
                .features()
                .chunks(f)
                .map(|row| {
                    let mut best = 0;
                    for (j, v) in row.iter().enumerate() {
                        if *v > row[best] {
                            best = j;
                        }
                    }
                    best as i64 + offset
                })
                .collect(),
        )
    }

    /// The label of global node `node`.
    pub fn get(&self, node: usize) -> Option<i64> {
        self.0.get(node).copied()
    }
}

/// A dataset's graphs with the names of their labels: what is needed to name
/// and draw atoms and bonds.
#[derive(Debug, Clone)]
pub struct LabeledGraphs {
    /// The dataset name (`Synthetic` for the built-in data).
    pub name: String,
    /// Where the files are (`None` for the built-in data).
    pub dir: Option<PathBuf>,
    /// The graphs: structure, edge labels, graph labels.
    pub batch: GraphBatch,
    /// The raw label of every node, when the dataset has node labels.
    pub node_labels: Option<NodeLabels>,
    /// The label map, when the dataset has one (always for the built-in data).
    pub map: Option<LabelMap>,
}

impl LabeledGraphs {
    /// Reads the TU dataset `DIR/NAME_*.txt` (structure and labels only; no model needed).
    pub fn load_tu(dir: impl AsRef<Path>, name: &str) -> Result<LabeledGraphs> {
        let dir = dir.as_ref();
        let node_labels = NodeLabels::read_tu(dir, name)?;
        // The one-hot width load_tu will build: the label range of each column.
        let width = match &node_labels {
            Some(_) => one_hot_width(dir, name)?,
            None => {
                let path = dir.join(format!("{name}_node_labels.txt"));
                return Err(Error::Dataset {
                    path,
                    message: "does not exist: atoms cannot be named without node labels".into(),
                });
            }
        };
        let batch = load_tu(dir, name, width, &TuOptions::default())?;
        let map = LabelMap::read_tu(dir, name)?;
        Ok(LabeledGraphs {
            name: name.to_string(),
            dir: Some(dir.to_path_buf()),
            batch,
            node_labels,
            map,
        })
    }

    /// The built-in synthetic molecules (the default dataset of `graph-ig explain`).
    pub fn synthetic() -> Result<LabeledGraphs> {
        let d = synthetic::generate(&SyntheticConfig::default())?;
        Ok(LabeledGraphs {
            name: "Synthetic".into(),
            dir: None,
            node_labels: Some(NodeLabels(
                d.node_labels.iter().map(|&l| l as i64).collect(),
            )),
            batch: d.batch,
            map: Some(LabelMap::synthetic()),
        })
    }

    /// Where the dataset comes from, for messages.
    pub fn describe(&self) -> String {
        match &self.dir {
            Some(d) => format!("dataset {} in {}", self.name, d.display()),
            None => "the built-in synthetic dataset".into(),
        }
    }

    /// The symbol of global node `node`: the label map's name, else `#LABEL`,
    /// else `?` when the dataset has no node labels.
    pub fn atom_symbol(&self, node: usize) -> String {
        let Some(label) = self.node_labels.as_ref().and_then(|l| l.get(node)) else {
            return "?".into();
        };
        match self.map.as_ref().and_then(|m| m.node_name(label)) {
            Some(s) => s.to_string(),
            None => format!("#{label}"),
        }
    }

    /// The bond order (1..3) of edge `edge` (a position in the batch), when known.
    pub fn bond_order(&self, edge: usize) -> Option<u8> {
        let label = *self.batch.edge_labels()?.get(edge)?;
        self.map.as_ref()?.bond_order(label)
    }

    /// A readable bond name for edge `edge` (`double`, or `label 3` without a map), when it has a label.
    pub fn bond_name(&self, edge: usize) -> Option<String> {
        let label = *self.batch.edge_labels()?.get(edge)?;
        Some(
            self.map
                .as_ref()
                .and_then(|m| m.bond_name(label))
                .unwrap_or_else(|| format!("label {label}")),
        )
    }

    /// The name of class `class` (0-based, as in the model's outputs), when known.
    ///
    /// Class ids are PyG's remapped graph labels; the map is keyed by the raw
    /// labels, which coincide for datasets whose labels are `0..K` (Mutagenicity).
    pub fn class_name(&self, class: i64) -> Option<&str> {
        self.map.as_ref()?.class_name(class)
    }
}

/// The width of the one-hot block [`load_tu`] builds from `NAME_node_labels.txt`
/// for a model of that exact width: the sum over label columns of (max − min + 1).
fn one_hot_width(dir: &Path, name: &str) -> Result<usize> {
    let path = dir.join(format!("{name}_node_labels.txt"));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut lo: Vec<i64> = Vec::new();
    let mut hi: Vec<i64> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for (c, f) in line.split(',').enumerate() {
            let v: i64 = f.trim().parse().map_err(|_| Error::Parse {
                path: path.clone(),
                line: i + 1,
                message: format!("cannot parse {:?} as a node label", f.trim()),
            })?;
            if c >= lo.len() {
                lo.push(v);
                hi.push(v);
            }
            lo[c] = lo[c].min(v);
            hi[c] = hi[c].max(v);
        }
    }
    // A column's range can be anything an i64 holds: sum the widths without overflow,
    // and refuse a width no model takes (load_tu would build N × width features).
    let mut width = 0u64;
    for (c, (a, b)) in lo.iter().zip(&hi).enumerate() {
        let w = (*b as i128 - *a as i128 + 1) as u64;
        width = width.saturating_add(w);
        if width > MAX_ONE_HOT_WIDTH {
            return Err(Error::Dataset {
                path,
                message: format!(
                    "node label column {} spans {a}..={b}: more than {MAX_ONE_HOT_WIDTH} one-hot \
                     features in all, which no model takes",
                    c + 1
                ),
            });
        }
    }
    Ok(width as usize)
}

/// The widest one-hot encoding of node labels accepted: 2^20 features.
const MAX_ONE_HOT_WIDTH: u64 = 1 << 20;
