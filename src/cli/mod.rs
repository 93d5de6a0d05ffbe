//! The command line: one file per subcommand.

pub mod eval;
pub mod explain;
pub mod render;
pub mod synth;
pub mod top;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
