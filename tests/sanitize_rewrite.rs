//! The sanitize build's rewrite of the kernel sources (`build/sanitize.rs`, used by
//! build.rs for the sanitizer library): pointers become checked pointers, the
//! rest of the source is left alone, and every line stays where it was.

#[path = "../build/sanitize.rs"]
mod sanitize;

use sanitize::rewrite;

fn lines(s: &str) -> usize {
    s.matches('\n').count()
}

/// The rewrite of `src`, checked to keep the line count (plus the `#line` directive).
fn rw(src: &str) -> String {
    let out = rewrite(src, "/k/x.cu").unwrap_or_else(|e| panic!("{e}\n{src}"));
    assert!(out.starts_with("#line 1 \"/k/x.cu\"\n"), "{out}");
    assert_eq!(lines(&out), lines(src) + 1, "line count changed:\n{out}");
    out
}

#[test]
fn pointers_become_checked_pointers() {
    let out = rw(
        "GI_KERNEL void k(const float* __restrict__ x, float *y, unsigned long long* z,\n\
                  \x20             const int *__restrict__ p, float const* q, int n) {\n\
                  \x20   const float* r = x + n;\n\
                  \x20   float *a, *b, *c;\n\
                  \x20   y[0] = r[1] * n;\n}\n",
    );
    for want in [
        "::gi::ptr<const float> __restrict__ x",
        "::gi::ptr<float> y",
        "::gi::ptr<unsigned long long> z",
        "::gi::ptr<const int> __restrict__ p",
        "::gi::ptr<float const> q",
        "::gi::ptr<const float> r = x + n;",
        "::gi::ptr<float> a, b, c;",
        "y[0] = r[1] * n;",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
}

#[test]
fn template_parameters_and_casts() {
    let out = rw(
        "template <typename S>\n__device__ S* f(float* p, int T) {\n\
                  \x20   S* q = reinterpret_cast<S*>(p);\n    return q + T * 2;\n}\n",
    );
    assert!(
        out.contains("__device__ ::gi::ptr<S> f(::gi::ptr<float> p, int T)"),
        "{out}"
    );
    assert!(
        out.contains("::gi::ptr<S> q = static_cast<::gi::ptr<S>>(p);"),
        "{out}"
    );
    assert!(out.contains("return q + T * 2;"), "{out}");
    let out = rw("__device__ void g(const int* c) { int* w = const_cast<int*>(c); }\n");
    assert!(
        out.contains("::gi::ptr<int> w = static_cast<::gi::ptr<int>>(c);"),
        "{out}"
    );
}

#[test]
fn products_comments_literals_and_directives_stay() {
    let src = "#define GI_X(type) type* name\n\
               // float* in a comment\n\
               /* const int* in a block\n comment */\n\
               const char* s = \"float*\";\n\
               float v = w * x[i] + gi_load(h[k]) * 2.0e-3f;\n";
    let out = rw(src);
    assert!(out.contains("#define GI_X(type) type* name\n"), "{out}");
    assert!(out.contains("// float* in a comment\n"), "{out}");
    assert!(
        out.contains("/* const int* in a block\n comment */"),
        "{out}"
    );
    assert!(
        out.contains("::gi::ptr<const char> s = \"float*\";"),
        "{out}"
    );
    assert!(
        out.contains("float v = w * x[i] + gi_load(h[k]) * 2.0e-3f;"),
        "{out}"
    );
}

#[test]
fn a_pointer_type_across_lines_keeps_the_lines() {
    let out = rw("void f(const float\n    *x,\n    int n);\n");
    assert!(out.contains("::gi::ptr<const float>"), "{out}");
}

#[test]
fn static_shared_arrays_and_scalars_become_per_block_storage() {
    let out = rw("__global__ void k() {\n    __shared__ float buf[2 * 32];\n    __shared__ unsigned total;\n}\n");
    assert!(
        out.contains(
            "static const char gi_shared_tag_buf = 0; ::gi::ptr<float> buf = \
             ::gi::static_shared<float>(&gi_shared_tag_buf, (2 * 32), \"buf\");"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "::gi::ref<unsigned> total = ::gi::static_shared<unsigned>(&gi_shared_tag_total, 1, \"total\")[0];"
        ),
        "{out}"
    );
}

#[test]
fn unsupported_shared_declarations_name_their_line() {
    for (src, what) in [
        (
            "\n\nextern __shared__ float s[];\n",
            "line 3: `extern __shared__`",
        ),
        (
            "\n__shared__ float s[4][4];\n",
            "line 2: a multi-dimensional",
        ),
        (
            "__shared__ float* p[4];\n",
            "line 1: `*` in a __shared__ declaration",
        ),
    ] {
        let e = rewrite(src, "x.cu").expect_err(src);
        assert!(e.contains(what), "{what:?} missing in {e:?}");
    }
}

#[test]
fn every_kernel_file_rewrites_line_for_line() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cu" || x == "cuh"))
        .collect();
    files.push(root.join("interpret/sanitizer_tests.cu"));
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let out =
            rewrite(&src, &f.to_string_lossy()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(lines(&out), lines(&src) + 1, "{}", f.display());
    }
}
