//! Launches of `kernels/dense.cu`: dense layers and the output rows; mirrors the dense
//! primitives of `cpu::backend`.

use super::launch::{need, Arg, Gpu, Shape};
use crate::model::{transpose, Output};
use crate::nn::Seed;
use crate::{Error, Result};

/// A weight matrix on the device in both layouts: `[out, in]` for the input-gradient
/// kernel (its threads run over `in`) and `[in, out]` for the forward kernel (its
/// threads run over `out`), so that the threads of a warp read consecutive addresses
/// in both.
pub struct DeviceWeight<G: Gpu> {
    /// `[out, in]`, row-major.
    w: G::Buf<f32>,
    /// `[in, out]`, row-major.
    wt: G::Buf<f32>,
    out_dim: usize,
    in_dim: usize,
}

impl<G: Gpu> DeviceWeight<G> {
    /// Uploads `weight` (`[out, in]`, row-major) in both layouts.
    pub fn upload(gpu: &G, weight: &[f32], out_dim: usize, in_dim: usize) -> Result<Self> {
        if weight.len() != out_dim * in_dim {
            return Err(Error::Device(format!(
                "internal error: device weight with {} values for a {out_dim} x {in_dim} matrix",
                weight.len()
            )));
        }
        Ok(DeviceWeight {
            w: gpu.upload(weight)?,
            wt: gpu.upload(&transpose(weight, out_dim, in_dim))?,
            out_dim,
            in_dim,
        })
    }
}

/// A second input and its weights, added to a dense layer's product.
pub type Second<'a, G> = Option<(&'a <G as Gpu>::Buf<f32>, &'a DeviceWeight<G>)>;

/// `Y = b + X Wᵀ (+ X2 W2ᵀ)` over `rows` rows; see the kernel `linear_forward`.
pub fn linear_forward<G: Gpu>(
    gpu: &G,
    rows: usize,
    x: &G::Buf<f32>,
    w: &DeviceWeight<G>,
    b: Option<&G::Buf<f32>>,
    second: Second<'_, G>,
    y: &mut G::Buf<f32>,
) -> Result<()> {
    let (in_dim, out_dim) = (w.in_dim, w.out_dim);
    need(gpu, x, rows * in_dim, "linear_forward X")?;
    need(gpu, y, rows * out_dim, "linear_forward Y")?;
    if let Some(b) = b {
        need(gpu, b, out_dim, "linear_forward b")?;
    }
    if let Some((x2, w2)) = second {
        if (w2.out_dim, w2.in_dim) != (out_dim, in_dim) {
            return Err(Error::Device(format!(
                "internal error: linear_forward: a {} x {} second weight beside a {out_dim} x {in_dim} one",
                w2.out_dim, w2.in_dim
            )));
        }
        need(gpu, x2, rows * in_dim, "linear_forward X2")?;
    }
    let (x2, w2) = match second {
        Some((x2, w2)) => (Arg::F(x2), Arg::F(&w2.wt)),
        None => (Arg::Null, Arg::Null),
    };
    // SAFETY: X, X2 and Y hold `rows` rows of the weights' widths, b one value per output
    // (checked above); the weights hold out·in values (DeviceWeight::upload).
    unsafe {
        gpu.launch(
            "linear_forward",
            Shape::per_item(gpu, rows * out_dim),
            &mut [
                Arg::F(x),
                Arg::F(&w.wt),
                b.map_or(Arg::Null, Arg::F),
                x2,
                w2,
                Arg::Out(y),
                Arg::Long(rows as i64),
                Arg::Int(in_dim as i32),
                Arg::Int(out_dim as i32),
            ],
        )
    }
}

/// `dX (+)= dY W` over `rows` rows; see the kernel `linear_backward_input`.
pub fn linear_backward_input<G: Gpu>(
    gpu: &G,
    rows: usize,
    dy: &G::Buf<f32>,
    w: &DeviceWeight<G>,
    dx: &mut G::Buf<f32>,
    accumulate: bool,
) -> Result<()> {
    let (in_dim, out_dim) = (w.in_dim, w.out_dim);
    need(gpu, dy, rows * out_dim, "linear_backward_input dY")?;
    need(gpu, dx, rows * in_dim, "linear_backward_input dX")?;
    // SAFETY: dY and dX hold `rows` rows of the weight's widths (checked above); the
    // weight holds out·in values (DeviceWeight::upload).
    unsafe {
        gpu.launch(
            "linear_backward_input",
            Shape::per_item(gpu, rows * in_dim),
            &mut [
                Arg::F(dy),
                Arg::F(&w.w),
                Arg::Out(dx),
                Arg::Long(rows as i64),
                Arg::Int(in_dim as i32),
                Arg::Int(out_dim as i32),
                Arg::Int(i32::from(accumulate)),
            ],
        )
    }
}

/// The whole rows of `classes` values `z` holds.
fn class_rows<G: Gpu>(gpu: &G, z: &G::Buf<f32>, classes: usize, what: &str) -> Result<usize> {
    let len = gpu.len(z);
    if classes == 0 || !len.is_multiple_of(classes) {
        return Err(Error::Device(format!(
            "internal error: {what}: {len} values are not rows of {classes} classes"
        )));
    }
    Ok(len / classes)
}

/// The model's output rows from the logits `z [R, C]`; see the kernel `output_rows`.
pub fn output_rows<G: Gpu>(
    gpu: &G,
    kind: Output,
    z: &G::Buf<f32>,
    classes: usize,
) -> Result<G::Buf<f32>> {
    let rows = class_rows(gpu, z, classes, "output_rows")?;
    let mut out = gpu.alloc::<f32>(rows * classes)?;
    let kind = match kind {
        Output::LogSoftmax => 0,
        Output::Softmax => 1,
        Output::Logits => 2,
    };
    // SAFETY: z and out hold `rows` whole rows of `classes` values.
    unsafe {
        gpu.launch(
            "output_rows",
            Shape::per_item(gpu, rows),
            &mut [
                Arg::F(z),
                Arg::Out(&mut out),
                Arg::Long(rows as i64),
                Arg::Int(classes as i32),
                Arg::Int(kind),
            ],
        )?;
    }
    Ok(out)
}

/// The gradient wrt the logits of each row's target entry, from the output rows `out`
/// (`target [graphs]` gives row `r` the class `target[r mod graphs]`, every one checked
/// against `classes` here); see the kernel `output_seed`.
#[allow(clippy::too_many_arguments)]
pub fn output_seed<G: Gpu>(
    gpu: &G,
    kind: Output,
    seed: Seed,
    out: &G::Buf<f32>,
    target: &G::Buf<i32>,
    host_target: &[usize],
    rows: usize,
    graphs: usize,
    classes: usize,
) -> Result<G::Buf<f32>> {
    need(gpu, out, rows * classes, "output_seed out")?;
    need(gpu, target, graphs, "output_seed target")?;
    if graphs == 0 || !rows.is_multiple_of(graphs) || host_target.len() != gpu.len(target) {
        return Err(Error::Device(format!(
            "internal error: output_seed: {rows} rows for {graphs} graphs and {} targets",
            host_target.len()
        )));
    }
    if let Some((g, &t)) = host_target.iter().enumerate().find(|(_, &t)| t >= classes) {
        return Err(Error::Device(format!(
            "internal error: output_seed: graph {g} targets class {t} of {classes}"
        )));
    }
    let mut dz = gpu.alloc::<f32>(rows * classes)?;
    let kind = match (seed, kind) {
        (Seed::Logit, _) | (Seed::Output, Output::Logits) => 2,
        (Seed::Output, Output::LogSoftmax) => 0,
        (Seed::Output, Output::Softmax) => 1,
    };
    // SAFETY: out and dz hold `rows` rows of `classes` values, target one class below
    // `classes` per graph (checked above, the device copy being the host's).
    unsafe {
        gpu.launch(
            "output_seed",
            Shape::per_item(gpu, rows),
            &mut [
                Arg::F(out),
                Arg::I(target),
                Arg::Out(&mut dz),
                Arg::Long(rows as i64),
                Arg::Int(graphs as i32),
                Arg::Int(classes as i32),
                Arg::Int(kind),
            ],
        )?;
    }
    Ok(dz)
}
