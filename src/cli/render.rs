//! `graph-ig render` (being written).

use clap::Args;
use graph_ig::{Error, Result};

/// Arguments of `graph-ig render`.
#[derive(Args)]
pub struct RenderArgs {}

/// Runs `graph-ig render`.
pub fn run(_args: RenderArgs) -> Result<()> {
    Err(Error::Config("graph-ig render is not written yet".into()))
}
