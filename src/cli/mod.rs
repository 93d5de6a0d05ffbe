//! The command line: one file per subcommand.

pub mod attention;
pub mod embed;
pub mod eval;
pub mod explain;
pub mod io;
pub mod merge;
pub mod progress;
pub mod render;
pub mod signals;
pub mod synth;
pub mod top;

use io::noteln;

use clap::{Parser, Subcommand};
use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::sweep::sha256_hex;
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::{default_model, Error, GraphBatch, GraphConvNet, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// Checks that TU dataset `name` has its required files in `dir`
/// (`NAME_graph_indicator.txt`, `NAME_A.txt`); the error names the missing file and
/// the datasets that are there, so that a misspelled `--name` says so.
pub fn check_tu_files(dir: &std::path::Path, name: &str) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::Dataset {
            path: dir.to_path_buf(),
            message: "is not a folder (--data takes the folder of the TU text files)".into(),
        });
    }
    for suffix in ["graph_indicator", "A"] {
        let path = dir.join(format!("{name}_{suffix}.txt"));
        if path.exists() {
            continue;
        }
        let mut found: Vec<String> = std::fs::read_dir(dir)
            .map(|r| {
                r.flatten()
                    .filter_map(|e| {
                        let f = e.file_name().to_string_lossy().into_owned();
                        f.strip_suffix("_graph_indicator.txt").map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        let there = match found.len() {
            0 => "no TU dataset is there".to_string(),
            _ => format!("the folder holds dataset {}", found.join(", ")),
        };
        return Err(Error::Dataset {
            path,
            message: format!("not found: no dataset {name:?} in {} ({there}); --name is the prefix of the TU files", dir.display()),
        });
    }
    Ok(())
}

/// The device of `--device auto|cpu|cuda|cuda:N|interpret`, opened (so that a missing
/// GPU is reported before any work); `auto` says on stderr when it falls back to the CPU.
/// Shared by `explain` and `eval`.
pub fn open_device(arg: &str) -> Result<graph_ig::Device> {
    match open_devices(arg)?.as_slice() {
        [d] => Ok(*d),
        _ => Err(Error::Config(format!(
            "--device {arg}: this command runs on one device (a list such as cuda:all is for \
             explain)"
        ))),
    }
}

/// The devices of `--device`: [`open_device`]'s forms, or a list (`cuda:all`,
/// `cuda:0,2`, `interpret:K`), each opened.
pub fn open_devices(arg: &str) -> Result<Vec<graph_ig::Device>> {
    let (devices, note) = match arg {
        "auto" => {
            let (d, note) = graph_ig::Device::auto()?;
            (vec![d], note)
        }
        d => (graph_ig::parse_devices(d)?, None),
    };
    if let Some(note) = note {
        noteln!("graph-ig: --device auto: {note}");
    }
    for d in &devices {
        d.open()?;
    }
    Ok(devices)
}

/// What a data file holds for node tasks: node labels and the split masks.
#[derive(Debug, Clone, Default)]
pub struct NodeData {
    /// One class per node (`y` of length N).
    pub labels: Option<Vec<i64>>,
    /// `train`, `val`, `test` masks, by name.
    pub masks: Vec<(String, Vec<bool>)>,
}

impl NodeData {
    /// The mask called `name`, if the file has it.
    pub fn mask(&self, name: &str) -> Option<Vec<bool>> {
        self.masks
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, m)| m.clone())
    }
}

/// Where the graphs and the model come from; shared by `explain` and `eval`.
#[derive(clap::Args)]
pub struct DataArgs {
    /// Folder with the TU files NAME_A.txt, NAME_graph_indicator.txt, ... (with --name), or a
    /// PyG data file FILE.safetensors (no --name; the dataset is the file stem).
    /// Without it, the built-in synthetic molecules are used.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Dataset name: the prefix of the TU files.
    #[arg(long)]
    pub name: Option<String>,
    /// PyG state_dict as safetensors. Defaults to the built-in model for the
    /// built-in data and for Mutagenicity.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The model's architecture card (JSON, format graph-ig-arch/1); wins over a card in
    /// the model file's metadata (graph_ig.arch). Without either, the GraphConv tutorial
    /// family is inferred from the keys.
    #[arg(long)]
    pub arch: Option<PathBuf>,
    /// Put NAME_node_attributes.txt before the one-hot labels (PyG's use_node_attr=True).
    #[arg(long)]
    pub use_node_attr: bool,
}

impl DataArgs {
    /// The dataset name: `--name`, or `Synthetic` for the built-in data. With `--data`,
    /// the dataset's required files must exist ([`check_tu_files`]).
    pub fn dataset(&self) -> Result<String> {
        if let Some(stem) = self.pyg_file().and_then(|p| p.file_stem()) {
            return Ok(stem.to_string_lossy().into_owned());
        }
        match (&self.data, &self.name) {
            (Some(dir), Some(n)) => {
                check_tu_files(dir, n)?;
                Ok(n.clone())
            }
            (Some(_), None) => Err(Error::Config(
                "--data needs --name (the TU file prefix)".into(),
            )),
            (None, Some(_)) => Err(Error::Config("--name needs --data".into())),
            (None, None) => Ok("Synthetic".to_string()),
        }
    }

    /// The model, a label for it (its path, or `built-in:NAME`) and the SHA-256 of
    /// its bytes: `--model`, else the built-in model for the built-in data or Mutagenicity.
    pub fn model(&self, dataset: &str) -> Result<(GraphConvNet, String, String)> {
        let card = match &self.arch {
            Some(a) => {
                let text = std::fs::read_to_string(a).map_err(|e| Error::Io {
                    path: a.clone(),
                    source: e,
                })?;
                Some((
                    graph_ig::model::Card::parse(&text, a)?,
                    sha256_hex(text.as_bytes()),
                ))
            }
            None => None,
        };
        if let Some(p) = &self.model {
            let bytes = std::fs::read(p).map_err(|e| Error::Io {
                path: p.clone(),
                source: e,
            })?;
            let m = match &card {
                Some((c, _)) => GraphConvNet::from_safetensors_bytes_with_card(&bytes, p, c)?,
                None => GraphConvNet::from_safetensors_bytes(&bytes, p)?,
            };
            // The card is part of the model: a different card is a different model.
            let sha = match &card {
                Some((_, card_sha)) => {
                    sha256_hex(format!("{}{card_sha}", sha256_hex(&bytes)).as_bytes())
                }
                None => sha256_hex(&bytes),
            };
            return Ok((m, p.display().to_string(), sha));
        }
        if self.arch.is_some() {
            return Err(Error::Config(
                "--arch needs --model (the state dict the card describes)".into(),
            ));
        }
        let (m, key) = match (self.data.is_some(), dataset) {
            (false, _) => (default_model::synthetic()?, "synthetic"),
            (true, "Mutagenicity") => (default_model::mutagenicity()?, "mutagenicity"),
            (true, other) => {
                return Err(Error::Config(format!(
                    "no built-in model for dataset {other}; pass --model FILE.safetensors"
                )))
            }
        };
        let bytes = default_model::bytes(key).unwrap_or_default();
        Ok((m, format!("built-in:{key}"), sha256_hex(bytes)))
    }

    /// `--data` when it names a file (a PyG data file) rather than a TU folder.
    fn pyg_file(&self) -> Option<&std::path::Path> {
        self.data.as_deref().filter(|p| p.is_file())
    }

    /// The dataset's graphs as a source that a sweep reads a chunk at a time, for graph
    /// tasks: a TU folder and a PyG data file stream from disk
    /// ([`graph_ig::graph::tu_stream::TuSource`], [`graph_ig::graph::pyg_stream::PygSource`]);
    /// the built-in data is generated in memory. Node tasks use [`DataArgs::data`].
    pub fn source(
        &self,
        dataset: &str,
        num_features: usize,
    ) -> Result<Box<dyn graph_ig::graph::source::GraphSource>> {
        use graph_ig::graph::source::GraphSource;
        if let Some(path) = self.pyg_file() {
            let s = graph_ig::graph::pyg_stream::PygSource::open(path)?;
            for note in s.notes() {
                eprintln!("graph-ig: {}: {note}", path.display());
            }
            if !s.ignored().is_empty() {
                eprintln!(
                    "graph-ig: {}: ignored tensors: {}",
                    path.display(),
                    s.ignored().join(", ")
                );
            }
            if !s.is_streaming() {
                eprintln!("graph-ig: {}: outputs list each graph's edges together, in the file's order within the graph", path.display());
            }
            if s.num_features() != num_features {
                return Err(Error::Mismatch(format!(
                    "{}: x has {} features per node, the model expects {num_features}",
                    path.display(),
                    s.num_features()
                )));
            }
            return Ok(Box::new(s));
        }
        match &self.data {
            Some(dir) => Ok(Box::new(graph_ig::graph::tu_stream::TuSource::open(
                dir,
                dataset,
                num_features,
                &TuOptions {
                    use_node_attr: self.use_node_attr,
                },
            )?)),
            None => Ok(Box::new(graph_ig::graph::source::InMemory::owned(
                self.graphs(dataset, num_features)?,
            ))),
        }
    }

    /// All graphs of the dataset, with node features of width `num_features`.
    pub fn graphs(&self, dataset: &str, num_features: usize) -> Result<GraphBatch> {
        Ok(self.data(dataset, num_features)?.0)
    }

    /// All graphs of the dataset, and what a PyG data file holds for node tasks.
    pub fn data(&self, dataset: &str, num_features: usize) -> Result<(GraphBatch, NodeData)> {
        if let Some(path) = self.pyg_file() {
            let d = graph_ig::graph::pyg::load(path)?;
            for note in &d.notes {
                eprintln!("graph-ig: {}: {note}", path.display());
            }
            if !d.ignored.is_empty() {
                eprintln!(
                    "graph-ig: {}: ignored tensors: {}",
                    path.display(),
                    d.ignored.join(", ")
                );
            }
            if d.edge_perm.is_some() {
                eprintln!("graph-ig: {}: edges of different graphs interleave; outputs list each graph's edges together, in the file's order within the graph", path.display());
            }
            if d.batch.num_features() != num_features {
                return Err(Error::Mismatch(format!(
                    "{}: x has {} features per node, the model expects {num_features}",
                    path.display(),
                    d.batch.num_features()
                )));
            }
            let extras = NodeData {
                labels: d.node_labels,
                masks: [
                    ("train", d.train_mask),
                    ("val", d.val_mask),
                    ("test", d.test_mask),
                ]
                .into_iter()
                .filter_map(|(k, m)| m.map(|m| (k.to_string(), m)))
                .collect(),
            };
            return Ok((d.batch, extras));
        }
        let batch = match &self.data {
            Some(dir) => load_tu(
                dir,
                dataset,
                num_features,
                &TuOptions {
                    use_node_attr: self.use_node_attr,
                },
            )?,
            None => generate(&SyntheticConfig::default())?.batch,
        };
        Ok((batch, NodeData::default()))
    }
}

/// Refuses output paths on read-only or virtual filesystems, before any work.
pub fn refuse_unwritable<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> Result<()> {
    for p in paths {
        if let Some(reason) = graph_ig::output::filesystem_refusal(p) {
            return Err(Error::Unwritable {
                path: p.clone(),
                reason,
            });
        }
    }
    Ok(())
}

/// The metadata of a file that `command` writes: the model, its SHA-256, the dataset,
/// then `extra`.
pub fn file_metadata(
    command: &str,
    model: String,
    model_sha: String,
    dataset: String,
    extra: &[(&str, String)],
) -> std::collections::BTreeMap<String, String> {
    [
        ("graph_ig.command", command.to_string()),
        ("graph_ig.model", model),
        ("graph_ig.model_sha256", model_sha),
        ("graph_ig.dataset", dataset),
    ]
    .into_iter()
    .chain(extra.iter().cloned())
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[derive(Parser)]
#[command(
    name = "graph-ig",
    version,
    about = "Integrated Gradients and friends for PyTorch Geometric models, over whole datasets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Attribute every graph of a dataset and write the results as safetensors.
    Explain(Box<explain::ExplainArgs>),
    /// Join the shard outputs of `explain --shard` into the file one unsharded run writes.
    Merge(merge::MergeArgs),
    /// Write the built-in synthetic molecule dataset as TU text files.
    Synth(synth::SynthArgs),
    /// Score attributions: fidelity, contrastivity, sparsity, ground-truth accuracy.
    Eval(Box<eval::EvalArgs>),
    /// Print the most important edges (or nodes) of each graph.
    Top(top::TopArgs),
    /// Draw a molecule with its attributions as SVG.
    Render(render::RenderArgs),
    /// Write every GATConv's attention coefficients and entropies (and their pictures).
    Attention(Box<attention::AttentionArgs>),
    /// Write node (or graph) embeddings after any conv block (and a t-SNE picture).
    Embed(Box<embed::EmbedArgs>),
}

/// Parses the arguments, runs the subcommand and reports errors on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Explain(a) => explain::run(*a),
        Command::Merge(a) => merge::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Eval(a) => eval::run(*a),
        Command::Top(a) => top::run(a),
        Command::Render(a) => render::run(a),
        Command::Attention(a) => attention::run(*a),
        Command::Embed(a) => embed::run(*a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ Error::Interrupted { .. }) => {
            noteln!("graph-ig: {e}");
            ExitCode::from(signals::exit_status())
        }
        Err(e) => {
            noteln!("graph-ig: error: {e}");
            ExitCode::FAILURE
        }
    }
}
