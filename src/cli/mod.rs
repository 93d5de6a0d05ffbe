//! The command line: one file per subcommand.

pub mod eval;
pub mod explain;
pub mod render;
pub mod synth;
pub mod top;

use clap::{Parser, Subcommand};
use graph_ig::graph::tu::{load_tu, TuOptions};
use graph_ig::sweep::sha256_hex;
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::{default_model, Error, GraphBatch, GraphConvNet, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// The bounds of `--graphs A..B`, `A..` or `..B` (0-based, half-open; `A..` ends at
/// `usize::MAX`), not yet checked against anything.
pub fn parse_graph_bounds(s: &str) -> Result<std::ops::Range<usize>> {
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

/// The device of `--device auto|cpu|cuda|cuda:N|interpret`, opened (so that a missing
/// GPU is reported before any work); `auto` says on stderr when it falls back to the CPU.
/// Shared by `explain` and `eval`.
pub fn open_device(arg: &str) -> Result<graph_ig::Device> {
    let (device, note) = match arg {
        "auto" => graph_ig::Device::auto()?,
        d => (d.parse()?, None),
    };
    if let Some(note) = note {
        eprintln!("graph-ig: --device auto: {note}");
    }
    device.open()?;
    Ok(device)
}

/// Where the graphs and the model come from; shared by `explain` and `eval`.
#[derive(clap::Args)]
pub struct DataArgs {
    /// Folder with the TU files NAME_A.txt, NAME_graph_indicator.txt, ...
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
    /// Put NAME_node_attributes.txt before the one-hot labels (PyG's use_node_attr=True).
    #[arg(long)]
    pub use_node_attr: bool,
}

impl DataArgs {
    /// The dataset name: `--name`, or `Synthetic` for the built-in data.
    pub fn dataset(&self) -> Result<String> {
        match (&self.data, &self.name) {
            (Some(_), Some(n)) => Ok(n.clone()),
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
        if let Some(p) = &self.model {
            let bytes = std::fs::read(p).map_err(|e| Error::Io {
                path: p.clone(),
                source: e,
            })?;
            let m = GraphConvNet::from_safetensors_bytes(&bytes, p)?;
            return Ok((m, p.display().to_string(), sha256_hex(&bytes)));
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

    /// All graphs of the dataset, with node features of width `num_features`.
    pub fn graphs(&self, dataset: &str, num_features: usize) -> Result<GraphBatch> {
        match &self.data {
            Some(dir) => load_tu(
                dir,
                dataset,
                num_features,
                &TuOptions {
                    use_node_attr: self.use_node_attr,
                },
            ),
            None => Ok(generate(&SyntheticConfig::default())?.batch),
        }
    }
}

#[derive(Parser)]
#[command(
    name = "graph-ig",
    version,
    about = "Integrated Gradients and friends for PyG GraphConv models, over whole datasets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Attribute every graph of a dataset and write the results as safetensors.
    Explain(Box<explain::ExplainArgs>),
    /// Write the built-in synthetic molecule dataset as TU text files.
    Synth(synth::SynthArgs),
    /// Score attributions: fidelity, contrastivity, sparsity, ground-truth accuracy.
    Eval(eval::EvalArgs),
    /// Print the most important edges (or nodes) of each graph.
    Top(top::TopArgs),
    /// Draw a molecule with its attributions as SVG.
    Render(render::RenderArgs),
}

/// Parses the arguments, runs the subcommand and reports errors on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Explain(a) => explain::run(*a),
        Command::Synth(a) => synth::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Top(a) => top::run(a),
        Command::Render(a) => render::run(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("graph-ig: error: {e}");
            ExitCode::FAILURE
        }
    }
}
