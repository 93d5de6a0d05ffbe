//! Attribution methods on the CPU reference path, one graph at a time and
//! graphs in parallel. All arithmetic is f64.

use super::dense::axpy;
use super::network::{backward, Activations, LocalGraph, Network};
use crate::explain::noise::NoiseStream;
use crate::explain::{Attributions, ExplainConfig, Method, Rule, StepTable};
use crate::{GraphBatch, GraphConvNet, Result};
use rayon::prelude::*;
use std::sync::OnceLock;

/// Steps are summed in fixed groups of this size (in order, then the groups in
/// order), so results do not depend on whether the groups ran in parallel.
const STEP_GROUP: usize = 8;

/// Graphs with at least this many nodes plus edges integrate their step groups in parallel.
const PARALLEL_STEPS_SIZE: usize = 2048;

/// IG's step tables, shared by every graph: the configured count, then (adaptive)
/// each doubling up to the maximum; the first is built at once, each doubling when a
/// graph first needs it.
struct StepTables {
    rule: Rule,
    counts: Vec<usize>,
    tables: Vec<OnceLock<StepTable>>,
}

impl StepTables {
    /// The tables of `cfg` (none unless the method is IG).
    fn new(cfg: &ExplainConfig) -> Result<Self> {
        let (mut counts, mut tables) = (Vec::new(), Vec::new());
        if cfg.method == Method::IntegratedGradients {
            // The first table is built here: it rejects too few steps (the doublings are more).
            tables.push(OnceLock::from(cfg.rule.table(cfg.steps)?));
            counts.push(cfg.steps);
            if let Some(a) = cfg.adaptive {
                while let Some(&s) = counts.last().filter(|&&s| s < a.max_steps) {
                    counts.push(s.saturating_mul(2).min(a.max_steps));
                }
            }
            tables.resize_with(counts.len(), OnceLock::new);
        }
        Ok(StepTables {
            rule: cfg.rule,
            tables,
            counts,
        })
    }

    /// The table of the given round (0: the configured steps).
    fn round(&self, k: usize) -> &StepTable {
        self.tables[k].get_or_init(|| self.rule.table_unchecked(self.counts[k]))
    }
}

/// Per-thread scratch space of one gradient evaluation.
#[derive(Default)]
struct Scratch {
    act: Activations,
    w: Vec<f64>,
    x: Vec<f64>,
    /// Noise added to the point where the gradient is taken (SmoothGrad, VarGrad); empty = none.
    noise: Vec<f64>,
}

impl Scratch {
    fn add_noise(&self, point: &mut [f64]) {
        for (p, n) in point.iter_mut().zip(&self.noise) {
            *p += n;
        }
    }
}

/// Everything about one graph that its attribution needs.
struct GraphInput<'a> {
    net: &'a Network<'a>,
    tables: &'a StepTables,
    g: LocalGraph,
    /// Node features `[n, F]`.
    x: Vec<f64>,
    /// The same, as given (f32), for the noise stream.
    features: &'a [f32],
    /// Node-feature baseline `[n, F]`.
    x_base: Vec<f64>,
    target: usize,
    parallel: bool,
}

impl GraphInput<'_> {
    fn num_edges(&self) -> usize {
        self.g.src.len()
    }

    /// Target log-probability at edge weights `w` and features `x`.
    fn f(&self, x: &[f64], w: &[f64]) -> f64 {
        self.net.log_probs(&self.g, x, w)[self.target]
    }

    /// Gradient of the target log-probability with respect to the edge weights, at `w = alpha`.
    fn edge_grad(&self, alpha: f64, s: &mut Scratch, out: &mut [f64]) {
        s.w.clear();
        s.w.resize(self.num_edges(), alpha);
        let mut w = std::mem::take(&mut s.w);
        s.add_noise(&mut w);
        s.w = w;
        self.net.forward(&self.g, &self.x, &s.w, &mut s.act);
        backward(
            self.net.model,
            &self.g,
            &s.w,
            &s.act,
            self.target,
            None,
            Some(out),
        );
    }

    /// Gradient with respect to the node features, at `x' + alpha (x - x')`, edge weights 1.
    fn node_grad(&self, alpha: f64, s: &mut Scratch, out: &mut [f64]) {
        s.w.clear();
        s.w.resize(self.num_edges(), 1.0);
        s.x.clear();
        s.x.extend(
            self.x_base
                .iter()
                .zip(&self.x)
                .map(|(&b, &v)| b + alpha * (v - b)),
        );
        let mut x = std::mem::take(&mut s.x);
        s.add_noise(&mut x);
        s.x = x;
        self.net.forward(&self.g, &s.x, &s.w, &mut s.act);
        backward(
            self.net.model,
            &self.g,
            &s.w,
            &s.act,
            self.target,
            Some(out),
            None,
        );
    }

    /// `Σ_k weight_k · grad(alpha_k)`, summed in fixed step groups.
    fn integrate(
        &self,
        table: &StepTable,
        len: usize,
        grad: impl Fn(&Self, f64, &mut Scratch, &mut [f64]) + Sync,
    ) -> Vec<f64> {
        let groups: Vec<std::ops::Range<usize>> = (0..table.len())
            .step_by(STEP_GROUP)
            .map(|s| s..(s + STEP_GROUP).min(table.len()))
            .collect();
        let partial = |r: &std::ops::Range<usize>| {
            let mut s = Scratch::default();
            let (mut acc, mut g) = (vec![0.0; len], vec![0.0; len]);
            for k in r.clone() {
                grad(self, table.alphas[k], &mut s, &mut g);
                axpy(table.weights[k], &g, &mut acc);
            }
            acc
        };
        let partials: Vec<Vec<f64>> = if self.parallel {
            groups.par_iter().map(partial).collect()
        } else {
            groups.iter().map(partial).collect()
        };
        let mut total = vec![0.0; len];
        for p in &partials {
            axpy(1.0, p, &mut total);
        }
        total
    }
}

/// One attribution (edges or nodes) of one graph.
struct Attributed {
    attr: Vec<f64>,
    delta: f64,
    steps: usize,
}

/// Runs the configured method for one input kind.
/// `grad` evaluates the gradient at a path point; `diff` is `input − baseline`;
/// `f_in − f_base` is the change of the target log-probability along the path.
fn attribute<'m>(
    gi: &GraphInput<'m>,
    cfg: &ExplainConfig,
    diff: &[f64],
    input: &[f64],
    f_in: f64,
    f_base: f64,
    grad: impl Fn(&GraphInput<'m>, f64, &mut Scratch, &mut [f64]) + Sync + Copy,
) -> Result<Attributed> {
    let len = diff.len();
    let finish = |attr: Vec<f64>, steps| {
        let delta = attr.iter().sum::<f64>() - (f_in - f_base);
        Attributed { attr, delta, steps }
    };
    match cfg.method {
        // The node-level methods never reach here (cpu::cam runs them).
        Method::Saliency
        | Method::InputXGradient
        | Method::GradCam(_)
        | Method::ContrastiveGradient
        | Method::ExcitationBackprop
        | Method::ContrastiveEb
        | Method::Cam => {
            let mut g = vec![0.0; len];
            grad(gi, 1.0, &mut Scratch::default(), &mut g);
            let attr = if cfg.method == Method::Saliency {
                g.iter().map(|v| v.abs()).collect()
            } else {
                g.iter().zip(input).map(|(a, b)| a * b).collect()
            };
            Ok(finish(attr, 1))
        }
        Method::SmoothGrad | Method::VarGrad => {
            let sm = cfg.smoothing;
            let mut rng =
                NoiseStream::new(sm.seed, sm.sigma, gi.features, &gi.g.src, &gi.g.dst, len);
            let mut s = Scratch::default();
            let (mut mean, mut sq, mut g) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
            for _ in 0..sm.samples {
                s.noise = rng.next_sample();
                grad(gi, 1.0, &mut s, &mut g);
                for k in 0..len {
                    mean[k] += g[k];
                    sq[k] += g[k] * g[k];
                }
            }
            let n = sm.samples as f64;
            let attr = if cfg.method == Method::SmoothGrad {
                mean.iter().map(|m| m / n).collect()
            } else {
                // captum's NoiseTunnel: E[g²] − E[g]² (the population variance).
                mean.iter()
                    .zip(&sq)
                    .map(|(m, q)| q / n - (m / n) * (m / n))
                    .collect()
            };
            Ok(finish(attr, sm.samples))
        }
        Method::IntegratedGradients => {
            let mut k = 0;
            loop {
                let table = gi.tables.round(k);
                let steps = table.len();
                let sum = gi.integrate(table, len, grad);
                let attr: Vec<f64> = if cfg.multiply_by_inputs {
                    sum.iter().zip(diff).map(|(a, b)| a * b).collect()
                } else {
                    sum
                };
                let done = finish(attr, steps);
                let more = k + 1 < gi.tables.counts.len()
                    && cfg
                        .adaptive
                        .is_some_and(|a| done.delta.abs() > a.tol * (f_in - f_base).abs());
                if !more {
                    return Ok(done);
                }
                k += 1;
            }
        }
    }
}

/// The results of one graph.
struct GraphResult {
    edge: Option<Attributed>,
    node: Option<Attributed>,
    log_probs: Vec<f64>,
    target: usize,
}

fn explain_graph(
    net: &Network,
    tables: &StepTables,
    batch: &GraphBatch,
    gidx: usize,
    cfg: &ExplainConfig,
    base: Option<&[f32]>,
) -> Result<GraphResult> {
    let gr = batch.graph(gidx);
    let f = batch.num_features();
    let g = LocalGraph::from_batch(batch, gidx);
    let feats = gr.nodes.start * f..gr.nodes.end * f;
    let x: Vec<f64> = batch.features()[feats.clone()]
        .iter()
        .map(|&v| v as f64)
        .collect();
    let x_base: Vec<f64> = match base {
        None => vec![0.0; x.len()],
        Some(t) => t[feats].iter().map(|&v| v as f64).collect(),
    };
    let e = g.src.len();
    let ones = vec![1.0; e];
    let lp = net.log_probs(&g, &x, &ones);
    let target = cfg.target.resolve(batch, gidx, &lp);
    let gi = GraphInput {
        net,
        tables,
        parallel: g.n + e >= PARALLEL_STEPS_SIZE,
        g,
        x,
        features: &batch.features()[gr.nodes.start * f..gr.nodes.end * f],
        x_base,
        target,
    };
    let f_in = lp[target];
    let edge = if cfg.wrt.edges() {
        let f_base = gi.f(&gi.x, &vec![0.0; e]);
        Some(attribute(
            &gi,
            cfg,
            &ones,
            &ones,
            f_in,
            f_base,
            GraphInput::edge_grad,
        )?)
    } else {
        None
    };
    let node = if cfg.wrt.nodes() {
        let f_base = gi.f(&gi.x_base, &ones);
        let diff: Vec<f64> = gi.x.iter().zip(&gi.x_base).map(|(a, b)| a - b).collect();
        Some(attribute(
            &gi,
            cfg,
            &diff,
            &gi.x,
            f_in,
            f_base,
            GraphInput::node_grad,
        )?)
    } else {
        None
    };
    Ok(GraphResult {
        edge,
        node,
        log_probs: lp,
        target,
    })
}

/// Explains every graph of `batch` on the CPU. `progress` is called with 1 after each graph.
/// The configuration must already be validated against the model and batch.
pub fn explain(
    model: &GraphConvNet,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Attributions> {
    if cfg.method.node_level() {
        return super::cam::explain(model, batch, cfg, progress);
    }
    let base = cfg.node_baseline.expand(batch);
    let (net, tables) = (Network::new(model), StepTables::new(cfg)?);
    let results: Vec<GraphResult> = (0..batch.num_graphs())
        .into_par_iter()
        .map(|g| {
            let r = explain_graph(&net, &tables, batch, g, cfg, base.as_deref());
            progress(1);
            r
        })
        .collect::<Result<_>>()?;
    let mut out = Attributions {
        num_classes: model.num_classes(),
        num_features: batch.num_features(),
        ..Default::default()
    };
    let take = |pick: fn(&GraphResult) -> Option<&Attributed>| {
        if results.iter().any(|r| pick(r).is_none()) {
            return (None, None, None);
        }
        let all = results.iter().filter_map(pick);
        (
            Some(all.clone().flat_map(|a| a.attr.iter().copied()).collect()),
            Some(all.clone().map(|a| a.delta).collect()),
            Some(all.map(|a| a.steps).collect()),
        )
    };
    (out.edge, out.edge_delta, out.edge_steps) = take(|r| r.edge.as_ref());
    (out.node, out.node_delta, out.node_steps) = take(|r| r.node.as_ref());
    for r in &results {
        out.log_probs.extend_from_slice(&r.log_probs);
        out.target.push(r.target);
    }
    Ok(out)
}
