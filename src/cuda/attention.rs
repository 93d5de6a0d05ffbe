//! Launches of `kernels/attention.cu`: GATConv's per-head dot products and means, its
//! edge scores and their softmax over each target's segment, and the backwards; mirrors
//! the GAT primitives of `cpu::backend`.

use super::launch::{need, Arg, Gpu, Shape};
use super::network::DeviceGraphs;
use crate::{Error, Result};

/// A device buffer of floats.
type Buf<G> = <G as Gpu>::Buf<f32>;

/// The rows of `x`, whose rows are `heads · channels` wide.
fn head_rows<G: Gpu>(
    gpu: &G,
    x: &Buf<G>,
    heads: usize,
    channels: usize,
    what: &str,
) -> Result<usize> {
    let (len, w) = (gpu.len(x), heads * channels);
    if w == 0 || !len.is_multiple_of(w) {
        return Err(Error::Device(format!(
            "internal error: {what}: {len} values are not rows of {heads} heads x {channels} channels"
        )));
    }
    Ok(len / w)
}

/// The channels per head of an attention vector `[H·C]`.
fn channels_of<G: Gpu>(gpu: &G, att: &Buf<G>, heads: usize, what: &str) -> Result<usize> {
    let len = gpu.len(att);
    if heads == 0 || !len.is_multiple_of(heads) {
        return Err(Error::Device(format!(
            "internal error: {what}: an attention vector of {len} values for {heads} heads"
        )));
    }
    Ok(len / heads)
}

/// `out[r, h] = Σ_c x[r, h·C + c] att[h·C + c]`; see `head_dot`.
pub fn head_dot<G: Gpu>(
    gpu: &G,
    heads: usize,
    x: &Buf<G>,
    att: &Buf<G>,
    out: &mut Buf<G>,
) -> Result<()> {
    let ch = channels_of(gpu, att, heads, "head_dot")?;
    let rows = head_rows(gpu, x, heads, ch, "head_dot x")?;
    need(gpu, out, rows * heads, "head_dot out")?;
    // SAFETY: x holds whole rows of H·C values, att H·C and out H per row (checked above).
    unsafe {
        gpu.launch(
            "head_dot",
            Shape::per_item(gpu, rows * heads),
            &mut [
                Arg::F(x),
                Arg::F(att),
                Arg::Out(out),
                Arg::Long(rows as i64),
                Arg::Int(heads as i32),
                Arg::Int(ch as i32),
            ],
        )
    }
}

/// `dx[r, h·C + c] += d[r, h] att[h·C + c]`; see `head_dot_t`.
pub fn head_dot_t<G: Gpu>(
    gpu: &G,
    heads: usize,
    d: &Buf<G>,
    att: &Buf<G>,
    dx: &mut Buf<G>,
) -> Result<()> {
    let ch = channels_of(gpu, att, heads, "head_dot_t")?;
    let rows = head_rows(gpu, dx, heads, ch, "head_dot_t dx")?;
    need(gpu, d, rows * heads, "head_dot_t d")?;
    // SAFETY: dx holds whole rows of H·C values, att H·C and d H per row (checked above).
    unsafe {
        gpu.launch(
            "head_dot_t",
            Shape::per_item(gpu, rows * heads * ch),
            &mut [
                Arg::F(d),
                Arg::F(att),
                Arg::Out(dx),
                Arg::Long(rows as i64),
                Arg::Int(heads as i32),
                Arg::Int(ch as i32),
            ],
        )
    }
}

/// `out[r, c] = (1/H) Σ_h x[r, h·C + c]`; see `head_mean`.
pub fn head_mean<G: Gpu>(
    gpu: &G,
    heads: usize,
    channels: usize,
    x: &Buf<G>,
    out: &mut Buf<G>,
) -> Result<()> {
    let rows = head_rows(gpu, x, heads, channels, "head_mean x")?;
    need(gpu, out, rows * channels, "head_mean out")?;
    // SAFETY: x holds whole rows of H·C values and out C per row (checked above).
    unsafe {
        gpu.launch(
            "head_mean",
            Shape::per_item(gpu, rows * channels),
            &mut [
                Arg::F(x),
                Arg::Out(out),
                Arg::Long(rows as i64),
                Arg::Int(heads as i32),
                Arg::Int(channels as i32),
            ],
        )
    }
}

/// `dx[r, h·C + c] = d[r, c] / H`; see `head_mean_t`.
pub fn head_mean_t<G: Gpu>(
    gpu: &G,
    heads: usize,
    channels: usize,
    d: &Buf<G>,
    dx: &mut Buf<G>,
) -> Result<()> {
    let rows = head_rows(gpu, dx, heads, channels, "head_mean_t dx")?;
    need(gpu, d, rows * channels, "head_mean_t d")?;
    // SAFETY: dx holds whole rows of H·C values and d C per row (checked above).
    unsafe {
        gpu.launch(
            "head_mean_t",
            Shape::per_item(gpu, rows * heads * channels),
            &mut [
                Arg::F(d),
                Arg::Out(dx),
                Arg::Long(rows as i64),
                Arg::Int(heads as i32),
                Arg::Int(channels as i32),
            ],
        )
    }
}

/// The shapes of a GAT launch: `steps` steps of the chunk `g`, `heads` heads.
#[derive(Clone, Copy)]
pub struct Heads<'a, G: Gpu> {
    /// The chunk's structure.
    pub g: &'a DeviceGraphs<G>,
    /// Steps `S`.
    pub steps: usize,
    /// Heads `H`.
    pub heads: usize,
}

impl<G: Gpu> Heads<'_, G> {
    /// Per-edge values `S·E·H`.
    fn edge_values(&self) -> usize {
        self.steps * self.g.num_edges * self.heads
    }
    /// Per-node values `S·N·H`.
    fn node_values(&self) -> usize {
        self.steps * self.g.num_nodes * self.heads
    }
    /// Checks a pair (edges, optional self-loops) of per-head buffers.
    fn check_pair(&self, gpu: &G, pair: (&Buf<G>, Option<&Buf<G>>), what: &str) -> Result<()> {
        need(gpu, pair.0, self.edge_values(), &format!("{what} (edges)"))?;
        if let Some(l) = pair.1 {
            need(gpu, l, self.node_values(), &format!("{what} (self-loops)"))?;
        }
        Ok(())
    }
    /// The trailing size arguments `N, E, S, H, loops`.
    fn sizes<'b>(&self, loops: bool) -> [Arg<'b, G>; 5] {
        [
            Arg::Int(self.g.num_nodes as i32),
            Arg::Int(self.g.num_edges as i32),
            Arg::Int(self.steps as i32),
            Arg::Int(self.heads as i32),
            Arg::Int(i32::from(loops)),
        ]
    }
}

/// Checks that the self-loop parts of several pairs are all given or all absent.
fn same_loops(parts: &[bool], what: &str) -> Result<bool> {
    match parts {
        [first, rest @ ..] if rest.iter().all(|p| p == first) => Ok(*first),
        _ => Err(Error::Device(format!(
            "internal error: {what}: self-loop values given for some buffers only"
        ))),
    }
}

/// GAT's scores per edge and, with `out_loop`, per self-loop; see `gat_scores`.
#[allow(clippy::too_many_arguments)]
pub fn gat_scores<G: Gpu>(
    gpu: &G,
    hd: Heads<'_, G>,
    slope: f64,
    a_src: &Buf<G>,
    a_dst: &Buf<G>,
    out_edge: &mut Buf<G>,
    out_loop: Option<&mut Buf<G>>,
) -> Result<()> {
    let loops = out_loop.is_some();
    need(gpu, a_src, hd.node_values(), "gat_scores a_src")?;
    need(gpu, a_dst, hd.node_values(), "gat_scores a_dst")?;
    hd.check_pair(gpu, (&*out_edge, out_loop.as_deref()), "gat_scores out")?;
    let items = hd.edge_values() + if loops { hd.node_values() } else { 0 };
    let g = hd.g;
    let [s0, s1, s2, s3, s4] = hd.sizes(loops);
    // SAFETY: the scores and outputs were checked for S steps of the chunk above; src and
    // dst come from a validated batch.
    unsafe {
        gpu.launch(
            "gat_scores",
            Shape::per_item(gpu, items),
            &mut [
                Arg::I(&g.src),
                Arg::I(&g.dst),
                Arg::F(a_src),
                Arg::F(a_dst),
                Arg::Out(out_edge),
                out_loop.map_or(Arg::Null, Arg::Out),
                s0,
                s1,
                s2,
                s3,
                s4,
                Arg::Float(slope as f32),
            ],
        )
    }
}

/// The backward of [`gat_scores`]: the gradients of the source and target scores
/// (written); see `gat_scores_backward`.
#[allow(clippy::too_many_arguments)]
pub fn gat_scores_backward<G: Gpu>(
    gpu: &G,
    hd: Heads<'_, G>,
    slope: f64,
    scores: (&Buf<G>, Option<&Buf<G>>),
    d_scores: (&Buf<G>, Option<&Buf<G>>),
    d_src: &mut Buf<G>,
    d_dst: &mut Buf<G>,
) -> Result<()> {
    let loops = same_loops(
        &[scores.1.is_some(), d_scores.1.is_some()],
        "gat_scores_backward",
    )?;
    hd.check_pair(gpu, scores, "gat_scores_backward scores")?;
    hd.check_pair(gpu, d_scores, "gat_scores_backward d_scores")?;
    need(gpu, d_src, hd.node_values(), "gat_scores_backward d_src")?;
    need(gpu, d_dst, hd.node_values(), "gat_scores_backward d_dst")?;
    let g = hd.g;
    let [s0, s1, s2, s3, s4] = hd.sizes(loops);
    // SAFETY: every buffer was checked for S steps of the chunk above; the CSRs come from
    // a validated batch.
    unsafe {
        gpu.launch(
            "gat_scores_backward",
            Shape::per_item(gpu, hd.node_values()),
            &mut [
                Arg::I(&g.in_ptr),
                Arg::I(&g.in_eid),
                Arg::I(&g.out_ptr),
                Arg::I(&g.out_eid),
                Arg::I(&g.src),
                Arg::I(&g.dst),
                Arg::F(scores.0),
                scores.1.map_or(Arg::Null, Arg::F),
                Arg::F(d_scores.0),
                d_scores.1.map_or(Arg::Null, Arg::F),
                Arg::Out(d_src),
                Arg::Out(d_dst),
                s0,
                s1,
                s2,
                s3,
                s4,
                Arg::Float(slope as f32),
            ],
        )
    }
}

/// Softmax of the scores over each target's segment; see `segment_softmax`.
pub fn segment_softmax<G: Gpu>(
    gpu: &G,
    hd: Heads<'_, G>,
    scores: (&Buf<G>, Option<&Buf<G>>),
    out: (&mut Buf<G>, Option<&mut Buf<G>>),
) -> Result<()> {
    let loops = same_loops(&[scores.1.is_some(), out.1.is_some()], "segment_softmax")?;
    hd.check_pair(gpu, scores, "segment_softmax scores")?;
    let (oe, ol) = out;
    hd.check_pair(gpu, (&*oe, ol.as_deref()), "segment_softmax out")?;
    segment_launch(
        gpu,
        "segment_softmax",
        hd,
        loops,
        [Arg::F(scores.0), scores.1.map_or(Arg::Null, Arg::F)],
        None,
        (oe, ol),
    )
}

/// The backward of [`segment_softmax`] from its output `alpha`; see
/// `segment_softmax_backward`.
pub fn segment_softmax_backward<G: Gpu>(
    gpu: &G,
    hd: Heads<'_, G>,
    alpha: (&Buf<G>, Option<&Buf<G>>),
    d_alpha: (&Buf<G>, Option<&Buf<G>>),
    out: (&mut Buf<G>, Option<&mut Buf<G>>),
) -> Result<()> {
    let loops = same_loops(
        &[alpha.1.is_some(), d_alpha.1.is_some(), out.1.is_some()],
        "segment_softmax_backward",
    )?;
    hd.check_pair(gpu, alpha, "segment_softmax_backward alpha")?;
    hd.check_pair(gpu, d_alpha, "segment_softmax_backward d_alpha")?;
    let (oe, ol) = out;
    hd.check_pair(gpu, (&*oe, ol.as_deref()), "segment_softmax_backward out")?;
    segment_launch(
        gpu,
        "segment_softmax_backward",
        hd,
        loops,
        [Arg::F(alpha.0), alpha.1.map_or(Arg::Null, Arg::F)],
        Some([Arg::F(d_alpha.0), d_alpha.1.map_or(Arg::Null, Arg::F)]),
        (oe, ol),
    )
}

/// One launch of a segment kernel (one thread per (step, target, head)), its buffers
/// checked by the caller.
fn segment_launch<'a, G: Gpu>(
    gpu: &G,
    kernel: &'static str,
    hd: Heads<'a, G>,
    loops: bool,
    first: [Arg<'a, G>; 2],
    second: Option<[Arg<'a, G>; 2]>,
    out: (&'a mut Buf<G>, Option<&'a mut Buf<G>>),
) -> Result<()> {
    let g = hd.g;
    let mut args = vec![
        Arg::I(&g.in_ptr),
        Arg::I(&g.in_eid),
        Arg::I(&g.src),
        Arg::I(&g.dst),
    ];
    args.extend(first);
    args.extend(second.into_iter().flatten());
    args.push(Arg::Out(out.0));
    args.push(out.1.map_or(Arg::Null, Arg::Out));
    args.extend(hd.sizes(loops));
    // SAFETY: the caller checked every buffer for S steps of the chunk; the CSR comes from
    // a validated batch.
    unsafe { gpu.launch(kernel, Shape::per_item(gpu, hd.node_values()), &mut args) }
}
