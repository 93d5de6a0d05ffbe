//! `graph-ig synth`: the built-in synthetic molecules as TU files.

use super::io::outln;
use clap::Args;
use graph_ig::synthetic::{self, SyntheticConfig};
use graph_ig::{memory, Result};
use std::path::PathBuf;

#[derive(Args)]
pub struct SynthArgs {
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Dataset name (file prefix).
    #[arg(long, default_value = "Synthetic")]
    name: String,
    /// Number of molecules.
    #[arg(long, default_value_t = SyntheticConfig::default().num_graphs)]
    num_graphs: usize,
    /// Random seed.
    #[arg(long, default_value_t = SyntheticConfig::default().seed)]
    seed: u64,
}

/// Host memory one molecule of the generator takes at most, with its TU text.
const BYTES_PER_MOLECULE: u64 = 8 << 10;

pub fn run(args: SynthArgs) -> Result<()> {
    memory::check(
        || format!("generating {} molecules", args.num_graphs),
        memory::product(&[args.num_graphs as u64, BYTES_PER_MOLECULE]),
        || {
            let fit = memory::available().unwrap_or(0) / BYTES_PER_MOLECULE;
            format!("ask for at most about {fit} molecules (--num-graphs)")
        },
    )?;
    if let Some(reason) = graph_ig::output::filesystem_refusal(&args.out) {
        return Err(graph_ig::Error::Unwritable {
            path: args.out.clone(),
            reason,
        });
    }
    let d = synthetic::generate(&SyntheticConfig {
        num_graphs: args.num_graphs,
        seed: args.seed,
    })?;
    d.write_tu(&args.out, &args.name)?;
    outln!(
        "wrote {} graphs ({} nodes, {} edges) to {}/{}_*.txt",
        d.batch.num_graphs(),
        d.batch.num_nodes(),
        d.batch.num_edges(),
        args.out.display(),
        args.name
    );
    Ok(())
}
