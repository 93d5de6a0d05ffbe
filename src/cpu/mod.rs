//! The CPU reference path: the contract every other backend is tested against.
//!
//! Everything is computed in f64 with deterministic summation orders. The
//! modules mirror the op families of the GPU kernels: dense layers,
//! message passing, pooling; [`network`] chains them for one graph and
//! [`attribute`] runs the attribution methods over a batch.

pub mod attribute;
pub mod cam;
pub mod dense;
pub mod excitation;
pub mod masked;
pub mod message_passing;
pub mod network;
pub mod pooling;

pub use attribute::explain;
