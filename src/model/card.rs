//! The architecture card: the JSON that says which ops a PyG `state_dict` belongs to
//! (`../shared/docs/pyg-interchange.md`, section 2).
//!
//! ```json
//! {"format": "graph-ig-arch/1", "task": "graph",
//!  "layers": [{"op": "GCNConv", "prefix": "conv1"}, {"op": "relu"},
//!             {"op": "global_mean_pool"}, {"op": "Linear", "prefix": "lin"},
//!             {"op": "log_softmax"}]}
//! ```
//!
//! Each op is read by [`CardOp`]'s getters; an option that no getter asked for is an
//! error (a misspelt option must not be silently ignored), except the training-only
//! options PyG stores for training (`dropout`, `cached` and the like), which are read and dropped.

use crate::{Error, Result};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The card format this build reads.
pub const FORMAT: &str = "graph-ig-arch/1";

/// The safetensors metadata key that holds a card.
pub const METADATA_KEY: &str = "graph_ig.arch";

/// Options that act only in training (or only with inputs graph-ig does not pass), so
/// a card may carry them: GATConv's attention `dropout`, GCNConv's `cached`, the
/// exporter's informational fields.
const IGNORED: &[&str] = &[
    "dropout",
    "cached",
    "in_channels",
    "out_channels",
    "train_eps",
];

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Task {
    /// One prediction per graph (after a global pool).
    #[default]
    Graph,
    /// One prediction per node (no pool).
    Node,
}

/// A parsed card.
#[derive(Debug, Clone)]
pub struct Card {
    /// Where the card came from (a file, or the model file's metadata), for errors.
    pub origin: PathBuf,
    /// Graph or node task.
    pub task: Task,
    /// The ops, in order.
    pub layers: Vec<CardOp>,
}

/// One op of a card, with its options.
#[derive(Debug, Clone)]
pub struct CardOp {
    origin: PathBuf,
    /// 1-based position in its list (`layers`, or a GINConv's `nn`).
    pub position: usize,
    /// The op name (`GCNConv`, `relu`, ...).
    pub op: String,
    /// The state-dict prefix, for ops with parameters.
    pub prefix: Option<String>,
    fields: Map<String, Value>,
    used: RefCell<BTreeSet<String>>,
}

impl Card {
    /// Parses card JSON; `origin` names it in errors.
    pub fn parse(text: &str, origin: impl AsRef<Path>) -> Result<Card> {
        let origin = origin.as_ref().to_path_buf();
        let bad = |m: String| Error::Card {
            path: origin.clone(),
            message: m,
        };
        let v: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("the card must be a JSON object".into()))?;
        match obj.get("format").and_then(Value::as_str) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(bad(format!(
                    "format {other:?} is not supported; this build reads {FORMAT:?}"
                )))
            }
            None => return Err(bad(format!("missing \"format\": {FORMAT:?}"))),
        }
        let task = match obj.get("task").map(|t| t.as_str()) {
            None | Some(Some("graph")) => Task::Graph,
            Some(Some("node")) => Task::Node,
            Some(t) => {
                return Err(bad(format!(
                    "task {}: use \"graph\" or \"node\"",
                    t.map_or_else(|| obj["task"].to_string(), |s| format!("{s:?}"))
                )))
            }
        };
        for k in obj.keys() {
            if !["format", "task", "layers"].contains(&k.as_str()) {
                return Err(bad(format!(
                    "unknown top-level key {k:?}; a card has format, task and layers"
                )));
            }
        }
        let layers = obj
            .get("layers")
            .ok_or_else(|| bad("missing \"layers\"".into()))?;
        let layers = ops_of(layers, &origin, "layers")?;
        if layers.is_empty() {
            return Err(bad("\"layers\" is empty".into()));
        }
        Ok(Card {
            origin,
            task,
            layers,
        })
    }
}

/// The ops of a JSON list (`what` names the list in errors).
fn ops_of(v: &Value, origin: &Path, what: &str) -> Result<Vec<CardOp>> {
    let bad = |m: String| Error::Card {
        path: origin.to_path_buf(),
        message: m,
    };
    let list = v
        .as_array()
        .ok_or_else(|| bad(format!("\"{what}\" must be a list of ops")))?;
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let o = item
                .as_object()
                .ok_or_else(|| bad(format!("{what}[{}]: an op must be a JSON object", i + 1)))?;
            let op = o
                .get("op")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("{what}[{}]: missing \"op\" (a string)", i + 1)))?;
            let prefix = match o.get("prefix") {
                None => None,
                Some(Value::String(p)) => Some(p.clone()),
                Some(other) => {
                    return Err(bad(format!(
                        "{what}[{}] ({op}): \"prefix\" must be a string, got {other}",
                        i + 1
                    )))
                }
            };
            let mut fields = o.clone();
            fields.remove("op");
            fields.remove("prefix");
            Ok(CardOp {
                origin: origin.to_path_buf(),
                position: i + 1,
                op: op.to_string(),
                prefix,
                fields,
                used: RefCell::new(BTreeSet::new()),
            })
        })
        .collect()
}

impl CardOp {
    /// How the op is named in errors: `layer 3 (GATConv, prefix conv2)`.
    pub fn describe(&self) -> String {
        match &self.prefix {
            Some(p) => format!("layer {} ({}, prefix {p})", self.position, self.op),
            None => format!("layer {} ({})", self.position, self.op),
        }
    }

    /// An error about this op.
    pub fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::Card {
            path: self.origin.clone(),
            message: format!("{}: {message}", self.describe()),
        }
    }

    /// The prefix, which this op needs.
    pub fn require_prefix(&self) -> Result<&str> {
        self.prefix
            .as_deref()
            .ok_or_else(|| self.err("missing \"prefix\" (the op's state-dict key prefix)"))
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.used.borrow_mut().insert(key.to_string());
        self.fields.get(key)
    }

    /// A boolean option, `default` when left out.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.err(format!("option {key} must be true or false, got {v}"))),
        }
    }

    /// A number option, `default` when left out.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| self.err(format!("option {key} must be a finite number, got {v}"))),
        }
    }

    /// A positive integer option, `default` when left out.
    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|&x| x > 0)
                .and_then(|x| usize::try_from(x).ok())
                .ok_or_else(|| {
                    self.err(format!("option {key} must be a positive integer, got {v}"))
                }),
        }
    }

    /// A string option, `default` when left out.
    pub fn str_or<'a>(&'a self, key: &str, default: &'a str) -> Result<&'a str> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(self.err(format!("option {key} must be a string, got {v}"))),
        }
    }

    /// True when the option is present (and not null).
    pub fn has(&self, key: &str) -> bool {
        !matches!(self.get(key), None | Some(Value::Null))
    }

    /// A nested op list (a GINConv's `nn`).
    pub fn ops(&self, key: &str) -> Result<Vec<CardOp>> {
        let v = self
            .get(key)
            .ok_or_else(|| self.err(format!("missing \"{key}\" (a list of ops)")))?;
        ops_of(v, &self.origin, &format!("{} {key}", self.describe()))
    }

    /// Fails on options that no getter asked for.
    pub fn finish(&self) -> Result<()> {
        let used = self.used.borrow();
        let unknown: Vec<&String> = self
            .fields
            .keys()
            .filter(|k| !used.contains(*k) && !IGNORED.contains(&k.as_str()))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            let known: Vec<&String> = used.iter().collect();
            Err(self.err(format!(
                "unknown option(s) {unknown:?}{}",
                if known.is_empty() {
                    "; this op takes none".to_string()
                } else {
                    format!("; this op takes {known:?}")
                }
            )))
        }
    }
}
