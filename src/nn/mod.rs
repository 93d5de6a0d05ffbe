//! Networks written once for every device.
//!
//! - [`backend`]: the primitives (dense products, message passing with per-edge
//!   coefficients, segment softmax, pooling, outputs) that each device implements;
//! - [`structure`]: the coefficients a conv takes from the graph structure alone;
//! - [`network`]: a [`crate::Model`] prepared on a backend, its forward pass and its
//!   backward pass to the node features and the edge mask;
//! - [`excitation`]: Excitation Backprop and its contrastive variant;
//! - [`scores`]: the node-level methods (Grad-CAM, the contrastive gradient, EB, c-EB).

pub mod backend;
pub mod excitation;
pub mod network;
pub mod scores;
pub mod structure;

pub use backend::{Backend, Coef, HostStructure, Instances, Loops, Mask, Seed};
pub use network::{Grads, Network, Structure, Tape, Want};
