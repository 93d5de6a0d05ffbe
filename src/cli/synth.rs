//! `graph-ig synth`: the built-in synthetic molecules as TU files.

use super::io::outln;
use clap::Args;
use graph_ig::synthetic::{self, SyntheticConfig};
use graph_ig::{memory, Error, Result};
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

/// Disk one molecule's TU text takes, about (a little more with more digits in the
/// node ids: 2 million molecules take about 1.3 kB each).
const BYTES_PER_MOLECULE: u64 = 1200;

pub fn run(args: SynthArgs) -> Result<()> {
    if let Some(reason) = graph_ig::output::filesystem_refusal(&args.out) {
        return Err(Error::Unwritable {
            path: args.out.clone(),
            reason,
        });
    }
    // The files grow with the count, memory does not: refuse what the disk cannot hold
    // before writing (a disk that fills up anyway is an error that removes the files).
    let needed = memory::product(&[args.num_graphs as u64, BYTES_PER_MOLECULE]);
    if let Some(free) = graph_ig::output::free_space(&args.out) {
        if needed > free {
            return Err(Error::Config(format!(
                "writing {} molecules needs about {} of disk in {}, but {} are free there; \
                 ask for at most about {} molecules (--num-graphs)",
                args.num_graphs,
                memory::human(needed),
                args.out.display(),
                memory::human(free),
                free / BYTES_PER_MOLECULE
            )));
        }
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
