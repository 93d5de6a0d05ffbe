//! The primitives a network is written over.
//!
//! One implementation per device: `cpu::backend::Cpu` (f64, one instance: one graph
//! at one step) and `cuda::backend::GpuBackend` (f32, every step of every graph of a
//! chunk at once, through the kernels of `kernels/`, on a GPU or in interpret mode).
//! [`crate::nn::Network`] composes them into the forward pass, its backward pass and
//! Excitation Backprop, written once.
//!
//! Layout: `S` steps (instances per graph) of `G` graphs with `N` nodes and `E` edges
//! in all. Node rows are step-major (`s * N + i`), instance rows likewise (`s * G + g`),
//! per-edge values `s * E + e`, per-head values innermost (`(s * E + e) * H + h`). The
//! graph structure is shared by all steps.
//!
//! Message passing ([`Backend::propagate`]) sums, into each node, its incoming edges'
//! messages `coef · x_src` in the order of the CSR by (destination, source, edge id)
//! (PyG's order on sorted edges), then its self-loop term when the conv adds loops.

use crate::model::{Act, Linear, Pool};
use crate::Result;

/// The instances a call works on: a graph structure and the number of steps.
pub struct Instances<'g, G> {
    /// The structure (`cpu::network::LocalGraph` or `cuda::network::DeviceGraphs`).
    pub graph: &'g G,
    /// Steps `S` (1 on the CPU).
    pub steps: usize,
}

impl<G> Clone for Instances<'_, G> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<G> Copy for Instances<'_, G> {}

/// A structure's graphs as the host sees them (node ids local to the structure).
#[derive(Debug, Clone, Copy)]
pub struct HostStructure<'g> {
    /// Node offsets `[G+1]`.
    pub node_ptr: &'g [usize],
    /// Source of every edge `[E]`.
    pub src: &'g [u32],
    /// Target of every edge `[E]`.
    pub dst: &'g [u32],
    /// The data's edge weights `[E]`, for the convs that take them (GraphConv, GCNConv).
    pub edge_weight: Option<&'g [f32]>,
    /// Node tasks: the explained node of every graph `[G]`.
    pub centers: Option<&'g [u32]>,
    /// Node tasks: every node's whole-graph in-degree statistics (the subgraph lacks the
    /// in-edges of the nodes farthest from the target).
    pub degrees: Option<&'g crate::graph::khop::Degrees>,
}

/// The edge mask of every instance.
pub enum Mask<'a, Buf> {
    /// One value per step `[S]`, the same for every edge of the step.
    Step(&'a Buf),
    /// One value per step and edge `[S·E]`.
    Edge(&'a Buf),
}

impl<Buf> Clone for Mask<'_, Buf> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<Buf> Copy for Mask<'_, Buf> {}

/// The self-loop term of a conv that adds its own loops: node `i` at step `s`,
/// head `h`, has coefficient `fixed[i] · att[(s·N + i)·H + h]` (a missing factor is 1).
pub struct Loops<'a, Buf> {
    /// Per node `[N]` (GCN's normalisation).
    pub fixed: Option<&'a Buf>,
    /// Per step, node and head `[S·N·H]` (GAT's attention).
    pub att: Option<&'a Buf>,
}

/// The coefficient of every message: edge `e` at step `s`, head `h`, carries
/// `mask(s, e) · fixed[e] · att[(s·E + e)·H + h]` (a missing factor is 1), and node `i`
/// gets its self-loop term when `loops` is set. Channel `c` of a `dim`-wide row belongs
/// to head `c / (dim / heads)`.
pub struct Coef<'a, Buf> {
    /// The edge mask (the explained input of edge attributions).
    pub mask: Mask<'a, Buf>,
    /// Per input edge `[E]`: normalisation, mean scaling, data edge weights; 0 removes
    /// an edge (the input self-loops that GCN and GAT replace).
    pub fixed: Option<&'a Buf>,
    /// Per step, edge and head `[S·E·H]`: GAT's attention.
    pub att: Option<&'a Buf>,
    /// The self-loop term, for convs that add loops.
    pub loops: Option<Loops<'a, Buf>>,
    /// Heads `H` (1 but for GAT).
    pub heads: usize,
}

impl<Buf> Clone for Coef<'_, Buf> {
    fn clone(&self) -> Self {
        Coef {
            mask: self.mask,
            fixed: self.fixed,
            att: self.att,
            loops: self.loops.as_ref().map(|l| Loops {
                fixed: l.fixed,
                att: l.att,
            }),
            heads: self.heads,
        }
    }
}

/// Where the backward pass starts: the gradient with respect to the head's last
/// Linear output (the logits) is built from the output rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// The attributed output at each instance's target: log-probability, probability
    /// or logit, as the model's output op gives it.
    Output,
    /// The class score (the logit, before any softmax) at each instance's target:
    /// Grad-CAM and the contrastive gradient.
    Logit,
}

/// The device primitives. Every buffer length is checked by the implementation
/// before it computes anything; a length error is an internal error.
///
/// Output arguments (`out`, `dx` and the like, unless the call accumulates into them)
/// may hold anything on entry ([`Backend::alloc`]): a primitive writes every element of
/// them.
pub trait Backend {
    /// A buffer of numbers (f64 on the CPU, f32 on a GPU).
    type Buf;
    /// A dense weight `[out, in]`, prepared for the device.
    type Weight;
    /// A buffer of indices (targets).
    type Index;
    /// The graph structure of a set of instances.
    type Graph;

    // ---- memory --------------------------------------------------------------------
    /// A zeroed buffer of `len` numbers.
    fn zeros(&self, len: usize) -> Result<Self::Buf>;
    /// A buffer of `len` numbers whose contents are unspecified (a recycled buffer on the
    /// CPU, poison under the sanitizer): every primitive writes all of its outputs.
    fn alloc(&self, len: usize) -> Result<Self::Buf>;
    /// Gives buffers back: the CPU keeps their memory for later [`Backend::alloc`] calls
    /// (a gradient evaluation allocates the same few dozen sizes at every step); the GPU
    /// frees them.
    fn free(&self, bufs: impl IntoIterator<Item = Self::Buf>) {
        drop(bufs.into_iter().collect::<Vec<_>>());
    }
    /// Numbers a buffer holds.
    fn len(&self, b: &Self::Buf) -> usize;
    /// A buffer with these values (rounded to the device's precision).
    fn upload(&self, v: &[f64]) -> Result<Self::Buf>;
    /// The values of a buffer.
    fn download(&self, b: &Self::Buf) -> Result<Vec<f64>>;
    /// An index buffer.
    fn upload_index(&self, v: &[usize]) -> Result<Self::Index>;
    /// A weight prepared for this device.
    fn weight(&self, w: &Linear) -> Result<Self::Weight>;
    /// A copy of a buffer.
    fn copy(&self, b: &Self::Buf) -> Result<Self::Buf>;

    // ---- structure -----------------------------------------------------------------
    /// Nodes `N` of the structure (per step).
    fn num_nodes(&self, g: &Self::Graph) -> usize;
    /// Edges `E` of the structure (per step).
    fn num_edges(&self, g: &Self::Graph) -> usize;
    /// Graphs `G` of the structure (instances per step).
    fn num_graphs(&self, g: &Self::Graph) -> usize;
    /// The structure as the host sees it.
    fn host_structure<'g>(&self, g: &'g Self::Graph) -> HostStructure<'g>;

    // ---- dense and elementwise -----------------------------------------------------
    /// `out = x Wᵀ (+ b)` for `rows` rows.
    fn linear(
        &self,
        rows: usize,
        x: &Self::Buf,
        w: &Self::Weight,
        bias: Option<&Self::Buf>,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// `out = b + x1 W1ᵀ + x2 W2ᵀ`, summed in that order, for `rows` rows.
    #[allow(clippy::too_many_arguments)]
    fn linear2(
        &self,
        rows: usize,
        x1: &Self::Buf,
        w1: &Self::Weight,
        x2: &Self::Buf,
        w2: &Self::Weight,
        bias: Option<&Self::Buf>,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// `dx (+)= dy W` for `rows` rows: a linear layer's input gradient.
    fn linear_t(
        &self,
        rows: usize,
        dy: &Self::Buf,
        w: &Self::Weight,
        dx: &mut Self::Buf,
        accumulate: bool,
    ) -> Result<()>;
    /// `x = act(x)`, in place.
    fn act(&self, a: Act, x: &mut Self::Buf) -> Result<()>;
    /// `d = d ⊙ act'(y)` in place, from the activation's output `y`.
    fn act_backward(&self, a: Act, y: &Self::Buf, d: &mut Self::Buf) -> Result<()>;
    /// `x[r, c] = scale[c] x[r, c] (+ shift[c])`, in place (BatchNorm in eval mode).
    fn channel_affine(
        &self,
        dim: usize,
        scale: &Self::Buf,
        shift: Option<&Self::Buf>,
        x: &mut Self::Buf,
    ) -> Result<()>;
    /// `x[r, c] += b[c]`.
    fn add_bias(&self, dim: usize, b: &Self::Buf, x: &mut Self::Buf) -> Result<()>;
    /// `y += a x`.
    fn add_scaled(&self, a: f64, x: &Self::Buf, y: &mut Self::Buf) -> Result<()>;
    /// `x ⊙ y`.
    fn mul(&self, x: &Self::Buf, y: &Self::Buf) -> Result<Self::Buf>;
    /// `p / z` where both are non-zero, else 0 (Excitation Backprop's ratio).
    fn ratio(&self, p: &Self::Buf, z: &Self::Buf) -> Result<Self::Buf>;
    /// `out[r] = Σ_c x[r, c]` (Excitation Backprop's node mass).
    fn row_sums(&self, dim: usize, x: &Self::Buf) -> Result<Self::Buf>;
    /// `out[r] = ‖ReLU(x[r, :])‖₂` (the contrastive gradient's node score).
    fn relu_norms(&self, dim: usize, x: &Self::Buf) -> Result<Self::Buf>;
    /// Rows scaled to unit L2 norm: `x / max(‖x‖, 1e-12)` (`F.normalize`), in place.
    fn l2_normalize(&self, dim: usize, x: &mut Self::Buf) -> Result<()>;
    /// The backward of [`Backend::l2_normalize`] in place on `d`, from its input `x`.
    fn l2_normalize_backward(&self, dim: usize, x: &Self::Buf, d: &mut Self::Buf) -> Result<()>;
    /// `out[r, h] = Σ_c x[r, h·C + c] att[h·C + c]` (GAT's per-head scores).
    fn head_dot(
        &self,
        heads: usize,
        x: &Self::Buf,
        att: &Self::Buf,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// `dx[r, h·C + c] += d[r, h] att[h·C + c]`.
    fn head_dot_t(
        &self,
        heads: usize,
        d: &Self::Buf,
        att: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()>;
    /// `out[r, c] = (1/H) Σ_h x[r, h·C + c]` (GAT with `concat=False`).
    fn head_mean(
        &self,
        heads: usize,
        channels: usize,
        x: &Self::Buf,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// The backward of [`Backend::head_mean`]: `dx[r, h·C + c] = d[r, c] / H`.
    fn head_mean_t(
        &self,
        heads: usize,
        channels: usize,
        d: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()>;

    // ---- message passing -----------------------------------------------------------
    /// `out[s, i] = Σ_{e=(j→i)} coef(s, e) x[s, j] (+ loop(s, i) x[s, i])`, rows `dim` wide.
    fn propagate(
        &self,
        g: Instances<'_, Self::Graph>,
        coef: &Coef<'_, Self::Buf>,
        x: &Self::Buf,
        dim: usize,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// The transpose: `dx[s, j] (+)= Σ_{e=(j→i)} coef(s, e) d[s, i] (+ loop(s, j) d[s, j])`.
    #[allow(clippy::too_many_arguments)]
    fn propagate_t(
        &self,
        g: Instances<'_, Self::Graph>,
        coef: &Coef<'_, Self::Buf>,
        d: &Self::Buf,
        dim: usize,
        dx: &mut Self::Buf,
        accumulate: bool,
    ) -> Result<()>;
    /// The gradients of the coefficients, from `dot(s, e, h) = ⟨d[s, dst_e, h], x[s, src_e, h]⟩`:
    /// `dmask[s, e] += Σ_h fixed[e] att(s, e, h) dot(s, e, h)` and
    /// `datt = (mask(s, e) fixed[e] dot(s, e, h), loop: fixed[i] ⟨d[s, i, h], x[s, i, h]⟩)`.
    #[allow(clippy::too_many_arguments)]
    fn propagate_coef_grad(
        &self,
        g: Instances<'_, Self::Graph>,
        coef: &Coef<'_, Self::Buf>,
        d: &Self::Buf,
        x: &Self::Buf,
        dim: usize,
        dmask: Option<&mut Self::Buf>,
        datt: Option<(&mut Self::Buf, &mut Self::Buf)>,
    ) -> Result<()>;
    /// Max aggregation (one head, no loops): `out[s, i, c] = max_{e=(j→i)} coef(s, e) x[s, j, c]`
    /// (0 for a node without incoming edges), and `ties[s, i, c]`, the number of edges
    /// that reach it.
    #[allow(clippy::too_many_arguments)]
    fn propagate_max(
        &self,
        g: Instances<'_, Self::Graph>,
        coef: &Coef<'_, Self::Buf>,
        x: &Self::Buf,
        dim: usize,
        out: &mut Self::Buf,
        ties: &mut Self::Buf,
    ) -> Result<()>;
    /// The backward of [`Backend::propagate_max`], the gradient `d` of each maximum split
    /// evenly among the edges that reach it: `dx[s, j, c] += coef(s, e) d[s, i, c] / ties`
    /// and `dmask[s, e] += fixed[e] Σ_c x[s, j, c] d[s, i, c] / ties` over those edges.
    #[allow(clippy::too_many_arguments)]
    fn propagate_max_backward(
        &self,
        g: Instances<'_, Self::Graph>,
        coef: &Coef<'_, Self::Buf>,
        x: &Self::Buf,
        max: (&Self::Buf, &Self::Buf),
        d: &Self::Buf,
        dim: usize,
        dx: Option<&mut Self::Buf>,
        dmask: Option<&mut Self::Buf>,
    ) -> Result<()>;
    /// GAT's scores `leaky_relu(a_src[s, src_e, h] + a_dst[s, dst_e, h])` per edge `[S·E·H]`
    /// and, with `out_loop` (a conv that adds self-loops), per self-loop `[S·N·H]` (from
    /// `a_src[s, i] + a_dst[s, i]`); input self-loop edges then get 0 (the loop replaces them).
    #[allow(clippy::too_many_arguments)]
    fn gat_scores(
        &self,
        g: Instances<'_, Self::Graph>,
        heads: usize,
        slope: f64,
        a_src: &Self::Buf,
        a_dst: &Self::Buf,
        out_edge: &mut Self::Buf,
        out_loop: Option<&mut Self::Buf>,
    ) -> Result<()>;
    /// The backward of [`Backend::gat_scores`] from the scores and their gradients:
    /// `d_src[s, j, h] = Σ_{e: src_e = j} g_e (+ g_loop(j))`, `d_dst` likewise by
    /// destination, with `g = d_score · leaky_relu'` (written, not accumulated).
    #[allow(clippy::too_many_arguments)]
    fn gat_scores_backward(
        &self,
        g: Instances<'_, Self::Graph>,
        heads: usize,
        slope: f64,
        scores: (&Self::Buf, Option<&Self::Buf>),
        d_scores: (&Self::Buf, Option<&Self::Buf>),
        d_src: &mut Self::Buf,
        d_dst: &mut Self::Buf,
    ) -> Result<()>;
    /// Softmax of the scores over each node's incoming edges (and its self-loop, when
    /// given), per head, as PyG's `softmax` computes it (`exp(s − max) / (Σ exp + 1e-16)`).
    /// With loops, input self-loop edges are left out of every segment and get 0.
    fn segment_softmax(
        &self,
        g: Instances<'_, Self::Graph>,
        heads: usize,
        scores: (&Self::Buf, Option<&Self::Buf>),
        out: (&mut Self::Buf, Option<&mut Self::Buf>),
    ) -> Result<()>;
    /// The backward of [`Backend::segment_softmax`], from its output `alpha`:
    /// `d_score = alpha (d_alpha − Σ_segment alpha d_alpha)`.
    fn segment_softmax_backward(
        &self,
        g: Instances<'_, Self::Graph>,
        heads: usize,
        alpha: (&Self::Buf, Option<&Self::Buf>),
        d_alpha: (&Self::Buf, Option<&Self::Buf>),
        out: (&mut Self::Buf, Option<&mut Self::Buf>),
    ) -> Result<()>;

    // ---- readout and output --------------------------------------------------------
    /// Global pooling of node rows `[S·N, dim]` into instance rows `[S·G, dim]`;
    /// `ties` gets max pooling's tie counts.
    #[allow(clippy::too_many_arguments)]
    fn pool(
        &self,
        g: Instances<'_, Self::Graph>,
        pool: Pool,
        h: &Self::Buf,
        dim: usize,
        out: &mut Self::Buf,
        ties: &mut Self::Buf,
    ) -> Result<()>;
    /// The backward of [`Backend::pool`]: `dh [S·N, dim]` from `d [S·G, dim]`; max pooling
    /// splits a channel's gradient evenly among its tied maxima.
    #[allow(clippy::too_many_arguments)]
    fn pool_backward(
        &self,
        g: Instances<'_, Self::Graph>,
        pool: Pool,
        h: &Self::Buf,
        pooled: &Self::Buf,
        ties: &Self::Buf,
        d: &Self::Buf,
        dim: usize,
        dh: &mut Self::Buf,
    ) -> Result<()>;
    /// Node tasks: the explained node's row of every instance, `[S·G, dim]` from
    /// `[S·N, dim]`.
    fn select_centers(
        &self,
        g: Instances<'_, Self::Graph>,
        h: &Self::Buf,
        dim: usize,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// The backward of [`Backend::select_centers`]: `dh` zero but for the centres' rows.
    fn select_centers_t(
        &self,
        g: Instances<'_, Self::Graph>,
        d: &Self::Buf,
        dim: usize,
        dh: &mut Self::Buf,
    ) -> Result<()>;
    /// Grad-CAM of one layer, one step: `alpha[g, k] = (1/n_g) Σ_{i ∈ g} grad[i, k]` and
    /// `score[i] += ReLU(Σ_k alpha[g, k] h[i, k]) · scale`.
    fn grad_cam_layer(
        &self,
        g: &Self::Graph,
        h: &Self::Buf,
        grad: &Self::Buf,
        dim: usize,
        scale: f64,
        score: &mut Self::Buf,
    ) -> Result<()>;
    /// The model's output rows from the logits `z [R, C]`: log-softmax, softmax or `z`.
    fn output(
        &self,
        kind: crate::model::Output,
        z: &Self::Buf,
        classes: usize,
    ) -> Result<Self::Buf>;
    /// The gradient with respect to the logits of each row's target entry (`targets`
    /// holds one class per graph; row `r` is graph `r mod G`).
    #[allow(clippy::too_many_arguments)]
    fn output_seed(
        &self,
        kind: crate::model::Output,
        seed: Seed,
        out: &Self::Buf,
        targets: &Self::Index,
        rows: usize,
        graphs: usize,
        classes: usize,
    ) -> Result<Self::Buf>;
}
