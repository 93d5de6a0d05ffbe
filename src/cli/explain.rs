//! `graph-ig explain`: the dataset-wide attribution sweep.

use clap::Args;
use graph_ig::metrics::ground_truth_auc;
use graph_ig::sweep::Sweep;
use graph_ig::{
    Adaptive, Error, ExplainConfig, GraphBatch, Method, NodeBaseline, Pool, Result, Rule,
    Smoothing, Storage, Target, Wrt,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    src: super::DataArgs,
    /// Output safetensors file.
    #[arg(long)]
    out: PathBuf,
    /// ig, saliency, input-x-gradient, smoothgrad, vargrad (edges/nodes), or the node-level
    /// grad-cam, grad-cam:LAYER, contrastive-gradient, eb, c-eb (every device).
    #[arg(long, default_value = "ig")]
    method: String,
    /// edges, nodes or both.
    #[arg(long, default_value = "edges")]
    wrt: String,
    /// Integration steps for IG (the starting count with --delta-tol).
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// gauss-legendre, riemann-left, riemann-right, riemann-middle, riemann-trapezoid
    /// (all captum's), or trapezoid (the trapezoid rule with weights summing to 1).
    #[arg(long, default_value = "gauss-legendre")]
    rule: String,
    /// predicted, label or a class number.
    #[arg(long, default_value = "predicted")]
    target: String,
    /// Global pooling of the model: add, mean or max.
    #[arg(long, default_value = "add")]
    pool: String,
    /// auto, cpu, cuda, cuda:N or interpret (the CUDA kernels run on the CPU, for testing).
    #[arg(long, default_value = "auto")]
    device: String,
    /// Graphs to explain, 0-based and half-open: A..B, A.. or ..B.
    #[arg(long)]
    graphs: Option<String>,
    /// Adaptive steps: double each graph's steps until |delta| <= TOL * |F(input) - F(baseline)|.
    #[arg(long, allow_negative_numbers = true)]
    delta_tol: Option<f64>,
    /// The most steps adaptive mode may use per graph (default 800).
    #[arg(long)]
    max_steps: Option<usize>,
    /// GPU paths: device memory in MiB that one chunk of graphs × steps may use
    /// (default: half the free memory). Results do not depend on it.
    #[arg(long)]
    memory_budget: Option<usize>,
    /// SmoothGrad / VarGrad: noisy copies per graph.
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// SmoothGrad / VarGrad: standard deviation of the Gaussian input noise.
    #[arg(long, default_value_t = 0.15)]
    sigma: f64,
    /// SmoothGrad / VarGrad: random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// IG over node features: do not multiply by (input − baseline) (captum's
    /// multiply_by_inputs=False). Edge masks are unaffected.
    #[arg(long)]
    no_multiply_by_inputs: bool,
    /// IG over node features: one baseline value for every feature of every node (default 0).
    #[arg(long, allow_negative_numbers = true)]
    node_baseline: Option<f32>,
    /// GPU paths: `auto` (the fused kernel where a graph fits it, layered elsewhere)
    /// or `layered`.
    #[arg(long, default_value = "auto")]
    gpu_kernel: String,
    /// GPU fused kernel: store activations as f32, bf16 or f16 (arithmetic stays f32;
    /// see docs/performance.md for the error this adds).
    #[arg(long, default_value = "f32")]
    storage: String,
    /// Discard partial results of an earlier interrupted run instead of continuing it.
    #[arg(long)]
    restart: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Parses `--graphs` for a dataset of `total` graphs (`A..` ends at `total`).
pub fn parse_range(s: &str, total: usize) -> Result<std::ops::Range<usize>> {
    let r = super::parse_graph_bounds(s)?;
    let (a, b) = (r.start, if r.end == usize::MAX { total } else { r.end });
    if a >= b || b > total {
        return Err(Error::Config(format!(
            "--graphs {s}: the range is empty or beyond the dataset's {total} graphs"
        )));
    }
    Ok(a..b)
}

pub fn run(args: ExplainArgs) -> Result<()> {
    let method: Method = args.method.parse()?;
    let wrt: Wrt = args.wrt.parse()?;
    let rule: Rule = args.rule.parse()?;
    let target: Target = args.target.parse()?;
    let pool: Pool = args.pool.parse()?;
    let storage: Storage = args.storage.parse()?;
    let adaptive = match (args.delta_tol, args.max_steps) {
        (Some(tol), max) => Some(Adaptive {
            tol,
            max_steps: max.unwrap_or(800),
        }),
        (None, Some(_)) => {
            return Err(Error::Config("--max-steps needs --delta-tol".into()));
        }
        (None, None) => None,
    };
    let device = super::open_device(&args.device)?;

    let dataset = args.src.dataset()?;
    let (model, model_label, model_sha) = args.src.model(&dataset)?;
    let model = model.with_pool(pool);
    let full: GraphBatch = args.src.graphs(&dataset, model.num_features())?;
    let range = match &args.graphs {
        Some(s) => parse_range(s, full.num_graphs())?,
        None => 0..full.num_graphs(),
    };
    let batch = if range == (0..full.num_graphs()) {
        full
    } else {
        full.subset(range.clone())?
    };
    let config = ExplainConfig {
        method,
        wrt,
        steps: args.steps,
        rule,
        target,
        adaptive,
        memory_budget: args.memory_budget.map(|m| m << 20),
        gpu_kernel: args.gpu_kernel.parse()?,
        storage,
        multiply_by_inputs: !args.no_multiply_by_inputs,
        node_baseline: args
            .node_baseline
            .map_or(NodeBaseline::Zeros, NodeBaseline::Constant),
        smoothing: Smoothing {
            samples: args.samples,
            sigma: args.sigma,
            seed: args.seed,
        },
    };
    let mut metadata = BTreeMap::new();
    for (k, v) in [
        ("method", method.cli_name().to_string()),
        ("wrt", wrt.cli_name().to_string()),
        ("rule", rule.cli_name().to_string()),
        ("steps", args.steps.to_string()),
        ("target", config.target.cli_name()),
        ("pool", pool.to_string()),
        ("model", model_label),
        ("model_sha256", model_sha),
        ("dataset", dataset.clone()),
        ("graphs", format!("{}..{}", range.start, range.end)),
        (
            "delta_tol",
            adaptive.map_or("none".into(), |a| a.tol.to_string()),
        ),
        (
            "max_steps",
            adaptive.map_or("none".into(), |a| a.max_steps.to_string()),
        ),
        ("device", device.to_string()),
        (
            "smoothing",
            format!(
                "samples={} sigma={} seed={}",
                args.samples, args.sigma, args.seed
            ),
        ),
        ("multiply_by_inputs", config.multiply_by_inputs.to_string()),
        ("storage", storage.cli_name().to_string()),
        (
            "node_baseline",
            args.node_baseline.map_or("0".into(), |v| v.to_string()),
        ),
        ("graph_ig_version", env!("CARGO_PKG_VERSION").to_string()),
    ] {
        metadata.insert(k.to_string(), v);
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(batch.num_graphs() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} graphs ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let sweep = Sweep {
        model: &model,
        batch: &batch,
        first_graph: range.start,
        config: &config,
        device,
        metadata,
    };
    let summary = sweep.run(&args.out, args.restart, &|k| bar.inc(k as u64))?;
    bar.finish_and_clear();

    let a = &summary.attributions;
    let computed = summary.graphs - summary.resumed_graphs;
    println!(
        "graph-ig explain: {} on {dataset}, {} graphs, device {device}",
        method.cli_name(),
        summary.graphs
    );
    if summary.resumed_graphs > 0 {
        println!(
            "  resumed:          {} graphs from an earlier run",
            summary.resumed_graphs
        );
    }
    println!("  time:             {:.3} s", summary.seconds);
    println!(
        "  graphs/second:    {:.1}",
        computed as f64 / summary.seconds.max(1e-9)
    );
    if config.method.node_level() {
        println!("  node scores:      node_score (no completeness delta for a node-level method)");
    } else {
        println!("  largest |delta|:  {:.3e}", a.max_abs_delta());
    }
    if let Some(s) = a.edge_steps.as_ref().or(a.node_steps.as_ref()) {
        let (lo, hi) = (s.iter().min().unwrap_or(&0), s.iter().max().unwrap_or(&0));
        if config.adaptive.is_some() {
            println!("  steps per graph:  {lo}..={hi}");
        }
    }
    if let (Some(e), Some(gt)) = (&a.edge, batch.edge_gt()) {
        if let Some(auc) = ground_truth_auc(e, gt, batch.edge_ptr()) {
            println!(
                "  ground truth:     ROC-AUC of |edge attribution| {:.4} (mean over {} graphs with marked edges), {:.4} pooled",
                auc.mean_graph_auc, auc.graphs, auc.pooled_auc
            );
        }
    }
    println!("  wrote:            {}", args.out.display());
    Ok(())
}
