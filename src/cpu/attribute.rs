//! Attribution methods on the CPU reference path, one graph at a time and
//! graphs in parallel. All arithmetic is f64.
//!
//! The path of each input (`../shared/docs/pyg-interchange.md`, section 3):
//! - edges: the mask `α · 1`, features `x`;
//! - nodes: features `x' + α (x − x')`, mask 1;
//! - both (joint): both at once; the gradient is the edge part followed by the node
//!   part, and one delta covers both.

use super::backend::Cpu;
use super::dense::axpy;
use super::network::LocalGraph;
use crate::explain::noise::NoiseStream;
use crate::explain::{Attributions, ExplainConfig, Method, Rule, StepTable};
use crate::nn::{Backend, Instances, Mask, Network, Seed, Structure, Want};
use crate::{GraphBatch, Model, Result};
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

/// Which inputs move along the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Edges,
    Nodes,
    Joint,
}

impl Path {
    fn edges(self) -> bool {
        self != Path::Nodes
    }
    fn nodes(self) -> bool {
        self != Path::Edges
    }
}

/// Noise added to the point where the gradient is taken (SmoothGrad, VarGrad).
#[derive(Default)]
struct Noise {
    edges: Vec<f64>,
    nodes: Vec<f64>,
}

/// Everything about one graph that its attribution needs.
struct GraphInput<'a> {
    net: &'a Network<'a, Cpu>,
    tables: &'a StepTables,
    g: LocalGraph,
    st: Structure<Cpu>,
    /// Node features `[n, F]`.
    x: Vec<f64>,
    /// The same, as given (f32), for the noise streams.
    features: &'a [f32],
    /// Node-feature baseline `[n, F]`.
    x_base: Vec<f64>,
    /// `[target]`.
    target: Vec<usize>,
    parallel: bool,
}

impl GraphInput<'_> {
    fn num_edges(&self) -> usize {
        self.g.src.len()
    }

    fn inst(&self) -> Instances<'_, LocalGraph> {
        Instances {
            graph: &self.g,
            steps: 1,
        }
    }

    /// The model's output rows at features `x` and edge mask `w`.
    fn outputs(&self, x: Vec<f64>, w: &[f64]) -> Result<Vec<f64>> {
        let w = w.to_vec();
        self.net
            .outputs(&Cpu, self.inst(), &self.st, x, Mask::Edge(&w))
    }

    /// The attributed output at features `x` and edge mask `w`.
    fn f(&self, x: Vec<f64>, w: &[f64]) -> Result<f64> {
        Ok(self.outputs(x, w)?[self.target[0]])
    }

    /// The gradient of the attributed output along `path` at `alpha` (plus `noise`):
    /// `[E]` (edges), `[n·F]` (nodes) or both concatenated (joint).
    fn grad(&self, path: Path, alpha: f64, noise: &Noise, out: &mut [f64]) -> Result<()> {
        let e = self.num_edges();
        let mut w = vec![if path.edges() { alpha } else { 1.0 }; e];
        for (v, z) in w.iter_mut().zip(&noise.edges) {
            *v += z;
        }
        let mut x: Vec<f64> = if path.nodes() {
            self.x_base
                .iter()
                .zip(&self.x)
                .map(|(&b, &v)| b + alpha * (v - b))
                .collect()
        } else {
            self.x.clone()
        };
        for (v, z) in x.iter_mut().zip(&noise.nodes) {
            *v += z;
        }
        let inst = self.inst();
        let tape = self.net.forward(&Cpu, inst, &self.st, x, Mask::Edge(&w))?;
        let want = Want {
            x: path.nodes(),
            mask: path.edges(),
            blocks: false,
        };
        let gr = self.net.backward(
            &Cpu,
            inst,
            &self.st,
            &tape,
            Mask::Edge(&w),
            Seed::Output,
            &self.target,
            want,
        )?;
        let mut off = 0;
        if let Some(m) = &gr.mask {
            out[..e].copy_from_slice(m);
            off = e;
        }
        if let Some(dx) = &gr.x {
            out[off..].copy_from_slice(dx);
        }
        Cpu.free(tape.into_buffers());
        Cpu.free(gr.mask.into_iter().chain(gr.x).chain(gr.blocks));
        Ok(())
    }

    /// `Σ_k weight_k · grad(alpha_k)`, summed in fixed step groups.
    fn integrate(&self, table: &StepTable, len: usize, path: Path) -> Result<Vec<f64>> {
        let groups: Vec<std::ops::Range<usize>> = (0..table.len())
            .step_by(STEP_GROUP)
            .map(|s| s..(s + STEP_GROUP).min(table.len()))
            .collect();
        let none = Noise::default();
        let partial = |r: &std::ops::Range<usize>| -> Result<Vec<f64>> {
            let (mut acc, mut g) = (vec![0.0; len], vec![0.0; len]);
            for k in r.clone() {
                self.grad(path, table.alphas[k], &none, &mut g)?;
                axpy(table.weights[k], &g, &mut acc);
            }
            Ok(acc)
        };
        let partials: Vec<Vec<f64>> = if self.parallel {
            groups.par_iter().map(partial).collect::<Result<_>>()?
        } else {
            groups.iter().map(partial).collect::<Result<_>>()?
        };
        let mut total = vec![0.0; len];
        for p in &partials {
            axpy(1.0, p, &mut total);
        }
        Ok(total)
    }
}

/// One attribution (edges, nodes, or both concatenated) of one graph.
struct Attributed {
    attr: Vec<f64>,
    delta: f64,
    steps: usize,
}

/// Runs the configured method along `path`. `diff` is `input − baseline`, `input` the
/// input itself (both in the gradient's layout); `f_in − f_base` is the change of the
/// attributed output along the path.
#[allow(clippy::too_many_arguments)]
fn attribute(
    gi: &GraphInput<'_>,
    cfg: &ExplainConfig,
    path: Path,
    diff: &[f64],
    input: &[f64],
    f_in: f64,
    f_base: f64,
) -> Result<Attributed> {
    let len = diff.len();
    let finish = |attr: Vec<f64>, steps| {
        let delta = attr.iter().sum::<f64>() - (f_in - f_base);
        Attributed { attr, delta, steps }
    };
    match cfg.method {
        Method::Saliency | Method::InputXGradient => {
            let mut g = vec![0.0; len];
            gi.grad(path, 1.0, &Noise::default(), &mut g)?;
            let attr = if cfg.method == Method::Saliency {
                g.iter().map(|v| v.abs()).collect()
            } else {
                g.iter().zip(input).map(|(a, b)| a * b).collect()
            };
            Ok(finish(attr, 1))
        }
        Method::SmoothGrad | Method::VarGrad => {
            let sm = cfg.smoothing;
            let (e, nf) = (gi.num_edges(), gi.x.len());
            let stream =
                |len| NoiseStream::new(sm.seed, sm.sigma, gi.features, &gi.g.src, &gi.g.dst, len);
            let mut edges = path.edges().then(|| stream(e));
            let mut nodes = path.nodes().then(|| stream(nf));
            let (mut mean, mut sq, mut g) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
            for _ in 0..sm.samples {
                let noise = Noise {
                    edges: edges.as_mut().map(|s| s.next_sample()).unwrap_or_default(),
                    nodes: nodes.as_mut().map(|s| s.next_sample()).unwrap_or_default(),
                };
                gi.grad(path, 1.0, &noise, &mut g)?;
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
                let sum = gi.integrate(table, len, path)?;
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
        other => Err(crate::Error::Config(format!(
            "{} is a node-level method; it has no edge or feature attribution",
            other.cli_name()
        ))),
    }
}

/// The results of one graph.
struct GraphResult {
    edge: Option<Attributed>,
    node: Option<Attributed>,
    joint: bool,
    out: Vec<f64>,
    target: usize,
}

fn explain_graph(
    net: &Network<'_, Cpu>,
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
    let zeros = vec![0.0; e];
    let st = net.structure(&Cpu, &g)?;
    let mut gi = GraphInput {
        net,
        tables,
        parallel: g.n + e >= PARALLEL_STEPS_SIZE,
        g,
        st,
        x,
        features: &batch.features()[gr.nodes.start * f..gr.nodes.end * f],
        x_base,
        target: vec![0],
    };
    let out = gi.outputs(gi.x.clone(), &ones)?;
    let target = cfg.target.resolve(batch, gidx, &out);
    gi.target = vec![target];
    let f_in = out[target];
    let diff_x: Vec<f64> = gi.x.iter().zip(&gi.x_base).map(|(a, b)| a - b).collect();
    let mut result = GraphResult {
        edge: None,
        node: None,
        joint: cfg.wrt.joint(),
        out,
        target,
    };
    if cfg.wrt.joint() {
        let f_base = gi.f(gi.x_base.clone(), &zeros)?;
        let diff: Vec<f64> = ones.iter().chain(&diff_x).copied().collect();
        let input: Vec<f64> = ones.iter().chain(&gi.x).copied().collect();
        let mut a = attribute(&gi, cfg, Path::Joint, &diff, &input, f_in, f_base)?;
        let node_attr = a.attr.split_off(e);
        result.node = Some(Attributed {
            attr: node_attr,
            delta: a.delta,
            steps: a.steps,
        });
        result.edge = Some(a);
        return Ok(result);
    }
    if cfg.wrt.edges() {
        let f_base = gi.f(gi.x.clone(), &zeros)?;
        result.edge = Some(attribute(
            &gi,
            cfg,
            Path::Edges,
            &ones,
            &ones,
            f_in,
            f_base,
        )?);
    }
    if cfg.wrt.nodes() {
        let f_base = gi.f(gi.x_base.clone(), &ones)?;
        let input = gi.x.clone();
        result.node = Some(attribute(
            &gi,
            cfg,
            Path::Nodes,
            &diff_x,
            &input,
            f_in,
            f_base,
        )?);
    }
    Ok(result)
}

/// Explains every graph of `batch` on the CPU. `progress` is called with 1 after each graph.
/// The configuration must already be validated against the model and batch.
pub fn explain(
    model: &Model,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Attributions> {
    if cfg.method.node_level() {
        return super::cam::explain(model, batch, cfg, progress);
    }
    let base = cfg.node_baseline.expand(batch);
    let (net, tables) = (Network::new(&Cpu, model)?, StepTables::new(cfg)?);
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
    let joint = results.first().is_some_and(|r| r.joint);
    let take = |pick: fn(&GraphResult) -> Option<&Attributed>, with_delta: bool| {
        if results.iter().any(|r| pick(r).is_none()) {
            return (None, None, None);
        }
        let all = results.iter().filter_map(pick);
        (
            Some(all.clone().flat_map(|a| a.attr.iter().copied()).collect()),
            with_delta.then(|| all.clone().map(|a| a.delta).collect()),
            with_delta.then(|| all.map(|a| a.steps).collect()),
        )
    };
    (out.edge, out.edge_delta, out.edge_steps) = take(|r| r.edge.as_ref(), true);
    (out.node, out.node_delta, out.node_steps) = take(|r| r.node.as_ref(), !joint);
    for r in &results {
        out.log_probs.extend_from_slice(&r.out);
        out.target.push(r.target);
    }
    Ok(out)
}
