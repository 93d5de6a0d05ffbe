//! The launch layer: the small interface the host code is written against.

use crate::Result;

/// Element types that live in device buffers.
#[cfg(feature = "cuda")]
pub trait Elem:
    bytemuck::Pod + Default + Send + Sync + cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits
{
    /// What [`Gpu::alloc`] fills a buffer with in sanitizer mode: a signalling NaN for
    /// floats, all bits set for integers.
    const POISON: Self;
}
/// Element types that live in device buffers.
#[cfg(not(feature = "cuda"))]
pub trait Elem: bytemuck::Pod + Default + Send + Sync {
    /// What [`Gpu::alloc`] fills a buffer with in sanitizer mode: a signalling NaN for
    /// floats, all bits set for integers.
    const POISON: Self;
}
impl Elem for f32 {
    const POISON: f32 = f32::from_bits(0x7fbf_7fbf);
}
impl Elem for i32 {
    const POISON: i32 = -1;
}

/// One kernel argument. Buffers are borrowed for the launch; outputs mutably.
pub enum Arg<'a, G: Gpu + ?Sized> {
    /// A read-only float buffer.
    F(&'a G::Buf<f32>),
    /// A read-only int buffer.
    I(&'a G::Buf<i32>),
    /// A float buffer the kernel writes.
    Out(&'a mut G::Buf<f32>),
    /// A null pointer (an optional input left out).
    Null,
    /// An `int`.
    Int(i32),
    /// A `long long`.
    Long(i64),
    /// A `float`.
    Float(f32),
}

/// A launch shape: blocks of `block` threads, up to `grid` blocks, `smem` bytes of
/// dynamic shared memory. Kernels use grid-stride loops, so any grid is correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Blocks.
    pub grid: u32,
    /// Threads per block.
    pub block: u32,
    /// Dynamic shared memory per block, in bytes.
    pub smem: u32,
}

/// Threads per block of every launch.
pub const BLOCK: u32 = 128;

impl Shape {
    /// Enough blocks of [`BLOCK`] threads for one thread per item (capped by the device).
    pub fn per_item<G: Gpu + ?Sized>(gpu: &G, items: usize) -> Shape {
        Self::blocks(gpu, items.div_ceil(BLOCK as usize))
    }
    /// One warp per item.
    pub fn per_warp_item<G: Gpu + ?Sized>(gpu: &G, items: usize) -> Shape {
        Self::blocks(gpu, items.div_ceil((BLOCK / 32) as usize))
    }
    /// `blocks` blocks of [`BLOCK`] threads (capped by the device; at least one).
    pub fn blocks<G: Gpu + ?Sized>(gpu: &G, blocks: usize) -> Shape {
        Shape {
            grid: blocks.clamp(1, gpu.max_grid() as usize) as u32,
            block: BLOCK,
            smem: 0,
        }
    }
}

/// A device that runs the kernels: a real GPU or interpret mode.
pub trait Gpu {
    /// A device buffer of `T`.
    type Buf<T: Elem>;
    /// A short description (for messages).
    fn describe(&self) -> String;
    /// Copies host data to a new device buffer.
    fn upload<T: Elem>(&self, host: &[T]) -> Result<Self::Buf<T>>;
    /// A new zeroed device buffer (a memset: the zeros are part of the contract).
    fn zeros<T: Elem>(&self, len: usize) -> Result<Self::Buf<T>>;
    /// A new device buffer whose contents are unspecified, for outputs that a kernel
    /// writes in full. Zeroed by default; interpret mode's sanitizer fills it with
    /// [`Elem::POISON`], so that a kernel that leaves part of it unwritten shows.
    fn alloc<T: Elem>(&self, len: usize) -> Result<Self::Buf<T>> {
        self.zeros(len)
    }
    /// Number of elements a buffer holds.
    fn len<T: Elem>(&self, buf: &Self::Buf<T>) -> usize;
    /// Copies a device buffer back to the host (waits for pending work).
    fn download<T: Elem>(&self, buf: &Self::Buf<T>) -> Result<Vec<T>>;
    /// Launches `kernel` (a name from `kernels/`) with `args` in signature order.
    ///
    /// # Safety
    ///
    /// The kernel reads and writes its buffers at the indices its arguments imply, with
    /// no checks of its own. The caller must ensure that
    /// 1. `args` match the kernel's parameters in number, order and kind (pointer,
    ///    `int`, `long long`, `float`);
    /// 2. every buffer holds at least the elements the kernel reads or writes for these
    ///    sizes (checked with [`need`] before the launch);
    /// 3. every index the kernel reads from a buffer (graph structure, targets, centres)
    ///    lies within the buffers it indexes.
    unsafe fn launch(
        &self,
        kernel: &'static str,
        shape: Shape,
        args: &mut [Arg<'_, Self>],
    ) -> Result<()>;
    /// Bytes the activations of one chunk may use by default.
    fn default_budget(&self) -> Result<usize>;
    /// The memory budget of a run: `requested`, or else [`Gpu::default_budget`].
    fn budget(&self, requested: Option<usize>) -> Result<usize> {
        match requested {
            Some(b) => Ok(b),
            None => self.default_budget(),
        }
    }
    /// The largest grid this device launches (interpret mode keeps it small).
    fn max_grid(&self) -> u32;
    /// The most dynamic shared memory one block may use, in bytes.
    fn max_shared_bytes(&self) -> usize;
}

/// Checks, before a launch, that `buf` holds at least `need` elements.
pub fn need<G: Gpu + ?Sized, T: Elem>(
    gpu: &G,
    buf: &G::Buf<T>,
    need: usize,
    what: &str,
) -> Result<()> {
    let have = gpu.len(buf);
    if have < need {
        return Err(crate::Error::Device(format!(
            "internal error: buffer {what} holds {have} elements, the launch needs {need}"
        )));
    }
    Ok(())
}
