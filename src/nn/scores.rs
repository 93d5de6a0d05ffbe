//! The node-level methods of Pope et al. (CVPR 2019), written once over the backend:
//! Grad-CAM (per conv block, or averaged over the blocks), the contrastive gradient,
//! Excitation Backprop and contrastive EB. The gradient methods explain the class
//! score `y_c`, the logit before any softmax.
//!
//! - Grad-CAM on block `l` with node features `F^l [n, K]` (the block's output, after
//!   its activation): `α_k = (1/n) Σ_n ∂y_c/∂F^l_{n,k}` and
//!   `score_n = ReLU(Σ_k α_k F^l_{n,k})`; the average is `(1/L) Σ_l score^l_n`.
//! - Contrastive gradient: `score_n = ‖ReLU(∂y_c/∂X_n)‖₂` over node `n`'s input features.
//! - Excitation Backprop and contrastive EB: see [`super::excitation`].

use super::backend::{Backend, Instances, Mask, Seed};
use super::excitation::Excitation;
use super::network::{internal, Network, Structure, Tape, Want};
use crate::explain::Method;
use crate::Result;

impl<B: Backend> Network<'_, B> {
    /// The node scores `[N]` of a node-level `method` after [`Network::forward`] of one
    /// step with mask 1 (`tape`), each graph explaining its class `targets[g]`. `ex` holds
    /// the excitatory weights for EB and c-EB.
    #[allow(clippy::too_many_arguments)]
    pub fn node_scores(
        &self,
        b: &B,
        ex: Option<&Excitation<B>>,
        g: Instances<'_, B::Graph>,
        st: &Structure<B>,
        tape: &Tape<B>,
        mask: Mask<'_, B::Buf>,
        targets: &[usize],
        method: Method,
    ) -> Result<B::Buf> {
        let model = self.model;
        let index = b.upload_index(targets)?;
        match method {
            Method::ContrastiveGradient => {
                let want = Want {
                    x: true,
                    ..Default::default()
                };
                let gr = self.backward(b, g, st, tape, mask, Seed::Logit, &index, want)?;
                let dx =
                    gr.x.ok_or_else(|| internal("the contrastive gradient without its gradient"))?;
                b.relu_norms(model.num_features(), &dx)
            }
            Method::GradCam(layer) => {
                let want = Want {
                    blocks: true,
                    ..Default::default()
                };
                let grads = self.backward(b, g, st, tape, mask, Seed::Logit, &index, want)?;
                let values = self.block_values(tape);
                let layers: Vec<usize> = match layer {
                    Some(l) => vec![l],
                    None => (1..=model.num_layers()).collect(),
                };
                let mut total = b.zeros(g.steps * b.num_nodes(g.graph))?;
                let scale = 1.0 / layers.len() as f64;
                for &l in &layers {
                    let (h, k) = values[l - 1];
                    b.grad_cam_layer(g.graph, h, &grads.blocks[l - 1], k, scale, &mut total)?;
                }
                Ok(total)
            }
            Method::ExcitationBackprop | Method::ContrastiveEb => {
                let ex = ex.ok_or_else(|| internal("excitation without its weights"))?;
                let classes = model.num_classes();
                let mut top = vec![0.0; targets.len() * classes];
                for (k, &t) in targets.iter().enumerate() {
                    top[k * classes + t] = 1.0;
                }
                let top = b.upload(&top)?;
                let mut eb = self.excitation(b, ex, g, st, tape, mask, &top, false)?;
                if method == Method::ContrastiveEb {
                    let neg = self.excitation(b, ex, g, st, tape, mask, &top, true)?;
                    b.add_scaled(-1.0, &neg, &mut eb)?;
                }
                Ok(eb)
            }
            other => Err(crate::Error::Config(format!(
                "{} is not a node-level method",
                other.cli_name()
            ))),
        }
    }
}
