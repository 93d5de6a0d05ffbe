//! `graph-ig attention`: every GATConv's attention coefficients, each node's entropy
//! per head and the uniform entropy (`../shared/docs/pyg-interchange.md`, section 5),
//! and with `--svg DIR` their pictures.

use super::io::outln;
use clap::Args;
use graph_ig::attention::{attention, LayerAttention};
use graph_ig::output::{prepare_output, write_safetensors, Tensor};
use graph_ig::render::attention::{entropy_histogram, neighbourhood};
use graph_ig::{Error, Result};
use std::path::{Path, PathBuf};

/// Arguments of `graph-ig attention`.
#[derive(Args)]
pub struct AttentionArgs {
    #[command(flatten)]
    src: super::DataArgs,
    /// Output safetensors: per GATConv with prefix P, `P.edge_index` i64 [2, E'],
    /// `P.alpha` f32 [E', H], `P.entropy` f32 [N, H], `P.uniform_entropy` f32 [N].
    #[arg(long)]
    out: PathBuf,
    /// A folder for the pictures: `P.head{h}.entropy.svg` for every layer and head, and
    /// `P.node{i}.svg`, node i's incoming attention, for the nodes of --node.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Nodes to picture (repeat, or comma-separated; node ids of the file, which for a
    /// graph-task file count through all graphs). Default: the --top nodes of largest
    /// in-degree.
    #[arg(long, value_delimiter = ',')]
    node: Vec<usize>,
    /// How many of the highest in-degree nodes to picture without --node.
    #[arg(long, default_value_t = 3)]
    top: usize,
}

pub fn run(args: AttentionArgs) -> Result<()> {
    super::refuse_unwritable(std::iter::once(&args.out).chain(&args.svg))?;
    let dataset = args.src.dataset()?;
    let (model, model_label, model_sha) = args.src.model(&dataset)?;
    let (batch, extras) = args.src.data(&dataset, model.num_features())?;
    let n = batch.num_nodes();
    if let Some(&v) = args.node.iter().find(|&&v| v >= n) {
        return Err(Error::Config(format!(
            "--node {v} is out of range: the data has {n} nodes (0..{n})"
        )));
    }
    let layers = attention(&model, &batch)?;

    let mut tensors = Vec::new();
    for l in &layers {
        tensors.extend(layer_tensors(l));
    }
    let metadata = super::file_metadata(
        "attention",
        model_label,
        model_sha,
        dataset,
        &[(
            "graph_ig.layers",
            layers
                .iter()
                .map(|l| l.prefix.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )],
    );
    prepare_output(&args.out)?;
    write_safetensors(&args.out, &tensors, &metadata)?;
    outln!(
        "wrote the attention of {} GATConv layer(s) ({}) over {n} nodes to {}",
        layers.len(),
        layers
            .iter()
            .map(|l| format!("{}: {} heads", l.prefix, l.heads))
            .collect::<Vec<_>>()
            .join(", "),
        args.out.display()
    );

    if let Some(dir) = &args.svg {
        let nodes = if args.node.is_empty() {
            top_in_degree(&batch, args.top)
        } else {
            args.node.clone()
        };
        let written = pictures(dir, &layers, &nodes, extras.labels.as_deref())?;
        outln!("wrote {written} SVG file(s) to {}", dir.display());
    }
    Ok(())
}

/// The four tensors of one layer, named by its prefix.
fn layer_tensors(l: &LayerAttention) -> Vec<(String, Tensor)> {
    let e = l.edge_index.len();
    let n = l.uniform_entropy.len();
    let rows = l
        .edge_index
        .iter()
        .map(|&(s, _)| i64::from(s))
        .chain(l.edge_index.iter().map(|&(_, t)| i64::from(t)));
    vec![
        (
            format!("{}.edge_index", l.prefix),
            Tensor::i64(vec![2, e], rows),
        ),
        (
            format!("{}.alpha", l.prefix),
            Tensor::f32(vec![e, l.heads], l.alpha.iter().copied()),
        ),
        (
            format!("{}.entropy", l.prefix),
            Tensor::f32(vec![n, l.heads], l.entropy.iter().copied()),
        ),
        (
            format!("{}.uniform_entropy", l.prefix),
            Tensor::f32(vec![n], l.uniform_entropy.iter().copied()),
        ),
    ]
}

/// The `k` nodes of largest in-degree (ties: the smaller id first).
fn top_in_degree(batch: &graph_ig::GraphBatch, k: usize) -> Vec<usize> {
    let mut deg = vec![0usize; batch.num_nodes()];
    for &t in batch.dst() {
        deg[t as usize] += 1;
    }
    let mut ids: Vec<usize> = (0..deg.len()).collect();
    ids.sort_by(|&a, &b| deg[b].cmp(&deg[a]).then(a.cmp(&b)));
    ids.truncate(k);
    ids
}

/// Writes every histogram and every node picture into `dir`; returns how many.
fn pictures(
    dir: &Path,
    layers: &[LayerAttention],
    nodes: &[usize],
    classes: Option<&[i64]>,
) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut written = 0;
    let mut write = |name: String, svg: String| -> Result<()> {
        let path = dir.join(name);
        graph_ig::output::write_atomic(&path, svg.len() as u64, |f| f.write_all(svg.as_bytes()))?;
        written += 1;
        Ok(())
    };
    for l in layers {
        for h in 0..l.heads {
            write(
                format!("{}.head{h}.entropy.svg", l.prefix),
                entropy_histogram(l, h)?,
            )?;
        }
        for &v in nodes {
            write(
                format!("{}.node{v}.svg", l.prefix),
                neighbourhood(l, v, classes)?,
            )?;
        }
    }
    Ok(written)
}
