//! Gauss-Legendre step tables at any step count: against an independent O(n²)
//! Newton reference, against numpy's `leggauss` (what captum calls) when python3
//! has numpy, and by their defining properties up to the step limit.

use graph_ig::explain::rules::MAX_STEPS;
use graph_ig::Rule;

/// `P_n(x)` and `P_n'(x)` by the three-term recurrence.
fn legendre(n: usize, x: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0f64, x);
    for k in 2..=n {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    (p1, n as f64 * (x * p1 - p0) / (x * x - 1.0))
}

/// Nodes on `[0, 1]` (ascending) and f64 weights by Newton's method on `P_n`, O(n²).
fn newton_reference(n: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut t, mut w) = (vec![0.0; n], vec![0.0; n]);
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        // Newton until the step is below 1e-15, then one step more.
        for _ in 0..100 {
            let (p, d) = legendre(n, x);
            x -= p / d;
            if (p / d).abs() < 1e-15 {
                let (p, d) = legendre(n, x);
                x -= p / d;
                break;
            }
        }
        let (_, d) = legendre(n, x);
        let weight = 2.0 / ((1.0 - x * x) * d * d);
        (t[n - 1 - i], t[i], w[n - 1 - i], w[i]) = (x, -x, weight, weight);
    }
    if n % 2 == 1 {
        t[n / 2] = 0.0;
    }
    (
        t.iter().map(|x| 0.5 * (1.0 + x)).collect(),
        w.iter().map(|v| 0.5 * v).collect(),
    )
}

/// One float32 ulp of `w` (weights are float32 values held in f64).
fn ulp(w: f64) -> f64 {
    (w as f32).abs() as f64 * f32::EPSILON as f64
}

#[test]
fn gauss_legendre_matches_a_newton_reference() {
    let counts = [
        1, 2, 3, 4, 5, 7, 8, 50, 99, 100, 101, 128, 257, 1000, 2001, 3000,
    ];
    for n in counts {
        let (alphas, weights) = newton_reference(n);
        assert_close_to(n, &alphas, &weights, 0.0, "Newton");
    }
}

/// Asserts that the Gauss-Legendre table of `n` steps has `alphas` (to 1e-15) and
/// the float32 roundings of `weights` (to one float32 ulp, or `weight_error` when
/// larger); returns how many float32 weights differ at all.
fn assert_close_to(
    n: usize,
    alphas: &[f64],
    weights: &[f64],
    weight_error: f64,
    what: &str,
) -> usize {
    let t = Rule::GaussLegendre.table(n).unwrap();
    assert_eq!((t.len(), alphas.len()), (n, n));
    let mut off = 0;
    for k in 0..n {
        assert!(
            (t.alphas[k] - alphas[k]).abs() <= 1e-15,
            "n={n} alpha {k}: {} vs {what} {}",
            t.alphas[k],
            alphas[k]
        );
        let w32 = weights[k] as f32 as f64;
        assert!(
            (t.weights[k] - w32).abs() <= ulp(w32).max(weight_error),
            "n={n} weight {k}: {} vs {what} {w32}",
            t.weights[k]
        );
        off += usize::from(t.weights[k] != w32);
    }
    off
}

/// numpy's `leggauss(n)` mapped to `[0, 1]`, or `None` when python3 has no numpy.
fn numpy_leggauss(counts: &[usize]) -> Option<Vec<(Vec<f64>, Vec<f64>)>> {
    let list: Vec<String> = counts.iter().map(|n| n.to_string()).collect();
    let code = format!(
        "import numpy as np\n\
         for n in [{}]:\n\
         \x20   t, v = np.polynomial.legendre.leggauss(n)\n\
         \x20   print(' '.join(repr(float(x)) for x in 0.5 * (1 + t)))\n\
         \x20   print(' '.join(repr(float(x)) for x in 0.5 * v))\n",
        list.join(",")
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &code])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let rows: Vec<Vec<f64>> = text
        .lines()
        .map(|l| l.split(' ').map(|v| v.parse().unwrap()).collect())
        .collect();
    Some(
        rows.chunks(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect(),
    )
}

#[test]
fn gauss_legendre_matches_numpy_leggauss() {
    let counts = [1, 2, 3, 10, 50, 64, 101, 300, 1000];
    let Some(reference) = numpy_leggauss(&counts) else {
        eprintln!("skipped: python3 with numpy is not available");
        return;
    };
    for (n, (alphas, weights)) in counts.iter().zip(reference) {
        // numpy's weights are the less accurate ones (eigenvalues, then one Newton
        // step): against 40-digit mpmath their absolute error was 6e-14 at n = 1000,
        // growing with n, Bogaert's 1e-18. Allow one float32 ulp or that error.
        let off = assert_close_to(*n, &alphas, &weights, 1e-16 * *n as f64, "numpy");
        assert!(off <= 8, "n={n}: {off} float32 weights differ from numpy's");
    }
}

#[test]
fn gauss_legendre_tables_up_to_the_step_limit_integrate_polynomials() {
    for n in [20_000, 65_537, MAX_STEPS] {
        let t = Rule::GaussLegendre.table(n).unwrap();
        assert_eq!((t.alphas.len(), t.weights.len()), (n, n));
        for k in 0..n {
            assert!(t.alphas[k] > 0.0 && t.alphas[k] < 1.0, "n={n} alpha {k}");
            assert!(t.weights[k] > 0.0, "n={n} weight {k}");
            assert_eq!(t.alphas[k] + t.alphas[n - 1 - k], 1.0, "n={n} symmetry {k}");
            assert_eq!(t.weights[k], t.weights[n - 1 - k], "n={n} symmetry {k}");
            if k > 0 {
                assert!(t.alphas[k] > t.alphas[k - 1], "n={n}: ascending at {k}");
            }
        }
        // Moments ∫ α^p dα = 1 / (p + 1); the weights are float32 values.
        for p in [0, 1, 2, 5] {
            let m: f64 = t
                .alphas
                .iter()
                .zip(&t.weights)
                .map(|(a, w)| w * a.powi(p))
                .sum();
            let want = 1.0 / (p as f64 + 1.0);
            assert!(
                (m - want).abs() < 1e-7,
                "n={n}: moment {p} is {m}, expected {want}"
            );
        }
        // The middle nodes sit next to 1/2 (the nodes cluster at the ends, not there).
        let mid = t.alphas[n / 2 - 1];
        assert!(
            (mid - 0.5).abs() < 2.0 / n as f64,
            "n={n}: middle node {mid}"
        );
    }
}

#[test]
fn step_counts_above_the_limit_are_clean_errors() {
    for rule in Rule::ALL {
        for n in [MAX_STEPS + 1, 1 << 32, usize::MAX] {
            let e = rule.table(n).unwrap_err().to_string();
            assert!(
                e.contains(&MAX_STEPS.to_string()) && e.contains("limit"),
                "{rule} {n}: {e}"
            );
        }
        assert!(
            rule.table(MAX_STEPS).is_ok(),
            "{rule}: {MAX_STEPS} steps are allowed"
        );
    }
}
