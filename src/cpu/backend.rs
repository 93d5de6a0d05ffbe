//! The CPU backend: every primitive of [`crate::nn::Backend`] in f64 on one graph at
//! one step (one instance), with the summation orders of the reference.
//!
//! Graphs and steps run in parallel one level up (`cpu::attribute`), so nothing here
//! spawns threads. Buffer lengths are checked by the network; slices panic on a bug,
//! never on user data.

use super::dense::{axpy, dot, log_softmax, log_softmax_target_grad, rows_times_transposed};
use super::network::LocalGraph;
use super::pooling::{pool_backward, pool_forward};
use crate::model::{Act, Linear, Output, Pool};
use crate::nn::backend::{Backend, Coef, HostStructure, Instances, Mask, Seed};
use crate::Result;

/// The CPU backend (f64).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu;

/// A weight `[out, in]` in both layouts.
#[derive(Debug, Clone)]
pub struct CpuWeight {
    /// `[out, in]`.
    pub w: Vec<f64>,
    /// `[in, out]`.
    pub wt: Vec<f64>,
    /// Output width.
    pub out_dim: usize,
    /// Input width.
    pub in_dim: usize,
}

/// The mask value of edge `e` (one instance).
#[inline]
fn mask_at(m: &Mask<'_, Vec<f64>>, e: usize) -> f64 {
    match m {
        Mask::Step(s) => s[0],
        Mask::Edge(v) => v[e],
    }
}

/// The coefficient of edge `e`, head `h`.
#[inline]
fn coef_at(c: &Coef<'_, Vec<f64>>, e: usize, h: usize) -> f64 {
    let mut v = mask_at(&c.mask, e);
    if let Some(f) = c.fixed {
        v *= f[e];
    }
    if let Some(a) = c.att {
        v *= a[e * c.heads + h];
    }
    v
}

/// The self-loop coefficient of node `i`, head `h` (`None` without loops).
#[inline]
fn loop_at(c: &Coef<'_, Vec<f64>>, i: usize, h: usize) -> Option<f64> {
    c.loops.as_ref().map(|l| {
        let mut v = 1.0;
        if let Some(f) = l.fixed {
            v *= f[i];
        }
        if let Some(a) = l.att {
            v *= a[i * c.heads + h];
        }
        v
    })
}

/// True when edge `e` is an input self-loop that the conv's own loop replaces.
#[inline]
fn replaced(g: &LocalGraph, loops: bool, e: usize) -> bool {
    loops && g.src[e] == g.dst[e]
}

/// Buffers per length and thread kept for reuse ([`Backend::free`]).
const POOL_PER_LEN: usize = 16;

thread_local! {
    /// Freed buffers of this thread by length, for [`Backend::alloc`] to reuse: a
    /// gradient evaluation allocates a few dozen buffers per step, the same lengths at
    /// every step of a graph.
    static POOL: std::cell::RefCell<std::collections::HashMap<usize, Vec<Vec<f64>>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

impl Cpu {
    /// A recycled buffer of exactly `len` values, if this thread has one.
    fn reuse(self, len: usize) -> Option<Vec<f64>> {
        POOL.with(|p| p.borrow_mut().get_mut(&len)?.pop())
    }
}

impl Backend for Cpu {
    type Buf = Vec<f64>;
    type Weight = CpuWeight;
    type Index = Vec<usize>;
    type Graph = LocalGraph;

    fn zeros(&self, len: usize) -> Result<Vec<f64>> {
        Ok(match self.reuse(len) {
            Some(mut b) => {
                b.fill(0.0);
                b
            }
            None => vec![0.0; len],
        })
    }
    fn alloc(&self, len: usize) -> Result<Vec<f64>> {
        // A reused buffer keeps its stale values: every primitive writes all of its outputs.
        Ok(self.reuse(len).unwrap_or_else(|| vec![0.0; len]))
    }
    fn free(&self, bufs: impl IntoIterator<Item = Vec<f64>>) {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            for b in bufs {
                if b.is_empty() {
                    continue;
                }
                let slot = p.entry(b.len()).or_default();
                if slot.len() < POOL_PER_LEN {
                    slot.push(b);
                }
            }
        });
    }
    fn len(&self, b: &Vec<f64>) -> usize {
        b.len()
    }
    fn upload(&self, v: &[f64]) -> Result<Vec<f64>> {
        Ok(v.to_vec())
    }
    fn download(&self, b: &Vec<f64>) -> Result<Vec<f64>> {
        Ok(b.clone())
    }
    fn upload_index(&self, v: &[usize]) -> Result<Vec<usize>> {
        Ok(v.to_vec())
    }
    fn weight(&self, l: &Linear) -> Result<CpuWeight> {
        Ok(CpuWeight {
            w: l.weight.clone(),
            wt: l.transposed(),
            out_dim: l.out_dim,
            in_dim: l.in_dim,
        })
    }
    fn copy(&self, b: &Vec<f64>) -> Result<Vec<f64>> {
        Ok(b.clone())
    }

    fn num_nodes(&self, g: &LocalGraph) -> usize {
        g.n
    }
    fn num_edges(&self, g: &LocalGraph) -> usize {
        g.src.len()
    }
    fn num_graphs(&self, _: &LocalGraph) -> usize {
        1
    }
    fn host_structure<'g>(&self, g: &'g LocalGraph) -> HostStructure<'g> {
        HostStructure {
            node_ptr: &g.node_ptr,
            src: &g.src,
            dst: &g.dst,
            edge_weight: g.edge_weight.as_deref(),
            centers: g.center.as_ref().map(|c| &c[..]),
            degrees: g.degrees.as_ref(),
        }
    }

    fn linear(
        &self,
        rows: usize,
        x: &Vec<f64>,
        w: &CpuWeight,
        bias: Option<&Vec<f64>>,
        out: &mut Vec<f64>,
    ) -> Result<()> {
        fill_bias(out, w.out_dim, bias);
        rows_times_transposed(&w.wt, w.in_dim, w.out_dim, x, rows, out);
        Ok(())
    }

    fn linear2(
        &self,
        rows: usize,
        x1: &Vec<f64>,
        w1: &CpuWeight,
        x2: &Vec<f64>,
        w2: &CpuWeight,
        bias: Option<&Vec<f64>>,
        out: &mut Vec<f64>,
    ) -> Result<()> {
        fill_bias(out, w1.out_dim, bias);
        rows_times_transposed(&w1.wt, w1.in_dim, w1.out_dim, x1, rows, out);
        rows_times_transposed(&w2.wt, w2.in_dim, w2.out_dim, x2, rows, out);
        Ok(())
    }

    fn linear_t(
        &self,
        rows: usize,
        dy: &Vec<f64>,
        w: &CpuWeight,
        dx: &mut Vec<f64>,
        accumulate: bool,
    ) -> Result<()> {
        if !accumulate {
            dx.fill(0.0);
        }
        rows_times_transposed(&w.w, w.out_dim, w.in_dim, dy, rows, dx);
        Ok(())
    }

    fn act(&self, a: Act, x: &mut Vec<f64>) -> Result<()> {
        match a {
            Act::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
            _ => x.iter_mut().for_each(|v| *v = a.f(*v)),
        }
        Ok(())
    }

    fn act_backward(&self, a: Act, y: &Vec<f64>, d: &mut Vec<f64>) -> Result<()> {
        match a {
            Act::Relu => {
                for (d, &v) in d.iter_mut().zip(y) {
                    if v <= 0.0 {
                        *d = 0.0;
                    }
                }
            }
            _ => {
                for (d, &v) in d.iter_mut().zip(y) {
                    *d *= a.df(v);
                }
            }
        }
        Ok(())
    }

    fn channel_affine(
        &self,
        dim: usize,
        scale: &Vec<f64>,
        shift: Option<&Vec<f64>>,
        x: &mut Vec<f64>,
    ) -> Result<()> {
        for row in x.chunks_exact_mut(dim) {
            for c in 0..dim {
                row[c] = match shift {
                    Some(s) => scale[c] * row[c] + s[c],
                    None => scale[c] * row[c],
                };
            }
        }
        Ok(())
    }

    fn add_bias(&self, dim: usize, b: &Vec<f64>, x: &mut Vec<f64>) -> Result<()> {
        for row in x.chunks_exact_mut(dim) {
            for (v, &bc) in row.iter_mut().zip(b) {
                *v += bc;
            }
        }
        Ok(())
    }

    fn add_scaled(&self, a: f64, x: &Vec<f64>, y: &mut Vec<f64>) -> Result<()> {
        axpy(a, x, y);
        Ok(())
    }

    fn mul(&self, x: &Vec<f64>, y: &Vec<f64>) -> Result<Vec<f64>> {
        Ok(x.iter().zip(y).map(|(a, b)| a * b).collect())
    }

    fn ratio(&self, p: &Vec<f64>, z: &Vec<f64>) -> Result<Vec<f64>> {
        Ok(p.iter()
            .zip(z)
            .map(|(&p, &z)| if p != 0.0 && z != 0.0 { p / z } else { 0.0 })
            .collect())
    }

    fn row_sums(&self, dim: usize, x: &Vec<f64>) -> Result<Vec<f64>> {
        Ok(x.chunks_exact(dim).map(|r| r.iter().sum()).collect())
    }

    fn relu_norms(&self, dim: usize, x: &Vec<f64>) -> Result<Vec<f64>> {
        Ok(x.chunks_exact(dim)
            .map(|r| r.iter().map(|v| v.max(0.0).powi(2)).sum::<f64>().sqrt())
            .collect())
    }

    fn l2_normalize(&self, dim: usize, x: &mut Vec<f64>) -> Result<()> {
        for row in x.chunks_exact_mut(dim) {
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
            row.iter_mut().for_each(|v| *v /= norm);
        }
        Ok(())
    }

    fn l2_normalize_backward(&self, dim: usize, x: &Vec<f64>, d: &mut Vec<f64>) -> Result<()> {
        for (xr, dr) in x.chunks_exact(dim).zip(d.chunks_exact_mut(dim)) {
            let norm = xr.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 1e-12 {
                // d(x/‖x‖) = (d − y ⟨y, d⟩) / ‖x‖ with y = x / ‖x‖.
                let yd = dot(xr, dr) / norm;
                for (dv, &xv) in dr.iter_mut().zip(xr) {
                    *dv = (*dv - xv / norm * yd) / norm;
                }
            } else {
                dr.iter_mut().for_each(|v| *v /= 1e-12);
            }
        }
        Ok(())
    }

    fn head_dot(
        &self,
        heads: usize,
        x: &Vec<f64>,
        att: &Vec<f64>,
        out: &mut Vec<f64>,
    ) -> Result<()> {
        let hc = att.len();
        let ch = hc / heads;
        for (r, row) in x.chunks_exact(hc).enumerate() {
            for h in 0..heads {
                out[r * heads + h] = row[h * ch..(h + 1) * ch]
                    .iter()
                    .zip(&att[h * ch..(h + 1) * ch])
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        Ok(())
    }

    fn head_dot_t(
        &self,
        heads: usize,
        d: &Vec<f64>,
        att: &Vec<f64>,
        dx: &mut Vec<f64>,
    ) -> Result<()> {
        let hc = att.len();
        let ch = hc / heads;
        for (r, row) in dx.chunks_exact_mut(hc).enumerate() {
            for h in 0..heads {
                let dh = d[r * heads + h];
                for c in 0..ch {
                    row[h * ch + c] += dh * att[h * ch + c];
                }
            }
        }
        Ok(())
    }

    fn head_mean(
        &self,
        heads: usize,
        channels: usize,
        x: &Vec<f64>,
        out: &mut Vec<f64>,
    ) -> Result<()> {
        for (r, row) in x.chunks_exact(heads * channels).enumerate() {
            for c in 0..channels {
                let s: f64 = (0..heads).map(|h| row[h * channels + c]).sum();
                out[r * channels + c] = s / heads as f64;
            }
        }
        Ok(())
    }

    fn head_mean_t(
        &self,
        heads: usize,
        channels: usize,
        d: &Vec<f64>,
        dx: &mut Vec<f64>,
    ) -> Result<()> {
        for (r, row) in dx.chunks_exact_mut(heads * channels).enumerate() {
            for h in 0..heads {
                for c in 0..channels {
                    row[h * channels + c] = d[r * channels + c] / heads as f64;
                }
            }
        }
        Ok(())
    }

    fn propagate(
        &self,
        g: Instances<'_, LocalGraph>,
        coef: &Coef<'_, Vec<f64>>,
        x: &Vec<f64>,
        dim: usize,
        out: &mut Vec<f64>,
    ) -> Result<()> {
        let lg = g.graph;
        let ch = dim / coef.heads;
        if let Some(w) = plain_mask(coef) {
            super::message_passing::scatter_add_forward(&lg.csr, &lg.src, w, x, dim, out);
            return Ok(());
        }
        out.fill(0.0);
        for i in 0..lg.n {
            let oi = &mut out[i * dim..(i + 1) * dim];
            for &e in &lg.csr.edges[lg.csr.ptr[i]..lg.csr.ptr[i + 1]] {
                let (e, s) = (e as usize, lg.src[e as usize] as usize);
                let xs = &x[s * dim..(s + 1) * dim];
                if coef.heads == 1 {
                    let w = coef_at(coef, e, 0);
                    for (a, &v) in oi.iter_mut().zip(xs) {
                        // The message is formed first, then added, as PyG does.
                        let m = w * v;
                        *a += m;
                    }
                } else {
                    for h in 0..coef.heads {
                        let w = coef_at(coef, e, h);
                        for c in h * ch..(h + 1) * ch {
                            let m = w * xs[c];
                            oi[c] += m;
                        }
                    }
                }
            }
            if coef.loops.is_some() {
                let xi = &x[i * dim..(i + 1) * dim];
                for h in 0..coef.heads {
                    let w = loop_at(coef, i, h).unwrap_or(1.0);
                    for c in h * ch..(h + 1) * ch {
                        let m = w * xi[c];
                        oi[c] += m;
                    }
                }
            }
        }
        Ok(())
    }

    fn propagate_t(
        &self,
        g: Instances<'_, LocalGraph>,
        coef: &Coef<'_, Vec<f64>>,
        d: &Vec<f64>,
        dim: usize,
        dx: &mut Vec<f64>,
        accumulate: bool,
    ) -> Result<()> {
        let lg = g.graph;
        let ch = dim / coef.heads;
        if !accumulate {
            dx.fill(0.0);
        }
        if let Some(w) = plain_mask(coef) {
            super::message_passing::scatter_add_backward_input(&lg.src, &lg.dst, w, d, dim, dx);
            return Ok(());
        }
        for e in 0..lg.src.len() {
            let (s, t) = (lg.src[e] as usize, lg.dst[e] as usize);
            for h in 0..coef.heads {
                let w = coef_at(coef, e, h);
                if w != 0.0 {
                    let r = h * ch..(h + 1) * ch;
                    let (dd, xs) = (
                        &d[t * dim + r.start..t * dim + r.end],
                        &mut dx[s * dim + r.start..s * dim + r.end],
                    );
                    axpy(w, dd, xs);
                }
            }
        }
        if coef.loops.is_some() {
            for i in 0..lg.n {
                for h in 0..coef.heads {
                    let w = loop_at(coef, i, h).unwrap_or(1.0);
                    for c in h * ch..(h + 1) * ch {
                        dx[i * dim + c] += w * d[i * dim + c];
                    }
                }
            }
        }
        Ok(())
    }

    fn propagate_coef_grad(
        &self,
        g: Instances<'_, LocalGraph>,
        coef: &Coef<'_, Vec<f64>>,
        d: &Vec<f64>,
        x: &Vec<f64>,
        dim: usize,
        mut dmask: Option<&mut Vec<f64>>,
        mut datt: Option<(&mut Vec<f64>, &mut Vec<f64>)>,
    ) -> Result<()> {
        let lg = g.graph;
        let heads = coef.heads;
        let ch = dim / heads;
        if let (Some(_), Some(m), None) = (plain_mask(coef), dmask.as_deref_mut(), &datt) {
            super::message_passing::scatter_add_backward_weight(&lg.src, &lg.dst, d, x, dim, m);
            return Ok(());
        }
        for e in 0..lg.src.len() {
            let (s, t) = (lg.src[e] as usize, lg.dst[e] as usize);
            let fixed = coef.fixed.map_or(1.0, |f| f[e]);
            let mut dm = 0.0;
            for h in 0..heads {
                let r = h * ch..(h + 1) * ch;
                let dt = dot(
                    &d[t * dim + r.start..t * dim + r.end],
                    &x[s * dim + r.start..s * dim + r.end],
                );
                let att = coef.att.map_or(1.0, |a| a[e * heads + h]);
                dm += if heads == 1 && coef.fixed.is_none() && coef.att.is_none() {
                    dt
                } else {
                    fixed * att * dt
                };
                if let Some((de, _)) = datt.as_mut() {
                    de[e * heads + h] = mask_at(&coef.mask, e) * fixed * dt;
                }
            }
            if let Some(m) = dmask.as_mut() {
                m[e] += dm;
            }
        }
        if let (Some((_, dl)), Some(l)) = (datt.as_mut(), coef.loops.as_ref()) {
            for i in 0..lg.n {
                let fixed = l.fixed.map_or(1.0, |f| f[i]);
                for h in 0..heads {
                    let r = i * dim + h * ch..i * dim + (h + 1) * ch;
                    dl[i * heads + h] = fixed * dot(&d[r.clone()], &x[r]);
                }
            }
        }
        Ok(())
    }

    fn propagate_max(
        &self,
        g: Instances<'_, LocalGraph>,
        coef: &Coef<'_, Vec<f64>>,
        x: &Vec<f64>,
        dim: usize,
        out: &mut Vec<f64>,
        ties: &mut Vec<f64>,
    ) -> Result<()> {
        let lg = g.graph;
        out.fill(0.0);
        ties.fill(0.0);
        for i in 0..lg.n {
            for c in 0..dim {
                let (mut m, mut k) = (f64::NEG_INFINITY, 0.0);
                for &e in &lg.csr.edges[lg.csr.ptr[i]..lg.csr.ptr[i + 1]] {
                    let e = e as usize;
                    let v = coef_at(coef, e, 0) * x[lg.src[e] as usize * dim + c];
                    if v > m {
                        (m, k) = (v, 1.0);
                    } else if v == m {
                        k += 1.0;
                    }
                }
                if k > 0.0 {
                    out[i * dim + c] = m;
                    ties[i * dim + c] = k;
                }
            }
        }
        Ok(())
    }

    fn propagate_max_backward(
        &self,
        g: Instances<'_, LocalGraph>,
        coef: &Coef<'_, Vec<f64>>,
        x: &Vec<f64>,
        max: (&Vec<f64>, &Vec<f64>),
        d: &Vec<f64>,
        dim: usize,
        mut dx: Option<&mut Vec<f64>>,
        mut dmask: Option<&mut Vec<f64>>,
    ) -> Result<()> {
        let lg = g.graph;
        for e in 0..lg.src.len() {
            let (s, t) = (lg.src[e] as usize, lg.dst[e] as usize);
            let w = coef_at(coef, e, 0);
            let mut dm = 0.0;
            for c in 0..dim {
                let (k, xs) = (max.1[t * dim + c], x[s * dim + c]);
                if k > 0.0 && w * xs == max.0[t * dim + c] {
                    let share = d[t * dim + c] / k;
                    if let Some(dx) = dx.as_mut() {
                        dx[s * dim + c] += w * share;
                    }
                    dm += xs * share;
                }
            }
            if let Some(m) = dmask.as_mut() {
                m[e] += coef.fixed.map_or(1.0, |f| f[e]) * dm;
            }
        }
        Ok(())
    }

    fn gat_scores(
        &self,
        g: Instances<'_, LocalGraph>,
        heads: usize,
        slope: f64,
        a_src: &Vec<f64>,
        a_dst: &Vec<f64>,
        out_edge: &mut Vec<f64>,
        out_loop: Option<&mut Vec<f64>>,
    ) -> Result<()> {
        let lg = g.graph;
        let loops = out_loop.is_some();
        let leaky = Act::LeakyRelu(slope);
        for e in 0..lg.src.len() {
            let (s, t) = (lg.src[e] as usize, lg.dst[e] as usize);
            for h in 0..heads {
                out_edge[e * heads + h] = if replaced(lg, loops, e) {
                    0.0
                } else {
                    leaky.f(a_src[s * heads + h] + a_dst[t * heads + h])
                };
            }
        }
        if let Some(ol) = out_loop {
            for i in 0..lg.n * heads {
                ol[i] = leaky.f(a_src[i] + a_dst[i]);
            }
        }
        Ok(())
    }

    fn gat_scores_backward(
        &self,
        g: Instances<'_, LocalGraph>,
        heads: usize,
        slope: f64,
        scores: (&Vec<f64>, Option<&Vec<f64>>),
        d_scores: (&Vec<f64>, Option<&Vec<f64>>),
        d_src: &mut Vec<f64>,
        d_dst: &mut Vec<f64>,
    ) -> Result<()> {
        let lg = g.graph;
        let loops = scores.1.is_some();
        let leaky = Act::LeakyRelu(slope);
        d_src.fill(0.0);
        d_dst.fill(0.0);
        for e in 0..lg.src.len() {
            if replaced(lg, loops, e) {
                continue;
            }
            let (s, t) = (lg.src[e] as usize, lg.dst[e] as usize);
            for h in 0..heads {
                let k = e * heads + h;
                let gk = d_scores.0[k] * leaky.df(scores.0[k]);
                d_src[s * heads + h] += gk;
                d_dst[t * heads + h] += gk;
            }
        }
        if let (Some(sl), Some(dl)) = (scores.1, d_scores.1) {
            for k in 0..lg.n * heads {
                let gk = dl[k] * leaky.df(sl[k]);
                d_src[k] += gk;
                d_dst[k] += gk;
            }
        }
        Ok(())
    }

    fn segment_softmax(
        &self,
        g: Instances<'_, LocalGraph>,
        heads: usize,
        scores: (&Vec<f64>, Option<&Vec<f64>>),
        out: (&mut Vec<f64>, Option<&mut Vec<f64>>),
    ) -> Result<()> {
        let lg = g.graph;
        let loops = scores.1.is_some();
        let (oe, mut ol) = out;
        oe.fill(0.0);
        for i in 0..lg.n {
            let edges = &lg.csr.edges[lg.csr.ptr[i]..lg.csr.ptr[i + 1]];
            for h in 0..heads {
                let live = || {
                    edges
                        .iter()
                        .map(|&e| e as usize)
                        .filter(|&e| !replaced(lg, loops, e))
                };
                let own = scores.1.map(|l| l[i * heads + h]);
                let m = live()
                    .map(|e| scores.0[e * heads + h])
                    .chain(own)
                    .fold(f64::NEG_INFINITY, f64::max);
                let mut sum = 0.0;
                for e in live() {
                    sum += (scores.0[e * heads + h] - m).exp();
                }
                if let Some(o) = own {
                    sum += (o - m).exp();
                }
                let denom = sum + 1e-16;
                for e in live() {
                    oe[e * heads + h] = (scores.0[e * heads + h] - m).exp() / denom;
                }
                if let (Some(o), Some(ol)) = (own, ol.as_mut()) {
                    ol[i * heads + h] = (o - m).exp() / denom;
                }
            }
        }
        Ok(())
    }

    fn segment_softmax_backward(
        &self,
        g: Instances<'_, LocalGraph>,
        heads: usize,
        alpha: (&Vec<f64>, Option<&Vec<f64>>),
        d_alpha: (&Vec<f64>, Option<&Vec<f64>>),
        out: (&mut Vec<f64>, Option<&mut Vec<f64>>),
    ) -> Result<()> {
        let lg = g.graph;
        let loops = alpha.1.is_some();
        let (oe, mut ol) = out;
        oe.fill(0.0);
        for i in 0..lg.n {
            let edges = &lg.csr.edges[lg.csr.ptr[i]..lg.csr.ptr[i + 1]];
            for h in 0..heads {
                let live = || {
                    edges
                        .iter()
                        .map(|&e| e as usize)
                        .filter(|&e| !replaced(lg, loops, e))
                };
                let mut s: f64 = live()
                    .map(|e| alpha.0[e * heads + h] * d_alpha.0[e * heads + h])
                    .sum();
                let own = match (alpha.1, d_alpha.1) {
                    (Some(a), Some(d)) => Some((a[i * heads + h], d[i * heads + h])),
                    _ => None,
                };
                if let Some((a, d)) = own {
                    s += a * d;
                }
                for e in live() {
                    let k = e * heads + h;
                    oe[k] = alpha.0[k] * (d_alpha.0[k] - s);
                }
                if let (Some((a, d)), Some(ol)) = (own, ol.as_mut()) {
                    ol[i * heads + h] = a * (d - s);
                }
            }
        }
        Ok(())
    }

    fn pool(
        &self,
        g: Instances<'_, LocalGraph>,
        pool: Pool,
        h: &Vec<f64>,
        dim: usize,
        out: &mut Vec<f64>,
        ties: &mut Vec<f64>,
    ) -> Result<()> {
        let n = g.graph.n;
        out.copy_from_slice(&pool_forward(pool, h, n, dim));
        if pool == Pool::Max {
            for c in 0..dim {
                ties[c] = (0..n).filter(|&i| h[i * dim + c] == out[c]).count() as f64;
            }
        }
        Ok(())
    }

    fn pool_backward(
        &self,
        g: Instances<'_, LocalGraph>,
        pool: Pool,
        h: &Vec<f64>,
        _pooled: &Vec<f64>,
        _ties: &Vec<f64>,
        d: &Vec<f64>,
        dim: usize,
        dh: &mut Vec<f64>,
    ) -> Result<()> {
        pool_backward(pool, h, g.graph.n, dim, d, dh);
        Ok(())
    }

    fn select_centers(
        &self,
        g: Instances<'_, LocalGraph>,
        h: &Vec<f64>,
        dim: usize,
        out: &mut Vec<f64>,
    ) -> Result<()> {
        let c = center(g.graph)?;
        out.copy_from_slice(&h[c * dim..(c + 1) * dim]);
        Ok(())
    }

    fn select_centers_t(
        &self,
        g: Instances<'_, LocalGraph>,
        d: &Vec<f64>,
        dim: usize,
        dh: &mut Vec<f64>,
    ) -> Result<()> {
        let c = center(g.graph)?;
        dh.fill(0.0);
        dh[c * dim..(c + 1) * dim].copy_from_slice(d);
        Ok(())
    }

    fn grad_cam_layer(
        &self,
        g: &LocalGraph,
        h: &Vec<f64>,
        grad: &Vec<f64>,
        dim: usize,
        scale: f64,
        score: &mut Vec<f64>,
    ) -> Result<()> {
        let n = g.n;
        let alpha: Vec<f64> = (0..dim)
            .map(|c| (0..n).map(|i| grad[i * dim + c]).sum::<f64>() / n as f64)
            .collect();
        for (i, s) in score.iter_mut().enumerate() {
            let v: f64 = (0..dim).map(|c| alpha[c] * h[i * dim + c]).sum();
            *s += v.max(0.0) * scale;
        }
        Ok(())
    }

    fn output(&self, kind: Output, z: &Vec<f64>, classes: usize) -> Result<Vec<f64>> {
        Ok(z.chunks_exact(classes)
            .flat_map(|row| match kind {
                Output::LogSoftmax => log_softmax(row),
                Output::Softmax => log_softmax(row).iter().map(|v| v.exp()).collect(),
                Output::Logits => row.to_vec(),
            })
            .collect())
    }

    fn output_seed(
        &self,
        kind: Output,
        seed: Seed,
        out: &Vec<f64>,
        targets: &Vec<usize>,
        rows: usize,
        graphs: usize,
        classes: usize,
    ) -> Result<Vec<f64>> {
        let mut dz = vec![0.0; rows * classes];
        for r in 0..rows {
            let t = targets[r % graphs];
            let row = &out[r * classes..(r + 1) * classes];
            let d = &mut dz[r * classes..(r + 1) * classes];
            match (seed, kind) {
                (Seed::Logit, _) | (Seed::Output, Output::Logits) => d[t] = 1.0,
                (Seed::Output, Output::LogSoftmax) => {
                    d.copy_from_slice(&log_softmax_target_grad(row, t));
                }
                (Seed::Output, Output::Softmax) => {
                    // ∂p_t/∂z_c = p_t (δ_tc − p_c), with 1 − p_t as Σ_{c≠t} p_c.
                    let pt = row[t];
                    let rest: f64 = (0..classes).filter(|&c| c != t).map(|c| row[c]).sum();
                    for c in 0..classes {
                        d[c] = -pt * row[c];
                    }
                    d[t] = pt * rest;
                }
            }
        }
        Ok(dz)
    }
}

/// Writes the bias (or zeros) into every row of `out`.
fn fill_bias(out: &mut [f64], dim: usize, bias: Option<&Vec<f64>>) {
    match bias {
        Some(b) => out.chunks_exact_mut(dim).for_each(|r| r.copy_from_slice(b)),
        None => out.fill(0.0),
    }
}

/// The per-edge mask, when it is a message's whole coefficient (one head, no structural
/// factor, no attention, no loops): the tutorial's case, with its own fast loops.
fn plain_mask<'a>(c: &Coef<'a, Vec<f64>>) -> Option<&'a [f64]> {
    match c.mask {
        Mask::Edge(w)
            if c.heads == 1 && c.fixed.is_none() && c.att.is_none() && c.loops.is_none() =>
        {
            Some(w)
        }
        _ => None,
    }
}

fn center(g: &LocalGraph) -> Result<usize> {
    g.center
        .map(|c| c[0] as usize)
        .ok_or_else(|| crate::nn::network::internal("a node readout without its centre"))
}

impl crate::nn::Network<'_, Cpu> {
    /// The output rows of one graph at features `x [n, F]` and edge mask `w [E]`
    /// (a one-off pass: the structure is computed for the call).
    pub fn graph_outputs(&self, g: &LocalGraph, x: Vec<f64>, w: &[f64]) -> Result<Vec<f64>> {
        let st = self.structure(&Cpu, g)?;
        let w = w.to_vec();
        self.outputs(
            &Cpu,
            Instances { graph: g, steps: 1 },
            &st,
            x,
            Mask::Edge(&w),
        )
    }
}
