//! `graph-ig top` (being written).

use clap::Args;
use graph_ig::{Error, Result};

/// Arguments of `graph-ig top`.
#[derive(Args)]
pub struct TopArgs {}

/// Runs `graph-ig top`.
pub fn run(_args: TopArgs) -> Result<()> {
    Err(Error::Config("graph-ig top is not written yet".into()))
}
