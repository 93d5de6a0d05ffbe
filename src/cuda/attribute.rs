//! Attribution methods on the device; mirrors `cpu::attribute`.
//!
//! The dataset is split into chunks of graphs whose activations for all steps fit the
//! memory budget; a graph too large for that runs its steps in several launches. Every
//! (graph, step) instance of a chunk is computed at once by [`crate::nn::Network`] over
//! [`GpuBackend`], the graph structure shared by all steps; the tutorial family's graphs
//! that fit a block's shared memory take the fused kernel instead. The weighted sum over
//! steps, the final attribution and the convergence delta are computed on the device;
//! only the attributions, the output rows and the deltas come back. Splitting into
//! chunks or step ranges does not change a single bit of the results.
//!
//! The path of each input (`../shared/docs/pyg-interchange.md`, section 3), as on the
//! CPU: edges move the mask `α · 1` at features `x`; nodes move the features
//! `x' + α (x − x')` at mask 1; the joint attribution (`--wrt both`) moves both at once,
//! its two parts (edges, then nodes) sharing one delta.

use super::backend::GpuBackend;
use super::fused::{self, FusedJob, PackedModel};
use super::integrate::{
    accumulate_moments, accumulate_steps, convergence_delta, finish_attribution, finish_moments,
    interpolate_features, Finish,
};
use super::launch::Gpu;
use super::network::{step_bytes, DeviceGraphs};
use crate::explain::noise::NoiseStream;
use crate::explain::{Attributions, ExplainConfig, GpuKernel, Method, StepTable, Wrt};
use crate::nn::{Backend, Instances, Mask, Network, Seed, Want};
use crate::{Error, GraphBatch, Model, Result};
use std::ops::Range;

/// A device buffer of floats.
type Buf<G> = <G as Gpu>::Buf<f32>;

/// One input's part of an attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The edge mask `[E]`.
    Edges,
    /// The node features `[N, F]`.
    Nodes,
}

impl Part {
    /// The offsets (per graph) and the width of this part's attributions in `b`.
    fn layout(self, b: &GraphBatch) -> (&[usize], usize) {
        match self {
            Part::Edges => (b.edge_ptr(), 1),
            Part::Nodes => (b.node_ptr(), b.num_features()),
        }
    }
}

/// Which inputs move along the path of one attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Edges,
    Nodes,
    /// Both at once (`--wrt both`): one attribution of two parts and one delta.
    Joint,
}

impl Kind {
    fn parts(self) -> &'static [Part] {
        match self {
            Kind::Edges => &[Part::Edges],
            Kind::Nodes => &[Part::Nodes],
            Kind::Joint => &[Part::Edges, Part::Nodes],
        }
    }
    fn edges(self) -> bool {
        self != Kind::Nodes
    }
    fn nodes(self) -> bool {
        self != Kind::Edges
    }
}

/// Chunks of graphs, each with the steps one launch may run (within `budget` bytes).
pub(super) fn plan(
    model: &Model,
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

/// The noisy inputs of SmoothGrad and VarGrad for one chunk and input, drawn from each
/// graph's [`NoiseStream`] sample by sample, exactly as the CPU reference draws them, and
/// laid out step-major.
struct ChunkNoise {
    streams: Vec<NoiseStream>,
    /// Each graph's clean input (edge mask 1, or `x' + 1 · (x − x')`), chunk order.
    clean: Vec<f64>,
    /// Each graph's offset into `clean`.
    offsets: Vec<usize>,
}

impl ChunkNoise {
    /// The streams of the graphs of `sub` for `part` (node baseline aligned with `sub`).
    fn new(sub: &GraphBatch, cfg: &ExplainConfig, part: Part, base: Option<&[f32]>) -> Self {
        let f = sub.num_features();
        let sm = cfg.smoothing;
        let (mut streams, mut clean, mut offsets) = (Vec::new(), Vec::new(), Vec::new());
        for gr in sub.graphs() {
            let n0 = gr.nodes.start as u32;
            let local =
                |v: &[u32]| -> Vec<u32> { v[gr.edges.clone()].iter().map(|i| i - n0).collect() };
            let feats = &sub.features()[gr.nodes.start * f..gr.nodes.end * f];
            offsets.push(clean.len());
            match part {
                Part::Edges => clean.extend(std::iter::repeat_n(1.0, gr.num_edges())),
                Part::Nodes => {
                    let b = base.map(|b| &b[gr.nodes.start * f..gr.nodes.end * f]);
                    clean.extend(feats.iter().enumerate().map(|(k, &v)| {
                        let b = b.map_or(0.0, |b| f64::from(b[k]));
                        b + (f64::from(v) - b)
                    }));
                }
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
    /// Per part of the attribution, in the graphs' order.
    attr: Vec<Vec<f32>>,
    /// The convergence delta per graph.
    delta: Vec<f64>,
    /// F(input) − F(baseline) per graph.
    df: Vec<f64>,
}

impl Round {
    fn new(parts: usize) -> Self {
        Round {
            attr: vec![Vec::new(); parts],
            delta: Vec::new(),
            df: Vec::new(),
        }
    }
}

/// The network on the device.
type DeviceNetwork<'a, 'g, G> = Network<'a, GpuBackend<'g, G>>;

/// Everything a round needs besides the graphs.
struct Job<'a, 'g, G: Gpu> {
    gpu: &'g G,
    b: &'a GpuBackend<'g, G>,
    net: &'a DeviceNetwork<'a, 'g, G>,
    /// The tutorial family's model packed for the fused kernel.
    packed: Option<&'a PackedModel<G>>,
    model: &'a Model,
    cfg: &'a ExplainConfig,
    kind: Kind,
    budget: usize,
}

impl<G: Gpu> Job<'_, '_, G> {
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
    /// baseline aligned with `b`): the fused kernel for the graphs that fit it, the
    /// network's layered kernels for the rest.
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
                // The fused kernel runs one input of the tutorial family; SmoothGrad's noisy
                // edge masks need per-edge values: layered kernels only.
                self.packed.is_some()
                    && self.kind != Kind::Joint
                    && self.cfg.gpu_kernel != GpuKernel::Layered
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
        let parts = self.kind.parts();
        let mut out = Round {
            attr: parts
                .iter()
                .map(|p| {
                    let (ptr, width) = p.layout(b);
                    vec![0.0; ptr[b.num_graphs()] * width]
                })
                .collect(),
            delta: vec![0.0; b.num_graphs()],
            df: vec![0.0; b.num_graphs()],
        };
        for want in [true, false] {
            let ids: Vec<usize> = (0..b.num_graphs()).filter(|&g| fits[g] == want).collect();
            let (sel, t, bs) = self.part(b, &ids, targets, base)?;
            let r = if want {
                self.fused_round(&sel, steps, &t, bs.as_deref(), progress)?
            } else {
                self.layered_round(&sel, steps, &t, bs.as_deref(), progress)?
            };
            for (p, part) in parts.iter().enumerate() {
                let (ptr, width) = part.layout(b);
                let mut off = 0;
                for &g in &ids {
                    let span = (ptr[g + 1] - ptr[g]) * width;
                    out.attr[p][ptr[g] * width..ptr[g + 1] * width]
                        .copy_from_slice(&r.attr[p][off..off + span]);
                    off += span;
                }
            }
            for (k, &g) in ids.iter().enumerate() {
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
        let packed = self.packed.ok_or_else(|| {
            Error::Device("internal error: the fused kernel without its model".into())
        })?;
        let table = self.table(steps)?;
        let dg = DeviceGraphs::upload(gpu, b)?;
        let tgt: Vec<i32> = targets.iter().map(|&t| t as i32).collect();
        let tgt = gpu.upload(&tgt)?;
        let base_buf = match base {
            Some(v) => Some(gpu.upload(v)?),
            None => None,
        };
        let edges = self.kind == Kind::Edges;
        let job = FusedJob {
            model: packed,
            net: self.model,
            method: self.cfg.method,
            edges,
            shortcut: self.cfg.gpu_kernel != GpuKernel::FusedWithoutShortcut,
            multiply_by_inputs: self.cfg.multiply_by_inputs,
            storage: self.cfg.storage,
        };
        let max_n = b.graphs().map(|g| g.num_nodes()).max().unwrap_or(1);
        let max_e = b.graphs().map(|g| g.num_edges()).max().unwrap_or(0);
        let alphas: Vec<f32> = table.alphas.iter().map(|&a| a as f32).collect();
        let weights: Vec<f32> = table.weights.iter().map(|&w| w as f32).collect();
        let node_base = if edges { None } else { base_buf.as_ref() };
        let out = fused::run(
            gpu, &job, &dg, max_n, max_e, node_base, &alphas, &weights, &tgt,
        )?;
        let g = b.num_graphs();
        let (fi, fb) = (gpu.download(&out.f_in)?, gpu.download(&out.f_base)?);
        progress(g);
        Ok(Round {
            attr: vec![gpu.download(&out.attr)?],
            delta: gpu
                .download(&out.delta)?
                .iter()
                .map(|&d| f64::from(d))
                .collect(),
            df: (0..g)
                .map(|k| f64::from(fi[k]) - f64::from(fb[k]))
                .collect(),
        })
    }

    /// Runs `steps` steps of the method for every graph of `b` on the network's layered
    /// kernels, in chunks that fit the memory budget.
    fn layered_round(
        &self,
        b: &GraphBatch,
        steps: usize,
        targets: &[usize],
        base: Option<&[f32]>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Round> {
        let table = self.table(steps)?;
        let mut out = Round::new(self.kind.parts().len());
        for (range, per_launch) in plan(self.model, b, table.len(), self.budget)? {
            let sub = b.subset(range.clone())?;
            let f = b.num_features();
            let base_sub: Option<Vec<f32>> = base
                .map(|v| v[b.node_ptr()[range.start] * f..b.node_ptr()[range.end] * f].to_vec());
            self.chunk(
                &sub,
                &table,
                per_launch,
                &targets[range],
                base_sub.as_deref(),
                &mut out,
            )?;
            progress(sub.num_graphs());
        }
        Ok(out)
    }

    /// One chunk of the layered path: every step of the table, `per_launch` at a time;
    /// appends the chunk's results to `out`.
    fn chunk(
        &self,
        sub: &GraphBatch,
        table: &StepTable,
        per_launch: usize,
        targets: &[usize],
        base: Option<&[f32]>,
        out: &mut Round,
    ) -> Result<()> {
        let (gpu, be, net, kind) = (self.gpu, self.b, self.net, self.kind);
        let parts = kind.parts();
        let dg = DeviceGraphs::upload(gpu, sub)?;
        let st = net.structure(be, &dg)?;
        let (gn, n, e, f) = (
            sub.num_graphs(),
            sub.num_nodes(),
            sub.num_edges(),
            sub.num_features(),
        );
        let c = self.model.num_classes();
        let tgt = be.upload_index(targets)?;
        let base_buf = base.map(|v| gpu.upload(v)).transpose()?;
        let lens: Vec<usize> = parts
            .iter()
            .map(|p| match p {
                Part::Edges => e,
                Part::Nodes => n * f,
            })
            .collect();
        let inst = |steps| Instances { graph: &dg, steps };
        // F at the input (step 0: features x, mask 1) and at the baseline (step 1), in
        // one pass.
        let mut ends = sub.features().to_vec();
        match (kind.nodes(), base) {
            (false, _) => ends.extend_from_slice(sub.features()),
            (true, Some(bs)) => ends.extend_from_slice(bs),
            (true, None) => ends.resize(2 * n * f, 0.0),
        }
        let end_mask = gpu.upload(&[1.0, if kind.edges() { 0.0 } else { 1.0 }])?;
        let rows = net.outputs(be, inst(2), &st, gpu.upload(&ends)?, Mask::Step(&end_mask))?;
        let rows = gpu.download(&rows)?;
        let (fi, fb) = rows.split_at(gn * c);
        let (f_in, f_base) = (gpu.upload(fi)?, gpu.upload(fb)?);
        // The node features of `s` steps: on the node path at `alphas`, else the input.
        let features = |alphas: &[f32]| -> Result<Buf<G>> {
            let s = alphas.len();
            let mut h0 = gpu.zeros::<f32>(s * n * f)?;
            let (a, b) = if kind.nodes() {
                (gpu.upload(alphas)?, base_buf.as_ref())
            } else {
                (gpu.upload(&vec![1.0f32; s])?, None)
            };
            interpolate_features(gpu, &dg.x, b, &a, s, n * f, &mut h0)?;
            Ok(h0)
        };
        let mut noise: Vec<ChunkNoise> = if self.smoothing() {
            parts
                .iter()
                .map(|&p| ChunkNoise::new(sub, self.cfg, p, base))
                .collect()
        } else {
            Vec::new()
        };
        let smoothing = !noise.is_empty();
        // The weighted sum of the gradients over the steps; for SmoothGrad and VarGrad,
        // their moments over the samples, about the first sample's gradient (which
        // therefore runs alone).
        let zeros = |with: bool| -> Result<Vec<Buf<G>>> {
            lens.iter()
                .map(|&l| gpu.zeros::<f32>(if with { l } else { 0 }))
                .collect()
        };
        let mut acc = zeros(true)?;
        let mut sq = zeros(smoothing)?;
        let mut shift: Option<Vec<Buf<G>>> = None;
        let want = Want {
            x: kind.nodes(),
            mask: kind.edges(),
            blocks: false,
        };
        let mut s0 = 0;
        while s0 < table.len() {
            let s1 = if smoothing && s0 == 0 {
                1
            } else {
                (s0 + per_launch).min(table.len())
            };
            let count = s1 - s0;
            let alphas: Vec<f32> = table.alphas[s0..s1].iter().map(|&a| a as f32).collect();
            let weights: Vec<f32> = table.weights[s0..s1].iter().map(|&w| w as f32).collect();
            // The inputs of the steps: noisy samples (SmoothGrad, VarGrad) or the path.
            let (mut noisy_x, mut noisy_mask) = (None, None);
            for (nz, part) in noise.iter_mut().zip(parts) {
                let v = gpu.upload(&nz.samples(count))?;
                match part {
                    Part::Edges => noisy_mask = Some(v),
                    Part::Nodes => noisy_x = Some(v),
                }
            }
            let h0 = match noisy_x {
                Some(v) => v,
                None => features(&alphas)?,
            };
            let step_mask = if kind.edges() {
                gpu.upload(&alphas)?
            } else {
                gpu.upload(&vec![1.0f32; count])?
            };
            let mask = match &noisy_mask {
                Some(m) => Mask::Edge(m),
                None => Mask::Step(&step_mask),
            };
            let g = inst(count);
            let tape = net.forward(be, g, &st, h0, mask)?;
            let gr = net.backward(be, g, &st, &tape, mask, Seed::Output, &tgt, want)?;
            let mut grads = Vec::with_capacity(parts.len());
            let (mut gm, mut gx) = (gr.mask, gr.x);
            for part in parts {
                let taken = match part {
                    Part::Edges => gm.take(),
                    Part::Nodes => gx.take(),
                };
                grads.push(
                    taken.ok_or_else(|| Error::Device("internal error: no gradient".into()))?,
                );
            }
            match &shift {
                None if smoothing => shift = Some(grads),
                None => {
                    let w = gpu.upload(&weights)?;
                    for (k, grad) in grads.iter().enumerate() {
                        accumulate_steps(gpu, grad, &w, count, lens[k], &mut acc[k])?;
                    }
                }
                Some(sh) => {
                    for (k, grad) in grads.iter().enumerate() {
                        accumulate_moments(
                            gpu,
                            grad,
                            &sh[k],
                            count,
                            lens[k],
                            &mut acc[k],
                            &mut sq[k],
                        )?;
                    }
                }
            }
            s0 = s1;
        }
        // The attribution of each part, and the one delta: the first part's sum minus
        // F(input) − F(baseline), plus the other parts' sums (their delta against
        // F(input) − F(input) = 0).
        let mut delta = vec![0.0f64; gn];
        for (k, part) in parts.iter().enumerate() {
            let len = lens[k];
            let diff: Option<Buf<G>> = match (self.cfg.method, part) {
                (_, Part::Edges) | (Method::Saliency, _) => None,
                (Method::InputXGradient, Part::Nodes) => Some(gpu.upload(sub.features())?),
                (Method::IntegratedGradients, Part::Nodes) if !self.cfg.multiply_by_inputs => None,
                (Method::IntegratedGradients, Part::Nodes) => {
                    let x = sub.features();
                    let d: Vec<f32> = match base {
                        Some(bs) => x.iter().zip(bs).map(|(a, b)| a - b).collect(),
                        None => x.to_vec(),
                    };
                    Some(gpu.upload(&d)?)
                }
                // The node-level methods never get here.
                _ => None,
            };
            let mode = if self.cfg.method == Method::Saliency {
                Finish::Abs
            } else {
                Finish::TimesDiff
            };
            let mut attr = gpu.zeros::<f32>(len)?;
            match &shift {
                Some(sh) => {
                    let variance = self.cfg.method == Method::VarGrad;
                    finish_moments(
                        gpu,
                        &sh[k],
                        &acc[k],
                        &sq[k],
                        table.len(),
                        variance,
                        len,
                        &mut attr,
                    )?
                }
                None => finish_attribution(gpu, &acc[k], diff.as_ref(), mode, len, &mut attr)?,
            }
            let (ptr, width) = match part {
                Part::Edges => (&dg.edge_ptr, 1),
                Part::Nodes => (&dg.node_ptr, f),
            };
            let base_rows = if k == 0 { &f_base } else { &f_in };
            let mut d = gpu.zeros::<f32>(gn)?;
            convergence_delta(
                gpu,
                ptr,
                &attr,
                len,
                width,
                &f_in,
                base_rows,
                tgt.buf(),
                c,
                gn,
                &mut d,
            )?;
            for (acc, v) in delta.iter_mut().zip(gpu.download(&d)?) {
                *acc += f64::from(v);
            }
            out.attr[k].extend(gpu.download(&attr)?);
        }
        out.delta.extend(delta);
        for (k, &t) in targets.iter().enumerate() {
            out.df
                .push(f64::from(fi[k * c + t]) - f64::from(fb[k * c + t]));
        }
        Ok(())
    }

    /// All graphs of `b`, with adaptive rounds when configured: per part, the
    /// attributions; the delta and the steps per graph.
    #[allow(clippy::type_complexity)]
    fn run(
        &self,
        b: &GraphBatch,
        targets: &[usize],
        base: Option<&[f32]>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(Vec<Vec<f64>>, Vec<f64>, Vec<usize>)> {
        let parts = self.kind.parts();
        let mut attr: Vec<Vec<f64>> = parts
            .iter()
            .map(|p| {
                let (ptr, width) = p.layout(b);
                vec![0.0; ptr[b.num_graphs()] * width]
            })
            .collect();
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
            for (p, part) in parts.iter().enumerate() {
                let (ptr, width) = part.layout(b);
                let mut off = 0;
                for &g in &pending {
                    let span = (ptr[g + 1] - ptr[g]) * width;
                    for (dst, &v) in attr[p][ptr[g] * width..ptr[g + 1] * width]
                        .iter_mut()
                        .zip(&r.attr[p][off..off + span])
                    {
                        *dst = f64::from(v);
                    }
                    off += span;
                }
            }
            let mut next = Vec::new();
            for (k, &g) in pending.iter().enumerate() {
                delta[g] = r.delta[k];
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
    model: &Model,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Attributions> {
    if cfg.method.node_level() {
        return super::cam::explain(gpu, model, batch, cfg, progress);
    }
    let be = GpuBackend::new(gpu);
    let net = Network::new(&be, model)?;
    let packed = if model.is_tutorial() {
        Some(PackedModel::upload(gpu, model)?)
    } else {
        None
    };
    let budget = gpu.budget(cfg.memory_budget)?;
    let (g, c, f) = (
        batch.num_graphs(),
        model.num_classes(),
        batch.num_features(),
    );
    let base = cfg.node_baseline.expand(batch);
    // The output rows at the real input decide the targets.
    let mut log_probs = Vec::with_capacity(g * c);
    let ones = gpu.upload(&[1.0f32])?;
    for (range, _) in plan(model, batch, 1, budget)? {
        let sub = batch.subset(range)?;
        let dg = DeviceGraphs::upload(gpu, &sub)?;
        let st = net.structure(&be, &dg)?;
        let inst = Instances {
            graph: &dg,
            steps: 1,
        };
        let rows = net.outputs(
            &be,
            inst,
            &st,
            gpu.upload(sub.features())?,
            Mask::Step(&ones),
        )?;
        log_probs.extend(be.download(&rows)?);
    }
    let targets: Vec<usize> = (0..g)
        .map(|k| cfg.target.resolve(batch, k, &log_probs[k * c..(k + 1) * c]))
        .collect();
    let mut out = Attributions {
        num_classes: c,
        num_features: f,
        log_probs,
        target: targets.clone(),
        ..Default::default()
    };
    let kinds: &[Kind] = match cfg.wrt {
        Wrt::Edges => &[Kind::Edges],
        Wrt::Nodes => &[Kind::Nodes],
        Wrt::Separate => &[Kind::Edges, Kind::Nodes],
        Wrt::Both => &[Kind::Joint],
    };
    let silent = |_: usize| {};
    for (k, &kind) in kinds.iter().enumerate() {
        let job = Job {
            gpu,
            b: &be,
            net: &net,
            packed: packed.as_ref(),
            model,
            cfg,
            kind,
            budget,
        };
        let (mut attr, delta, steps) = job.run(
            batch,
            &targets,
            base.as_deref(),
            if k == 0 { progress } else { &silent },
        )?;
        match kind {
            Kind::Edges => {
                (out.edge, out.edge_delta, out.edge_steps) = (attr.pop(), Some(delta), Some(steps))
            }
            Kind::Nodes => {
                (out.node, out.node_delta, out.node_steps) = (attr.pop(), Some(delta), Some(steps))
            }
            Kind::Joint => {
                out.node = attr.pop();
                out.edge = attr.pop();
                (out.edge_delta, out.edge_steps) = (Some(delta), Some(steps));
            }
        }
    }
    Ok(out)
}
