//! `graph-ig embed`: node (and, for graph tasks, graph) embeddings after any conv block,
//! and with `--svg FILE` a seeded Barnes-Hut t-SNE of them coloured by class.

use super::io::outln;
use clap::Args;
use graph_ig::embed::embeddings;
use graph_ig::output::{prepare_output, write_safetensors, Tensor};
use graph_ig::render::scatter::scatter;
use graph_ig::tsne::{tsne, TsneConfig};
use graph_ig::Result;
use std::path::PathBuf;

/// Arguments of `graph-ig embed`.
#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    src: super::DataArgs,
    /// Output safetensors: `node_embedding` f32 [N, d], for graph tasks also
    /// `graph_embedding` f32 [G, d] (the model's pool), and with --svg `tsne` f32 [R, 2].
    #[arg(long)]
    out: PathBuf,
    /// The conv block whose output to write, 1-based (default: the last).
    #[arg(long)]
    layer: Option<usize>,
    /// Draw a 2-D t-SNE of the node (node task) or graph (graph task) embeddings,
    /// coloured by class, into this SVG file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// t-SNE perplexity.
    #[arg(long, default_value_t = 30.0)]
    perplexity: f64,
    /// t-SNE gradient steps.
    #[arg(long, default_value_t = 1000)]
    iterations: usize,
    /// t-SNE seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: EmbedArgs) -> Result<()> {
    super::refuse_unwritable(std::iter::once(&args.out).chain(&args.svg))?;
    let dataset = args.src.dataset()?;
    let (model, model_label, model_sha) = args.src.model(&dataset)?;
    let (batch, extras) = args.src.data(&dataset, model.num_features())?;
    let e = embeddings(&model, &batch, args.layer)?;
    let (n, d) = (batch.num_nodes(), e.dim);
    let mut tensors = vec![(
        "node_embedding".to_string(),
        Tensor::f32(vec![n, d], e.nodes.iter().copied()),
    )];
    if let Some(g) = &e.graphs {
        tensors.push((
            "graph_embedding".to_string(),
            Tensor::f32(vec![batch.num_graphs(), d], g.iter().copied()),
        ));
    }
    let mut seconds = None;
    if let Some(svg) = &args.svg {
        let (rows, count, classes, what) = match &e.graphs {
            Some(g) => (g, batch.num_graphs(), batch.graph_labels(), "graphs"),
            None => (&e.nodes, n, extras.labels.as_deref(), "nodes"),
        };
        let t0 = std::time::Instant::now();
        let y = tsne(
            rows,
            count,
            d,
            &TsneConfig {
                perplexity: args.perplexity,
                iterations: args.iterations,
                seed: args.seed,
                ..TsneConfig::default()
            },
        )?;
        seconds = Some(t0.elapsed().as_secs_f64());
        let title = format!(
            "t-SNE of {count} {what} after conv block {} (perplexity {}, seed {})",
            e.layer, args.perplexity, args.seed
        );
        let text = scatter(&y, classes, &title);
        prepare_output(svg)?;
        graph_ig::output::write_atomic(svg, text.len() as u64, |f| f.write_all(text.as_bytes()))?;
        tensors.push(("tsne".to_string(), Tensor::f32(vec![count, 2], y)));
    }
    let metadata = super::file_metadata(
        "embed",
        model_label,
        model_sha,
        dataset,
        &[("graph_ig.layer", e.layer.to_string())],
    );
    prepare_output(&args.out)?;
    write_safetensors(&args.out, &tensors, &metadata)?;
    outln!(
        "wrote the embeddings after conv block {} ({n} nodes × {d}{}) to {}",
        e.layer,
        if e.graphs.is_some() {
            format!(", {} graphs", batch.num_graphs())
        } else {
            String::new()
        },
        args.out.display()
    );
    if let (Some(svg), Some(s)) = (&args.svg, seconds) {
        outln!("wrote the t-SNE ({s:.1} s) to {}", svg.display());
    }
    Ok(())
}
