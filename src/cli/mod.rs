//! The command line: one file per subcommand.

pub mod eval;
pub mod explain;
pub mod render;
pub mod synth;
pub mod top;

use clap::{Parser, Subcommand};
use graph_ig::sweep::sha256_hex;
use graph_ig::{default_model, Error, GraphConvNet, Result};
use std::path::Path;
use std::process::ExitCode;

/// The model of a command, a label for it (its path, or `built-in:NAME`) and the
/// SHA-256 of its bytes: the file given, else the built-in model for the built-in
/// data (`has_data` false) or for Mutagenicity.
pub fn load_model(
    model: Option<&Path>,
    has_data: bool,
    dataset: &str,
) -> Result<(GraphConvNet, String, String)> {
    if let Some(p) = model {
        let bytes = std::fs::read(p).map_err(|e| Error::Io {
            path: p.to_path_buf(),
            source: e,
        })?;
        let m = GraphConvNet::from_safetensors_bytes(&bytes, p)?;
        return Ok((m, p.display().to_string(), sha256_hex(&bytes)));
    }
    let (m, key) = match (has_data, dataset) {
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
