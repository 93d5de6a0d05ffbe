//! Launches of `kernels/integrate.cu`: path inputs, the sum over steps (or samples), the
//! final attribution and the convergence delta (the IG parts of `cpu::attribute`).

use super::launch::{need, Arg, Gpu, Shape};
use crate::Result;

/// `out[s] = base + alphas[s] (x − base)` for every step (base `None` = zeros).
pub fn interpolate_features<G: Gpu>(
    gpu: &G,
    x: &G::Buf<f32>,
    base: Option<&G::Buf<f32>>,
    alphas: &G::Buf<f32>,
    steps: usize,
    len: usize,
    out: &mut G::Buf<f32>,
) -> Result<()> {
    need(gpu, x, len, "interpolate x")?;
    need(gpu, alphas, steps, "interpolate alphas")?;
    need(gpu, out, steps * len, "interpolate out")?;
    if let Some(b) = base {
        need(gpu, b, len, "interpolate base")?;
    }
    // SAFETY: x, alphas, out and base were checked for these sizes above.
    unsafe {
        gpu.launch(
            "interpolate_features",
            Shape::per_item(gpu, steps * len),
            &mut [
                Arg::F(x),
                base.map_or(Arg::Null, Arg::F),
                Arg::F(alphas),
                Arg::Out(out),
                Arg::Int(len as i32),
                Arg::Int(steps as i32),
                Arg::Int(1),
            ],
        )
    }
}

/// `acc[j] += Σ_s weights[s] grad[s, j]`, one step after another.
pub fn accumulate_steps<G: Gpu>(
    gpu: &G,
    grad: &G::Buf<f32>,
    weights: &G::Buf<f32>,
    steps: usize,
    len: usize,
    acc: &mut G::Buf<f32>,
) -> Result<()> {
    need(gpu, grad, steps * len, "accumulate grad")?;
    need(gpu, weights, steps, "accumulate weights")?;
    need(gpu, acc, len, "accumulate acc")?;
    // SAFETY: grad, weights and acc were checked for these sizes above.
    unsafe {
        gpu.launch(
            "accumulate_steps",
            Shape::per_item(gpu, len),
            &mut [
                Arg::F(grad),
                Arg::F(weights),
                Arg::Out(acc),
                Arg::Long(len as i64),
                Arg::Int(steps as i32),
            ],
        )
    }
}

/// How the summed gradient becomes an attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// `acc ⊙ diff` (diff `None` = ones).
    TimesDiff,
    /// `|acc|`.
    Abs,
}

/// Writes the attribution from the summed gradient.
pub fn finish_attribution<G: Gpu>(
    gpu: &G,
    acc: &G::Buf<f32>,
    diff: Option<&G::Buf<f32>>,
    mode: Finish,
    len: usize,
    out: &mut G::Buf<f32>,
) -> Result<()> {
    need(gpu, acc, len, "finish acc")?;
    need(gpu, out, len, "finish out")?;
    if let Some(d) = diff {
        need(gpu, d, len, "finish diff")?;
    }
    // SAFETY: acc, out and diff were checked for `len` above.
    unsafe {
        gpu.launch(
            "finish_attribution",
            Shape::per_item(gpu, len),
            &mut [
                Arg::F(acc),
                diff.map_or(Arg::Null, Arg::F),
                Arg::Out(out),
                Arg::Long(len as i64),
                Arg::Int(match mode {
                    Finish::TimesDiff => 0,
                    Finish::Abs => 1,
                }),
            ],
        )
    }
}

/// Per graph: Σ attributions − (F(input) − F(baseline)).
#[allow(clippy::too_many_arguments)]
pub fn convergence_delta<G: Gpu>(
    gpu: &G,
    ptr: &G::Buf<i32>,
    attr: &G::Buf<f32>,
    total: usize,
    width: usize,
    logp_in: &G::Buf<f32>,
    logp_base: &G::Buf<f32>,
    target: &G::Buf<i32>,
    classes: usize,
    num_graphs: usize,
    delta: &mut G::Buf<f32>,
) -> Result<()> {
    need(gpu, ptr, num_graphs + 1, "delta ptr")?;
    need(gpu, attr, total, "delta attr")?;
    need(gpu, logp_in, num_graphs * classes, "delta logp_in")?;
    need(gpu, logp_base, num_graphs * classes, "delta logp_base")?;
    need(gpu, target, num_graphs, "delta target")?;
    need(gpu, delta, num_graphs, "delta out")?;
    // SAFETY: the buffers were checked above; ptr comes from a validated batch and every
    // target is a class of the model (validated with the configuration).
    unsafe {
        gpu.launch(
            "convergence_delta",
            Shape::per_warp_item(gpu, num_graphs),
            &mut [
                Arg::I(ptr),
                Arg::F(attr),
                Arg::Int(width as i32),
                Arg::F(logp_in),
                Arg::F(logp_base),
                Arg::I(target),
                Arg::Int(classes as i32),
                Arg::Out(delta),
                Arg::Int(num_graphs as i32),
            ],
        )
    }
}

/// `sum += Σ_s (grad[s] − shift)`, `sq += Σ_s (grad[s] − shift)²`, samples in order;
/// see the kernel `accumulate_moments`.
pub fn accumulate_moments<G: Gpu>(
    gpu: &G,
    grad: &G::Buf<f32>,
    shift: &G::Buf<f32>,
    samples: usize,
    len: usize,
    sum: &mut G::Buf<f32>,
    sq: &mut G::Buf<f32>,
) -> Result<()> {
    need(gpu, grad, samples * len, "moments grad")?;
    need(gpu, shift, len, "moments shift")?;
    need(gpu, sum, len, "moments sum")?;
    need(gpu, sq, len, "moments sq")?;
    // SAFETY: grad, shift, sum and sq were checked for these sizes above.
    unsafe {
        gpu.launch(
            "accumulate_moments",
            Shape::per_item(gpu, len),
            &mut [
                Arg::F(grad),
                Arg::F(shift),
                Arg::Out(sum),
                Arg::Out(sq),
                Arg::Long(len as i64),
                Arg::Int(samples as i32),
            ],
        )
    }
}

/// The SmoothGrad mean (`variance` false) or the VarGrad variance of `samples` samples
/// from their moments; see the kernel `finish_moments`.
#[allow(clippy::too_many_arguments)]
pub fn finish_moments<G: Gpu>(
    gpu: &G,
    shift: &G::Buf<f32>,
    sum: &G::Buf<f32>,
    sq: &G::Buf<f32>,
    samples: usize,
    variance: bool,
    len: usize,
    out: &mut G::Buf<f32>,
) -> Result<()> {
    need(gpu, shift, len, "moments shift")?;
    need(gpu, sum, len, "moments sum")?;
    need(gpu, sq, len, "moments sq")?;
    need(gpu, out, len, "moments out")?;
    // SAFETY: shift, sum, sq and out were checked for `len` above.
    unsafe {
        gpu.launch(
            "finish_moments",
            Shape::per_item(gpu, len),
            &mut [
                Arg::F(shift),
                Arg::F(sum),
                Arg::F(sq),
                Arg::Out(out),
                Arg::Long(len as i64),
                Arg::Int(samples as i32),
                Arg::Int(i32::from(variance)),
            ],
        )
    }
}
