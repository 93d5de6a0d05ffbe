//! `graph-ig eval`: fidelity, contrastivity, sparsity and ground-truth accuracy
//! of the edge attributions in a `graph-ig explain` output file, for all its
//! graphs at once (see `graph_ig::metrics::evaluate` for every definition).

use clap::Args;
use graph_ig::Result;
use std::path::PathBuf;

/// Arguments of `graph-ig eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Attributions written by `graph-ig explain` (its `edge_attr` and `target` are scored).
    #[arg(long)]
    attr: PathBuf,
    /// A second attribution file for the same graphs explaining other classes
    /// (e.g. made with --target 0 and --target 1): Pope et al.'s contrastivity.
    #[arg(long)]
    attr_other: Option<PathBuf>,
    #[command(flatten)]
    src: crate::cli::DataArgs,
    /// Global pooling of the model: add, mean or max (default: the file's, else add).
    #[arg(long)]
    pool: Option<String>,
    /// Rank edges by abs (|attribution|) or signed (attribution).
    #[arg(long, default_value = "abs")]
    ranking: String,
    /// Hard masks keep the top floor((1 - S) * E) edges of each graph (DIG's sparsity level).
    #[arg(long, conflicts_with_all = ["fraction", "threshold"])]
    sparsity: Option<f64>,
    /// Hard masks keep the top floor(R * E) edges of each graph.
    #[arg(long, conflicts_with = "threshold")]
    fraction: Option<f64>,
    /// Hard masks keep the edges whose score is > T.
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
    use graph_ig::cpu::network::{log_probs, LocalGraph};
    use graph_ig::metrics::evaluate::{EvalReport, Explanation};
    use graph_ig::metrics::ground_truth::GroundTruthSummary;
    use graph_ig::metrics::{evaluate, EvalConfig, MaskRule};
    use graph_ig::output::ReadBack;
    use graph_ig::{Error, GraphBatch, GraphConvNet, Pool, Result};
    use rayon::prelude::*;
    use serde_json::json;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::time::Instant;

    /// Parses a comma-separated list of numbers.
    fn parse_list(flag: &str, s: &str) -> Result<Vec<f64>> {
        s.split(',')
            .map(|t| {
                t.trim()
                    .parse::<f64>()
                    .map_err(|_| Error::Config(format!("{flag} {s:?}: {t:?} is not a number")))
            })
            .collect()
    }

    /// One attribution file, read and checked.
    struct AttrFile {
        path: PathBuf,
        metadata: HashMap<String, String>,
        graph_index: Vec<usize>,
        edge_ptr: Vec<usize>,
        src_dst: Vec<i64>,
        edge_attr: Vec<f64>,
        target: Vec<usize>,
        log_probs: Option<Vec<f64>>,
        edge_gt: Option<Vec<f64>>,
    }

    fn bad(path: &Path, message: impl Into<String>) -> Error {
        Error::Dataset {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    fn indices(path: &Path, name: &str, v: Vec<i64>) -> Result<Vec<usize>> {
        v.into_iter()
            .enumerate()
            .map(|(i, x)| {
                usize::try_from(x)
                    .map_err(|_| bad(path, format!("tensor {name}: entry {i} is negative ({x})")))
            })
            .collect()
    }

    impl AttrFile {
        fn read(path: &Path) -> Result<Self> {
            let r = ReadBack::open(path)?;
            let need_i = |name: &str| {
                r.i64s(name)?.ok_or_else(|| {
                    bad(
                        path,
                        format!("no tensor {name}: not an output file of graph-ig explain"),
                    )
                })
            };
            let graph_index = indices(path, "graph_index", need_i("graph_index")?)?;
            let edge_ptr = indices(path, "edge_ptr", need_i("edge_ptr")?)?;
            let target = indices(path, "target", need_i("target")?)?;
            let src_dst = need_i("edge_index")?;
            let edge_attr = r.f64s("edge_attr")?.ok_or_else(|| {
                bad(
                    path,
                    "no tensor edge_attr: the file holds node attributions only; \
                     eval scores edge attributions (run explain with --wrt edges or both)",
                )
            })?;
            let g = graph_index.len();
            let e = edge_attr.len();
            if edge_ptr.len() != g + 1
                || edge_ptr.first() != Some(&0)
                || edge_ptr.last() != Some(&e)
                || edge_ptr.windows(2).any(|w| w[1] < w[0])
                || target.len() != g
                || src_dst.len() != 2 * e
            {
                return Err(bad(
                    path,
                    format!(
                        "inconsistent shapes: {g} graphs, edge_ptr of {}, {} targets, {e} edge \
                         attributions, edge_index of {}",
                        edge_ptr.len(),
                        target.len(),
                        src_dst.len()
                    ),
                ));
            }
            Ok(AttrFile {
                path: path.to_path_buf(),
                metadata: r.metadata()?,
                graph_index,
                edge_ptr,
                src_dst,
                edge_attr,
                target,
                log_probs: r.f64s("log_probs")?,
                edge_gt: r.f64s("edge_gt")?,
            })
        }

        fn meta(&self, key: &str) -> Option<&str> {
            self.metadata.get(key).map(String::as_str)
        }

        /// Checks that `batch` (the dataset graphs of `graph_index`) has this file's edges.
        fn check_structure(&self, batch: &GraphBatch, dataset: &str) -> Result<()> {
            let ptr = batch.edge_ptr();
            for (i, &gi) in self.graph_index.iter().enumerate() {
                let (a, b) = (self.edge_ptr[i + 1] - self.edge_ptr[i], ptr[i + 1] - ptr[i]);
                if a != b {
                    return Err(bad(
                        &self.path,
                        format!(
                            "graph {i} of the file (graph {gi} of the dataset) has {a} edges, \
                             but graph {gi} of {dataset} has {b}: the attributions were made on \
                             other data (check --data, --name and --use-node-attr)"
                        ),
                    ));
                }
            }
            let e = batch.num_edges();
            let (src, dst) = (batch.src(), batch.dst());
            if let Some(k) = (0..e).find(|&k| {
                self.src_dst[k] != i64::from(src[k]) || self.src_dst[e + k] != i64::from(dst[k])
            }) {
                let i = ptr.partition_point(|&p| p <= k) - 1;
                return Err(bad(
                    &self.path,
                    format!(
                        "edge {k} (graph {i} of the file, graph {} of the dataset) is ({}, {}) \
                         in the file but ({}, {}) in {dataset}: the attributions were made on \
                         other data",
                        self.graph_index[i],
                        self.src_dst[k],
                        self.src_dst[e + k],
                        src[k],
                        dst[k]
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
        let w = parse_list("--charact-weights", &args.charact_weights)?;
        let [wp, wm] = w[..] else {
            return Err(Error::Config(format!(
                "--charact-weights {:?}: expected two numbers w+,w-",
                args.charact_weights
            )));
        };
        let cfg = EvalConfig {
            ranking: args.ranking.parse()?,
            mask,
            curve: parse_list("--curve", &args.curve)?,
            pope_threshold: args.pope_threshold,
            charact_weights: (wp, wm),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Largest |log-probability difference| between the file and the model, and where.
    fn check_log_probs(
        model: &GraphConvNet,
        batch: &GraphBatch,
        file: &AttrFile,
        model_label: &str,
        pool: Pool,
    ) -> Result<()> {
        let Some(lp) = &file.log_probs else {
            return Ok(());
        };
        let c = model.num_classes();
        if lp.len() != c * batch.num_graphs() {
            return Err(bad(
                &file.path,
                format!(
                    "log_probs has {} values for {} graphs, but the model {model_label} has {c} \
                     classes",
                    lp.len(),
                    batch.num_graphs()
                ),
            ));
        }
        let f = batch.num_features();
        let worst = (0..batch.num_graphs())
            .into_par_iter()
            .map(|g| {
                let gr = batch.graph(g);
                let x: Vec<f64> = batch.features()[gr.nodes.start * f..gr.nodes.end * f]
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                let ours = log_probs(
                    model,
                    &LocalGraph::from_batch(batch, g),
                    &x,
                    &vec![1.0; gr.num_edges()],
                );
                let err = ours
                    .iter()
                    .zip(&lp[g * c..(g + 1) * c])
                    .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                    .fold(0.0, f64::max);
                (err, g)
            })
            .reduce(|| (0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
        if worst.0 > 1e-3 {
            return Err(Error::Mismatch(format!(
                "the log-probabilities in {} differ from those of model {model_label} with \
                 {pool} pooling (graph {} of the file, relative difference {:.2e}); the file \
                 says model {}, pool {}: pass the model and --pool it was made with",
                file.path.display(),
                worst.1,
                worst.0,
                file.meta("model").unwrap_or("?"),
                file.meta("pool").unwrap_or("?"),
            )));
        }
        Ok(())
    }

    pub fn run(args: EvalArgs) -> Result<()> {
        let cfg = config(&args)?;
        let start = Instant::now();
        let main = AttrFile::read(&args.attr)?;
        let other = args.attr_other.as_deref().map(AttrFile::read).transpose()?;

        let dataset = args.src.dataset()?;
        if let Some(d) = main.meta("dataset") {
            if d != dataset {
                return Err(Error::Config(format!(
                    "{} was made on dataset {d}, not {dataset}: pass --data DIR --name {d}",
                    args.attr.display()
                )));
            }
        }
        let pool: Pool = match (&args.pool, main.meta("pool")) {
            (Some(p), _) => p.parse()?,
            (None, Some(p)) => p.parse()?,
            (None, None) => Pool::Add,
        };
        let (model, model_label, model_sha) = args.src.model(&dataset)?;
        let model = model.with_pool(pool);
        if let Some(s) = main.meta("model_sha256") {
            if s != model_sha {
                eprintln!(
                    "graph-ig: warning: {} was made with model {} (sha256 {}), evaluating with \
                     {model_label} (sha256 {model_sha})",
                    args.attr.display(),
                    main.meta("model").unwrap_or("?"),
                    &s[..s.len().min(12)],
                );
            }
        }
        let full: GraphBatch = args.src.graphs(&dataset, model.num_features())?;
        if let Some(i) = main
            .graph_index
            .iter()
            .position(|&g| g >= full.num_graphs())
        {
            return Err(bad(
                &main.path,
                format!(
                    "graph {i} of the file is graph {} of the dataset, but {dataset} has {} graphs",
                    main.graph_index[i],
                    full.num_graphs()
                ),
            ));
        }
        let batch = full.select(&main.graph_index)?;
        main.check_structure(&batch, &dataset)?;
        if let Some(o) = &other {
            if o.graph_index != main.graph_index || o.edge_ptr != main.edge_ptr {
                return Err(bad(
                    &o.path,
                    format!(
                        "--attr-other must hold the same graphs as {} (same graph_index and edges)",
                        main.path.display()
                    ),
                ));
            }
            o.check_structure(&batch, &dataset)?;
        }
        // Ground truth: the dataset's, else the file's own marks.
        let batch = match (batch.edge_gt(), &main.edge_gt) {
            (None, Some(gt)) => with_gt(batch, gt)?,
            _ => batch,
        };
        check_log_probs(&model, &batch, &main, &model_label, pool)?;
        let loaded = start.elapsed().as_secs_f64();

        let t = Instant::now();
        let main_e = Explanation {
            edge_attr: &main.edge_attr,
            target: &main.target,
        };
        let other_e = other.as_ref().map(|o| Explanation {
            edge_attr: &o.edge_attr,
            target: &o.target,
        });
        let report = evaluate(&model, &batch, &main_e, other_e.as_ref(), &cfg)?;
        let seconds = t.elapsed().as_secs_f64();

        print_table(&report, &main, other.as_ref(), &dataset, &model_label, pool);
        println!("  time:        {seconds:.3} s metrics ({loaded:.3} s reading and checking)");
        if let Some(path) = &args.json {
            let mut v = report.to_json();
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "input".into(),
                    json!({
                        "attr": main.path.display().to_string(),
                        "attr_other": other.as_ref().map(|o| o.path.display().to_string()),
                        "attr_metadata": main.metadata,
                        "dataset": dataset,
                        "model": model_label,
                        "model_sha256": model_sha,
                        "pool": pool.to_string(),
                        "graph_index": main.graph_index,
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
            std::fs::write(path, text).map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
            println!("  wrote:       {}", path.display());
        }
        Ok(())
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
        };
        p.edge_gt = Some(gt.iter().map(|&v| u8::from(v != 0.0)).collect());
        GraphBatch::from_parts(p)
    }

    fn f4(v: Option<f64>) -> String {
        v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"))
    }

    fn row(name: &str, value: String, note: &str) {
        println!("    {name:<48} {value:>8}  {note}");
    }

    fn gt_rows(what: &str, s: &GroundTruthSummary) {
        let pooled = |f: fn(&graph_ig::metrics::ground_truth::Confusion) -> f64| {
            (s.graphs > 0).then(|| f(&s.pooled))
        };
        println!(
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

    fn print_table(
        r: &EvalReport,
        main: &AttrFile,
        other: Option<&AttrFile>,
        dataset: &str,
        model_label: &str,
        pool: Pool,
    ) {
        let c = &r.config;
        let edges: usize = r.graphs.iter().map(|g| g.num_edges).sum();
        println!(
            "graph-ig eval: {} ({}, target {}) on {dataset}, {} graphs, {edges} edges",
            main.path.display(),
            main.meta("method").unwrap_or("?"),
            main.meta("target").unwrap_or("?"),
            r.graphs.len(),
        );
        println!(
            "  model:       {model_label}, {pool} pooling; accuracy {} against the labels",
            f4(r.accuracy)
        );
        println!(
            "  masks:       {} by {} attribution, ties to the lower edge index",
            c.mask.describe(),
            if c.ranking == graph_ig::metrics::Ranking::Abs {
                "|edge|"
            } else {
                "signed edge"
            }
        );
        println!();
        println!(
            "  Pope et al. 2019 (salient: score / max score > {})",
            c.pope_threshold
        );
        row(
            "fidelity: accuracy drop, salient occluded",
            f4(r.pope.fidelity_accuracy),
            "",
        );
        row(
            "fidelity: probability drop of the target",
            f4(Some(r.pope.fidelity_probability)),
            "",
        );
        let contrast_note = match other {
            Some(o) => format!(
                "{} graphs, against {}",
                r.pope.contrastivity_graphs,
                o.path.display()
            ),
            None => "needs --attr-other".to_string(),
        };
        row("contrastivity", f4(r.pope.contrastivity), &contrast_note);
        row(
            "sparsity: 1 - salient / E",
            f4(r.pope.sparsity),
            &format!("{} graphs with edges", r.graphs_with_edges),
        );
        let (wp, wm) = c.charact_weights;
        println!("  PyG (GraphFramEx), at the mask");
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
        println!("  DIG, at the mask (probability of the target)");
        row("Fidelity+", f4(Some(r.dig.fidelity_plus)), "");
        row("Fidelity-", f4(Some(r.dig.fidelity_minus)), "");
        row(
            "sparsity: 1 - kept / E",
            f4(r.dig.sparsity),
            &format!("{} graphs with edges", r.graphs_with_edges),
        );
        if let Some(gt) = &r.ground_truth {
            println!("  Ground truth (edge_gt), over graphs with marked edges; P/R/F1 of the mask");
            println!(
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
    }
}
