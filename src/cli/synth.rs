//! `graph-ig synth`: the built-in synthetic molecules as TU files.

use super::io::outln;
use clap::Args;
use graph_ig::synthetic::{self, SyntheticConfig};
use graph_ig::Result;
use std::path::PathBuf;

#[derive(Args)]
pub struct SynthArgs {
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Dataset name (file prefix).
    #[arg(long, default_value = "Synthetic")]
    name: String,
    /// Number of molecules. They are written one at a time: memory does not grow with
    /// the count, the files do (about 1.2 kB a molecule).
    #[arg(long, default_value_t = SyntheticConfig::default().num_graphs)]
    num_graphs: usize,
    /// Random seed.
    #[arg(long, default_value_t = SyntheticConfig::default().seed)]
    seed: u64,
}

pub fn run(args: SynthArgs) -> Result<()> {
    if let Some(reason) = graph_ig::output::filesystem_refusal(&args.out) {
        return Err(graph_ig::Error::Unwritable {
            path: args.out.clone(),
            reason,
        });
    }
    let c = synthetic::write_tu_streaming(
        &SyntheticConfig {
            num_graphs: args.num_graphs,
            seed: args.seed,
        },
        &args.out,
        &args.name,
    )?;
    outln!(
        "wrote {} graphs ({} nodes, {} edges) to {}/{}_*.txt",
        c.graphs,
        c.nodes,
        c.edges,
        args.out.display(),
        args.name
    );
    Ok(())
}
