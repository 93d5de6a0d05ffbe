//! `graph-ig eval` (being written).

use clap::Args;
use graph_ig::{Error, Result};

/// Arguments of `graph-ig eval`.
#[derive(Args)]
pub struct EvalArgs {}

/// Runs `graph-ig eval`.
pub fn run(_args: EvalArgs) -> Result<()> {
    Err(Error::Config("graph-ig eval is not written yet".into()))
}
