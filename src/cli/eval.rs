//! `graph-ig eval`: fidelity, contrastivity, sparsity and ground-truth accuracy
//! of the attributions in a `graph-ig explain` output file, for all its graphs
//! at once (see `graph_ig::metrics::evaluate` and `graph_ig::metrics::nodes`
//! for every definition).
//!
//! Edge-level files (`edge_attr`) get the edge-mask metrics. Node-level files
//! (`node_score`: grad-cam, contrastive-gradient, eb, c-eb) get the node-level
//! metrics (ground truth against the endpoints of the marked edges, Pope et
//! al. with occluded nodes) and the edge-mask metrics on edge scores derived
//! as the mean of the two endpoints' scores, labelled as derived in the table
//! and in the JSON (`edge_scores`, `edge_scores_derived`, `node_level`).

use clap::Args;
use graph_ig::Result;
use std::path::PathBuf;

/// Arguments of `graph-ig eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Attributions written by `graph-ig explain`: its edge_attr, or the node_score of
    /// grad-cam, contrastive-gradient, eb and c-eb (node-level metrics, and edge-level
    /// ones on edge scores derived as the mean of the two endpoints' scores), with its target.
    #[arg(long)]
    attr: PathBuf,
    /// A second attribution file for the same graphs explaining other classes
    /// (e.g. made with --target 0 and --target 1): Pope et al.'s contrastivity
    /// (at node level too when both files have node_score).
    #[arg(long)]
    attr_other: Option<PathBuf>,
    #[command(flatten)]
    src: crate::cli::DataArgs,
    /// Global pooling of the model: add, mean or max (default: the file's, else add).
    #[arg(long)]
    pool: Option<String>,
    /// Rank edges (and nodes) by abs (|attribution|) or signed (attribution; also
    /// spelled value, as in graph-ig top --by).
    #[arg(long, default_value = "abs")]
    ranking: String,
    /// Hard masks keep the top floor((1 - S) * E) edges of each graph (DIG's sparsity
    /// level; default 0.7); node masks likewise the top floor((1 - S) * N) nodes.
    #[arg(long, conflicts_with_all = ["fraction", "threshold"])]
    sparsity: Option<f64>,
    /// Hard masks keep the top floor(R * E) edges (floor(R * N) nodes) of each graph.
    #[arg(long, conflicts_with = "threshold")]
    fraction: Option<f64>,
    /// Hard masks keep the edges (nodes) whose score is > T.
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// Fractions of edges kept along the fidelity curve, ascending, comma-separated.
    #[arg(long, default_value = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9")]
    curve: String,
    /// Pope et al.'s threshold: salient edges have score / max score > T.
    #[arg(long, default_value_t = 0.01)]
    pope_threshold: f64,
    /// Weights w+,w- of the characterization score (summing to 1).
    #[arg(long, default_value = "0.5,0.5")]
    charact_weights: String,
    /// Write every value (settings, dataset metrics, per-graph columns) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where the masked forward passes run: auto, cpu, cuda, cuda:N or interpret. On a GPU
    /// every masked variant of every graph is one instance of a batched forward pass (f32).
    #[arg(long, default_value = "auto")]
    device: String,
    /// GPU paths: device memory in MiB that one chunk of graphs × masked variants may use
    /// (default: half the free memory). Results do not depend on it.
    #[arg(long)]
    memory_budget: Option<usize>,
}

/// Runs `graph-ig eval`.
#[cfg(not(feature = "cpu-ref"))]
pub fn run(_args: EvalArgs) -> Result<()> {
    Err(graph_ig::Error::Device(
        "graph-ig eval needs the CPU reference path: build with --features cpu-ref".into(),
    ))
}

/// Runs `graph-ig eval`.
#[cfg(feature = "cpu-ref")]
pub fn run(args: EvalArgs) -> Result<()> {
    imp::run(args)
}

#[cfg(feature = "cpu-ref")]
mod imp {
    use super::EvalArgs;
    use crate::cli::io::{noteln, outln};
    use graph_ig::args::{number_list, number_pair};
    use graph_ig::cpu::network::LocalGraph;
    use graph_ig::cpu::Cpu;
    use graph_ig::metrics::evaluate::{EvalReport, Explanation, GroundTruthReport, PopeMetrics};
    use graph_ig::metrics::ground_truth::GroundTruthSummary;
    use graph_ig::metrics::nodes::{evaluate_nodes, NodeEvalReport, NodeExplanation};
    use graph_ig::metrics::{edge_scores_from_nodes, evaluate, EvalConfig, MaskRule, Ranking};
    use graph_ig::nn::Network;
    use graph_ig::output::ReadBack;
    use graph_ig::topk::AttrFile;
    use graph_ig::{Error, GraphBatch, GraphConvNet, Pool, Result};
    use rayon::prelude::*;
    use serde_json::json;
    use std::path::Path;
    use std::time::Instant;

    fn bad(path: &Path, message: impl Into<String>) -> Error {
        Error::Dataset {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// One attribution file, read and checked ([`AttrFile`]), with what eval
    /// needs of it: the explained classes, and edge scores (the file's
    /// `edge_attr`, or derived from its `node_score`).
    struct Input {
        file: AttrFile,
        target: Vec<usize>,
        /// Edge scores derived from `node_score` (files without `edge_attr`),
        /// made by [`Input::derive_edges`] once the graphs are checked.
        derived: Option<Vec<f64>>,
    }

    impl Input {
        fn read(path: &Path) -> Result<Self> {
            let file = AttrFile::open(path)?;
            let t = file.tensors();
            if t.edge_attr.is_none() && t.node_score.is_none() {
                let has = if ReadBack::open(path)?.shape("node_attr")?.is_some() {
                    "the file holds node-feature attributions (node_attr) only; "
                } else {
                    ""
                };
                return Err(bad(
                    path,
                    format!(
                        "no tensor edge_attr or node_score: {has}eval scores edge attributions \
                         (run explain with --wrt edges or both) or node scores (run explain \
                         with --method grad-cam, contrastive-gradient, eb or c-eb)"
                    ),
                ));
            }
            let target = t
                .target
                .ok_or_else(|| {
                    bad(
                        path,
                        "no tensor target: not an output file of graph-ig explain",
                    )
                })?
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    usize::try_from(x).map_err(|_| {
                        bad(path, format!("tensor target: entry {i} is negative ({x})"))
                    })
                })
                .collect::<Result<Vec<usize>>>()?;
            Ok(Input {
                file,
                target,
                derived: None,
            })
        }

        fn path(&self) -> &Path {
            self.file.path()
        }

        fn meta(&self, key: &str) -> Option<&str> {
            self.file.meta(key)
        }

        /// The node scores, for node-level files.
        fn node_score(&self) -> Option<&[f64]> {
            self.file.tensors().node_score
        }

        /// Whether the edge scores are derived from node scores.
        fn is_derived(&self) -> bool {
            self.file.tensors().edge_attr.is_none()
        }

        /// Derives edge scores from the node scores when the file has no
        /// `edge_attr`; `batch` holds the file's graphs (checked).
        fn derive_edges(&mut self, batch: &GraphBatch) {
            if let (None, Some(ns)) = (self.file.tensors().edge_attr, self.node_score()) {
                self.derived = Some(edge_scores_from_nodes(ns, batch.src(), batch.dst()));
            }
        }

        /// The edge scores: `edge_attr`, or derived ([`Input::derive_edges`]).
        fn edge_scores(&self) -> &[f64] {
            self.file
                .tensors()
                .edge_attr
                .or(self.derived.as_deref())
                .unwrap_or(&[])
        }

        /// Checks that `batch` (the dataset graphs of `graph_index`) has this
        /// file's nodes and edges.
        fn check_structure(&self, batch: &GraphBatch, dataset: &str) -> Result<()> {
            let t = self.file.tensors();
            let gi = self.file.graph_indices();
            let (ptr, nptr) = (batch.edge_ptr(), batch.node_ptr());
            for (i, &d) in gi.iter().enumerate() {
                let (a, b) = (t.edge_ptr[i + 1] - t.edge_ptr[i], ptr[i + 1] - ptr[i]);
                let (na, nb) = (t.node_ptr[i + 1] - t.node_ptr[i], nptr[i + 1] - nptr[i]);
                if a != b || na != nb {
                    let (what, a, b) = if a != b {
                        ("edges", a, b)
                    } else {
                        ("nodes", na, nb)
                    };
                    return Err(bad(
                        self.path(),
                        format!(
                            "graph {i} of the file (graph {d} of the dataset) has {a} {what}, \
                             but graph {d} of {dataset} has {b}: the attributions were made on \
                             other data (check --data, --name and --use-node-attr)"
                        ),
                    ));
                }
            }
            let (src, dst) = (batch.src(), batch.dst());
            if let Some(k) = (0..batch.num_edges())
                .find(|&k| t.src[k] != src[k] as usize || t.dst[k] != dst[k] as usize)
            {
                let i = ptr.partition_point(|&p| p <= k) - 1;
                return Err(bad(
                    self.path(),
                    format!(
                        "edge {k} (graph {i} of the file, graph {} of the dataset) is ({}, {}) \
                         in the file but ({}, {}) in {dataset}: the attributions were made on \
                         other data",
                        gi[i], t.src[k], t.dst[k], src[k], dst[k]
                    ),
                ));
            }
            Ok(())
        }
    }

    fn config(args: &EvalArgs) -> Result<EvalConfig> {
        let mask = match (args.sparsity, args.fraction, args.threshold) {
            (_, Some(r), _) => MaskRule::Fraction(r),
            (_, _, Some(t)) => MaskRule::Threshold(t),
            (s, _, _) => MaskRule::Sparsity(s.unwrap_or(0.7)),
        };
        let (wp, wm) = number_pair("--charact-weights", &args.charact_weights)?;
        let ranking: Ranking = args.ranking.parse().map_err(|_| {
            Error::Config(format!(
                "--ranking {:?}: expected abs or signed (also spelled value)",
                args.ranking
            ))
        })?;
        let cfg = EvalConfig {
            ranking,
            mask,
            curve: number_list("--curve", &args.curve)?,
            pope_threshold: args.pope_threshold,
            charact_weights: (wp, wm),
            // Resolved once the inputs are read and checked (see `run`).
            device: graph_ig::Device::Cpu,
            memory_budget: args.memory_budget.map(|m| m << 20),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Largest |log-probability difference| between the file and the model, and where.
    fn check_log_probs(
        model: &GraphConvNet,
        batch: &GraphBatch,
        file: &Input,
        model_label: &str,
        pool: Pool,
    ) -> Result<()> {
        let Some(lp) = file.file.tensors().log_probs else {
            return Ok(());
        };
        let c = model.num_classes();
        if lp.len() != c * batch.num_graphs() {
            return Err(bad(
                file.path(),
                format!(
                    "tensor log_probs has {} values for {} graphs, but the model {model_label} has {c} \
                     classes",
                    lp.len(),
                    batch.num_graphs()
                ),
            ));
        }
        let f = batch.num_features();
        let net = Network::new(&Cpu, model)?;
        let worst = (0..batch.num_graphs())
            .into_par_iter()
            .map(|g| -> Result<(f64, usize)> {
                let gr = batch.graph(g);
                let x: Vec<f64> = batch.features()[gr.nodes.start * f..gr.nodes.end * f]
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                let ours = net.graph_outputs(
                    &LocalGraph::from_batch(batch, g),
                    x,
                    &vec![1.0; gr.num_edges()],
                )?;
                let err = ours
                    .iter()
                    .zip(&lp[g * c..(g + 1) * c])
                    .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                    .fold(0.0, f64::max);
                Ok((err, g))
            })
            .try_reduce(|| (0.0, 0), |a, b| Ok(if b.0 > a.0 { b } else { a }))?;
        if worst.0 > 1e-3 {
            return Err(Error::Mismatch(format!(
                "the log-probabilities in {} differ from those of model {model_label} with \
                 {pool} pooling (graph {} of the file, relative difference {:.2e}); the file \
                 says model {}, pool {}: pass the model and --pool it was made with",
                file.path().display(),
                worst.1,
                worst.0,
                file.meta("model").unwrap_or("?"),
                file.meta("pool").unwrap_or("?"),
            )));
        }
        Ok(())
    }

    pub fn run(args: EvalArgs) -> Result<()> {
        let mut cfg = config(&args)?;
        let start = Instant::now();
        let mut main = Input::read(&args.attr)?;
        let mut other = args.attr_other.as_deref().map(Input::read).transpose()?;

        let dataset = args.src.dataset()?;
        if let Some(d) = main.meta("dataset") {
            if d != dataset {
                return Err(Error::Config(format!(
                    "{} was made on dataset {d}, not {dataset}: pass --data DIR --name {d}",
                    args.attr.display()
                )));
            }
        }
        let (model, model_label, model_sha) = args.src.model(&dataset)?;
        // A card sets its own pooling; otherwise --pool, else the file's, else add.
        let model = if model.from_card() {
            model
        } else {
            let pool: Pool = match (&args.pool, main.meta("pool")) {
                (Some(p), _) => p.parse()?,
                (None, Some(p)) => p.parse()?,
                (None, None) => Pool::Add,
            };
            model.with_pool(pool)
        };
        let pool = model.pool().unwrap_or_default();
        if let Some(s) = main.meta("model_sha256") {
            if s != model_sha {
                noteln!(
                    "graph-ig: warning: {} was made with model {} (sha256 {}), evaluating with \
                     {model_label} (sha256 {model_sha})",
                    args.attr.display(),
                    main.meta("model").unwrap_or("?"),
                    &s[..s.len().min(12)],
                );
            }
        }
        let full: GraphBatch = args.src.graphs(&dataset, model.num_features())?;
        let graph_index = main.file.graph_indices().to_vec();
        if let Some(i) = graph_index.iter().position(|&g| g >= full.num_graphs()) {
            return Err(bad(
                main.path(),
                format!(
                    "graph {i} of the file is graph {} of the dataset, but {dataset} has {} graphs",
                    graph_index[i],
                    full.num_graphs()
                ),
            ));
        }
        let batch = full.select(&graph_index)?;
        main.check_structure(&batch, &dataset)?;
        main.derive_edges(&batch);
        if let Some(o) = other.as_mut() {
            let (a, b) = (o.file.tensors(), main.file.tensors());
            if o.file.graph_indices() != graph_index.as_slice()
                || a.edge_ptr != b.edge_ptr
                || a.node_ptr != b.node_ptr
            {
                return Err(bad(
                    o.path(),
                    format!(
                        "--attr-other must hold the same graphs as {} (same graph_index, nodes \
                         and edges)",
                        main.path().display()
                    ),
                ));
            }
            o.check_structure(&batch, &dataset)?;
            o.derive_edges(&batch);
        }
        // Ground truth: the dataset's, else the file's own marks.
        let batch = match (batch.edge_gt(), main.file.tensors().edge_gt) {
            (None, Some(gt)) => with_gt(batch, gt)?,
            _ => batch,
        };
        check_log_probs(&model, &batch, &main, &model_label, pool)?;
        cfg.device = crate::cli::open_device(&args.device)?;
        let loaded = start.elapsed().as_secs_f64();

        let t = Instant::now();
        let main_e = Explanation {
            edge_attr: main.edge_scores(),
            target: &main.target,
        };
        let other_e = other.as_ref().map(|o| Explanation {
            edge_attr: o.edge_scores(),
            target: &o.target,
        });
        let report = evaluate(&model, &batch, &main_e, other_e.as_ref(), &cfg)?;
        let node_report = match main.node_score() {
            Some(ns) => {
                let other_n = other.as_ref().and_then(|o| {
                    o.node_score().map(|s| NodeExplanation {
                        node_score: s,
                        target: &o.target,
                    })
                });
                let main_n = NodeExplanation {
                    node_score: ns,
                    target: &main.target,
                };
                Some(evaluate_nodes(
                    &model,
                    &batch,
                    &main_n,
                    other_n.as_ref(),
                    &cfg,
                )?)
            }
            None => None,
        };
        let seconds = t.elapsed().as_secs_f64();

        let ctx = Context {
            main: &main,
            other: other.as_ref(),
            dataset: &dataset,
            model_label: &model_label,
            pool,
        };
        print_table(&report, node_report.as_ref(), &ctx);
        outln!("  time:        {seconds:.3} s metrics ({loaded:.3} s reading and checking)");
        if let Some(path) = &args.json {
            let mut v = report.to_json();
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "edge_scores".into(),
                    json!(if main.is_derived() {
                        DERIVED
                    } else {
                        "edge_attr"
                    }),
                );
                o.insert("edge_scores_derived".into(), json!(main.is_derived()));
                o.insert(
                    "node_level".into(),
                    node_report
                        .as_ref()
                        .map_or(serde_json::Value::Null, NodeEvalReport::to_json),
                );
                o.insert(
                    "input".into(),
                    json!({
                        "attr": main.path().display().to_string(),
                        "attr_other": other.as_ref().map(|o| o.path().display().to_string()),
                        "attr_metadata": main.file.metadata(),
                        "dataset": dataset,
                        "model": model_label,
                        "model_sha256": model_sha,
                        "pool": pool.to_string(),
                        "graph_index": graph_index,
                        "seconds": seconds,
                        "graph_ig_version": env!("CARGO_PKG_VERSION"),
                    }),
                );
            }
            let mut text = serde_json::to_string(&v).map_err(|e| Error::Io {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
            text.push('\n');
            if let Some(reason) = graph_ig::output::filesystem_refusal(path) {
                return Err(graph_ig::Error::Unwritable {
                    path: path.to_path_buf(),
                    reason,
                });
            }
            graph_ig::output::write_atomic(path, text.len() as u64, |f| {
                f.write_all(text.as_bytes())
            })?;
            outln!("  wrote:       {}", path.display());
        }
        Ok(())
    }

    /// How derived edge scores are made (table and JSON).
    const DERIVED: &str = "derived from node_score: (s_u + s_v) / 2";

    /// What the table says about its input.
    struct Context<'a> {
        main: &'a Input,
        other: Option<&'a Input>,
        dataset: &'a str,
        model_label: &'a str,
        pool: Pool,
    }

    /// The batch with the file's ground-truth marks (for data without `_edge_gt.txt`).
    fn with_gt(batch: GraphBatch, gt: &[f64]) -> Result<GraphBatch> {
        let mut p = graph_ig::GraphParts {
            num_features: batch.num_features(),
            x: batch.features().to_vec(),
            src: batch.src().iter().map(|&v| v as usize).collect(),
            dst: batch.dst().iter().map(|&v| v as usize).collect(),
            node_ptr: batch.node_ptr().to_vec(),
            edge_ptr: batch.edge_ptr().to_vec(),
            edge_labels: batch.edge_labels().map(<[i64]>::to_vec),
            edge_gt: None,
            graph_labels: batch.graph_labels().map(<[i64]>::to_vec),
            edge_weight: batch.edge_weight().map(<[f32]>::to_vec),
        };
        p.edge_gt = Some(gt.iter().map(|&v| u8::from(v != 0.0)).collect());
        GraphBatch::from_parts(p)
    }

    fn f4(v: Option<f64>) -> String {
        v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"))
    }

    fn row(name: &str, value: String, note: &str) {
        outln!("    {name:<48} {value:>8}  {note}");
    }

    fn gt_rows(what: &str, s: &GroundTruthSummary) {
        let pooled = |f: fn(&graph_ig::metrics::ground_truth::Confusion) -> f64| {
            (s.graphs > 0).then(|| f(&s.pooled))
        };
        outln!(
            "    {what:<12} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            s.graphs,
            f4(s.mean_auc),
            f4(s.pooled_auc),
            f4(s.mean_precision),
            f4(s.mean_recall),
            f4(s.mean_f1),
            f4(pooled(|c| c.precision())),
            f4(pooled(|c| c.recall())),
            f4(pooled(|c| c.f1())),
            f4(s.mean_precision_at_marked),
        );
    }

    /// Pope et al.'s rows; `other` is the second file, if it has scores of this level.
    fn pope_rows(
        p: &PopeMetrics,
        what: &str,
        other: Option<&Input>,
        missing: &str,
        sizes: (usize, &str),
    ) {
        row(
            &format!("fidelity: accuracy drop, salient {what} occluded"),
            f4(p.fidelity_accuracy),
            "",
        );
        row(
            "fidelity: probability drop of the target",
            f4(Some(p.fidelity_probability)),
            "",
        );
        let contrast_note = match other {
            Some(o) => format!(
                "{} graphs, against {}",
                p.contrastivity_graphs,
                o.path().display()
            ),
            None => missing.to_string(),
        };
        row("contrastivity", f4(p.contrastivity), &contrast_note);
        row(
            &format!("sparsity: 1 - salient / {}", sizes.1),
            f4(p.sparsity),
            &format!("{} graphs with {what}", sizes.0),
        );
    }

    fn gt_table(title: &str, gt: &GroundTruthReport) {
        outln!("{title}");
        outln!(
            "    {:<12} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "graphs",
            "n",
            "AUC",
            "AUCpool",
            "P",
            "R",
            "F1",
            "Ppool",
            "Rpool",
            "F1pool",
            "P@|gt|"
        );
        gt_rows("all", &gt.all);
        for (label, s) in &gt.by_label {
            gt_rows(&format!("label {label}"), s);
        }
    }

    fn print_table(r: &EvalReport, nodes: Option<&NodeEvalReport>, ctx: &Context<'_>) {
        let c = &r.config;
        let main = ctx.main;
        let edges: usize = r.graphs.iter().map(|g| g.num_edges).sum();
        let node_count = nodes
            .map(|n| {
                format!(
                    ", {} nodes",
                    n.graphs.iter().map(|g| g.num_nodes).sum::<usize>()
                )
            })
            .unwrap_or_default();
        outln!(
            "graph-ig eval: {} ({}, target {}) on {}, {} graphs, {edges} edges{node_count}, device {}",
            main.path().display(),
            main.meta("method").unwrap_or("?"),
            main.meta("target").unwrap_or("?"),
            ctx.dataset,
            r.graphs.len(),
            c.device,
        );
        outln!(
            "  model:       {}, {} pooling; accuracy {} against the labels",
            ctx.model_label,
            ctx.pool,
            f4(r.accuracy)
        );
        let derived = main.is_derived();
        if derived {
            outln!(
                "  scores:      node_score (node level); the edge-level metrics use edge scores \
                 {DERIVED}"
            );
        } else {
            outln!("  scores:      edge_attr");
        }
        let abs = c.ranking == Ranking::Abs;
        let by = match (abs, derived) {
            (true, false) => "|edge attribution|",
            (false, false) => "signed edge attribution",
            (true, true) => "|derived edge score|",
            (false, true) => "signed derived edge score",
        };
        outln!(
            "  masks:       {} by {by}, ties to the lower edge index",
            c.mask.describe(),
        );
        // Every edge-level heading says so when its scores are derived.
        let tag = if derived {
            " [derived edge scores]"
        } else {
            ""
        };
        outln!();
        outln!(
            "  Pope et al. 2019 (salient: score / max score > {}){tag}",
            c.pope_threshold
        );
        pope_rows(
            &r.pope,
            "edges",
            ctx.other,
            "needs --attr-other",
            (r.graphs_with_edges, "E"),
        );
        let (wp, wm) = c.charact_weights;
        outln!("  PyG (GraphFramEx), at the mask{tag}");
        let pairs = [
            ("model", Some(&r.pyg.model)),
            ("phenomenon", r.pyg.phenomenon.as_ref()),
        ];
        for (what, p) in pairs {
            row(
                &format!("Fidelity+ ({what})"),
                f4(p.map(|p| p.fid_plus)),
                "",
            );
            row(
                &format!("Fidelity- ({what})"),
                f4(p.map(|p| p.fid_minus)),
                "",
            );
            row(
                &format!("characterization ({what}, w+ {wp}, w- {wm})"),
                f4(p.map(|p| p.characterization)),
                "",
            );
        }
        let x = &r.pyg.curve_x;
        let span = match (x.first(), x.last()) {
            (Some(a), Some(b)) => format!("x = fraction kept, {a}..{b}, {} points", x.len()),
            _ => String::new(),
        };
        row(
            "fidelity-curve AUC (model)",
            f4(r.pyg.curve_model.auc),
            &span,
        );
        row(
            "fidelity-curve AUC (phenomenon)",
            f4(r.pyg.curve_phenomenon.as_ref().and_then(|c| c.auc)),
            "",
        );
        outln!("  DIG, at the mask (probability of the target){tag}");
        row("Fidelity+", f4(Some(r.dig.fidelity_plus)), "");
        row("Fidelity-", f4(Some(r.dig.fidelity_minus)), "");
        row(
            "sparsity: 1 - kept / E",
            f4(r.dig.sparsity),
            &format!("{} graphs with edges", r.graphs_with_edges),
        );
        if let Some(gt) = &r.ground_truth {
            gt_table(
                &format!(
                    "  Ground truth (edge_gt), over graphs with marked edges; P/R/F1 of the \
                     mask{tag}"
                ),
                gt,
            );
        }
        let Some(n) = nodes else {
            return;
        };
        outln!();
        outln!(
            "  Node level (node_score; an occluded node has zero features and zero weight on \
             its edges)"
        );
        outln!(
            "  Pope et al. 2019 at node level (salient: score / max score > {})",
            c.pope_threshold
        );
        let missing = if ctx.other.is_some() {
            "needs --attr-other with node_score"
        } else {
            "needs --attr-other"
        };
        pope_rows(
            &n.pope,
            "nodes",
            ctx.other.filter(|o| o.node_score().is_some()),
            missing,
            (n.graphs_with_nodes, "N"),
        );
        if let Some(gt) = &n.ground_truth {
            gt_table(
                &format!(
                    "  Ground truth at node level (nodes of marked edges), over graphs with \
                     marked nodes; P/R/F1 of the node mask: {}",
                    c.mask.describe_for("nodes", "N")
                ),
                gt,
            );
        }
    }
}
