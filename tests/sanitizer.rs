//! Sanitizer mode: each check fires on a planted bug and names the kernel, the bug
//! and where; correct code passes. The kernels are the sanitizer's own
//! (`kernels/interpret/sanitizer_tests.cu`, only in the sanitizer library).
//! `scripts/sanitize.sh` builds that library and runs this and the interpret-mode
//! tests with it (`GRAPH_IG_SANITIZE`); without it every test here skips.

#![cfg(feature = "interpret")]

use graph_ig::cuda::interpret::{sanitizer_library, InterpretGpu};
use graph_ig::cuda::launch::{Arg, Gpu, Shape};
use rand::Rng;

fn shape(grid: u32, block: u32, smem: u32) -> Shape {
    Shape { grid, block, smem }
}

/// The interpret device in sanitizer mode, or `None` (with a notice) without the
/// sanitizer library.
fn sanitizing() -> Option<InterpretGpu> {
    match sanitizer_library().unwrap() {
        Some(_) => Some(InterpretGpu::default()),
        None => {
            println!(
                "notice: skipping, GRAPH_IG_SANITIZE is unset (bash scripts/sanitize.sh runs this)"
            );
            None
        }
    }
}

/// Launches `kernel` on the sanitizer-mode device.
fn launch(
    gpu: &InterpretGpu,
    kernel: &'static str,
    s: Shape,
    args: &mut [Arg<'_, InterpretGpu>],
) -> graph_ig::Result<()> {
    // SAFETY: `gpu` comes from `sanitizing`, so the kernels run in the sanitizer
    // library, where every access goes through a checked pointer: an index outside its
    // buffer (which the planted bugs make on purpose) is a memcheck finding that stops
    // the launch before any memory outside the buffer is touched. The arguments match
    // the kernels' signatures (the entry checks their number and kinds too).
    unsafe { gpu.launch(kernel, s, args) }
}

/// The error of a launch that must fail, as text.
fn finding(
    gpu: &InterpretGpu,
    kernel: &'static str,
    s: Shape,
    args: &mut [Arg<'_, InterpretGpu>],
) -> String {
    match launch(gpu, kernel, s, args) {
        Ok(()) => panic!("{kernel}: the sanitizer found nothing"),
        Err(e) => e.to_string(),
    }
}

fn has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "expected {p:?} in:\n{text}");
    }
}

/// The line of `needle` in the test kernels' source (1-based), for the call sites.
fn line_of(needle: &str) -> usize {
    let src = include_str!("../kernels/interpret/sanitizer_tests.cu");
    1 + src
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in sanitizer_tests.cu"))
}

#[test]
fn correct_kernels_pass_and_compute_the_right_values() {
    let Some(gpu) = sanitizing() else { return };
    let mut r = rand::thread_rng();
    let (grid, block) = (r.gen_range(2..5u32), 64 * r.gen_range(1..3u32));
    let n = r.gen_range(1..2000usize);
    let x: Vec<f32> = (0..n).map(|_| r.gen_range(-1.0..1.0)).collect();
    let xb = gpu.upload(&x).unwrap();
    let mut y = gpu.zeros::<f32>(grid as usize + 1).unwrap();
    launch(
        &gpu,
        "san_clean",
        shape(grid, block, block * 4),
        &mut [Arg::F(&xb), Arg::Out(&mut y), Arg::Int(n as i32)],
    )
    .unwrap();
    let y = gpu.download(&y).unwrap();
    let stride = (grid * block) as usize;
    let mut total = 0.0f64;
    for (b, &got) in y.iter().enumerate().take(grid as usize) {
        let want: f64 = (0..n)
            .filter(|i| (i % stride) / block as usize == b)
            .map(|i| f64::from(x[i]))
            .sum();
        assert!(
            (f64::from(got) - want).abs() < 1e-3,
            "block {b}: {got} vs {want}"
        );
        total += want;
    }
    assert!((f64::from(y[grid as usize]) - total).abs() < 1e-3);
    // The flag-on versions of the planted bugs are correct code.
    let mut out = gpu.zeros::<f32>((grid * block) as usize).unwrap();
    for (kernel, smem) in [("san_missing_barrier", block * 4), ("san_warp", 0)] {
        launch(
            &gpu,
            kernel,
            shape(grid, block, smem),
            &mut [Arg::Out(&mut out), Arg::Int(1)],
        )
        .unwrap_or_else(|e| panic!("{kernel}: {e}"));
    }
    let mut sum = gpu.zeros::<f32>(1 + grid as usize).unwrap();
    launch(
        &gpu,
        "san_atomics",
        shape(grid, block, 0),
        &mut [Arg::Out(&mut sum), Arg::Int(0)],
    )
    .unwrap();
    assert_eq!(gpu.download(&sum).unwrap()[0], (grid * block) as f32);
}

#[test]
fn memcheck_stops_a_read_past_a_buffer_and_names_the_argument() {
    let Some(gpu) = sanitizing() else { return };
    let n = rand::thread_rng().gen_range(1..500usize);
    let x = gpu.upload(&vec![1.0f32; n]).unwrap();
    let mut y = gpu.zeros::<f32>(n).unwrap();
    let text = finding(
        &gpu,
        "san_oob",
        shape(3, 128, 0),
        &mut [Arg::F(&x), Arg::Out(&mut y), Arg::Int(n as i32)],
    );
    has(
        &text,
        &[
            "memcheck: kernel san_oob",
            &format!("out-of-bounds read of argument 0 (x) at element {n} (float)"),
            &format!("the buffer holds {n} elements"),
            "the launch was stopped",
        ],
    );
    // A null buffer is named too, and the next launch runs normally.
    let text = finding(
        &gpu,
        "san_oob",
        shape(2, 64, 0),
        &mut [Arg::Null, Arg::Out(&mut y), Arg::Int(n as i32)],
    );
    has(&text, &["null-pointer read of argument 0 (x)"]);
    let x1 = gpu.upload(&vec![1.0f32; n + 1]).unwrap();
    launch(
        &gpu,
        "san_oob",
        shape(2, 64, 0),
        &mut [Arg::F(&x1), Arg::Out(&mut y), Arg::Int(n as i32)],
    )
    .unwrap();
}

#[test]
fn memcheck_stops_a_write_to_an_argument_declared_const() {
    let Some(gpu) = sanitizing() else { return };
    let x = gpu.upload(&[1.0f32; 40]).unwrap();
    let text = finding(
        &gpu,
        "san_const_write",
        shape(2, 32, 0),
        &mut [Arg::F(&x), Arg::Int(40)],
    );
    has(
        &text,
        &[
            "memcheck: kernel san_const_write",
            "write of argument 0 (x) at element ",
            "which the kernel declares const",
            "the launch was stopped",
        ],
    );
    assert_eq!(
        gpu.download(&x).unwrap(),
        vec![1.0f32; 40],
        "nothing was written"
    );
}

#[test]
fn memcheck_checks_static_shared_arrays() {
    let Some(gpu) = sanitizing() else { return };
    let mut y = gpu.zeros::<f32>(2 * 64).unwrap();
    let text = finding(
        &gpu,
        "san_static_oob",
        shape(2, 64, 0),
        &mut [Arg::Out(&mut y)],
    );
    has(
        &text,
        &[
            "memcheck: kernel san_static_oob",
            "out-of-bounds write of shared array 'buf' at byte ",
            "the shared array holds 128 bytes",
        ],
    );
}

#[test]
fn racecheck_finds_a_missing_syncthreads() {
    let Some(gpu) = sanitizing() else { return };
    let mut y = gpu.zeros::<f32>(2 * 128).unwrap();
    let text = finding(
        &gpu,
        "san_missing_barrier",
        shape(2, 128, 128 * 4),
        &mut [Arg::Out(&mut y), Arg::Int(0)],
    );
    has(
        &text,
        &[
            "racecheck: kernel san_missing_barrier",
            "race on dynamic shared memory",
            "before any barrier",
            "no __syncthreads between them",
        ],
    );
}

#[test]
fn racecheck_finds_warp_synchronous_code_without_syncwarp() {
    let Some(gpu) = sanitizing() else { return };
    let mut y = gpu.zeros::<f32>(64).unwrap();
    let text = finding(
        &gpu,
        "san_warp",
        shape(2, 64, 0),
        &mut [Arg::Out(&mut y), Arg::Int(0)],
    );
    has(
        &text,
        &[
            "racecheck: kernel san_warp",
            "race on shared array 'buf'",
            "no __syncthreads or __syncwarp between them",
        ],
    );
}

#[test]
fn racecheck_finds_a_block_reading_another_blocks_output() {
    let Some(gpu) = sanitizing() else { return };
    let grid = rand::thread_rng().gen_range(2..6u32);
    let mut y = gpu.zeros::<f32>(2 * grid as usize).unwrap();
    let text = finding(
        &gpu,
        "san_cross_block",
        shape(grid, 32, 0),
        &mut [Arg::Out(&mut y)],
    );
    has(
        &text,
        &[
            "racecheck: kernel san_cross_block",
            "race on argument 0 (y)",
            "threads of different blocks are not ordered within a launch",
        ],
    );
}

#[test]
fn racecheck_allows_atomics_but_not_a_plain_read_beside_them() {
    let Some(gpu) = sanitizing() else { return };
    let mut y = gpu.zeros::<f32>(4).unwrap();
    let text = finding(
        &gpu,
        "san_atomics",
        shape(3, 64, 0),
        &mut [Arg::Out(&mut y), Arg::Int(1)],
    );
    has(
        &text,
        &[
            "racecheck: kernel san_atomics",
            "race on argument 0 (y) at element 0 (float)",
        ],
    );
}

#[test]
fn initcheck_finds_a_shared_read_before_any_write() {
    let Some(gpu) = sanitizing() else { return };
    let mut y = gpu.zeros::<f32>(2 * 64).unwrap();
    let text = finding(
        &gpu,
        "san_uninit",
        shape(2, 64, 2 * 64 * 4),
        &mut [Arg::Out(&mut y)],
    );
    has(
        &text,
        &[
            "initcheck: kernel san_uninit",
            "read of uninitialised dynamic shared memory",
            // The barrier just before the read.
            &format!(
                "after the barrier at sanitizer_tests.cu:{}",
                line_of("= s[t] + s[t + blockDim.x];") - 1
            ),
        ],
    );
}

#[test]
fn synccheck_finds_a_barrier_behind_a_branch() {
    let Some(gpu) = sanitizing() else { return };
    let mut y = gpu.zeros::<f32>(2 * 128).unwrap();
    let (inner, later) = (
        line_of("if (threadIdx.x < 16) __syncthreads();"),
        line_of("if (later) __syncthreads();"),
    );
    // The others wait at a later barrier...
    let text = finding(
        &gpu,
        "san_divergent",
        shape(2, 128, 0),
        &mut [Arg::Out(&mut y), Arg::Int(1)],
    );
    has(
        &text,
        &[
            "synccheck: kernel san_divergent block",
            &format!("threads 0-15 at __syncthreads at sanitizer_tests.cu:{inner}"),
            &format!("threads 16-127 at __syncthreads at sanitizer_tests.cu:{later}"),
            "the launch was stopped",
        ],
    );
    // ...or leave the kernel.
    let text = finding(
        &gpu,
        "san_divergent",
        shape(2, 128, 0),
        &mut [Arg::Out(&mut y), Arg::Int(0)],
    );
    has(
        &text,
        &[
            &format!("threads 0-15 at __syncthreads at sanitizer_tests.cu:{inner}"),
            "threads 16-127 had left the kernel",
        ],
    );
}

#[test]
fn synccheck_finds_a_deadlock() {
    let Some(gpu) = sanitizing() else { return };
    let mut y = gpu.zeros::<f32>(2 * 64).unwrap();
    let text = finding(
        &gpu,
        "san_deadlock",
        shape(2, 64, 0),
        &mut [Arg::Out(&mut y)],
    );
    has(
        &text,
        &[
            "synccheck: kernel san_deadlock block",
            "deadlock, threads 0-15 wait at __syncthreads",
            "threads 16-31 wait at __shfl_sync",
            "threads 32-63 had left the kernel",
        ],
    );
}

#[test]
fn blocks_run_in_a_shuffled_order() {
    let Some(gpu) = sanitizing() else { return };
    let grid = 16;
    let mut orders = Vec::new();
    for _ in 0..3 {
        let mut order = gpu.zeros::<f32>(1 + grid).unwrap();
        launch(
            &gpu,
            "san_order",
            shape(grid as u32, 32, 0),
            &mut [Arg::Out(&mut order)],
        )
        .unwrap();
        let o = gpu.download(&order).unwrap();
        assert_eq!(o[0], grid as f32);
        let mut seen: Vec<usize> = o[1..].iter().map(|&b| b as usize).collect();
        orders.push(seen.clone());
        seen.sort_unstable();
        assert_eq!(seen, (0..grid).collect::<Vec<_>>(), "every block ran once");
    }
    // Three shuffles of 16 blocks all in order: about one chance in 10^39.
    let in_order: Vec<usize> = (0..grid).collect();
    assert!(orders.iter().any(|o| *o != in_order), "{orders:?}");
}

#[test]
fn alloc_is_poisoned_and_zeros_stay_zero() {
    let Some(gpu) = sanitizing() else { return };
    let n = rand::thread_rng().gen_range(1..100usize);
    let f = gpu.download(&gpu.alloc::<f32>(n).unwrap()).unwrap();
    assert!(
        f.iter().all(|v| v.to_bits() == 0x7fbf_7fbf && v.is_nan()),
        "{f:?}"
    );
    let i = gpu.download(&gpu.alloc::<i32>(n).unwrap()).unwrap();
    assert!(i.iter().all(|&v| v == -1), "{i:?}");
    let z = gpu.download(&gpu.zeros::<f32>(n).unwrap()).unwrap();
    assert!(z.iter().all(|&v| v.to_bits() == 0), "{z:?}");
}
