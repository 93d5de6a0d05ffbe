//! `graph-ig explain`: the dataset-wide attribution sweep.

use super::io::{noteln, outln};
use super::progress::Progress;
use clap::Args;
use graph_ig::graph::khop::node_instances;
use graph_ig::graph::source::{GraphSource, InMemory};
use graph_ig::graph::targets::NodeSelection;
use graph_ig::model::Task;
use graph_ig::shard::{self, Shard};
use graph_ig::sweep::Sweep;
use graph_ig::{
    Adaptive, Error, ExplainConfig, Method, NodeBaseline, Pool, Result, Rule, Smoothing, Storage,
    Target, Wrt,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    src: super::DataArgs,
    /// Output safetensors file (its folder is created if missing). Finished chunks go to
    /// OUT.partial/ until the run completes; one run at a time may write an OUT.
    #[arg(long)]
    out: PathBuf,
    /// ig, saliency, input-x-gradient, smoothgrad, vargrad (edges/nodes), or the node-level
    /// grad-cam, grad-cam:LAYER, contrastive-gradient, eb, c-eb (every device).
    #[arg(long, default_value = "ig")]
    method: String,
    /// edges, nodes, both (one joint attribution of the edge mask and the features, as
    /// PyG's Explainer with both masks) or separate (two separate attributions).
    #[arg(long, default_value = "edges")]
    wrt: String,
    /// Integration steps for IG (the starting count with --delta-tol), at most
    /// 1048576 (2^20).
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// gauss-legendre, riemann-left, riemann-right, riemann-middle, riemann-trapezoid
    /// (all captum's), or trapezoid (the trapezoid rule with weights summing to 1).
    #[arg(long, default_value = "gauss-legendre")]
    rule: String,
    /// predicted, label or a class number.
    #[arg(long, default_value = "predicted")]
    target: String,
    /// Global pooling of a model without an architecture card: add (default), mean or max.
    /// A card sets its own pooling.
    #[arg(long)]
    pool: Option<String>,
    /// auto, cpu, cuda, cuda:N or interpret (the CUDA kernels run on the CPU, for
    /// testing); or several devices that share the work: cuda:all, cuda:0,2, interpret:K.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Explain only shard K of N (0-based): a contiguous range of the selected graphs (or
    /// target nodes), balanced by edge count, written to OUT_STEM.shard-K-of-N.safetensors.
    /// Without it, a SLURM array task (SLURM_ARRAY_TASK_ID), a SLURM multi-task step
    /// (SLURM_PROCID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with --shards)
    /// takes its shard from the environment. `graph-ig merge` joins the shards.
    #[arg(long)]
    shard: Option<String>,
    /// The number of shards, for a Kubernetes Indexed Job (its completions) whose
    /// JOB_COMPLETION_INDEX gives the shard.
    #[arg(long)]
    shards: Option<usize>,
    /// Graphs to explain, 0-based and half-open: A..B, A.. or ..B.
    #[arg(long)]
    graphs: Option<String>,
    /// Node tasks: the nodes to explain, all (default), A..B, train, val, test (the data
    /// file's masks) or a list i,j,k of node ids. Each target's computation subgraph is
    /// explained as PyG's Explainer explains that node alone on the whole graph.
    #[arg(long)]
    nodes: Option<String>,
    /// Adaptive steps: double each graph's steps until |delta| <= TOL * |F(input) - F(baseline)|.
    #[arg(long, allow_negative_numbers = true)]
    delta_tol: Option<f64>,
    /// The most steps adaptive mode may use per graph (default 800, at most 1048576).
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
    /// No progress: neither the bar (on a terminal) nor the plain line written about
    /// every 10 s to a stderr that is not a terminal.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: ExplainArgs) -> Result<()> {
    let method: Method = args.method.parse()?;
    let wrt: Wrt = args.wrt.parse()?;
    let rule: Rule = args.rule.parse()?;
    let target: Target = args.target.parse()?;
    let pool: Option<Pool> = args.pool.as_deref().map(str::parse).transpose()?;
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
    // Refuse an output on a read-only or virtual filesystem before any work.
    if let Some(reason) = graph_ig::output::filesystem_refusal(&args.out) {
        return Err(Error::Unwritable {
            path: args.out.clone(),
            reason,
        });
    }
    let flag: Option<Shard> = args.shard.as_deref().map(str::parse).transpose()?;
    let chosen = shard::choose(flag, args.shards, &|k| std::env::var(k).ok())?;
    let out = match &chosen {
        Some(c) => shard::shard_path(&args.out, c.shard),
        None => args.out.clone(),
    };
    let stop = super::signals::install(graph_ig::sweep::partial_dir(&out))?;
    let devices = super::open_devices(&args.device)?;
    let device = graph_ig::devices_name(&devices);

    let dataset = args.src.dataset()?;
    let (model, model_label, model_sha) = args.src.model(&dataset)?;
    let model = match (model.from_card(), pool) {
        (true, Some(p)) if model.pool() != Some(p) => {
            return Err(Error::Config(format!(
                "--pool {p}: the model's architecture card says {}; leave --pool out",
                model
                    .pool()
                    .map_or("no pool (a node task)".to_string(), |q| format!(
                        "{q} pooling"
                    ))
            )))
        }
        (true, _) => model,
        (false, p) => model.with_pool(p.unwrap_or_default()),
    };
    let pool_name = model.pool().map_or("none".to_string(), |p| p.to_string());
    let mut extraction = None;
    let mut whole = None;
    let (source, rows, selection): (Box<dyn GraphSource>, _, _) = match model.task {
        Task::Node => {
            if args.graphs.is_some() {
                return Err(Error::Config(
                    "--graphs selects graphs of a graph task; this model classifies nodes: pick \
                     them with --nodes"
                        .into(),
                ));
            }
            let (full, node_data) = args.src.data(&dataset, model.num_features())?;
            let spec = args.nodes.as_deref().unwrap_or("all");
            let sel: NodeSelection = spec.parse()?;
            let targets = sel.resolve(full.num_nodes(), |m| node_data.mask(m))?;
            let (inst, stats) = node_instances(
                &full,
                &targets,
                model.num_layers(),
                node_data.labels.as_deref(),
            )?;
            extraction = Some(stats);
            let t = inst.num_graphs();
            whole = Some(full);
            (
                Box::new(InMemory::owned(inst)),
                0..t,
                ("nodes", spec.to_string()),
            )
        }
        Task::Graph => {
            if let Some(n) = &args.nodes {
                return Err(Error::Config(format!(
                    "--nodes {n}: this model ({}) classifies graphs (its card's task is \
                     \"graph\"); --nodes needs a node-task model",
                    model.describe()
                )));
            }
            let source = args.src.source(&dataset, model.num_features())?;
            let range = match &args.graphs {
                Some(s) => graph_ig::args::graph_range(s, source.num_graphs())?,
                None => 0..source.num_graphs(),
            };
            let sel = ("graphs", format!("{}..{}", range.start, range.end));
            (source, range, sel)
        }
    };
    // A shard: its part of the selected rows.
    let all_rows = rows.clone();
    let rows = match &chosen {
        Some(c) => {
            let r =
                shard::balanced(source.edge_counts(), rows, c.shard.count)[c.shard.index].clone();
            noteln!(
                "graph-ig: shard {} ({}): {} {}..{} of {}..{}, writing {}",
                c.shard,
                c.why,
                if extraction.is_some() {
                    "target rows"
                } else {
                    "graphs"
                },
                r.start,
                r.end,
                all_rows.start,
                all_rows.end,
                out.display()
            );
            r
        }
        None => rows,
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
        ("pool", pool_name),
        ("arch", model.describe()),
        ("model", model_label),
        ("model_sha256", model_sha),
        ("dataset", dataset.clone()),
        (
            "delta_tol",
            adaptive.map_or("none".into(), |a| a.tol.to_string()),
        ),
        (
            "max_steps",
            adaptive.map_or("none".into(), |a| a.max_steps.to_string()),
        ),
        ("device", device.clone()),
        ("data_sha256", source.fingerprint().to_string()),
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
    metadata.insert(selection.0.to_string(), selection.1.clone());
    if let Some(c) = &chosen {
        for (k, v) in [
            ("shard", c.shard.to_string()),
            ("shard_rows", shard::range_text(&rows)),
            ("shard_total_rows", shard::range_text(&all_rows)),
        ] {
            metadata.insert(k.to_string(), v);
        }
    }
    let sweep = Sweep {
        model: &model,
        source: source.as_ref(),
        rows: rows.clone(),
        config: &config,
        devices,
        metadata,
        whole: whole.as_ref(),
    };
    let progress = Progress::start(rows.len() as u64, args.quiet);
    let summary = sweep.run_until(&out, args.restart, &|k| progress.inc(k), &stop);
    progress.finish();
    let summary = summary?;

    let computed = summary.graphs - summary.resumed_graphs;
    outln!(
        "graph-ig explain: {} on {dataset}, {} {}, device {device}",
        method.cli_name(),
        summary.graphs,
        if extraction.is_some() {
            "target nodes"
        } else {
            "graphs"
        }
    );
    outln!("  model:            {}", model.describe());
    if let Some(x) = extraction {
        outln!(
            "  subgraphs:        {} nodes, {} edges in all (largest {} nodes, {} edges), extracted in {:.3} s",
            x.nodes, x.edges, x.largest.0, x.largest.1, x.seconds
        );
    }
    if summary.resumed_graphs > 0 {
        outln!(
            "  resumed:          {} graphs from an earlier run",
            summary.resumed_graphs
        );
    }
    outln!("  time:             {:.3} s", summary.seconds);
    outln!(
        "  {} {:.1}",
        if extraction.is_some() {
            "targets/second:  "
        } else {
            "graphs/second:   "
        },
        computed as f64 / summary.seconds.max(1e-9)
    );
    if config.method.node_level() {
        outln!("  node scores:      node_score (no completeness delta for a node-level method)");
    } else {
        outln!("  largest |delta|:  {:.3e}", summary.max_abs_delta);
    }
    if let (Some((lo, hi)), Some(_)) = (summary.steps, config.adaptive) {
        outln!("  steps per graph:  {lo}..={hi}");
    }
    if let Some((auc, graphs)) = summary.ground_truth {
        outln!(
            "  ground truth:     ROC-AUC of |edge attribution| {auc:.4} (mean over {graphs} graphs with marked edges; graph-ig eval gives the pooled AUC)"
        );
    }
    outln!("  wrote:            {}", out.display());
    Ok(())
}
