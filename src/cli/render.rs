//! `graph-ig render`: molecules with their bond attributions, as SVG.

use super::io::outln;
use super::top::load_data;
use clap::Args;
use graph_ig::labels::LabeledGraphs;
use graph_ig::render::{render_svg, Panel, RenderOptions};
use graph_ig::topk::AttrFile;
use graph_ig::{Error, Result};
use std::path::PathBuf;

/// Arguments of `graph-ig render`.
#[derive(Args)]
pub struct RenderArgs {
    /// An output file of graph-ig explain. Give it several times to draw
    /// several methods side by side.
    #[arg(long, required = true)]
    attr: Vec<PathBuf>,
    /// Folder with the TU files NAME_A.txt, ... (with --name).
    /// Without it, the built-in synthetic molecules are used.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Dataset name: the prefix of the TU files.
    #[arg(long)]
    name: Option<String>,
    /// Dataset graph(s) to draw, 0-based: I or I,J,K (default: the file's first graph).
    #[arg(long)]
    graph: Option<String>,
    /// Output SVG file.
    #[arg(long)]
    out: PathBuf,
    /// Panels per row of the grid (default: one row per graph with several
    /// --attr files, otherwise up to 3 per row).
    #[arg(long)]
    columns: Option<usize>,
    /// One colour scale for all panels instead of one per panel.
    #[arg(long)]
    shared_scale: bool,
    /// Draw a yellow halo behind the bonds marked in the ground truth (edge_gt).
    #[arg(long)]
    ground_truth: bool,
    /// Pixels per bond length.
    #[arg(long, default_value_t = 44.0)]
    bond_px: f64,
}

/// Runs `graph-ig render`.
pub fn run(args: RenderArgs) -> Result<()> {
    if !(args.bond_px.is_finite() && args.bond_px >= 4.0 && args.bond_px <= 1000.0) {
        return Err(Error::Config(format!(
            "--bond-px {}: expected a number of pixels from 4 to 1000",
            args.bond_px
        )));
    }
    if args.columns == Some(0) {
        return Err(Error::Config("--columns must be at least 1".into()));
    }
    let files = args
        .attr
        .iter()
        .map(AttrFile::open)
        .collect::<Result<Vec<_>>>()?;
    let first = &files[0];
    let data = match load_data(&args.data, &args.name, first)? {
        Some(d) => d,
        None => {
            for f in &files {
                if let Some(d) = f.dataset() {
                    if d != "Synthetic" {
                        return Err(Error::Config(format!(
                            "{} was made from dataset {d}; pass --data DIR --name {d}",
                            f.path().display()
                        )));
                    }
                }
            }
            LabeledGraphs::synthetic()?
        }
    };
    let graphs = match &args.graph {
        Some(s) => graph_ig::args::graph_list(s)?,
        None => vec![*first
            .graph_indices()
            .first()
            .ok_or_else(|| Error::Config(format!("{} holds no graphs", first.path().display())))?],
    };
    if graphs.len() > 100 {
        return Err(Error::Config(format!(
            "--graph: {} graphs is too many for one picture (at most 100)",
            graphs.len()
        )));
    }
    let mut panels = Vec::new();
    for &d in &graphs {
        for f in &files {
            let g = f.position_of(d).ok_or_else(|| {
                Error::Config(format!(
                    "graph {d} is not in {}, which holds {}",
                    f.path().display(),
                    f.describe_graphs()
                ))
            })?;
            panels.push(Panel::from_file(f, g, &data)?);
        }
    }
    let columns = args.columns.unwrap_or(if files.len() > 1 {
        files.len()
    } else {
        graphs.len().min(3)
    });
    let svg = render_svg(
        &panels,
        &RenderOptions {
            bond_px: args.bond_px,
            columns,
            shared_scale: args.shared_scale,
            show_ground_truth: args.ground_truth,
        },
    );
    if let Some(reason) = graph_ig::output::filesystem_refusal(&args.out) {
        return Err(graph_ig::Error::Unwritable {
            path: args.out.clone(),
            reason,
        });
    }
    graph_ig::output::write_atomic(&args.out, svg.len() as u64, |f| f.write_all(svg.as_bytes()))?;
    outln!(
        "graph-ig render: {} panel{} ({} graph{} × {} file{}) -> {}",
        panels.len(),
        if panels.len() == 1 { "" } else { "s" },
        graphs.len(),
        if graphs.len() == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        args.out.display()
    );
    Ok(())
}
