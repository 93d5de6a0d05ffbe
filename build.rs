//! Build script.
//!
//! 1. Embeds the default models from `models/` (a missing file is a warning;
//!    asking for that model is then a clean run-time error).
//! 2. Lists the CUDA kernels: every `kernels/*.cu` file and the `GI_KERNEL`
//!    functions in it, embedded as source (always) for NVRTC at run time.
//! 3. Feature `cuda`: compiles each kernel file to PTX with nvcc when one is
//!    found (`NVCC`, `$CUDA_HOME/bin`, `$CUDA_PATH/bin`, `PATH`). A missing
//!    nvcc is a warning, never an error; `GRAPH_IG_NVCC=require` makes it an
//!    error and `GRAPH_IG_NVCC=off` skips it. `GRAPH_IG_CUDA_ARCH` picks the
//!    virtual architecture (default `compute_80`).
//! 4. Feature `interpret`: compiles the same kernel files as host C++ (g++,
//!    C++20) with `kernels/interpret/runtime.hpp`, and generates one exported
//!    launch entry per kernel, so a new kernel needs no extra work.
//! 5. Feature `interpret` also writes, as text only, the sources of sanitizer
//!    mode's library into `OUT_DIR/sanitize`: a rewritten copy of the kernel
//!    files and the prelude (`build/sanitize.rs`: pointers become the checked
//!    pointers of `kernels/interpret/sanitize.hpp`), compiled with `GI_SANITIZE`,
//!    plus the sanitizer's own test kernels (`kernels/interpret/sanitizer_tests.cu`).
//!    `scripts/sanitize.sh` compiles them into a shared library that
//!    `GRAPH_IG_SANITIZE` names at run time (`src/cuda/interpret.rs`), so the
//!    crate itself is built once.

#[path = "build/sanitize.rs"]
mod sanitize;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    embed_models(&out);
    let files = kernel_files();
    write_kernel_table(&out, &files);
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        build_ptx(&out, &files);
    }
    if std::env::var_os("CARGO_FEATURE_INTERPRET").is_some() {
        build_interpret(&out, &files);
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=kernels");
    println!("cargo:rerun-if-env-changed=GRAPH_IG_NVCC");
    println!("cargo:rerun-if-env-changed=GRAPH_IG_CUDA_ARCH");
    println!("cargo:rerun-if-env-changed=NVCC");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=CUDA_PATH");
}

fn embed_models(out: &Path) {
    for name in ["synthetic_graphconv", "mutagenicity_graphconv"] {
        let src = format!("models/{name}.safetensors");
        println!("cargo:rerun-if-changed={src}");
        let bytes = std::fs::read(&src).unwrap_or_default();
        if bytes.is_empty() {
            println!(
                "cargo:warning={src} is missing; the built-in default model will be unavailable"
            );
        }
        std::fs::write(out.join(format!("{name}.safetensors")), bytes)
            .expect("OUT_DIR is writable");
    }
}

/// A kernel file: its stem, absolute path and the kernels it defines.
struct KernelFile {
    stem: String,
    path: PathBuf,
    kernels: Vec<String>,
}

fn kernel_files() -> Vec<KernelFile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let mut files: Vec<KernelFile> = std::fs::read_dir(&dir)
        .expect("kernels/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
        .map(kernel_file)
        .collect();
    files.sort_by(|a, b| a.stem.cmp(&b.stem));
    files
}

fn kernel_file(path: PathBuf) -> KernelFile {
    let text = std::fs::read_to_string(&path).expect("kernel file is readable");
    let kernels = text
        .split("GI_KERNEL void ")
        .skip(1)
        .map(|rest| rest.split('(').next().unwrap_or("").trim().to_string())
        .collect();
    KernelFile {
        stem: path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        path,
        kernels,
    }
}

/// The parameter names of kernel `name` in `text` (the last identifier of each
/// parameter), for the sanitizer's messages.
fn kernel_params(text: &str, name: &str) -> Vec<String> {
    let Some(start) = text.find(&format!("GI_KERNEL void {name}(")) else {
        return Vec::new();
    };
    let rest = &text[start..];
    let open = rest.find('(').unwrap_or(0) + 1;
    let close = rest[open..].find(')').map_or(rest.len(), |c| open + c);
    rest[open..close]
        .split(',')
        .map(|p| {
            p.trim_end()
                .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

fn write_kernel_table(out: &Path, files: &[KernelFile]) {
    let prelude = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels/prelude.cuh");
    let mut s = String::new();
    writeln!(s, "/// The shared kernel header (`kernels/prelude.cuh`).").ok();
    writeln!(s, "pub const PRELUDE: &str = include_str!({:?});", prelude).ok();
    writeln!(s, "/// Every kernel file: its name, source and kernels.").ok();
    writeln!(s, "pub const KERNEL_FILES: &[KernelFile] = &[").ok();
    for f in files {
        writeln!(
            s,
            "    KernelFile {{ name: {:?}, source: include_str!({:?}), kernels: &{:?} }},",
            f.stem, f.path, f.kernels
        )
        .ok();
    }
    writeln!(s, "];").ok();
    std::fs::write(out.join("kernel_table.rs"), s).expect("OUT_DIR is writable");
}

fn find_nvcc() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NVCC") {
        return Some(PathBuf::from(p));
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(root) = std::env::var_os(var) {
            let p = Path::new(&root).join("bin/nvcc");
            if p.exists() {
                return Some(p);
            }
        }
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("nvcc"))
            .find(|p| p.exists())
    })
}

fn build_ptx(out: &Path, files: &[KernelFile]) {
    let mode = std::env::var("GRAPH_IG_NVCC").unwrap_or_default();
    let mut table = String::from("/// PTX compiled by nvcc at build time, by kernel file name.\npub const PREBUILT_PTX: &[(&str, &str)] = &[\n");
    let nvcc = if mode == "off" { None } else { find_nvcc() };
    match &nvcc {
        None if mode == "require" => {
            panic!("GRAPH_IG_NVCC=require but no nvcc was found (NVCC, CUDA_HOME, CUDA_PATH, PATH)")
        }
        None => {
            // Normal without a CUDA toolkit: say so once per target folder, as a note.
            let marker = out
                .ancestors()
                .nth(4)
                .map(|t| t.join(".graph-ig-nvcc-note"));
            if mode != "off" && marker.as_ref().is_some_and(|m| !m.exists()) {
                println!("cargo:warning=note: no nvcc found, so the CUDA kernels will be compiled by NVRTC at run time (interpret mode needs neither); shown once, GRAPH_IG_NVCC=off silences it");
                if let Some(m) = marker {
                    let _ = std::fs::write(m, "nvcc not found\n");
                }
            }
        }
        Some(nvcc) => {
            let arch = std::env::var("GRAPH_IG_CUDA_ARCH").unwrap_or_else(|_| "compute_80".into());
            let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
            for f in files {
                let ptx = out.join(format!("{}.ptx", f.stem));
                let result = std::process::Command::new(nvcc)
                    .args(["-ptx", "-O3", &format!("-arch={arch}"), "-I"])
                    .arg(&include)
                    .arg(&f.path)
                    .arg("-o")
                    .arg(&ptx)
                    .output();
                match result {
                    Ok(o) if o.status.success() => {
                        writeln!(table, "    ({:?}, include_str!({:?})),", f.stem, ptx).ok();
                    }
                    Ok(o) => {
                        let msg = String::from_utf8_lossy(&o.stderr);
                        if mode == "require" {
                            panic!("nvcc failed on {}:\n{msg}", f.path.display());
                        }
                        println!(
                            "cargo:warning=nvcc failed on {} (NVRTC will be used): {}",
                            f.path.display(),
                            msg.lines().next().unwrap_or("")
                        );
                    }
                    Err(e) if mode == "require" => panic!("cannot run {}: {e}", nvcc.display()),
                    Err(e) => println!("cargo:warning=cannot run {}: {e}", nvcc.display()),
                }
            }
        }
    }
    table.push_str("];\n");
    std::fs::write(out.join("prebuilt_ptx.rs"), table).expect("OUT_DIR is writable");
}

/// Writes sanitizer mode's rewritten copy of `path` into `dir`; returns its path and text.
fn rewritten(dir: &Path, path: &Path) -> (PathBuf, String) {
    let text = std::fs::read_to_string(path).expect("kernel file is readable");
    let copy = sanitize::rewrite(&text, &path.to_string_lossy())
        .unwrap_or_else(|e| panic!("sanitizer mode cannot rewrite {}: {e}", path.display()));
    let to = dir.join(path.file_name().expect("a file name"));
    std::fs::write(&to, &copy).expect("OUT_DIR is writable");
    (to, copy)
}

/// The exported launch entry `{prefix}_{k}` of kernel `k` (whose source is `text`), in C++.
fn entry_cpp(prefix: &str, export: &str, k: &str, text: &str) -> String {
    let names: String = kernel_params(text, k)
        .iter()
        .map(|p| format!("{p:?}, "))
        .collect();
    format!(
        "extern \"C\" {export}int {prefix}_{k}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned long long smem, void** args, const unsigned char* kinds, const unsigned long long* bytes, int nargs, char* report, unsigned long long cap) {{\n    static const char* const names[] = {{{names}nullptr}};\n    try {{\n        return ::gi::launch({k}, \"{k}\", names, dim3{{gx, gy, gz}}, dim3{{bx, by, bz}}, smem, args, kinds, bytes, nargs, report, cap);\n    }} catch (...) {{\n        ::gi::fail(\"{k}: the launch failed on the host (out of memory?)\");\n    }}\n}}\n"
    )
}

/// FNV-1a, 64 bits, of `parts` in order.
fn fnv(parts: &[&str]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn build_interpret(out: &Path, files: &[KernelFile]) {
    let kernels_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++20")
        .include(&kernels_dir)
        .flag("-pthread")
        .flag_if_supported("-Wno-unused-parameter")
        .opt_level(2)
        .warnings(true);
    let mut sources = Vec::new();
    let mut rust = String::from("unsafe extern \"C\" {\n");
    let mut table = String::from("/// Interpret-mode launch entries, by kernel name.\npub(crate) static INTERPRET_KERNELS: &[(&str, InterpretEntry)] = &[\n");
    for f in files {
        let text = std::fs::read_to_string(&f.path).expect("kernel file is readable");
        let mut cpp = format!(
            "// Generated by build.rs: {} compiled as host C++.\n#include {:?}\n",
            f.stem, f.path
        );
        for k in &f.kernels {
            cpp.push_str(&entry_cpp("gi_interpret", "", k, &text));
            writeln!(rust, "    fn gi_interpret_{k}(gx: u32, gy: u32, gz: u32, bx: u32, by: u32, bz: u32, smem: u64, args: *mut *mut core::ffi::c_void, kinds: *const u8, bytes: *const u64, nargs: i32, report: *mut u8, cap: u64) -> i32;").ok();
            writeln!(table, "    ({k:?}, gi_interpret_{k}),").ok();
        }
        let path = out.join(format!("interpret_{}.cpp", f.stem));
        std::fs::write(&path, cpp).expect("OUT_DIR is writable");
        sources.push(path);
    }
    rust.push_str("}\n");
    table.push_str("];\n");
    let hash = write_sanitizer_sources(out, files, &kernels_dir);
    writeln!(
        table,
        "/// The sources of the sanitizer library this build expects (`OUT_DIR/sanitize/HASH`).\npub(crate) const SANITIZE_HASH: &str = \"{hash:016x}\";"
    )
    .ok();
    std::fs::write(out.join("interpret_kernels.rs"), rust + &table).expect("OUT_DIR is writable");
    let compiled = compile_in_parallel(&build, &sources).and_then(|objects| {
        let library = build.try_create_archive("graph_ig_interpret", &objects)?;
        cc::try_emit_link_directives(&build, library)
    });
    if let Err(e) = compiled {
        panic!(
            "interpret mode: the kernels do not compile as host C++. A kernel may use CUDA \
             outside the subset documented in kernels/prelude.cuh.\n{e}"
        );
    }
}

/// Writes the sources of the sanitizer library into `OUT_DIR/sanitize` (text only;
/// `scripts/sanitize.sh` compiles them): the rewritten copies of the kernel files, the
/// prelude and the sanitizer's test kernels, one `sanitize_<stem>.cpp` per file with its
/// exported entries `gi_sanitize_<kernel>`, `sanitize_manifest.cpp` (the hash below)
/// and `HASH`. Returns the hash of everything the library is built from.
fn write_sanitizer_sources(out: &Path, files: &[KernelFile], kernels_dir: &Path) -> u64 {
    let dir = out.join("sanitize");
    std::fs::create_dir_all(&dir).expect("OUT_DIR is writable");
    let mut texts = Vec::new();
    texts.push(rewritten(&dir, &kernels_dir.join("prelude.cuh")).1);
    for h in ["interpret/runtime.hpp", "interpret/sanitize.hpp"] {
        texts.push(
            std::fs::read_to_string(kernels_dir.join(h)).expect("runtime header is readable"),
        );
    }
    let tests = kernel_file(kernels_dir.join("interpret/sanitizer_tests.cu"));
    let export = "__attribute__((visibility(\"default\"))) ";
    for f in files.iter().chain([&tests]) {
        let text = std::fs::read_to_string(&f.path).expect("kernel file is readable");
        let (copy, copy_text) = rewritten(&dir, &f.path);
        let mut cpp = format!(
            "// Generated by build.rs: {} in sanitizer mode (scripts/sanitize.sh compiles it).\n#define GI_SANITIZE 1\n#include {:?}\n",
            f.stem, copy
        );
        for k in &f.kernels {
            cpp.push_str(&entry_cpp("gi_sanitize", export, k, &text));
        }
        std::fs::write(dir.join(format!("sanitize_{}.cpp", f.stem)), &cpp)
            .expect("OUT_DIR is writable");
        texts.push(copy_text);
        texts.push(cpp);
    }
    let parts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let hash = fnv(&parts);
    std::fs::write(
        dir.join("sanitize_manifest.cpp"),
        format!(
            "// Generated by build.rs: which sources the sanitizer library was built from.\nextern \"C\" {export}const char* gi_sanitize_sources() {{ return \"{hash:016x}\"; }}\n"
        ),
    )
    .expect("OUT_DIR is writable");
    std::fs::write(dir.join("HASH"), format!("{hash:016x}\n")).expect("OUT_DIR is writable");
    hash
}

/// Compiles `sources` with `build` on up to cargo's job count (`NUM_JOBS`) threads, one
/// file at a time each, the largest first; returns the objects.
fn compile_in_parallel(build: &cc::Build, sources: &[PathBuf]) -> Result<Vec<PathBuf>, cc::Error> {
    let jobs = std::env::var("NUM_JOBS")
        .ok()
        .and_then(|j| j.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, sources.len().max(1));
    let mut queue: Vec<&PathBuf> = sources.iter().collect();
    // The generated files only include their kernel file: its size says how long it takes.
    let cost = |p: &PathBuf| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| {
                t.lines().nth(1).map(|l| {
                    l.trim_start_matches("#include ")
                        .trim_matches('"')
                        .to_string()
                })
            })
            .and_then(|k| std::fs::metadata(k).ok())
            .map_or(0, |m| m.len())
    };
    queue.sort_by_key(|p| cost(p)); // popped from the end: the largest first
    let queue = std::sync::Mutex::new(queue);
    let results: Vec<Result<Vec<PathBuf>, cc::Error>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| {
                    let mut objects = Vec::new();
                    loop {
                        let next = queue.lock().ok().and_then(|mut q| q.pop());
                        let Some(path) = next else { break };
                        objects.extend(build.clone().file(path).try_compile_intermediates()?);
                    }
                    Ok(objects)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a compile thread panicked"))
            .collect()
    });
    let mut objects = Vec::new();
    for r in results {
        objects.extend(r?);
    }
    objects.sort();
    Ok(objects)
}
