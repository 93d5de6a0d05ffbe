//! What to explain and how: methods, inputs, targets, baselines and results.
//!
//! This module is backend-independent. [`crate::explain()`] dispatches an
//! [`ExplainConfig`] to a device (the CPU reference, a CUDA GPU or interpret mode) and
//! returns [`Attributions`].

pub mod noise;
pub mod rules;
pub mod undirected;

pub use rules::{Rule, StepTable};

use crate::{Error, GraphBatch, GraphConvNet, Result};

/// An attribution method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Integrated Gradients (captum's `IntegratedGradients`, `multiply_by_inputs=True`).
    #[default]
    IntegratedGradients,
    /// `|∂F/∂input|` at the input (captum's `Saliency`, `abs=True`).
    Saliency,
    /// `input ⊙ ∂F/∂input` (captum's `InputXGradient`).
    InputXGradient,
    /// Grad-CAM (Pope et al. 2019), node level: on conv layer `Some(l)` (1-based), or
    /// averaged over all conv layers (`None`). The class score is the pre-softmax output.
    GradCam(Option<usize>),
    /// Contrastive gradient (Pope et al. 2019): `‖ReLU(∂y_c/∂X_n)‖₂` per node.
    ContrastiveGradient,
    /// Excitation Backprop (Pope et al. 2019), node level: the probability mass that
    /// reaches each node's input features (see `cpu::excitation`).
    ExcitationBackprop,
    /// Contrastive Excitation Backprop: EB for the class minus EB for the negated classifier.
    ContrastiveEb,
    /// SmoothGrad (Smilkov et al. 2017): the mean gradient of the target log-probability
    /// at `samples` noisy copies of the input (Gaussian noise of standard deviation
    /// `sigma`; see [`Smoothing`]).
    SmoothGrad,
    /// VarGrad (Adebayo et al. 2018): the variance of those gradients.
    VarGrad,
    /// GAT's attention as the edge explanation, as PyG's `AttentionExplainer(reduce)`
    /// computes it (every input edge with its own coefficient, see [`crate::attention`]):
    /// the reduction over heads, then over the GATConv layers. No delta.
    Attention(crate::attention::Reduce),
    /// CAM (Pope et al. 2019): needs global pooling followed directly by the output
    /// layer; not implemented, so it is always an error here, with the reason (the
    /// tutorial head, `lin1`, ReLU, `lin2`, rules it out anyway).
    Cam,
}

impl Method {
    /// The command-line name (`ig`, `saliency`, `input-x-gradient`, `smoothgrad`,
    /// `vargrad`, `grad-cam`, `grad-cam:L`, `contrastive-gradient`, `eb`, `c-eb`,
    /// `attention`, `attention:mean`, `cam`).
    pub fn cli_name(self) -> String {
        match self {
            Method::IntegratedGradients => "ig".into(),
            Method::Saliency => "saliency".into(),
            Method::InputXGradient => "input-x-gradient".into(),
            Method::GradCam(None) => "grad-cam".into(),
            Method::GradCam(Some(l)) => format!("grad-cam:{l}"),
            Method::ContrastiveGradient => "contrastive-gradient".into(),
            Method::Cam => "cam".into(),
            Method::Attention(crate::attention::Reduce::Max) => "attention".into(),
            Method::Attention(crate::attention::Reduce::Mean) => "attention:mean".into(),
            Method::SmoothGrad => "smoothgrad".into(),
            Method::ExcitationBackprop => "eb".into(),
            Method::ContrastiveEb => "c-eb".into(),
            Method::VarGrad => "vargrad".into(),
        }
    }

    /// True for the node-level methods of Pope et al. (one score per node, no delta).
    pub fn node_level(self) -> bool {
        matches!(
            self,
            Method::GradCam(_)
                | Method::ContrastiveGradient
                | Method::Cam
                | Method::ExcitationBackprop
                | Method::ContrastiveEb
        )
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ig" | "integrated-gradients" => Ok(Method::IntegratedGradients),
            "saliency" => Ok(Method::Saliency),
            "input-x-gradient" | "ixg" => Ok(Method::InputXGradient),
            "grad-cam" => Ok(Method::GradCam(None)),
            "contrastive-gradient" => Ok(Method::ContrastiveGradient),
            "cam" => Ok(Method::Cam),
            "attention" | "attention:max" => Ok(Method::Attention(crate::attention::Reduce::Max)),
            "attention:mean" => Ok(Method::Attention(crate::attention::Reduce::Mean)),
            "smoothgrad" => Ok(Method::SmoothGrad),
            "eb" | "excitation-backprop" => Ok(Method::ExcitationBackprop),
            "c-eb" | "contrastive-eb" => Ok(Method::ContrastiveEb),
            "vargrad" => Ok(Method::VarGrad),
            _ => match s.strip_prefix("grad-cam:").map(str::parse::<usize>) {
                Some(Ok(l)) => Ok(Method::GradCam(Some(l))),
                _ => Err(Error::Config(format!(
                    "unknown method {s:?}; use ig, saliency, input-x-gradient, grad-cam, grad-cam:LAYER, contrastive-gradient, eb, c-eb, smoothgrad, vargrad, attention, attention:mean or cam"
                ))),
            },
        }
    }
}

/// Which input the attributions are for (`../shared/docs/pyg-interchange.md`, section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wrt {
    /// The edge mask: every edge weight, input 1, baseline 0 (PyG's Explainer with
    /// `edge_mask_type='object', node_mask_type=None`).
    #[default]
    Edges,
    /// The node features `[N, F]`, with the edge mask fixed at 1 (PyG's Explainer with
    /// `edge_mask_type=None, node_mask_type='attributes'`).
    Nodes,
    /// Both at once, as PyG's Explainer with both masks computes them: one IG along the
    /// common path `(x' + α (x − x'), α · 1)`, whose two parts are the edge and node
    /// attributions, with one delta over both.
    Both,
    /// The edge and the node attributions as two separate calls (`Edges` and `Nodes`),
    /// each with its own delta.
    Separate,
}

impl Wrt {
    /// True when edge attributions are computed.
    pub fn edges(self) -> bool {
        !matches!(self, Wrt::Nodes)
    }
    /// True when node-feature attributions are computed.
    pub fn nodes(self) -> bool {
        !matches!(self, Wrt::Edges)
    }
    /// True for the joint attribution of both inputs along one path.
    pub fn joint(self) -> bool {
        self == Wrt::Both
    }
    /// The command-line name.
    pub fn cli_name(self) -> &'static str {
        match self {
            Wrt::Edges => "edges",
            Wrt::Nodes => "nodes",
            Wrt::Both => "both",
            Wrt::Separate => "separate",
        }
    }
}

impl std::str::FromStr for Wrt {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "edges" => Ok(Wrt::Edges),
            "nodes" => Ok(Wrt::Nodes),
            "both" => Ok(Wrt::Both),
            "separate" => Ok(Wrt::Separate),
            _ => Err(Error::Config(format!(
                "unknown input {s:?}; use edges, nodes, both (one joint attribution, as PyG's \
                 Explainer with both masks) or separate (two separate attributions)"
            ))),
        }
    }
}

/// The class whose log-probability is explained, per graph.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Target {
    /// The model's predicted class at the real input (the first on ties).
    #[default]
    Predicted,
    /// The dataset's graph label.
    Label,
    /// One class for every graph.
    Class(usize),
    /// One class per graph of the batch.
    PerGraph(Vec<usize>),
}

impl Target {
    /// The command-line form (`predicted`, `label` or a class number).
    pub fn cli_name(&self) -> String {
        match self {
            Target::Predicted => "predicted".into(),
            Target::Label => "label".into(),
            Target::Class(c) => c.to_string(),
            Target::PerGraph(_) => "per-graph".into(),
        }
    }
}

impl Target {
    /// The class explained for graph `g` of `batch`, given its log-probabilities at the
    /// real input. The settings must have been validated against the batch.
    pub fn resolve<T: Copy + PartialOrd>(
        &self,
        batch: &GraphBatch,
        g: usize,
        log_probs: &[T],
    ) -> usize {
        match self {
            Target::Predicted => {
                log_probs.iter().enumerate().fold(
                    0,
                    |best, (c, &v)| if v > log_probs[best] { c } else { best },
                )
            }
            Target::Label => batch.graph_labels().map_or(0, |l| l[g] as usize),
            Target::Class(c) => *c,
            Target::PerGraph(v) => v[g],
        }
    }
}

impl std::str::FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "predicted" => Ok(Target::Predicted),
            "label" => Ok(Target::Label),
            _ => s.parse::<usize>().map(Target::Class).map_err(|_| {
                Error::Config(format!(
                    "unknown target {s:?}; use predicted, label or a class number"
                ))
            }),
        }
    }
}

/// The baseline of node-feature attributions.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum NodeBaseline {
    /// All zeros (captum's default).
    #[default]
    Zeros,
    /// One value for every feature of every node.
    Constant(f32),
    /// A full `[N, F]` tensor, row-major, aligned with the batch's nodes.
    Tensor(Vec<f32>),
    /// One `[F]` row per graph (`[G, F]`), the same for every node of the graph.
    PerGraph(Vec<f32>),
}

impl NodeBaseline {
    /// The baseline as a full `[N, F]` tensor for `batch`, or `None` for zeros.
    /// The settings must have been validated against the batch.
    pub fn expand(&self, batch: &GraphBatch) -> Option<Vec<f32>> {
        let f = batch.num_features();
        match self {
            NodeBaseline::Zeros => None,
            NodeBaseline::Constant(v) => Some(vec![*v; batch.num_nodes() * f]),
            NodeBaseline::Tensor(t) => Some(t.clone()),
            NodeBaseline::PerGraph(rows) => Some(
                batch
                    .graphs()
                    .flat_map(|g| {
                        let row = &rows[g.index * f..(g.index + 1) * f];
                        g.nodes.flat_map(move |_| row.iter().copied())
                    })
                    .collect(),
            ),
        }
    }
}

/// Adaptive step selection: per graph, double the steps until
/// `|delta| <= tol * |F(input) - F(baseline)|` or `max_steps` is reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    /// Relative completeness tolerance.
    pub tol: f64,
    /// The most steps any graph may use.
    pub max_steps: usize,
}

/// Which GPU kernels run the attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuKernel {
    /// The fused kernel (one block per graph, activations on chip) for every graph
    /// that fits it, the layered kernels for the rest.
    #[default]
    Auto,
    /// The layered kernels only (one launch per op, all steps at once).
    Layered,
    /// Like `Auto`, but without the edge-mode shortcut that computes layer 1's
    /// aggregation once per graph instead of once per step (for tests).
    FusedWithoutShortcut,
}

impl std::str::FromStr for GpuKernel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" | "fused" => Ok(GpuKernel::Auto),
            "layered" => Ok(GpuKernel::Layered),
            _ => Err(Error::Config(format!(
                "unknown GPU kernel choice {s:?}; use auto or layered"
            ))),
        }
    }
}

/// How the GPU fused kernel stores activations (all arithmetic is f32 on every path).
///
/// Narrow storage halves the shared memory each graph's activations take, so more
/// graphs fit on a multiprocessor at once; each stored value is rounded to nearest
/// (ties to even). Gradients, sums over steps and results stay f32. Graphs that take
/// the layered kernels (too large for the fused kernel) are computed in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// f32 (the default).
    #[default]
    F32,
    /// bfloat16: f32's range, 8 significant bits.
    Bf16,
    /// IEEE half: 11 significant bits, values beyond ±65504 become infinite.
    F16,
}

impl Storage {
    /// The command-line name (`f32`, `bf16`, `f16`).
    pub fn cli_name(self) -> &'static str {
        match self {
            Storage::F32 => "f32",
            Storage::Bf16 => "bf16",
            Storage::F16 => "f16",
        }
    }
}

impl std::str::FromStr for Storage {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Storage::F32),
            "bf16" => Ok(Storage::Bf16),
            "f16" => Ok(Storage::F16),
            _ => Err(Error::Config(format!(
                "unknown storage {s:?}; use f32, bf16 or f16"
            ))),
        }
    }
}

/// The noise of SmoothGrad and VarGrad.
///
/// Each graph draws its own noise: a ChaCha8 generator seeded with `seed`, on the
/// stream given by a hash of the graph's features and edges (so results do not
/// depend on batching) and the input kind; each value is `sigma · z` with
/// `z = sqrt(−2 ln(1 − u1)) · cos(2π u2)` from two uniforms in [0, 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smoothing {
    /// Noisy copies per graph.
    pub samples: usize,
    /// Standard deviation of the Gaussian noise (absolute).
    pub sigma: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for Smoothing {
    fn default() -> Self {
        Smoothing {
            samples: 50,
            sigma: 0.15,
            seed: 0,
        }
    }
}

/// Everything that defines an attribution run.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainConfig {
    /// The method.
    pub method: Method,
    /// Edges, nodes or both.
    pub wrt: Wrt,
    /// Integration steps (IG only; the starting count in adaptive mode).
    pub steps: usize,
    /// Integration rule (IG only).
    pub rule: Rule,
    /// The explained class.
    pub target: Target,
    /// Node-feature baseline (IG only).
    pub node_baseline: NodeBaseline,
    /// Adaptive steps (IG only), off by default.
    pub adaptive: Option<Adaptive>,
    /// GPU paths only: the device memory, in bytes, one chunk of graphs × steps may use
    /// (default: half the free memory of a GPU, 256 MiB in interpret mode). Results do
    /// not depend on it.
    pub memory_budget: Option<usize>,
    /// GPU paths only: fused or layered kernels. Results agree to float32 rounding.
    pub gpu_kernel: GpuKernel,
    /// GPU fused kernel only: the storage type of activations (f32 by default).
    pub storage: Storage,
    /// IG: multiply the integrated gradient by `input − baseline` (captum's
    /// `multiply_by_inputs`, on by default). Edge masks are unaffected (input − baseline = 1).
    pub multiply_by_inputs: bool,
    /// SmoothGrad and VarGrad: samples, noise and seed.
    pub smoothing: Smoothing,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        ExplainConfig {
            method: Method::IntegratedGradients,
            wrt: Wrt::Edges,
            steps: 50,
            rule: Rule::GaussLegendre,
            target: Target::Predicted,
            node_baseline: NodeBaseline::Zeros,
            adaptive: None,
            memory_budget: None,
            gpu_kernel: GpuKernel::Auto,
            storage: Storage::F32,
            multiply_by_inputs: true,
            smoothing: Smoothing::default(),
        }
    }
}

impl ExplainConfig {
    /// Checks the settings against a model and a batch before any work starts.
    pub fn validate(&self, model: &GraphConvNet, batch: &GraphBatch) -> Result<()> {
        model.check_batch(batch)?;
        if self.method == Method::Cam {
            let single = matches!(model.head.as_slice(), [crate::model::Op::Linear { .. }]);
            return Err(Error::Config(if single {
                "CAM (the class weights of the output Linear on the last layer's node embeddings) \
                 is not implemented; Grad-CAM on the last layer (--method grad-cam:L) gives the \
                 same ranking for this model, whose pool feeds the output Linear directly"
                    .into()
            } else {
                format!(
                    "CAM needs global pooling followed directly by the output layer (Pope et al. \
                     2019); this model ({}) has more between the pooling and its output, so CAM \
                     is undefined. Grad-CAM (--method grad-cam) is its generalisation",
                    model.describe()
                )
            }));
        }
        if matches!(
            self.method,
            Method::ExcitationBackprop | Method::ContrastiveEb
        ) {
            let contrastive = self.method == Method::ContrastiveEb;
            if let Some(why) = crate::nn::excitation::supports(model, contrastive) {
                return Err(Error::Config(format!(
                    "{} is undefined for this model ({}): {why}",
                    self.method.cli_name(),
                    model.describe()
                )));
            }
            if let Some(w) = batch.edge_weight() {
                if let Some(e) = w.iter().position(|&v| v < 0.0) {
                    return Err(Error::Config(format!(
                        "{} needs non-negative edge weights; batch edge {e} has weight {}",
                        self.method.cli_name(),
                        w[e]
                    )));
                }
            }
        }
        if matches!(self.method, Method::SmoothGrad | Method::VarGrad) {
            let s = self.smoothing;
            if s.samples == 0
                || s.samples > rules::MAX_STEPS
                || !(s.sigma.is_finite() && s.sigma >= 0.0)
            {
                return Err(Error::Config(format!(
                    "smoothing needs 1 to {} samples and a finite sigma >= 0; got {} samples, sigma {}",
                    rules::MAX_STEPS,
                    s.samples,
                    s.sigma
                )));
            }
        }
        if let Method::GradCam(Some(l)) = self.method {
            if l == 0 || l > model.num_layers() {
                return Err(Error::Config(format!(
                    "grad-cam:{l}: the model has conv layers 1..={}",
                    model.num_layers()
                )));
            }
        }
        if self.method == Method::IntegratedGradients {
            self.rule.check_steps(self.steps)?;
            if let Some(a) = self.adaptive {
                self.rule.check_steps(a.max_steps)?;
                if !(a.tol.is_finite() && a.tol > 0.0) {
                    return Err(Error::Config(format!(
                        "delta tolerance must be a positive number, got {}",
                        a.tol
                    )));
                }
                if a.max_steps < self.steps {
                    return Err(Error::Config(format!(
                        "max steps {} is below the starting steps {}",
                        a.max_steps, self.steps
                    )));
                }
            }
        }
        let c = model.num_classes();
        let g = batch.num_graphs();
        match &self.target {
            Target::Class(t) if *t >= c => {
                return Err(Error::Config(format!(
                    "target class {t} does not exist; the model has {c} classes (0..{c})"
                )))
            }
            Target::PerGraph(v) if v.len() != g => {
                return Err(Error::Config(format!(
                    "{} per-graph targets for {g} graphs",
                    v.len()
                )))
            }
            Target::PerGraph(v) => {
                if let Some((i, t)) = v.iter().enumerate().find(|(_, &t)| t >= c) {
                    return Err(Error::Config(format!(
                        "graph {i}: target class {t} does not exist; the model has {c} classes"
                    )));
                }
            }
            Target::Label => {
                let labels = batch.graph_labels().ok_or_else(|| {
                    Error::Config("target 'label' needs graph labels, and the data has none".into())
                })?;
                if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= c) {
                    return Err(Error::Mismatch(format!(
                        "graph {i} has label {l} but the model has only {c} classes"
                    )));
                }
            }
            _ => {}
        }
        if let NodeBaseline::PerGraph(b) = &self.node_baseline {
            let want = batch.num_graphs() * batch.num_features();
            if b.len() != want {
                return Err(Error::Config(format!(
                    "per-graph node baseline has {} values, expected G*F = {want}",
                    b.len()
                )));
            }
            if let Some(i) = b.iter().position(|v| !v.is_finite()) {
                return Err(Error::Config(format!(
                    "per-graph node baseline value {} of graph {} is not finite",
                    b[i],
                    i / batch.num_features()
                )));
            }
        }
        if let NodeBaseline::Tensor(b) = &self.node_baseline {
            let want = batch.num_nodes() * batch.num_features();
            if b.len() != want {
                return Err(Error::Config(format!(
                    "node baseline has {} values, expected N*F = {want}",
                    b.len()
                )));
            }
            if let Some(i) = b.iter().position(|v| !v.is_finite()) {
                return Err(Error::Config(format!(
                    "node baseline value {} at flat index {i} is not finite",
                    b[i]
                )));
            }
        }
        if let NodeBaseline::Constant(v) = self.node_baseline {
            if !v.is_finite() {
                return Err(Error::Config(format!("node baseline {v} is not finite")));
            }
        }
        if self.storage != Storage::F32 {
            let fused = matches!(
                self.method,
                Method::IntegratedGradients | Method::Saliency | Method::InputXGradient
            );
            if !fused || self.gpu_kernel == GpuKernel::Layered {
                return Err(Error::Config(format!(
                    "storage {} applies to the GPU fused kernel, which runs ig, saliency and \
                     input-x-gradient (not {}, and not with the layered kernels); use storage f32",
                    self.storage.cli_name(),
                    if fused {
                        "--gpu-kernel layered".to_string()
                    } else {
                        self.method.cli_name()
                    }
                )));
            }
        }
        Ok(())
    }
}

/// The results of one attribution run over a batch.
///
/// Delta is `Σ attributions − (F(input) − F(baseline))` per graph, where `F` is the
/// attributed output (the target log-probability for a `log_softmax` model); the
/// node-level methods have none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributions {
    /// Number of classes `C`.
    pub num_classes: usize,
    /// Node feature width `F`.
    pub num_features: usize,
    /// Edge attributions `[E]`, in the batch's edge order.
    pub edge: Option<Vec<f64>>,
    /// Node-feature attributions `[N, F]`, row-major.
    pub node: Option<Vec<f64>>,
    /// The model's output rows at the real input `[G, C]` (log-probabilities for a
    /// `log_softmax` model, probabilities for `softmax`, else the logits).
    pub log_probs: Vec<f64>,
    /// The explained class per graph.
    pub target: Vec<usize>,
    /// Convergence delta of the edge attributions, per graph (with [`Wrt::Both`], the one
    /// delta of the joint attribution, and `node_delta` is `None`).
    pub edge_delta: Option<Vec<f64>>,
    /// Convergence delta of the node attributions, per graph.
    pub node_delta: Option<Vec<f64>>,
    /// Steps used for the edge attributions, per graph (with [`Wrt::Both`], of the joint
    /// attribution, and `node_steps` is `None`).
    pub edge_steps: Option<Vec<usize>>,
    /// Steps used for the node attributions, per graph.
    pub node_steps: Option<Vec<usize>>,
    /// Node-level scores `[N]` of Grad-CAM, the contrastive gradient, EB and c-EB.
    pub node_score: Option<Vec<f64>>,
}

impl Attributions {
    /// The largest |delta| over all graphs and inputs (0 when there is none).
    pub fn max_abs_delta(&self) -> f64 {
        self.edge_delta
            .iter()
            .chain(self.node_delta.iter())
            .flatten()
            .fold(0.0f64, |m, d| m.max(d.abs()))
    }

    /// Appends the results of the next graphs (a later chunk of the same run).
    pub fn append(&mut self, other: Attributions) {
        fn cat<T>(a: &mut Option<Vec<T>>, b: Option<Vec<T>>) {
            match (a.as_mut(), b) {
                (Some(a), Some(b)) => a.extend(b),
                (None, b) => *a = b,
                _ => {}
            }
        }
        self.num_classes = other.num_classes;
        self.num_features = other.num_features;
        cat(&mut self.edge, other.edge);
        cat(&mut self.node, other.node);
        self.log_probs.extend(other.log_probs);
        self.target.extend(other.target);
        cat(&mut self.edge_delta, other.edge_delta);
        cat(&mut self.node_delta, other.node_delta);
        cat(&mut self.edge_steps, other.edge_steps);
        cat(&mut self.node_steps, other.node_steps);
        cat(&mut self.node_score, other.node_score);
    }
}
