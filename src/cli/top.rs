//! `graph-ig top`: the most important edges (or bonds, or nodes) of each graph, in order.

use super::io::noteln;
use clap::Args;
use graph_ig::labels::LabeledGraphs;
use graph_ig::topk::{AttrFile, Ranking};
use graph_ig::{Error, Result};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `graph-ig top`.
#[derive(Args)]
pub struct TopArgs {
    /// An output file of graph-ig explain.
    #[arg(long)]
    attr: PathBuf,
    /// How many edges (or nodes) to print per graph.
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// Ranking: abs (largest |attribution| first) or value (largest attribution
    /// first; also spelled signed, as in graph-ig eval --ranking).
    #[arg(long, default_value = "abs")]
    by: String,
    /// Rank bonds (both directions of an edge summed) instead of directed edges.
    #[arg(long)]
    undirected: bool,
    /// Rank nodes (each node's attribution summed over its features, or the
    /// node_score of grad-cam, contrastive-gradient, eb and c-eb files) instead of edges.
    #[arg(long)]
    nodes: bool,
    /// Dataset graphs to print, 0-based and half-open: A..B, A.. or ..B (default: all of the file).
    #[arg(long)]
    graphs: Option<String>,
    /// Folder with the TU files, to name atoms and bonds (with --name).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Dataset name: the prefix of the TU files.
    #[arg(long)]
    name: Option<String>,
}

/// The dataset given by `--data`/`--name`, if any, with a warning when the
/// file's metadata names another dataset.
pub(crate) fn load_data(
    data: &Option<PathBuf>,
    name: &Option<String>,
    file: &AttrFile,
) -> Result<Option<LabeledGraphs>> {
    match (data, name) {
        (Some(dir), Some(name)) => {
            let data = LabeledGraphs::load_tu(dir, name)?;
            if let Some(d) = file.dataset() {
                if d != name {
                    noteln!(
                        "graph-ig: warning: {} was made from dataset {d}, not {name}",
                        file.path().display()
                    );
                }
            }
            Ok(Some(data))
        }
        (Some(_), None) => Err(Error::Config(
            "--data needs --name (the TU file prefix)".into(),
        )),
        (None, Some(_)) => Err(Error::Config("--name needs --data".into())),
        (None, None) => Ok(None),
    }
}

/// A score with 4 significant decimals, or in scientific notation when tiny or huge.
pub(crate) fn fmt_score(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-3..1e4).contains(&a) {
        format!("{v:+.4}")
    } else {
        format!("{v:+.3e}")
    }
}

/// Runs `graph-ig top`.
pub fn run(args: TopArgs) -> Result<()> {
    if args.k == 0 {
        return Err(Error::Config("--k must be at least 1".into()));
    }
    if args.nodes && args.undirected {
        return Err(Error::Config(
            "--nodes and --undirected cannot be combined: nodes have no direction".into(),
        ));
    }
    let order: Ranking = args.by.parse().map_err(|_| {
        Error::Config(format!(
            "--by {:?}: expected abs or value (also spelled signed)",
            args.by
        ))
    })?;
    let file = AttrFile::open(&args.attr)?;
    let data = load_data(&args.data, &args.name, &file)?;

    let positions: Vec<usize> = match &args.graphs {
        Some(s) => {
            let r = graph_ig::args::nonempty_graph_bounds(s)?;
            let p: Vec<usize> = (0..file.num_graphs())
                .filter(|&g| r.contains(&file.graph_index(g)))
                .collect();
            if p.is_empty() {
                return Err(Error::Config(format!(
                    "--graphs {s}: no such graph in {}, which holds {}",
                    args.attr.display(),
                    file.describe_graphs()
                )));
            }
            p
        }
        None => (0..file.num_graphs()).collect(),
    };

    let what = if args.nodes {
        "nodes"
    } else if args.undirected {
        "bonds"
    } else {
        "edges"
    };
    let mut out = String::new();
    for g in positions {
        let d = file.graph_index(g);
        let gr = match &data {
            Some(data) => Some(file.match_dataset(g, data)?),
            None => None,
        };
        let atom = |local: usize| -> String {
            match (&data, &gr) {
                (Some(data), Some(gr)) => {
                    format!("{}{local}", data.atom_symbol(gr.nodes.start + local))
                }
                _ => local.to_string(),
            }
        };
        let mut head = format!("graph {d}");
        let mut paren = Vec::new();
        if let Some(t) = file.target(g) {
            let name = data
                .as_ref()
                .and_then(|x| x.class_name(t))
                .map(|n| format!(" = {n}"))
                .unwrap_or_default();
            paren.push(format!("target {t}{name}"));
        }
        if let Some(p) = file.target_probability(g) {
            paren.push(format!("p {p:.3}"));
        }
        if !paren.is_empty() {
            let _ = write!(head, " ({})", paren.join(", "));
        }
        let _ = writeln!(out, "{head}: top {} {what} by {}", args.k, order.describe());
        if args.nodes {
            for (r, t) in file.top_nodes(g, args.k, order)?.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  {:>2}. {:<14} {}",
                    r + 1,
                    atom(t.node),
                    fmt_score(t.score)
                );
            }
            continue;
        }
        let top = if args.undirected {
            file.top_bonds(g, args.k, order)?
        } else {
            file.top_edges(g, args.k, order)?
        };
        // Bond names: the dataset's label of the directed edge, or of either direction of a bond.
        let bond_of: HashMap<(usize, usize), usize> = match (&data, &gr) {
            (Some(data), Some(gr)) => {
                let b = &data.batch;
                let n0 = gr.nodes.start;
                let mut m = HashMap::new();
                for e in gr.edges.clone() {
                    let (s, t) = (b.src()[e] as usize - n0, b.dst()[e] as usize - n0);
                    m.entry((s.min(t), s.max(t))).or_insert(e);
                }
                m
            }
            _ => HashMap::new(),
        };
        for (r, t) in top.iter().enumerate() {
            let arrow = if args.undirected { "–" } else { "→" };
            let mut label = format!("{}{arrow}{}", atom(t.src), atom(t.dst));
            if let (Some(data), Some(gr)) = (&data, &gr) {
                let e = if args.undirected {
                    bond_of.get(&(t.src.min(t.dst), t.src.max(t.dst))).copied()
                } else {
                    Some(gr.edges.start + t.position)
                };
                if let Some(name) = e.and_then(|e| data.bond_name(e)) {
                    let _ = write!(label, " ({name})");
                }
            }
            let _ = writeln!(out, "  {:>2}. {:<24} {}", r + 1, label, fmt_score(t.score));
        }
    }
    super::io::out(format_args!("{out}"));
    Ok(())
}
