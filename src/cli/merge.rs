//! `graph-ig merge`: shard outputs of `graph-ig explain --shard` joined into the file
//! one unsharded run writes, byte for byte.

use super::io::outln;
use clap::Args;
use graph_ig::shard::merge::{merge, shard_files};
use graph_ig::Result;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `graph-ig merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// Shard files (NAME.shard-K-of-N.safetensors), or folders holding the shards of
    /// one run. Every shard 0..N must be there.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The merged output (written atomically).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: MergeArgs) -> Result<()> {
    super::refuse_unwritable([&args.out])?;
    let started = Instant::now();
    let files = shard_files(&args.inputs)?;
    let m = merge(&files, &args.out)?;
    outln!(
        "graph-ig merge: {} shards, {} rows, {} bytes in {:.3} s",
        m.shards,
        m.rows,
        m.bytes,
        started.elapsed().as_secs_f64()
    );
    outln!("  wrote:            {}", args.out.display());
    Ok(())
}
