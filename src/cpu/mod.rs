//! The CPU reference path: the contract every other backend is tested against.
//!
//! Everything is computed in f64 with deterministic summation orders. [`backend`]
//! implements the primitives of [`crate::nn::Backend`] on one graph at one step, over
//! the op families of the GPU kernels ([`dense`], [`message_passing`], [`pooling`]);
//! [`attribute`], [`cam`] and [`masked`] run the methods over a batch, graphs in
//! parallel, on the network written once in [`crate::nn`].

pub mod attribute;
pub mod backend;
pub mod cam;
pub mod dense;
pub mod masked;
pub mod message_passing;
pub mod network;
pub mod pooling;

pub use attribute::explain;
pub use backend::Cpu;
