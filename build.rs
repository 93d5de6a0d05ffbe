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
        .map(|path| {
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
        })
        .collect();
    files.sort_by(|a, b| a.stem.cmp(&b.stem));
    files
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
    let mut rust = String::from("unsafe extern \"C\" {\n");
    let mut table = String::from("/// Interpret-mode launch entries, by kernel name.\npub(crate) static INTERPRET_KERNELS: &[(&str, InterpretEntry)] = &[\n");
    for f in files {
        let mut cpp = format!(
            "// Generated by build.rs: {} compiled as host C++.\n#include {:?}\n",
            f.stem, f.path
        );
        for k in &f.kernels {
            writeln!(
                cpp,
                "extern \"C\" void gi_interpret_{k}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned long long smem, void** args, const unsigned char* kinds, int nargs) {{\n    ::gi::launch({k}, \"{k}\", dim3{{gx, gy, gz}}, dim3{{bx, by, bz}}, smem, args, kinds, nargs);\n}}"
            )
            .ok();
            writeln!(rust, "    fn gi_interpret_{k}(gx: u32, gy: u32, gz: u32, bx: u32, by: u32, bz: u32, smem: u64, args: *mut *mut core::ffi::c_void, kinds: *const u8, nargs: i32);").ok();
            writeln!(table, "    ({k:?}, gi_interpret_{k}),").ok();
        }
        let path = out.join(format!("interpret_{}.cpp", f.stem));
        std::fs::write(&path, cpp).expect("OUT_DIR is writable");
        build.file(&path);
    }
    rust.push_str("}\n");
    table.push_str("];\n");
    std::fs::write(out.join("interpret_kernels.rs"), rust + &table).expect("OUT_DIR is writable");
    if let Err(e) = build.try_compile("graph_ig_interpret") {
        panic!(
            "interpret mode: the kernels do not compile as host C++. A kernel may use CUDA \
             outside the subset documented in kernels/prelude.cuh.\n{e}"
        );
    }
}
