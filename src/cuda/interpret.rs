//! Interpret mode: the CUDA kernels compiled as host C++ and run on the CPU.
//!
//! Device memory is host memory. Each launch calls the kernel's generated
//! entry (`gi_interpret_<name>`), which runs the grid's blocks one after
//! another on the calling thread, every CUDA thread of a block a fiber (its own
//! stack) that hands over to the next at each barrier
//! (`kernels/interpret/runtime.hpp`).
//!
//! This proves the logic of the kernels and of the host code that drives them
//! (launch shapes, chunking, buffers); it says nothing about speed or about the
//! GPU's memory model.
//!
//! Sanitizer mode: when `GRAPH_IG_SANITIZE` names the sanitizer library
//! (`bash scripts/sanitize.sh` builds it from the sources build.rs writes, and
//! runs the tests with it; `docs/sanitizer.md`), every launch runs that
//! library's build of the kernel instead, with memcheck, racecheck, initcheck
//! and synccheck (`kernels/interpret/sanitize.hpp`) and the blocks in a random
//! order, several at a time; [`Gpu::alloc`] buffers start poisoned. A launch
//! with findings prints them to stderr and fails with [`Error::Sanitizer`].

use super::launch::{Arg, Elem, Gpu, Shape};
use crate::{Error, Result};
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::{Mutex, OnceLock};

type InterpretEntry = unsafe extern "C" fn(
    u32,
    u32,
    u32,
    u32,
    u32,
    u32,
    u64,
    *mut *mut c_void,
    *const u8,
    *const u64,
    i32,
    *mut u8,
    u64,
) -> i32;

/// Room for a launch's sanitizer findings (the runtime truncates beyond it).
const REPORT_BYTES: usize = 16 << 10;

include!(concat!(env!("OUT_DIR"), "/interpret_kernels.rs"));

/// The sanitizer library `GRAPH_IG_SANITIZE` names, loaded.
struct Sanitizer {
    lib: libloading::Library,
    path: String,
    entries: Mutex<HashMap<&'static str, InterpretEntry>>,
}

static SANITIZER: OnceLock<std::result::Result<Option<Sanitizer>, String>> = OnceLock::new();

/// Loads the library `GRAPH_IG_SANITIZE` names (none when it is unset or empty) and
/// checks that it was built from this build's kernel sources.
fn load_sanitizer() -> std::result::Result<Option<Sanitizer>, String> {
    let Some(path) = std::env::var_os("GRAPH_IG_SANITIZE").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let shown = std::path::Path::new(&path).display().to_string();
    // SAFETY: loading a library runs its initialisers. This one is the sanitizer build
    // of this crate's own kernels (scripts/sanitize.sh), whose initialisers are those of
    // the C++ runtime and of the kernels' function-local statics; the hash check below
    // refuses a library built from other sources before any of its kernels runs.
    let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| {
        format!("GRAPH_IG_SANITIZE={shown}: cannot load the sanitizer library ({e}); bash scripts/sanitize.sh builds it")
    })?;
    // SAFETY: build.rs generates `gi_sanitize_sources` (sanitize_manifest.cpp) as
    // `const char* gi_sanitize_sources()`, returning a NUL-terminated static string.
    let hash = unsafe {
        let sources = lib
            .get::<unsafe extern "C" fn() -> *const c_char>(b"gi_sanitize_sources\0")
            .map_err(|e| format!("GRAPH_IG_SANITIZE={shown} is not the sanitizer library ({e})"))?;
        CStr::from_ptr(sources()).to_string_lossy().into_owned()
    };
    if hash != SANITIZE_HASH {
        return Err(format!(
            "GRAPH_IG_SANITIZE={shown} was built from other kernel sources ({hash}; this build's are \
             {SANITIZE_HASH}); bash scripts/sanitize.sh rebuilds it"
        ));
    }
    Ok(Some(Sanitizer {
        lib,
        path: shown,
        entries: Mutex::new(HashMap::new()),
    }))
}

/// The loaded sanitizer library, if `GRAPH_IG_SANITIZE` names one.
fn sanitizer() -> Result<Option<&'static Sanitizer>> {
    match SANITIZER.get_or_init(load_sanitizer) {
        Ok(s) => Ok(s.as_ref()),
        Err(e) => Err(Error::Device(e.clone())),
    }
}

/// The sanitizer library that interpret-mode launches run in (`GRAPH_IG_SANITIZE`,
/// built by `scripts/sanitize.sh`), or `None` in plain interpret mode. An error when
/// the variable names a library that cannot be loaded or was built from other kernel
/// sources.
pub fn sanitizer_library() -> Result<Option<String>> {
    Ok(sanitizer()?.map(|s| s.path.clone()))
}

impl Sanitizer {
    /// The sanitizer build's entry of `kernel`.
    fn entry(&self, kernel: &'static str) -> Result<InterpretEntry> {
        let mut known = self
            .entries
            .lock()
            .map_err(|_| Error::Device("sanitizer: a launch panicked".into()))?;
        if let Some(&f) = known.get(kernel) {
            return Ok(f);
        }
        let name = format!("gi_sanitize_{kernel}\0");
        // SAFETY: build.rs generates every `gi_sanitize_<kernel>` entry with the signature
        // of `InterpretEntry` (entry_cpp, as the built-in entries), and load_sanitizer
        // checked that the library was generated from this build's sources. The library
        // stays loaded for the life of the process (a static), so the pointer stays valid.
        let f = unsafe { self.lib.get::<InterpretEntry>(name.as_bytes()).map(|s| *s) }.map_err(
            |_| {
                Error::Device(format!(
                    "the sanitizer library {} has no kernel {kernel}",
                    self.path
                ))
            },
        )?;
        known.insert(kernel, f);
        Ok(f)
    }
}

/// A buffer of interpret mode: plain host memory.
pub struct HostBuf<T> {
    data: Vec<T>,
}

/// The interpret-mode device.
#[derive(Debug, Clone)]
pub struct InterpretGpu {
    max_grid: u32,
    budget: usize,
}

impl Default for InterpretGpu {
    fn default() -> Self {
        InterpretGpu {
            max_grid: 4,
            budget: 256 << 20,
        }
    }
}

impl InterpretGpu {
    /// An interpret device running at most `max_grid` blocks per launch
    /// (grid-stride loops cover the rest) with a default chunk budget of `budget` bytes.
    pub fn new(max_grid: u32, budget: usize) -> Self {
        InterpretGpu {
            max_grid: max_grid.max(1),
            budget,
        }
    }
}

impl Gpu for InterpretGpu {
    type Buf<T: Elem> = HostBuf<T>;

    fn describe(&self) -> String {
        "interpret (CUDA kernels on the CPU)".into()
    }

    fn upload<T: Elem>(&self, host: &[T]) -> Result<HostBuf<T>> {
        Ok(HostBuf {
            data: host.to_vec(),
        })
    }

    fn zeros<T: Elem>(&self, len: usize) -> Result<HostBuf<T>> {
        Ok(HostBuf {
            data: vec![T::default(); len],
        })
    }

    /// Zeroed, or poisoned ([`Elem::POISON`]) in sanitizer mode.
    fn alloc<T: Elem>(&self, len: usize) -> Result<HostBuf<T>> {
        let fill = if sanitizer()?.is_some() {
            T::POISON
        } else {
            T::default()
        };
        Ok(HostBuf {
            data: vec![fill; len],
        })
    }

    fn len<T: Elem>(&self, buf: &HostBuf<T>) -> usize {
        buf.data.len()
    }

    fn download<T: Elem>(&self, buf: &HostBuf<T>) -> Result<Vec<T>> {
        Ok(buf.data.clone())
    }

    unsafe fn launch(
        &self,
        kernel: &'static str,
        shape: Shape,
        args: &mut [Arg<'_, Self>],
    ) -> Result<()> {
        let entry = match sanitizer()? {
            Some(s) => s.entry(kernel)?,
            None => INTERPRET_KERNELS
                .iter()
                .find(|(name, _)| *name == kernel)
                .map(|(_, f)| *f)
                .ok_or_else(|| Error::Device(format!("interpret mode has no kernel {kernel}")))?,
        };
        // Each argument's value in an 8-byte slot; the kernel entry reads each as its own type.
        let mut slots: Vec<u64> = args
            .iter_mut()
            .map(|a| match a {
                Arg::F(b) => b.data.as_ptr() as u64,
                Arg::I(b) => b.data.as_ptr() as u64,
                Arg::Out(b) => b.data.as_mut_ptr() as u64,
                Arg::Null => 0,
                Arg::Int(v) => *v as u32 as u64,
                Arg::Long(v) => *v as u64,
                Arg::Float(v) => u64::from(v.to_bits()),
            })
            .collect();
        // What each argument is (1 = pointer, else its size), checked against the kernel's
        // signature by the entry: a mismatch that only a GPU would notice aborts here.
        let kinds: Vec<u8> = args
            .iter()
            .map(|a| match a {
                Arg::F(_) | Arg::I(_) | Arg::Out(_) | Arg::Null => 1,
                Arg::Int(_) | Arg::Float(_) => 4,
                Arg::Long(_) => 8,
            })
            .collect();
        // Each buffer's size in bytes (sanitizer mode checks every access against it).
        let bytes: Vec<u64> = args
            .iter()
            .map(|a| match a {
                Arg::F(b) => std::mem::size_of_val(b.data.as_slice()) as u64,
                Arg::I(b) => std::mem::size_of_val(b.data.as_slice()) as u64,
                Arg::Out(b) => std::mem::size_of_val(b.data.as_slice()) as u64,
                Arg::Null | Arg::Int(_) | Arg::Long(_) | Arg::Float(_) => 0,
            })
            .collect();
        let mut argv: Vec<*mut c_void> = slots
            .iter_mut()
            .map(|s| s as *mut u64 as *mut c_void)
            .collect();
        let mut report = vec![0u8; REPORT_BYTES];
        // SAFETY: the caller upholds `Gpu::launch`'s contract (sizes and indices checked
        // before the launch); each buffer outlives the call (borrowed by `args`), outputs
        // are borrowed mutably, and the slots hold one value per kernel parameter in
        // signature order (the entry checks their number and kinds against the kernel's
        // signature before reading them; a 4-byte value sits in the low bytes of its slot);
        // `bytes` has one entry per argument and `report` is writable for its length.
        let findings = unsafe {
            entry(
                shape.grid,
                1,
                1,
                shape.block,
                1,
                1,
                u64::from(shape.smem),
                argv.as_mut_ptr(),
                kinds.as_ptr(),
                bytes.as_ptr(),
                kinds.len() as i32,
                report.as_mut_ptr(),
                report.len() as u64,
            )
        };
        if findings != 0 {
            let end = report.iter().position(|&b| b == 0).unwrap_or(report.len());
            let text = String::from_utf8_lossy(&report[..end]);
            for line in text.lines() {
                eprintln!("graph-ig sanitizer: {line}");
            }
            return Err(Error::Sanitizer {
                kernel: kernel.to_string(),
                grid: shape.grid,
                block: shape.block,
                findings: findings as usize,
                report: text.trim_end().to_string(),
            });
        }
        Ok(())
    }

    fn default_budget(&self) -> Result<usize> {
        Ok(self.budget)
    }

    fn max_grid(&self) -> u32 {
        self.max_grid
    }

    /// An H100's opt-in limit, so that the same graphs take the fused path as there.
    fn max_shared_bytes(&self) -> usize {
        227 * 1024
    }
}
