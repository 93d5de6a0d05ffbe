//! Launches of `kernels/dense.cu`; mirrors `cpu::dense`.

use super::launch::{need, Arg, Gpu, Shape};
use crate::model::transpose;
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

    /// Checks that this is a `[out_dim, in_dim]` matrix.
    fn check(&self, out_dim: usize, in_dim: usize, what: &str) -> Result<()> {
        if (self.out_dim, self.in_dim) != (out_dim, in_dim) {
            return Err(Error::Device(format!(
                "internal error: {what} is a {} x {} weight, the launch needs {out_dim} x {in_dim}",
                self.out_dim, self.in_dim
            )));
        }
        Ok(())
    }
}

/// A second input and its weights, added to a dense layer's product.
pub type Second<'a, G> = Option<(&'a <G as Gpu>::Buf<f32>, &'a DeviceWeight<G>)>;

/// `Y = act(X Wᵀ + b [+ X2 W2ᵀ])` over `rows` rows; see the kernel `linear_forward`.
#[allow(clippy::too_many_arguments)]
pub fn linear_forward<G: Gpu>(
    gpu: &G,
    x: &G::Buf<f32>,
    w: &DeviceWeight<G>,
    b: Option<&G::Buf<f32>>,
    second: Second<'_, G>,
    y: &mut G::Buf<f32>,
    rows: usize,
    in_dim: usize,
    out_dim: usize,
    relu: bool,
) -> Result<()> {
    need(gpu, x, rows * in_dim, "linear_forward X")?;
    w.check(out_dim, in_dim, "linear_forward W")?;
    need(gpu, y, rows * out_dim, "linear_forward Y")?;
    if let Some(b) = b {
        need(gpu, b, out_dim, "linear_forward b")?;
    }
    if let Some((x2, w2)) = second {
        need(gpu, x2, rows * in_dim, "linear_forward X2")?;
        w2.check(out_dim, in_dim, "linear_forward W2")?;
    }
    let (x2, w2) = match second {
        Some((x2, w2)) => (Arg::F(x2), Arg::F(&w2.wt)),
        None => (Arg::Null, Arg::Null),
    };
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
            Arg::Int(i32::from(relu)),
        ],
    )
}

/// `dX (+)= [mask > 0] dY W` over `rows` rows; see the kernel `linear_backward_input`.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward_input<G: Gpu>(
    gpu: &G,
    dy: &G::Buf<f32>,
    w: &DeviceWeight<G>,
    mask: Option<&G::Buf<f32>>,
    dx: &mut G::Buf<f32>,
    rows: usize,
    in_dim: usize,
    out_dim: usize,
    accumulate: bool,
) -> Result<()> {
    need(gpu, dy, rows * out_dim, "linear_backward_input dY")?;
    w.check(out_dim, in_dim, "linear_backward_input W")?;
    need(gpu, dx, rows * in_dim, "linear_backward_input dX")?;
    if let Some(m) = mask {
        need(gpu, m, rows * in_dim, "linear_backward_input mask")?;
    }
    gpu.launch(
        "linear_backward_input",
        Shape::per_item(gpu, rows * in_dim),
        &mut [
            Arg::F(dy),
            Arg::F(&w.w),
            mask.map_or(Arg::Null, Arg::F),
            Arg::Out(dx),
            Arg::Long(rows as i64),
            Arg::Int(in_dim as i32),
            Arg::Int(out_dim as i32),
            Arg::Int(i32::from(accumulate)),
        ],
    )
}

/// `out = [h > 0] g` elementwise (the ReLU's backward, out of place); see `relu_backward`.
pub fn relu_backward<G: Gpu>(
    gpu: &G,
    h: &G::Buf<f32>,
    g: &G::Buf<f32>,
    len: usize,
) -> Result<G::Buf<f32>> {
    need(gpu, h, len, "relu_backward h")?;
    need(gpu, g, len, "relu_backward g")?;
    let mut out = gpu.zeros::<f32>(len)?;
    gpu.launch(
        "relu_backward",
        Shape::per_item(gpu, len),
        &mut [
            Arg::F(h),
            Arg::F(g),
            Arg::Out(&mut out),
            Arg::Long(len as i64),
        ],
    )?;
    Ok(out)
}

/// Log-probabilities of `rows` instances and, when `dz` is given, the gradient of each
/// instance's target log-probability; see the kernel `log_softmax_grad`.
#[allow(clippy::too_many_arguments)]
pub fn log_softmax_grad<G: Gpu>(
    gpu: &G,
    z: &G::Buf<f32>,
    target: &G::Buf<i32>,
    logp: &mut G::Buf<f32>,
    dz: Option<&mut G::Buf<f32>>,
    rows: usize,
    num_graphs: usize,
    classes: usize,
) -> Result<()> {
    need(gpu, z, rows * classes, "log_softmax_grad Z")?;
    need(gpu, target, num_graphs, "log_softmax_grad target")?;
    need(gpu, logp, rows * classes, "log_softmax_grad logp")?;
    if let Some(d) = &dz {
        need(gpu, &**d, rows * classes, "log_softmax_grad dZ")?;
    }
    gpu.launch(
        "log_softmax_grad",
        Shape::per_item(gpu, rows),
        &mut [
            Arg::F(z),
            Arg::I(target),
            Arg::Out(logp),
            dz.map_or(Arg::Null, Arg::Out),
            Arg::Long(rows as i64),
            Arg::Int(num_graphs as i32),
            Arg::Int(classes as i32),
        ],
    )
}
