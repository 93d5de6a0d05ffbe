//! The GPU path: the CUDA kernels of `kernels/` driven by host code written once.
//!
//! The host code (buffers, chunking, launches, the IG loop) is generic over
//! [`launch::Gpu`], which has two implementations:
//! - [`driver::CudaGpu`] (feature `cuda`): cudarc on a real GPU, kernels from
//!   nvcc's PTX when it was found at build time, otherwise compiled by NVRTC;
//! - [`interpret::InterpretGpu`] (feature `interpret`): the same kernel source
//!   compiled as host C++ and run on the CPU, every CUDA thread a fiber with its
//!   own stack that switches at the barriers.
//!   It proves the logic of kernels and host code, not speed and not the
//!   GPU's memory model; never take timings from it.
//!
//! [`backend`] implements [`crate::nn::Backend`] over any [`launch::Gpu`], so the network
//! written once in [`crate::nn`] runs every model on the device: f32, every step of every
//! graph of a chunk in one launch per primitive. The launch wrappers come one module per
//! kernel file ([`dense`], [`elementwise`], [`attention`], [`message_passing`],
//! [`pooling`], [`cam`], [`integrate`]); [`attribute`], [`cam`] and [`masked`] run the
//! methods, mirroring `src/cpu/`; [`fused`] runs the tutorial family's fused kernel.

pub mod attention;
pub mod attribute;
pub mod backend;
pub mod cam;
pub mod dense;
#[cfg(feature = "cuda")]
pub mod driver;
pub mod elementwise;
pub mod fused;
pub mod integrate;
#[cfg(feature = "interpret")]
pub mod interpret;
pub mod launch;
pub mod masked;
pub mod message_passing;
pub mod network;
pub mod pooling;
pub mod storage;

/// One kernel file of `kernels/`.
#[derive(Debug, Clone, Copy)]
pub struct KernelFile {
    /// File stem (`dense`, `message_passing`, ...).
    pub name: &'static str,
    /// Its CUDA source (with `#include "prelude.cuh"`).
    pub source: &'static str,
    /// The `GI_KERNEL` functions it defines.
    pub kernels: &'static [&'static str],
}

include!(concat!(env!("OUT_DIR"), "/kernel_table.rs"));

/// The source of a kernel file with the prelude pasted in place of its
/// `#include`, as NVRTC needs it (it cannot read files).
pub fn standalone_source(file: &KernelFile) -> String {
    file.source.replace("#include \"prelude.cuh\"", PRELUDE)
}

/// The kernel file that defines `kernel`.
pub fn file_of(kernel: &str) -> Option<&'static KernelFile> {
    KERNEL_FILES.iter().find(|f| f.kernels.contains(&kernel))
}
