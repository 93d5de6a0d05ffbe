//! Attribution methods on the device; mirrors `cpu::attribute`.
//!
//! The dataset is split into chunks of graphs whose activations for all steps
//! fit the memory budget; a graph too large for that runs its steps in several
//! launches. Every (graph, step) instance of a chunk is computed at once, the
//! graph structure shared by all steps. The weighted sum over steps, the final
//! attribution and the convergence delta are computed on the device; only the
//! attributions, log-probabilities and deltas come back. Splitting into chunks
//! or step ranges does not change a single bit of the results.

use super::fused::{self, FusedJob, PackedModel};
use super::integrate::{
    accumulate_moments, accumulate_steps, convergence_delta, finish_attribution, finish_moments,
    interpolate_features, Finish,
};
use super::launch::Gpu;
use super::message_passing::Weights;
use super::network::{backward, forward, step_bytes, DeviceGraphs, DeviceModel};
use crate::explain::noise::NoiseStream;
use crate::explain::{Attributions, ExplainConfig, GpuKernel, Method, StepTable};
use crate::{Error, GraphBatch, GraphConvNet, Result};
use std::ops::Range;

/// Which input the attributions are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Edges,
    Nodes,
}

/// Chunks of graphs, each with the steps one launch may run (within `budget` bytes).
pub(super) fn plan(
    model: &GraphConvNet,
    b: &GraphBatch,
    steps: usize,
    budget: usize,
) -> Result<Vec<(Range<usize>, usize)>> {
    let cost = |g: usize| {
        let gr = b.graph(g);
        step_bytes(model, gr.num_nodes(), gr.num_edges())
    };
    let mut out = Vec::new();
    let mut g = 0;
    while g < b.num_graphs() {
        let mut per_step = cost(g);
        if per_step > budget {
            let gr = b.graph(g);
            return Err(Error::Config(format!(
                "graph {g} ({} nodes, {} edges) needs {per_step} bytes of device memory for one step, \
                 more than the budget of {budget} bytes; raise the memory budget",
                gr.num_nodes(),
                gr.num_edges()
            )));
        }
        let mut end = g + 1;
        while end < b.num_graphs() && (per_step + cost(end)) * steps <= budget {
            per_step += cost(end);
            end += 1;
        }
        out.push((g..end, (budget / per_step).clamp(1, steps)));
        g = end;
    }
    Ok(out)
}

/// A launch's inputs: node features `[S·N, F]`, step weights `[S]`, per-edge weights `[S·E]`.
type Inputs<G> = (
    <G as Gpu>::Buf<f32>,
    <G as Gpu>::Buf<f32>,
    Option<<G as Gpu>::Buf<f32>>,
);

/// The noisy inputs of SmoothGrad and VarGrad for one chunk, drawn from each graph's
/// [`NoiseStream`] sample by sample, exactly as the CPU reference draws them, and laid
/// out step-major for the layered kernels.
struct ChunkNoise {
    streams: Vec<NoiseStream>,
    /// Each graph's clean input (edge weights 1, or `x' + 1 · (x − x')`), chunk order.
    clean: Vec<f64>,
    /// Each graph's offset into `clean`.
    offsets: Vec<usize>,
}

impl ChunkNoise {
    /// The streams of the graphs of `sub` (node baseline aligned with it).
    fn new(sub: &GraphBatch, cfg: &ExplainConfig, edges: bool, base: Option<&[f32]>) -> Self {
        let f = sub.num_features();
        let sm = cfg.smoothing;
        let (mut streams, mut clean, mut offsets) = (Vec::new(), Vec::new(), Vec::new());
        for gr in sub.graphs() {
            let n0 = gr.nodes.start as u32;
            let local =
                |v: &[u32]| -> Vec<u32> { v[gr.edges.clone()].iter().map(|i| i - n0).collect() };
            let feats = &sub.features()[gr.nodes.start * f..gr.nodes.end * f];
            offsets.push(clean.len());
            if edges {
                clean.extend(std::iter::repeat_n(1.0, gr.num_edges()));
            } else {
                let b = base.map(|b| &b[gr.nodes.start * f..gr.nodes.end * f]);
                clean.extend(feats.iter().enumerate().map(|(k, &v)| {
                    let b = b.map_or(0.0, |b| f64::from(b[k]));
                    b + (f64::from(v) - b)
                }));
            }
            let len = clean.len() - offsets[offsets.len() - 1];
            let (src, dst) = (local(sub.src()), local(sub.dst()));
            streams.push(NoiseStream::new(sm.seed, sm.sigma, feats, &src, &dst, len));
        }
        ChunkNoise {
            streams,
            clean,
            offsets,
        }
    }

    /// The next `count` samples of every graph: `[count, len]`, rounded to f32.
    fn samples(&mut self, count: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(count * self.clean.len());
        for _ in 0..count {
            for (k, stream) in self.streams.iter_mut().enumerate() {
                let noise = stream.next_sample();
                let clean = &self.clean[self.offsets[k]..self.offsets[k] + noise.len()];
                out.extend(clean.iter().zip(&noise).map(|(c, z)| (c + z) as f32));
            }
        }
        out
    }
}

/// The results of one round over some graphs.
struct Round {
    attr: Vec<f32>,
    delta: Vec<f32>,
    /// F(input) − F(baseline) per graph.
    df: Vec<f64>,
}

/// Everything a round needs besides the graphs.
struct Job<'a, G: Gpu> {
    gpu: &'a G,
    dm: &'a DeviceModel<G>,
    packed: &'a PackedModel<G>,
    model: &'a GraphConvNet,
    cfg: &'a ExplainConfig,
    kind: Kind,
    budget: usize,
}

impl<G: Gpu> Job<'_, G> {
    /// The offsets (per graph) and the width of this kind's attributions in `b`.
    fn layout<'b>(&self, b: &'b GraphBatch) -> (&'b [usize], usize) {
        match self.kind {
            Kind::Edges => (b.edge_ptr(), 1),
            Kind::Nodes => (b.node_ptr(), b.num_features()),
        }
    }

    /// Graphs `ids` of `b` as a batch of their own, with their targets and node baselines.
    fn part(
        &self,
        b: &GraphBatch,
        ids: &[usize],
        targets: &[usize],
        base: Option<&[f32]>,
    ) -> Result<(GraphBatch, Vec<usize>, Option<Vec<f32>>)> {
        let f = b.num_features();
        let t = ids.iter().map(|&g| targets[g]).collect();
        let bs = base.map(|v| {
            ids.iter()
                .flat_map(|&g| {
                    v[b.node_ptr()[g] * f..b.node_ptr()[g + 1] * f]
                        .iter()
                        .copied()
                })
                .collect()
        });
        Ok((b.select(ids)?, t, bs))
    }

    /// True for SmoothGrad and VarGrad (noisy samples instead of IG steps).
    fn smoothing(&self) -> bool {
        matches!(self.cfg.method, Method::SmoothGrad | Method::VarGrad)
    }

    /// The step table of the method (for SmoothGrad and VarGrad: one entry per sample,
    /// all at the input).
    fn table(&self, steps: usize) -> Result<StepTable> {
        match self.cfg.method {
            Method::IntegratedGradients => self.cfg.rule.table(steps),
            Method::SmoothGrad | Method::VarGrad => Ok(StepTable {
                alphas: vec![1.0; steps],
                weights: vec![1.0 / steps as f64; steps],
            }),
            _ => Ok(StepTable {
                alphas: vec![1.0],
                weights: vec![1.0],
            }),
        }
    }

    /// Runs `steps` steps of the method for every graph of `b` (targets and node
    /// baseline aligned with `b`): the fused kernel for the graphs that fit it,
    /// the layered kernels for the rest.
    fn round(
        &self,
        b: &GraphBatch,
        steps: usize,
        targets: &[usize],
        base: Option<&[f32]>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Round> {
        let fits: Vec<bool> = b
            .graphs()
            .map(|g| {
                // SmoothGrad's noisy edge masks need per-edge weights: layered kernels only.
                self.cfg.gpu_kernel != GpuKernel::Layered
                    && !self.smoothing()
                    && fused::fits(
                        self.gpu,
                        self.model,
                        g.num_nodes(),
                        g.num_edges(),
                        self.cfg.storage,
                    )
            })
            .collect();
        if fits.iter().all(|&f| f) {
            return self.fused_round(b, steps, targets, base, progress);
        }
        if fits.iter().all(|&f| !f) {
            return self.layered_round(b, steps, targets, base, progress);
        }
        // A mix: run each part on its path, then put the graphs back in order.
        let (ptr, width) = self.layout(b);
        let mut parts = Vec::new();
        for want in [true, false] {
            let ids: Vec<usize> = (0..b.num_graphs()).filter(|&g| fits[g] == want).collect();
            let (sel, t, bs) = self.part(b, &ids, targets, base)?;
            let r = if want {
                self.fused_round(&sel, steps, &t, bs.as_deref(), progress)?
            } else {
                self.layered_round(&sel, steps, &t, bs.as_deref(), progress)?
            };
            parts.push((ids, r));
        }
        let mut out = Round {
            attr: vec![0.0; ptr[b.num_graphs()] * width],
            delta: vec![0.0; b.num_graphs()],
            df: vec![0.0; b.num_graphs()],
        };
        for (ids, r) in parts {
            let mut off = 0;
            for (k, &g) in ids.iter().enumerate() {
                let span = (ptr[g + 1] - ptr[g]) * width;
                out.attr[ptr[g] * width..ptr[g + 1] * width]
                    .copy_from_slice(&r.attr[off..off + span]);
                off += span;
                out.delta[g] = r.delta[k];
                out.df[g] = r.df[k];
            }
        }
        Ok(out)
    }

    /// The fused kernel over all graphs of `b` (each must fit it).
    fn fused_round(
        &self,
        b: &GraphBatch,
        steps: usize,
        targets: &[usize],
        base: Option<&[f32]>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Round> {
        let gpu = self.gpu;
        let table = self.table(steps)?;
        let dg = DeviceGraphs::upload(gpu, b)?;
        let tgt: Vec<i32> = targets.iter().map(|&t| t as i32).collect();
        let tgt = gpu.upload(&tgt)?;
        let base_buf = match base {
            Some(v) => Some(gpu.upload(v)?),
            None => None,
        };
        let job = FusedJob {
            model: self.packed,
            net: self.model,
            method: self.cfg.method,
            edges: self.kind == Kind::Edges,
            shortcut: self.cfg.gpu_kernel != GpuKernel::FusedWithoutShortcut,
            multiply_by_inputs: self.cfg.multiply_by_inputs,
            storage: self.cfg.storage,
        };
        let max_n = b.graphs().map(|g| g.num_nodes()).max().unwrap_or(1);
        let max_e = b.graphs().map(|g| g.num_edges()).max().unwrap_or(0);
        let alphas: Vec<f32> = table.alphas.iter().map(|&a| a as f32).collect();
        let weights: Vec<f32> = table.weights.iter().map(|&w| w as f32).collect();
        let node_base = if self.kind == Kind::Nodes {
            base_buf.as_ref()
        } else {
            None
        };
        let out = fused::run(
            gpu, &job, &dg, max_n, max_e, node_base, &alphas, &weights, &tgt,
        )?;
        let len = if job.edges {
            dg.num_edges
        } else {
            dg.num_nodes * dg.num_features
        };
        let mut attr = gpu.download(&out.attr)?;
        attr.truncate(len);
        let g = b.num_graphs();
        let mut delta = gpu.download(&out.delta)?;
        delta.truncate(g);
        let (fi, fb) = (gpu.download(&out.f_in)?, gpu.download(&out.f_base)?);
        progress(g);
        Ok(Round {
            attr,
            delta,
            df: (0..g).map(|k| fi[k] as f64 - fb[k] as f64).collect(),
        })
    }

    /// Runs `steps` steps of the method for every graph of `b` on the layered
    /// kernels, in chunks that fit the memory budget.
    fn layered_round(
        &self,
        b: &GraphBatch,
        steps: usize,
        targets: &[usize],
        base: Option<&[f32]>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Round> {
        let gpu = self.gpu;
        let c = self.model.num_classes();
        let f = b.num_features();
        let table = self.table(steps)?;
        let mut out = Round {
            attr: Vec::new(),
            delta: Vec::new(),
            df: Vec::new(),
        };
        for (range, per_launch) in plan(self.model, b, table.len(), self.budget)? {
            let sub = b.subset(range.clone())?;
            let dg = DeviceGraphs::upload(gpu, &sub)?;
            let (gn, n, e) = (sub.num_graphs(), sub.num_nodes(), sub.num_edges());
            let tgt: Vec<i32> = targets[range.clone()].iter().map(|&t| t as i32).collect();
            let tgt = gpu.upload(&tgt)?;
            let base_sub: Option<Vec<f32>> = base
                .map(|v| v[b.node_ptr()[range.start] * f..b.node_ptr()[range.end] * f].to_vec());
            let base_buf = match &base_sub {
                Some(v) => Some(gpu.upload(v)?),
                None => None,
            };
            let (len, width) = match self.kind {
                Kind::Edges => (e, 1),
                Kind::Nodes => (n * f, f),
            };
            // One pass over `alphas`: node features and edge weights of each step, and, for
            // SmoothGrad and VarGrad, the noisy input of each sample (`noisy`, `[S, len]`:
            // the edge weights or the node features themselves).
            let inputs = |alphas: &[f32], noisy: Option<&[f32]>| -> Result<Inputs<G>> {
                let s = alphas.len();
                let ones = vec![1.0f32; s];
                let a = gpu.upload(alphas)?;
                let mut h0 = gpu.zeros::<f32>(s * n * f)?;
                match (self.kind, noisy) {
                    (Kind::Edges, _) => {
                        interpolate_features(
                            gpu,
                            &dg.x,
                            None,
                            &gpu.upload(&ones)?,
                            s,
                            n * f,
                            &mut h0,
                        )?;
                        let edge_w = noisy.map(|v| gpu.upload(v)).transpose()?;
                        Ok((h0, a, edge_w))
                    }
                    (Kind::Nodes, Some(v)) => Ok((gpu.upload(v)?, gpu.upload(&ones)?, None)),
                    (Kind::Nodes, None) => {
                        interpolate_features(gpu, &dg.x, base_buf.as_ref(), &a, s, n * f, &mut h0)?;
                        Ok((h0, gpu.upload(&ones)?, None))
                    }
                }
            };
            // F at the input (alpha 1) and at the baseline (alpha 0), one step at a time.
            let endpoint = |alpha: f32| -> Result<G::Buf<f32>> {
                let (h0, w, _) = inputs(&[alpha], None)?;
                Ok(forward(gpu, self.dm, &dg, 1, h0, Weights::per_step(&w), &tgt, false)?.logp)
            };
            let mut noise = if self.smoothing() {
                Some(ChunkNoise::new(
                    &sub,
                    self.cfg,
                    self.kind == Kind::Edges,
                    base_sub.as_deref(),
                ))
            } else {
                None
            };
            let logp_in = endpoint(1.0)?;
            let logp_base = endpoint(0.0)?;
            // The weighted sum of the gradients over the steps; for SmoothGrad and VarGrad,
            // their moments over the samples, about the first sample's gradient (which
            // therefore runs alone).
            let mut acc = gpu.zeros::<f32>(len)?;
            let mut sq = gpu.zeros::<f32>(if noise.is_some() { len } else { 0 })?;
            let mut shift: Option<G::Buf<f32>> = None;
            let mut s0 = 0;
            while s0 < table.len() {
                let s1 = if noise.is_some() && s0 == 0 {
                    1
                } else {
                    (s0 + per_launch).min(table.len())
                };
                let alphas: Vec<f32> = table.alphas[s0..s1].iter().map(|&a| a as f32).collect();
                let weights: Vec<f32> = table.weights[s0..s1].iter().map(|&w| w as f32).collect();
                let noisy = noise.as_mut().map(|nz| nz.samples(s1 - s0));
                let (h0, w, edge_w) = inputs(&alphas, noisy.as_deref())?;
                let w = Weights {
                    step: &w,
                    edge: edge_w.as_ref(),
                };
                let act = forward(gpu, self.dm, &dg, s1 - s0, h0, w, &tgt, true)?;
                let (dx, dw) = backward(
                    gpu,
                    self.dm,
                    &dg,
                    s1 - s0,
                    w,
                    &act,
                    self.kind == Kind::Nodes,
                    self.kind == Kind::Edges,
                    None,
                )?;
                let grad = dx
                    .or(dw)
                    .ok_or_else(|| Error::Device("internal error: no gradient".into()))?;
                match (&noise, &shift) {
                    (None, _) => accumulate_steps(
                        gpu,
                        &grad,
                        &gpu.upload(&weights)?,
                        s1 - s0,
                        len,
                        &mut acc,
                    )?,
                    (Some(_), None) => shift = Some(grad),
                    (Some(_), Some(k)) => {
                        accumulate_moments(gpu, &grad, k, s1 - s0, len, &mut acc, &mut sq)?
                    }
                }
                s0 = s1;
            }
            // The attribution and its delta.
            let diff: Option<G::Buf<f32>> = match (self.cfg.method, self.kind) {
                (_, Kind::Edges) | (Method::Saliency, _) => None,
                (Method::InputXGradient, Kind::Nodes) => Some(gpu.upload(sub.features())?),
                (Method::IntegratedGradients, Kind::Nodes) if !self.cfg.multiply_by_inputs => None,
                (Method::IntegratedGradients, Kind::Nodes) => {
                    let x = sub.features();
                    let d: Vec<f32> = match &base_sub {
                        Some(bs) => x.iter().zip(bs).map(|(a, b)| a - b).collect(),
                        None => x.to_vec(),
                    };
                    Some(gpu.upload(&d)?)
                }
                // The CPU-only methods are rejected before any launch.
                _ => None,
            };
            let mode = if self.cfg.method == Method::Saliency {
                Finish::Abs
            } else {
                Finish::TimesDiff
            };
            let mut attr = gpu.zeros::<f32>(len)?;
            match &shift {
                Some(k) => {
                    let variance = self.cfg.method == Method::VarGrad;
                    finish_moments(gpu, k, &acc, &sq, table.len(), variance, len, &mut attr)?
                }
                None => finish_attribution(gpu, &acc, diff.as_ref(), mode, len, &mut attr)?,
            }
            let ptr = match self.kind {
                Kind::Edges => &dg.edge_ptr,
                Kind::Nodes => &dg.node_ptr,
            };
            let mut delta = gpu.zeros::<f32>(gn)?;
            convergence_delta(
                gpu, ptr, &attr, len, width, &logp_in, &logp_base, &tgt, c, gn, &mut delta,
            )?;
            let mut a = gpu.download(&attr)?;
            a.truncate(len);
            out.attr.extend(a);
            let mut d = gpu.download(&delta)?;
            d.truncate(gn);
            out.delta.extend(d);
            let (fi, fb) = (gpu.download(&logp_in)?, gpu.download(&logp_base)?);
            for (k, &t) in targets[range.clone()].iter().enumerate() {
                out.df.push(fi[k * c + t] as f64 - fb[k * c + t] as f64);
            }
            progress(gn);
        }
        Ok(out)
    }

    /// All graphs of `b`, with adaptive rounds when configured.
    fn run(
        &self,
        b: &GraphBatch,
        targets: &[usize],
        base: Option<&[f32]>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(Vec<f64>, Vec<f64>, Vec<usize>)> {
        let (ptr, width) = self.layout(b);
        let mut attr = vec![0.0f64; ptr[b.num_graphs()] * width];
        let mut delta = vec![0.0f64; b.num_graphs()];
        let mut used = vec![0usize; b.num_graphs()];
        let adaptive = self
            .cfg
            .adaptive
            .filter(|_| self.cfg.method == Method::IntegratedGradients);
        let mut steps = match self.cfg.method {
            Method::IntegratedGradients => self.cfg.steps,
            Method::SmoothGrad | Method::VarGrad => self.cfg.smoothing.samples,
            _ => 1,
        };
        let mut pending: Vec<usize> = (0..b.num_graphs()).collect();
        let mut first = true;
        while !pending.is_empty() {
            let r = if first {
                self.round(b, steps, targets, base, progress)?
            } else {
                let (sel, t, bs) = self.part(b, &pending, targets, base)?;
                self.round(&sel, steps, &t, bs.as_deref(), &|_| {})?
            };
            let mut next = Vec::new();
            let mut off = 0;
            for (k, &g) in pending.iter().enumerate() {
                let span = (ptr[g + 1] - ptr[g]) * width;
                for (dst, &v) in attr[ptr[g] * width..ptr[g + 1] * width]
                    .iter_mut()
                    .zip(&r.attr[off..off + span])
                {
                    *dst = v as f64;
                }
                off += span;
                delta[g] = r.delta[k] as f64;
                used[g] = steps;
                if let Some(a) = adaptive {
                    if delta[g].abs() > a.tol * r.df[k].abs() && steps < a.max_steps {
                        next.push(g);
                    }
                }
            }
            pending = next;
            steps = adaptive.map_or(steps, |a| (2 * steps).min(a.max_steps));
            first = false;
        }
        Ok((attr, delta, used))
    }
}

/// Explains every graph of `batch` on `gpu`. The configuration must already be
/// validated against the model and batch. `progress` is called as chunks finish.
pub fn explain<G: Gpu>(
    gpu: &G,
    model: &GraphConvNet,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Attributions> {
    if cfg.method.node_level() {
        return super::cam::explain(gpu, model, batch, cfg, progress);
    }
    let dm = DeviceModel::upload(gpu, model)?;
    let packed = PackedModel::upload(gpu, model)?;
    let budget = gpu.budget(cfg.memory_budget)?;
    let (g, c, f) = (
        batch.num_graphs(),
        model.num_classes(),
        batch.num_features(),
    );
    let base = cfg.node_baseline.expand(batch);
    // Log-probabilities at the real input decide the targets.
    let mut log_probs = Vec::with_capacity(g * c);
    let zero_targets = vec![0usize; g];
    for (range, _) in plan(model, batch, 1, budget)? {
        let sub = batch.subset(range.clone())?;
        let dg = DeviceGraphs::upload(gpu, &sub)?;
        let mut h0 = gpu.zeros::<f32>(sub.num_nodes() * f)?;
        interpolate_features(
            gpu,
            &dg.x,
            None,
            &gpu.upload(&[1.0f32])?,
            1,
            sub.num_nodes() * f,
            &mut h0,
        )?;
        let t: Vec<i32> = zero_targets[range].iter().map(|&t| t as i32).collect();
        let act = forward(
            gpu,
            &dm,
            &dg,
            1,
            h0,
            Weights::per_step(&gpu.upload(&[1.0f32])?),
            &gpu.upload(&t)?,
            false,
        )?;
        let mut lp = gpu.download(&act.logp)?;
        lp.truncate(sub.num_graphs() * c);
        log_probs.extend(lp);
    }
    let targets: Vec<usize> = (0..g)
        .map(|k| cfg.target.resolve(batch, k, &log_probs[k * c..(k + 1) * c]))
        .collect();
    let mut out = Attributions {
        num_classes: c,
        num_features: f,
        log_probs: log_probs.iter().map(|&v| v as f64).collect(),
        target: targets.clone(),
        ..Default::default()
    };
    let mut reported = false;
    let silent = |_: usize| {};
    for kind in [Kind::Edges, Kind::Nodes] {
        let wanted = match kind {
            Kind::Edges => cfg.wrt.edges(),
            Kind::Nodes => cfg.wrt.nodes(),
        };
        if !wanted {
            continue;
        }
        let job = Job {
            gpu,
            dm: &dm,
            packed: &packed,
            model,
            cfg,
            kind,
            budget,
        };
        let (attr, delta, steps) = job.run(
            batch,
            &targets,
            base.as_deref(),
            if reported { &silent } else { progress },
        )?;
        reported = true;
        match kind {
            Kind::Edges => {
                (out.edge, out.edge_delta, out.edge_steps) = (Some(attr), Some(delta), Some(steps))
            }
            Kind::Nodes => {
                (out.node, out.node_delta, out.node_steps) = (Some(attr), Some(delta), Some(steps))
            }
        }
    }
    Ok(out)
}
