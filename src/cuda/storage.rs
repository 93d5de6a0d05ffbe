//! The narrow storage types of the fused kernel (`gi_bf16`, `gi_f16` in
//! `kernels/prelude.cuh`), exposed so that tests can check their rounding
//! against the `half` crate bit for bit.

use super::launch::{Arg, Gpu, Shape};
use crate::explain::Storage;
use crate::Result;

/// The kernels' code for a storage type (`GI_STORAGE_*` in `kernels/prelude.cuh`).
pub fn code(storage: Storage) -> i32 {
    match storage {
        Storage::F32 => 0,
        Storage::Bf16 => 1,
        Storage::F16 => 2,
    }
}

/// Every value of `x` rounded to `storage` and widened back to f32 on `gpu`.
pub fn round_through<G: Gpu>(gpu: &G, x: &[f32], storage: Storage) -> Result<Vec<f32>> {
    let input = gpu.upload(x)?;
    let mut out = gpu.alloc::<f32>(x.len())?;
    // SAFETY: input and out hold `x.len()` values.
    unsafe {
        gpu.launch(
            "round_through_storage",
            Shape::per_item(gpu, x.len()),
            &mut [
                Arg::F(&input),
                Arg::Out(&mut out),
                Arg::Long(x.len() as i64),
                Arg::Int(code(storage)),
            ],
        )
    }?;
    let mut v = gpu.download(&out)?;
    v.truncate(x.len());
    Ok(v)
}
