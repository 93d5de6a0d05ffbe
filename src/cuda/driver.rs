//! The CUDA device through cudarc (feature `cuda`).
//!
//! cudarc loads libcuda and libnvrtc at run time (`dynamic-loading`), so the
//! crate builds without CUDA; their absence is a clean [`Error::Device`], never
//! a panic (cudarc panics when libcuda is missing, so it is checked first).
//! Each kernel file is loaded once per context, on first use: from nvcc's PTX
//! when build.rs found nvcc, otherwise compiled by NVRTC for the device's
//! compute capability.

use super::launch::{Arg, Elem, Gpu, Shape};
use super::{file_of, standalone_source, KernelFile};
use crate::{Error, Result};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

include!(concat!(env!("OUT_DIR"), "/prebuilt_ptx.rs"));

fn dev_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Device(format!("{what}: {e}"))
}

/// True when the CUDA driver library can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the driver library by its usual names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// True when the NVRTC library can be loaded.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the NVRTC library by its usual names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Number of CUDA devices (0 when there is no driver).
pub fn device_count() -> usize {
    if !driver_present() {
        return 0;
    }
    CudaContext::device_count().map_or(0, |n| n.max(0) as usize)
}

/// A CUDA GPU: its context, one stream and the kernels loaded so far.
pub struct CudaGpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
}

impl std::fmt::Debug for CudaGpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaGpu({})", self.ctx.ordinal())
    }
}

impl CudaGpu {
    /// The GPU `ordinal`, shared by every caller in the process (one context each).
    pub fn get(ordinal: usize) -> Result<Arc<CudaGpu>> {
        static GPUS: OnceLock<Mutex<HashMap<usize, Arc<CudaGpu>>>> = OnceLock::new();
        let map = GPUS.get_or_init(|| Mutex::new(HashMap::new()));
        let mut map = map
            .lock()
            .map_err(|_| Error::Device("GPU cache poisoned".into()))?;
        if let Some(g) = map.get(&ordinal) {
            return Ok(g.clone());
        }
        if !driver_present() {
            return Err(Error::Device(
                "no CUDA driver (libcuda.so) on this machine; use --device cpu (or auto)".into(),
            ));
        }
        let count = device_count();
        if ordinal >= count {
            return Err(Error::Device(format!(
                "cuda:{ordinal} does not exist; this machine has {count} CUDA device(s); use --device cpu (or auto)"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| dev_err("creating the CUDA context", e))?;
        let stream = ctx.default_stream();
        let gpu = Arc::new(CudaGpu {
            ctx,
            stream,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
        });
        map.insert(ordinal, gpu.clone());
        Ok(gpu)
    }

    fn module(&self, file: &'static KernelFile) -> Result<Arc<CudaModule>> {
        let mut modules = self
            .modules
            .lock()
            .map_err(|_| Error::Device("module cache poisoned".into()))?;
        if let Some(m) = modules.get(file.name) {
            return Ok(m.clone());
        }
        let ptx = match PREBUILT_PTX.iter().find(|(n, _)| *n == file.name) {
            Some((_, ptx)) => cudarc::nvrtc::Ptx::from_src(*ptx),
            None => {
                if !nvrtc_present() {
                    return Err(Error::Device(
                        "no prebuilt PTX and no NVRTC library (libnvrtc.so.13) to compile the kernels; \
                         add the CUDA lib folder to LD_LIBRARY_PATH"
                            .into(),
                    ));
                }
                let (major, minor) = self
                    .ctx
                    .compute_capability()
                    .map_err(|e| dev_err("reading the compute capability", e))?;
                let arch: &'static str =
                    Box::leak(format!("compute_{major}{minor}").into_boxed_str());
                let opts = cudarc::nvrtc::CompileOptions {
                    arch: Some(arch),
                    ..Default::default()
                };
                cudarc::nvrtc::compile_ptx_with_opts(standalone_source(file), opts)
                    .map_err(|e| dev_err(&format!("NVRTC compiling kernels/{}.cu", file.name), e))?
            }
        };
        let m = self
            .ctx
            .load_module(ptx)
            .map_err(|e| dev_err(&format!("loading kernels/{}.cu", file.name), e))?;
        modules.insert(file.name, m.clone());
        Ok(m)
    }

    fn function(&self, kernel: &'static str) -> Result<CudaFunction> {
        if let Some(f) = self
            .functions
            .lock()
            .map_err(|_| Error::Device("function cache poisoned".into()))?
            .get(kernel)
        {
            return Ok(f.clone());
        }
        let file =
            file_of(kernel).ok_or_else(|| Error::Device(format!("no kernel named {kernel}")))?;
        let f = self
            .module(file)?
            .load_function(kernel)
            .map_err(|e| dev_err(&format!("loading kernel {kernel}"), e))?;
        self.functions
            .lock()
            .map_err(|_| Error::Device("function cache poisoned".into()))?
            .insert(kernel, f.clone());
        Ok(f)
    }
}

static NULL_PTR: u64 = 0;

/// A device buffer of `len` elements (cudarc cannot allocate zero bytes: an empty buffer
/// holds one element that is never read).
pub struct CudaBuf<T> {
    slice: CudaSlice<T>,
    len: usize,
}

impl Gpu for CudaGpu {
    type Buf<T: Elem> = CudaBuf<T>;

    fn describe(&self) -> String {
        let name = self.ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        format!("cuda:{} ({name})", self.ctx.ordinal())
    }

    fn upload<T: Elem>(&self, host: &[T]) -> Result<CudaBuf<T>> {
        if host.is_empty() {
            return self.zeros(0);
        }
        let slice = self
            .stream
            .clone_htod(host)
            .map_err(|e| dev_err("copying to the GPU", e))?;
        Ok(CudaBuf {
            slice,
            len: host.len(),
        })
    }

    fn zeros<T: Elem>(&self, len: usize) -> Result<CudaBuf<T>> {
        let slice = self
            .stream
            .alloc_zeros::<T>(len.max(1))
            .map_err(|e| dev_err(&format!("allocating {len} elements on the GPU"), e))?;
        Ok(CudaBuf { slice, len })
    }

    fn len<T: Elem>(&self, buf: &CudaBuf<T>) -> usize {
        buf.len
    }

    fn download<T: Elem>(&self, buf: &CudaBuf<T>) -> Result<Vec<T>> {
        let mut v = self
            .stream
            .clone_dtoh(&buf.slice)
            .map_err(|e| dev_err("copying from the GPU", e))?;
        v.truncate(buf.len);
        Ok(v)
    }

    unsafe fn launch(
        &self,
        kernel: &'static str,
        shape: Shape,
        args: &mut [Arg<'_, Self>],
    ) -> Result<()> {
        let f = self.function(kernel)?;
        if shape.smem > 48 * 1024 {
            use cudarc::driver::sys::CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES as MAX_DYN;
            f.set_attribute(MAX_DYN, shape.smem as i32).map_err(|e| {
                dev_err(
                    &format!(
                        "allowing {} bytes of shared memory for {kernel}",
                        shape.smem
                    ),
                    e,
                )
            })?;
        }
        let mut b = self.stream.launch_builder(&f);
        for a in args.iter_mut() {
            match a {
                Arg::F(x) => {
                    b.arg(&x.slice);
                }
                Arg::I(x) => {
                    b.arg(&x.slice);
                }
                Arg::Out(x) => {
                    b.arg(&mut x.slice);
                }
                Arg::Null => {
                    b.arg(&NULL_PTR);
                }
                Arg::Int(v) => {
                    b.arg(&*v);
                }
                Arg::Long(v) => {
                    b.arg(&*v);
                }
                Arg::Float(v) => {
                    b.arg(&*v);
                }
            }
        }
        let cfg = LaunchConfig {
            grid_dim: (shape.grid, 1, 1),
            block_dim: (shape.block, 1, 1),
            shared_mem_bytes: shape.smem,
        };
        // SAFETY: the caller upholds `Gpu::launch`'s contract (sizes and indices checked
        // on the host, the arguments in the kernel's signature order), and cudarc keeps the
        // buffers alive and ordered on this stream.
        unsafe { b.launch(cfg) }.map_err(|e| dev_err(&format!("launching {kernel}"), e))?;
        Ok(())
    }

    fn default_budget(&self) -> Result<usize> {
        let (free, _) = self
            .ctx
            .mem_get_info()
            .map_err(|e| dev_err("reading free GPU memory", e))?;
        Ok(free / 2)
    }

    fn max_grid(&self) -> u32 {
        65_535
    }

    fn max_shared_bytes(&self) -> usize {
        use cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN as OPTIN;
        self.ctx
            .attribute(OPTIN)
            .map_or(48 * 1024, |v| v.max(0) as usize)
    }
}
