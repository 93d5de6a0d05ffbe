//! The device backend: every primitive of [`crate::nn::Backend`] in f32 through the
//! kernels of `kernels/`, for every step of every graph of a chunk at once (instances
//! step-major, as [`crate::nn::backend`] lays them out), on a GPU or in interpret mode.
//!
//! The primitives come in the order of `cpu::backend`, which they mirror one by one;
//! each checks its buffers' lengths on the host before its launch (in the launch
//! wrappers of [`super::dense`], [`super::elementwise`], [`super::attention`],
//! [`super::message_passing`], [`super::pooling`] and [`super::cam`]).

use super::attention::{self, Heads};
use super::dense::{self, DeviceWeight};
use super::elementwise;
use super::launch::Gpu;
use super::message_passing::{self, Extent};
use super::network::DeviceGraphs;
use super::pooling;
use crate::model::{Act, Linear, Output, Pool};
use crate::nn::backend::{Backend, Coef, HostStructure, Instances, Seed};
use crate::{Error, Result};

/// The device backend over a [`Gpu`] (CUDA or interpret mode).
pub struct GpuBackend<'g, G: Gpu> {
    gpu: &'g G,
}

impl<'g, G: Gpu> GpuBackend<'g, G> {
    /// The backend of `gpu`.
    pub fn new(gpu: &'g G) -> Self {
        GpuBackend { gpu }
    }
}

/// An index buffer on the device (one class per graph), with the host's copy its
/// launches are checked against.
pub struct DeviceIndex<G: Gpu> {
    buf: G::Buf<i32>,
    host: Vec<usize>,
}

impl<G: Gpu> DeviceIndex<G> {
    /// The device buffer.
    pub fn buf(&self) -> &G::Buf<i32> {
        &self.buf
    }
}

fn extent<'a, G: Gpu>(g: Instances<'a, DeviceGraphs<G>>, dim: usize) -> Extent<'a, G> {
    Extent {
        g: g.graph,
        steps: g.steps,
        dim,
    }
}

fn heads<'a, G: Gpu>(g: Instances<'a, DeviceGraphs<G>>, heads: usize) -> Heads<'a, G> {
    Heads {
        g: g.graph,
        steps: g.steps,
        heads,
    }
}

impl<G: Gpu> Backend for GpuBackend<'_, G> {
    type Buf = G::Buf<f32>;
    type Weight = DeviceWeight<G>;
    type Index = DeviceIndex<G>;
    type Graph = DeviceGraphs<G>;

    fn zeros(&self, len: usize) -> Result<Self::Buf> {
        self.gpu.zeros::<f32>(len)
    }
    fn alloc(&self, len: usize) -> Result<Self::Buf> {
        // Every primitive writes all its outputs (the sanitizer's poison would show otherwise).
        self.gpu.alloc::<f32>(len)
    }
    fn len(&self, b: &Self::Buf) -> usize {
        self.gpu.len(b)
    }
    fn upload(&self, v: &[f64]) -> Result<Self::Buf> {
        let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        self.gpu.upload(&v)
    }
    fn download(&self, b: &Self::Buf) -> Result<Vec<f64>> {
        Ok(self
            .gpu
            .download(b)?
            .iter()
            .map(|&x| f64::from(x))
            .collect())
    }
    fn upload_index(&self, v: &[usize]) -> Result<DeviceIndex<G>> {
        let dev = v
            .iter()
            .map(|&t| {
                i32::try_from(t).map_err(|_| {
                    Error::Device(format!("internal error: index {t} exceeds 32 bits"))
                })
            })
            .collect::<Result<Vec<i32>>>()?;
        Ok(DeviceIndex {
            buf: self.gpu.upload(&dev)?,
            host: v.to_vec(),
        })
    }
    fn weight(&self, l: &Linear) -> Result<DeviceWeight<G>> {
        let w: Vec<f32> = l.weight.iter().map(|&x| x as f32).collect();
        DeviceWeight::upload(self.gpu, &w, l.out_dim, l.in_dim)
    }
    fn copy(&self, b: &Self::Buf) -> Result<Self::Buf> {
        elementwise::copy(self.gpu, b)
    }

    fn num_nodes(&self, g: &DeviceGraphs<G>) -> usize {
        g.num_nodes
    }
    fn num_edges(&self, g: &DeviceGraphs<G>) -> usize {
        g.num_edges
    }
    fn num_graphs(&self, g: &DeviceGraphs<G>) -> usize {
        g.num_graphs
    }
    fn host_structure<'a>(&self, g: &'a DeviceGraphs<G>) -> HostStructure<'a> {
        g.host_structure()
    }

    fn linear(
        &self,
        rows: usize,
        x: &Self::Buf,
        w: &DeviceWeight<G>,
        bias: Option<&Self::Buf>,
        out: &mut Self::Buf,
    ) -> Result<()> {
        dense::linear_forward(self.gpu, rows, x, w, bias, None, out)
    }

    fn linear2(
        &self,
        rows: usize,
        x1: &Self::Buf,
        w1: &DeviceWeight<G>,
        x2: &Self::Buf,
        w2: &DeviceWeight<G>,
        bias: Option<&Self::Buf>,
        out: &mut Self::Buf,
    ) -> Result<()> {
        dense::linear_forward(self.gpu, rows, x1, w1, bias, Some((x2, w2)), out)
    }

    fn linear_t(
        &self,
        rows: usize,
        dy: &Self::Buf,
        w: &DeviceWeight<G>,
        dx: &mut Self::Buf,
        accumulate: bool,
    ) -> Result<()> {
        dense::linear_backward_input(self.gpu, rows, dy, w, dx, accumulate)
    }

    fn act(&self, a: Act, x: &mut Self::Buf) -> Result<()> {
        elementwise::act(self.gpu, a, x)
    }

    fn act_backward(&self, a: Act, y: &Self::Buf, d: &mut Self::Buf) -> Result<()> {
        elementwise::act_backward(self.gpu, a, y, d)
    }

    fn channel_affine(
        &self,
        dim: usize,
        scale: &Self::Buf,
        shift: Option<&Self::Buf>,
        x: &mut Self::Buf,
    ) -> Result<()> {
        elementwise::channel_affine(self.gpu, dim, Some(scale), shift, x)
    }

    fn add_bias(&self, dim: usize, b: &Self::Buf, x: &mut Self::Buf) -> Result<()> {
        elementwise::channel_affine(self.gpu, dim, None, Some(b), x)
    }

    fn add_scaled(&self, a: f64, x: &Self::Buf, y: &mut Self::Buf) -> Result<()> {
        elementwise::add_scaled(self.gpu, a, x, y)
    }

    fn mul(&self, x: &Self::Buf, y: &Self::Buf) -> Result<Self::Buf> {
        elementwise::mul(self.gpu, x, y)
    }

    fn ratio(&self, p: &Self::Buf, z: &Self::Buf) -> Result<Self::Buf> {
        elementwise::ratio(self.gpu, p, z)
    }

    fn row_sums(&self, dim: usize, x: &Self::Buf) -> Result<Self::Buf> {
        elementwise::row_sums(self.gpu, dim, x)
    }

    fn relu_norms(&self, dim: usize, x: &Self::Buf) -> Result<Self::Buf> {
        elementwise::relu_norms(self.gpu, dim, x)
    }

    fn l2_normalize(&self, dim: usize, x: &mut Self::Buf) -> Result<()> {
        elementwise::l2_normalize(self.gpu, dim, x)
    }

    fn l2_normalize_backward(&self, dim: usize, x: &Self::Buf, d: &mut Self::Buf) -> Result<()> {
        elementwise::l2_normalize_backward(self.gpu, dim, x, d)
    }

    fn head_dot(
        &self,
        heads: usize,
        x: &Self::Buf,
        att: &Self::Buf,
        out: &mut Self::Buf,
    ) -> Result<()> {
        attention::head_dot(self.gpu, heads, x, att, out)
    }

    fn head_dot_t(
        &self,
        heads: usize,
        d: &Self::Buf,
        att: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()> {
        attention::head_dot_t(self.gpu, heads, d, att, dx)
    }

    fn head_mean(
        &self,
        heads: usize,
        channels: usize,
        x: &Self::Buf,
        out: &mut Self::Buf,
    ) -> Result<()> {
        attention::head_mean(self.gpu, heads, channels, x, out)
    }

    fn head_mean_t(
        &self,
        heads: usize,
        channels: usize,
        d: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()> {
        attention::head_mean_t(self.gpu, heads, channels, d, dx)
    }

    fn propagate(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        coef: &Coef<'_, Self::Buf>,
        x: &Self::Buf,
        dim: usize,
        out: &mut Self::Buf,
    ) -> Result<()> {
        message_passing::propagate(self.gpu, extent(g, dim), coef, x, out)
    }

    fn propagate_t(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        coef: &Coef<'_, Self::Buf>,
        d: &Self::Buf,
        dim: usize,
        dx: &mut Self::Buf,
        accumulate: bool,
    ) -> Result<()> {
        message_passing::propagate_t(self.gpu, extent(g, dim), coef, d, dx, accumulate)
    }

    fn propagate_coef_grad(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        coef: &Coef<'_, Self::Buf>,
        d: &Self::Buf,
        x: &Self::Buf,
        dim: usize,
        dmask: Option<&mut Self::Buf>,
        datt: Option<(&mut Self::Buf, &mut Self::Buf)>,
    ) -> Result<()> {
        message_passing::coef_grad(self.gpu, extent(g, dim), coef, d, x, dmask, datt)
    }

    fn propagate_max(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        coef: &Coef<'_, Self::Buf>,
        x: &Self::Buf,
        dim: usize,
        out: &mut Self::Buf,
        ties: &mut Self::Buf,
    ) -> Result<()> {
        message_passing::propagate_max(self.gpu, extent(g, dim), coef, x, out, ties)
    }

    fn propagate_max_backward(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        coef: &Coef<'_, Self::Buf>,
        x: &Self::Buf,
        max: (&Self::Buf, &Self::Buf),
        d: &Self::Buf,
        dim: usize,
        dx: Option<&mut Self::Buf>,
        dmask: Option<&mut Self::Buf>,
    ) -> Result<()> {
        message_passing::propagate_max_backward(
            self.gpu,
            extent(g, dim),
            coef,
            x,
            max,
            d,
            dx,
            dmask,
        )
    }

    fn gat_scores(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        h: usize,
        slope: f64,
        a_src: &Self::Buf,
        a_dst: &Self::Buf,
        out_edge: &mut Self::Buf,
        out_loop: Option<&mut Self::Buf>,
    ) -> Result<()> {
        attention::gat_scores(
            self.gpu,
            heads(g, h),
            slope,
            a_src,
            a_dst,
            out_edge,
            out_loop,
        )
    }

    fn gat_scores_backward(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        h: usize,
        slope: f64,
        scores: (&Self::Buf, Option<&Self::Buf>),
        d_scores: (&Self::Buf, Option<&Self::Buf>),
        d_src: &mut Self::Buf,
        d_dst: &mut Self::Buf,
    ) -> Result<()> {
        attention::gat_scores_backward(self.gpu, heads(g, h), slope, scores, d_scores, d_src, d_dst)
    }

    fn segment_softmax(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        h: usize,
        scores: (&Self::Buf, Option<&Self::Buf>),
        out: (&mut Self::Buf, Option<&mut Self::Buf>),
    ) -> Result<()> {
        attention::segment_softmax(self.gpu, heads(g, h), scores, out)
    }

    fn segment_softmax_backward(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        h: usize,
        alpha: (&Self::Buf, Option<&Self::Buf>),
        d_alpha: (&Self::Buf, Option<&Self::Buf>),
        out: (&mut Self::Buf, Option<&mut Self::Buf>),
    ) -> Result<()> {
        attention::segment_softmax_backward(self.gpu, heads(g, h), alpha, d_alpha, out)
    }

    fn pool(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        pool: Pool,
        h: &Self::Buf,
        dim: usize,
        out: &mut Self::Buf,
        ties: &mut Self::Buf,
    ) -> Result<()> {
        pooling::pool_forward(self.gpu, g.graph, pool, g.steps, h, dim, out, ties)
    }

    fn pool_backward(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        pool: Pool,
        h: &Self::Buf,
        pooled: &Self::Buf,
        ties: &Self::Buf,
        d: &Self::Buf,
        dim: usize,
        dh: &mut Self::Buf,
    ) -> Result<()> {
        pooling::pool_backward(
            self.gpu, g.graph, pool, g.steps, h, pooled, ties, d, dim, dh,
        )
    }

    fn select_centers(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        h: &Self::Buf,
        dim: usize,
        out: &mut Self::Buf,
    ) -> Result<()> {
        pooling::select_centers(self.gpu, g.graph, g.steps, h, dim, out)
    }

    fn select_centers_t(
        &self,
        g: Instances<'_, DeviceGraphs<G>>,
        d: &Self::Buf,
        dim: usize,
        dh: &mut Self::Buf,
    ) -> Result<()> {
        pooling::select_centers_t(self.gpu, g.graph, g.steps, d, dim, dh)
    }

    fn grad_cam_layer(
        &self,
        g: &DeviceGraphs<G>,
        h: &Self::Buf,
        grad: &Self::Buf,
        dim: usize,
        scale: f64,
        score: &mut Self::Buf,
    ) -> Result<()> {
        super::cam::grad_cam_layer(self.gpu, g, h, grad, dim, scale, score)
    }

    fn output(&self, kind: Output, z: &Self::Buf, classes: usize) -> Result<Self::Buf> {
        dense::output_rows(self.gpu, kind, z, classes)
    }

    fn output_seed(
        &self,
        kind: Output,
        seed: Seed,
        out: &Self::Buf,
        targets: &DeviceIndex<G>,
        rows: usize,
        graphs: usize,
        classes: usize,
    ) -> Result<Self::Buf> {
        dense::output_seed(
            self.gpu,
            kind,
            seed,
            out,
            &targets.buf,
            &targets.host,
            rows,
            graphs,
            classes,
        )
    }
}
