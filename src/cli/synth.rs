//! `graph-ig synth`: the built-in synthetic molecules as TU files.

use clap::Args;
use graph_ig::synthetic::{self, SyntheticConfig};
use graph_ig::Result;
use std::path::PathBuf;

#[derive(Args)]
pub struct SynthArgs {
    /// Output folder.
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

pub fn run(args: SynthArgs) -> Result<()> {
    let d = synthetic::generate(&SyntheticConfig {
        num_graphs: args.num_graphs,
        seed: args.seed,
    })?;
    d.write_tu(&args.out, &args.name)?;
    println!(
        "wrote {} graphs ({} nodes, {} edges) to {}/{}_*.txt",
        d.batch.num_graphs(),
        d.batch.num_nodes(),
        d.batch.num_edges(),
        args.out.display(),
        args.name
    );
    Ok(())
}
