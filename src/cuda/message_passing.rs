//! Launches of `kernels/message_passing.cu`: message passing with per-edge coefficients
//! ([`crate::nn::Coef`]) for every step of a chunk at once; mirrors the message-passing
//! primitives of `cpu::backend`.

use super::launch::{need, Arg, Gpu, Shape};
use super::network::DeviceGraphs;
use crate::nn::{Coef, Mask};
use crate::{Error, Result};

/// A device buffer of floats.
type Buf<G> = <G as Gpu>::Buf<f32>;

/// The shapes of a message-passing launch: `steps` steps of the chunk `g`, rows `dim`
/// wide.
#[derive(Clone, Copy)]
pub struct Extent<'a, G: Gpu> {
    /// The chunk's structure.
    pub g: &'a DeviceGraphs<G>,
    /// Steps `S`.
    pub steps: usize,
    /// Row width.
    pub dim: usize,
}

impl<G: Gpu> Extent<'_, G> {
    /// Node rows `S·N`.
    fn rows(&self) -> usize {
        self.steps * self.g.num_nodes
    }
    /// Edge items `S·E`.
    fn edge_items(&self) -> usize {
        self.steps * self.g.num_edges
    }
    /// The trailing size arguments `N, E, S, dim`.
    fn sizes<'b>(&self) -> [Arg<'b, G>; 4] {
        [
            Arg::Int(self.g.num_nodes as i32),
            Arg::Int(self.g.num_edges as i32),
            Arg::Int(self.steps as i32),
            Arg::Int(self.dim as i32),
        ]
    }
}

/// Checks a coefficient's buffers against the extent and returns the kernels'
/// coefficient arguments: `mask_step, mask_edge, fixed, att` and `loop_fixed, loop_att`.
#[allow(clippy::type_complexity)]
fn coef_args<'a, G: Gpu>(
    gpu: &G,
    c: &Coef<'a, Buf<G>>,
    x: &Extent<'_, G>,
    what: &str,
) -> Result<([Arg<'a, G>; 4], [Arg<'a, G>; 2])> {
    let h = c.heads;
    if h == 0 || !x.dim.is_multiple_of(h) {
        return Err(Error::Device(format!(
            "internal error: {what}: rows of {} values do not split into {h} heads",
            x.dim
        )));
    }
    let (step, edge) = match c.mask {
        Mask::Step(m) => {
            need(gpu, m, x.steps, &format!("{what} mask (per step)"))?;
            (Arg::F(m), Arg::Null)
        }
        Mask::Edge(m) => {
            need(gpu, m, x.edge_items(), &format!("{what} mask (per edge)"))?;
            (Arg::Null, Arg::F(m))
        }
    };
    let opt = |b: Option<&'a Buf<G>>, len: usize, name: &str| -> Result<Arg<'a, G>> {
        Ok(match b {
            Some(b) => {
                need(gpu, b, len, &format!("{what} {name}"))?;
                Arg::F(b)
            }
            None => Arg::Null,
        })
    };
    let fixed = opt(c.fixed, x.g.num_edges, "fixed")?;
    let att = opt(c.att, x.edge_items() * h, "att")?;
    let loops = match &c.loops {
        Some(l) => [
            opt(l.fixed, x.g.num_nodes, "loop fixed")?,
            opt(l.att, x.rows() * h, "loop att")?,
        ],
        None => [Arg::Null, Arg::Null],
    };
    Ok(([step, edge, fixed, att], loops))
}

/// Checks that a coefficient is a max aggregation's: one head, no attention, no loops.
fn check_max<G: Gpu>(c: &Coef<'_, Buf<G>>, what: &str) -> Result<()> {
    if c.heads != 1 || c.att.is_some() || c.loops.is_some() {
        return Err(Error::Device(format!(
            "internal error: {what}: max aggregation with heads, attention or self-loops"
        )));
    }
    Ok(())
}

/// `out[s, i] = Σ_{e=(j→i)} coef(s, e) x[s, j] (+ loop(s, i) x[s, i])`; see `mp_propagate`.
pub fn propagate<G: Gpu>(
    gpu: &G,
    ext: Extent<'_, G>,
    coef: &Coef<'_, Buf<G>>,
    x: &Buf<G>,
    out: &mut Buf<G>,
) -> Result<()> {
    let (c, l) = coef_args(gpu, coef, &ext, "mp_propagate")?;
    let len = ext.rows() * ext.dim;
    need(gpu, x, len, "mp_propagate x")?;
    need(gpu, out, len, "mp_propagate out")?;
    let g = ext.g;
    let [s0, s1, s2, s3] = ext.sizes();
    let [c0, c1, c2, c3] = c;
    let [l0, l1] = l;
    // SAFETY: the coefficients, x and out were checked for S steps of the chunk above; the
    // CSR's ids come from a validated batch (DeviceGraphs::upload).
    unsafe {
        gpu.launch(
            "mp_propagate",
            Shape::per_item(gpu, len),
            &mut [
                Arg::I(&g.in_ptr),
                Arg::I(&g.in_src),
                Arg::I(&g.in_eid),
                c0,
                c1,
                c2,
                c3,
                l0,
                l1,
                Arg::F(x),
                Arg::Out(out),
                s0,
                s1,
                s2,
                s3,
                Arg::Int(coef.heads as i32),
                Arg::Int(i32::from(coef.loops.is_some())),
            ],
        )
    }
}

/// `dx[s, j] (+)= Σ_{e=(j→i)} coef(s, e) d[s, i] (+ loop(s, j) d[s, j])`; see `mp_propagate_t`.
pub fn propagate_t<G: Gpu>(
    gpu: &G,
    ext: Extent<'_, G>,
    coef: &Coef<'_, Buf<G>>,
    d: &Buf<G>,
    dx: &mut Buf<G>,
    accumulate: bool,
) -> Result<()> {
    let (c, l) = coef_args(gpu, coef, &ext, "mp_propagate_t")?;
    let len = ext.rows() * ext.dim;
    need(gpu, d, len, "mp_propagate_t d")?;
    need(gpu, dx, len, "mp_propagate_t dx")?;
    let g = ext.g;
    let [s0, s1, s2, s3] = ext.sizes();
    let [c0, c1, c2, c3] = c;
    let [l0, l1] = l;
    // SAFETY: as in `propagate`, over the outgoing CSR.
    unsafe {
        gpu.launch(
            "mp_propagate_t",
            Shape::per_item(gpu, len),
            &mut [
                Arg::I(&g.out_ptr),
                Arg::I(&g.out_dst),
                Arg::I(&g.out_eid),
                c0,
                c1,
                c2,
                c3,
                l0,
                l1,
                Arg::F(d),
                Arg::Out(dx),
                s0,
                s1,
                s2,
                s3,
                Arg::Int(coef.heads as i32),
                Arg::Int(i32::from(coef.loops.is_some())),
                Arg::Int(i32::from(accumulate)),
            ],
        )
    }
}

/// The coefficients' gradients from `dot(s, e, h) = ⟨d[s, dst_e, h], x[s, src_e, h]⟩`:
/// `dmask[s, e] += Σ_h fixed att dot`, and `datt = (mask fixed dot, loop_fixed ⟨d, x⟩)`
/// per edge and per self-loop; see `mp_coef_grad` and `mp_loop_coef_grad`.
#[allow(clippy::too_many_arguments)]
pub fn coef_grad<G: Gpu>(
    gpu: &G,
    ext: Extent<'_, G>,
    coef: &Coef<'_, Buf<G>>,
    d: &Buf<G>,
    x: &Buf<G>,
    dmask: Option<&mut Buf<G>>,
    datt: Option<(&mut Buf<G>, &mut Buf<G>)>,
) -> Result<()> {
    let (c, l) = coef_args(gpu, coef, &ext, "mp_coef_grad")?;
    let h = coef.heads;
    let len = ext.rows() * ext.dim;
    need(gpu, d, len, "mp_coef_grad d")?;
    need(gpu, x, len, "mp_coef_grad x")?;
    if let Some(m) = &dmask {
        need(gpu, &**m, ext.edge_items(), "mp_coef_grad dmask")?;
    }
    let (datt_e, datt_l) = match datt {
        Some((e, l)) => {
            need(gpu, &*e, ext.edge_items() * h, "mp_coef_grad datt (edges)")?;
            if coef.loops.is_some() {
                need(gpu, &*l, ext.rows() * h, "mp_coef_grad datt (loops)")?;
            }
            (Some(e), Some(l))
        }
        None => (None, None),
    };
    let g = ext.g;
    if ext.edge_items() > 0 && (dmask.is_some() || datt_e.is_some()) {
        let [s0, s1, s2, s3] = ext.sizes();
        let [c0, c1, c2, c3] = c;
        // SAFETY: the coefficients, d, x and the outputs were checked above; src and dst
        // come from a validated batch.
        unsafe {
            gpu.launch(
                "mp_coef_grad",
                Shape::per_item(gpu, ext.edge_items()),
                &mut [
                    Arg::I(&g.src),
                    Arg::I(&g.dst),
                    c0,
                    c1,
                    c2,
                    c3,
                    Arg::F(d),
                    Arg::F(x),
                    dmask.map_or(Arg::Null, Arg::Out),
                    datt_e.map_or(Arg::Null, Arg::Out),
                    s0,
                    s1,
                    s2,
                    s3,
                    Arg::Int(h as i32),
                ],
            )?;
        }
    }
    if let (Some(dl), true) = (datt_l, coef.loops.is_some()) {
        let [l0, _] = l;
        // SAFETY: loop_fixed, d, x and the loop gradients were checked above.
        unsafe {
            gpu.launch(
                "mp_loop_coef_grad",
                Shape::per_item(gpu, ext.rows() * h),
                &mut [
                    l0,
                    Arg::F(d),
                    Arg::F(x),
                    Arg::Out(dl),
                    Arg::Int(g.num_nodes as i32),
                    Arg::Int(ext.steps as i32),
                    Arg::Int(ext.dim as i32),
                    Arg::Int(h as i32),
                ],
            )?;
        }
    }
    Ok(())
}

/// Max aggregation with its tie counts; see `mp_max`.
pub fn propagate_max<G: Gpu>(
    gpu: &G,
    ext: Extent<'_, G>,
    coef: &Coef<'_, Buf<G>>,
    x: &Buf<G>,
    out: &mut Buf<G>,
    ties: &mut Buf<G>,
) -> Result<()> {
    check_max::<G>(coef, "mp_max")?;
    let ([c0, c1, c2, _], _) = coef_args(gpu, coef, &ext, "mp_max")?;
    let len = ext.rows() * ext.dim;
    need(gpu, x, len, "mp_max x")?;
    need(gpu, out, len, "mp_max out")?;
    need(gpu, ties, len, "mp_max ties")?;
    let g = ext.g;
    let [s0, s1, s2, s3] = ext.sizes();
    // SAFETY: the coefficients and every buffer were checked above; the CSR comes from a
    // validated batch.
    unsafe {
        gpu.launch(
            "mp_max",
            Shape::per_item(gpu, len),
            &mut [
                Arg::I(&g.in_ptr),
                Arg::I(&g.in_src),
                Arg::I(&g.in_eid),
                c0,
                c1,
                c2,
                Arg::F(x),
                Arg::Out(out),
                Arg::Out(ties),
                s0,
                s1,
                s2,
                s3,
            ],
        )
    }
}

/// The backward of [`propagate_max`]: each maximum's gradient split evenly among the
/// edges that reach it, into `dx` and `dmask` (both accumulated); see
/// `mp_max_backward_input` and `mp_max_backward_mask`.
#[allow(clippy::too_many_arguments)]
pub fn propagate_max_backward<G: Gpu>(
    gpu: &G,
    ext: Extent<'_, G>,
    coef: &Coef<'_, Buf<G>>,
    x: &Buf<G>,
    max: (&Buf<G>, &Buf<G>),
    d: &Buf<G>,
    dx: Option<&mut Buf<G>>,
    dmask: Option<&mut Buf<G>>,
) -> Result<()> {
    check_max::<G>(coef, "mp_max_backward")?;
    let len = ext.rows() * ext.dim;
    need(gpu, x, len, "mp_max_backward x")?;
    need(gpu, max.0, len, "mp_max_backward max")?;
    need(gpu, max.1, len, "mp_max_backward ties")?;
    need(gpu, d, len, "mp_max_backward d")?;
    let g = ext.g;
    if let Some(dx) = dx {
        need(gpu, dx, len, "mp_max_backward dx")?;
        let ([c0, c1, c2, _], _) = coef_args(gpu, coef, &ext, "mp_max_backward_input")?;
        let [s0, s1, s2, s3] = ext.sizes();
        // SAFETY: the coefficients and every buffer were checked above; the CSR comes
        // from a validated batch.
        unsafe {
            gpu.launch(
                "mp_max_backward_input",
                Shape::per_item(gpu, len),
                &mut [
                    Arg::I(&g.out_ptr),
                    Arg::I(&g.out_dst),
                    Arg::I(&g.out_eid),
                    c0,
                    c1,
                    c2,
                    Arg::F(x),
                    Arg::F(max.0),
                    Arg::F(max.1),
                    Arg::F(d),
                    Arg::Out(dx),
                    s0,
                    s1,
                    s2,
                    s3,
                ],
            )?;
        }
    }
    if let Some(m) = dmask {
        need(gpu, m, ext.edge_items(), "mp_max_backward dmask")?;
        if ext.edge_items() == 0 {
            return Ok(());
        }
        let ([c0, c1, c2, _], _) = coef_args(gpu, coef, &ext, "mp_max_backward_mask")?;
        let [s0, s1, s2, s3] = ext.sizes();
        // SAFETY: as above; src and dst come from a validated batch.
        unsafe {
            gpu.launch(
                "mp_max_backward_mask",
                Shape::per_item(gpu, ext.edge_items()),
                &mut [
                    Arg::I(&g.src),
                    Arg::I(&g.dst),
                    c0,
                    c1,
                    c2,
                    Arg::F(x),
                    Arg::F(max.0),
                    Arg::F(max.1),
                    Arg::F(d),
                    Arg::Out(m),
                    s0,
                    s1,
                    s2,
                    s3,
                ],
            )?;
        }
    }
    Ok(())
}
