//! Launches of `kernels/elementwise.cu`: activations, per-channel affine maps, row norms
//! and elementwise arithmetic; mirrors the elementwise primitives of `cpu::backend`.

use super::launch::{need, Arg, Gpu, Shape};
use crate::model::Act;
use crate::{Error, Result};

/// A device buffer of floats.
type Buf<G> = <G as Gpu>::Buf<f32>;

/// The kernels' code (`GI_ACT_*`) and parameter of an activation.
fn act_code(a: Act) -> (i32, f32) {
    match a {
        Act::Relu => (0, 0.0),
        Act::Elu(alpha) => (1, alpha as f32),
        Act::LeakyRelu(slope) => (2, slope as f32),
        Act::Tanh => (3, 0.0),
        Act::Sigmoid => (4, 0.0),
    }
}

/// `x = act(x)` in place; see `act_forward`.
pub fn act<G: Gpu>(gpu: &G, a: Act, x: &mut Buf<G>) -> Result<()> {
    let len = gpu.len(x);
    let (kind, param) = act_code(a);
    // SAFETY: the kernel touches x[0..len], len being x's own length.
    unsafe {
        gpu.launch(
            "act_forward",
            Shape::per_item(gpu, len),
            &mut [
                Arg::Out(x),
                Arg::Long(len as i64),
                Arg::Int(kind),
                Arg::Float(param),
            ],
        )
    }
}

/// `d = d ⊙ act'(y)` in place; see `act_backward`.
pub fn act_backward<G: Gpu>(gpu: &G, a: Act, y: &Buf<G>, d: &mut Buf<G>) -> Result<()> {
    let len = gpu.len(d);
    need(gpu, y, len, "act_backward y")?;
    let (kind, param) = act_code(a);
    // SAFETY: y holds at least d's length (checked above).
    unsafe {
        gpu.launch(
            "act_backward",
            Shape::per_item(gpu, len),
            &mut [
                Arg::F(y),
                Arg::Out(d),
                Arg::Long(len as i64),
                Arg::Int(kind),
                Arg::Float(param),
            ],
        )
    }
}

/// The number of `dim`-wide rows `x` holds, checked to be whole.
fn rows_of<G: Gpu>(gpu: &G, x: &Buf<G>, dim: usize, what: &str) -> Result<usize> {
    let len = gpu.len(x);
    if dim == 0 || !len.is_multiple_of(dim) {
        return Err(Error::Device(format!(
            "internal error: {what}: {len} values are not rows of {dim}"
        )));
    }
    Ok(len / dim)
}

/// `x[r, c] = scale[c] x[r, c] (+ shift[c])` in place, a missing scale being 1; see
/// `channel_affine`.
pub fn channel_affine<G: Gpu>(
    gpu: &G,
    dim: usize,
    scale: Option<&Buf<G>>,
    shift: Option<&Buf<G>>,
    x: &mut Buf<G>,
) -> Result<()> {
    let rows = rows_of(gpu, x, dim, "channel_affine")?;
    for (b, what) in [(scale, "scale"), (shift, "shift")] {
        if let Some(b) = b {
            need(gpu, b, dim, &format!("channel_affine {what}"))?;
        }
    }
    // SAFETY: x holds whole rows of dim values, scale and shift dim values (checked above).
    unsafe {
        gpu.launch(
            "channel_affine",
            Shape::per_item(gpu, rows * dim),
            &mut [
                Arg::Out(x),
                scale.map_or(Arg::Null, Arg::F),
                shift.map_or(Arg::Null, Arg::F),
                Arg::Long(rows as i64),
                Arg::Int(dim as i32),
            ],
        )
    }
}

/// `y += a x`; see `add_scaled`.
pub fn add_scaled<G: Gpu>(gpu: &G, a: f64, x: &Buf<G>, y: &mut Buf<G>) -> Result<()> {
    let len = gpu.len(y);
    need(gpu, x, len, "add_scaled x")?;
    // SAFETY: x holds at least y's length (checked above).
    unsafe {
        gpu.launch(
            "add_scaled",
            Shape::per_item(gpu, len),
            &mut [
                Arg::F(x),
                Arg::Out(y),
                Arg::Long(len as i64),
                Arg::Float(a as f32),
            ],
        )
    }
}

/// An elementwise kernel `out = op(x, y)` over x's length (`ew_mul`, `ew_ratio`).
fn binary<G: Gpu>(gpu: &G, kernel: &'static str, x: &Buf<G>, y: &Buf<G>) -> Result<Buf<G>> {
    let len = gpu.len(x);
    need(gpu, y, len, &format!("{kernel} y"))?;
    let mut out = gpu.alloc::<f32>(len)?;
    // SAFETY: y and out hold at least x's length (checked above, out made so).
    unsafe {
        gpu.launch(
            kernel,
            Shape::per_item(gpu, len),
            &mut [
                Arg::F(x),
                Arg::F(y),
                Arg::Out(&mut out),
                Arg::Long(len as i64),
            ],
        )?;
    }
    Ok(out)
}

/// `x ⊙ y`; see `ew_mul`.
pub fn mul<G: Gpu>(gpu: &G, x: &Buf<G>, y: &Buf<G>) -> Result<Buf<G>> {
    binary(gpu, "ew_mul", x, y)
}

/// `p / z` where both are non-zero, else 0; see `ew_ratio`.
pub fn ratio<G: Gpu>(gpu: &G, p: &Buf<G>, z: &Buf<G>) -> Result<Buf<G>> {
    binary(gpu, "ew_ratio", p, z)
}

/// A copy of `x`; see `ew_copy`.
pub fn copy<G: Gpu>(gpu: &G, x: &Buf<G>) -> Result<Buf<G>> {
    let len = gpu.len(x);
    let mut out = gpu.alloc::<f32>(len)?;
    // SAFETY: out holds x's length (made so).
    unsafe {
        gpu.launch(
            "ew_copy",
            Shape::per_item(gpu, len),
            &mut [Arg::F(x), Arg::Out(&mut out), Arg::Long(len as i64)],
        )?;
    }
    Ok(out)
}

/// A per-row kernel `out[r] = f(x[r, :])` (`row_sums`, `relu_norms`).
fn per_row<G: Gpu>(gpu: &G, kernel: &'static str, dim: usize, x: &Buf<G>) -> Result<Buf<G>> {
    let rows = rows_of(gpu, x, dim, kernel)?;
    let mut out = gpu.alloc::<f32>(rows)?;
    // SAFETY: x holds whole rows of dim values (checked above), out one value per row.
    unsafe {
        gpu.launch(
            kernel,
            Shape::per_item(gpu, rows),
            &mut [
                Arg::F(x),
                Arg::Out(&mut out),
                Arg::Long(rows as i64),
                Arg::Int(dim as i32),
            ],
        )?;
    }
    Ok(out)
}

/// `out[r] = Σ_c x[r, c]`; see `row_sums`.
pub fn row_sums<G: Gpu>(gpu: &G, dim: usize, x: &Buf<G>) -> Result<Buf<G>> {
    per_row(gpu, "row_sums", dim, x)
}

/// `out[r] = ‖ReLU(x[r, :])‖₂`; see `relu_norms`.
pub fn relu_norms<G: Gpu>(gpu: &G, dim: usize, x: &Buf<G>) -> Result<Buf<G>> {
    per_row(gpu, "relu_norms", dim, x)
}

/// Rows scaled to unit L2 norm in place; see `l2_normalize`.
pub fn l2_normalize<G: Gpu>(gpu: &G, dim: usize, x: &mut Buf<G>) -> Result<()> {
    let rows = rows_of(gpu, x, dim, "l2_normalize")?;
    // SAFETY: x holds whole rows of dim values (checked above).
    unsafe {
        gpu.launch(
            "l2_normalize",
            Shape::per_item(gpu, rows),
            &mut [Arg::Out(x), Arg::Long(rows as i64), Arg::Int(dim as i32)],
        )
    }
}

/// The backward of [`l2_normalize`] in place on `d`, from its input `x`; see
/// `l2_normalize_backward`.
pub fn l2_normalize_backward<G: Gpu>(
    gpu: &G,
    dim: usize,
    x: &Buf<G>,
    d: &mut Buf<G>,
) -> Result<()> {
    let rows = rows_of(gpu, d, dim, "l2_normalize_backward")?;
    need(gpu, x, rows * dim, "l2_normalize_backward x")?;
    // SAFETY: d holds whole rows of dim values and x as many (checked above).
    unsafe {
        gpu.launch(
            "l2_normalize_backward",
            Shape::per_item(gpu, rows),
            &mut [
                Arg::F(x),
                Arg::Out(d),
                Arg::Long(rows as i64),
                Arg::Int(dim as i32),
            ],
        )
    }
}
