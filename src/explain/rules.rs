//! Integration rules for Integrated Gradients, exactly as captum 0.9 computes them.
//!
//! captum (`captum/attr/_utils/approximation_methods.py`):
//! - Riemann alphas come from `torch.linspace(start, end, n).tolist()`, so they
//!   are float32 values; every step size is `1/n`, and the trapezoid rule halves
//!   the first and last, so its weights sum to `(n-1)/n`, not 1.
//! - Gauss-Legendre uses numpy's `leggauss(n)`: `alpha = (1 + t) / 2`, `w = v / 2`,
//!   in float64.
//! - `IntegratedGradients` casts the step sizes to float32 (`torch.tensor(step_sizes).float()`)
//!   even in float64 runs; the tables here hold those rounded weights.

use crate::{Error, Result};

/// The most integration steps a graph may use (`--steps`, and `--max-steps` in adaptive
/// mode): 2^20. A table of that many steps takes 16 MiB; IG has converged to float32
/// precision long before.
pub const MAX_STEPS: usize = 1 << 20;

/// An integration rule for the path integral of Integrated Gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rule {
    /// captum's `gausslegendre` (the default).
    #[default]
    GaussLegendre,
    /// captum's `riemann_left`.
    RiemannLeft,
    /// captum's `riemann_right`.
    RiemannRight,
    /// captum's `riemann_middle`.
    RiemannMiddle,
    /// captum's `riemann_trapezoid` (weights sum to `(n-1)/n`, as in captum).
    RiemannTrapezoid,
    /// The trapezoid rule corrected: captum's points (`linspace(0, 1, n)`) with
    /// weights `1/(n-1)`, halved at both ends, so that they sum to 1. Not a captum rule.
    Trapezoid,
}

impl Rule {
    /// captum's five rules, in a fixed order.
    pub const CAPTUM: [Rule; 5] = [
        Rule::GaussLegendre,
        Rule::RiemannLeft,
        Rule::RiemannRight,
        Rule::RiemannMiddle,
        Rule::RiemannTrapezoid,
    ];

    /// All rules: captum's five and the corrected trapezoid.
    pub const ALL: [Rule; 6] = [
        Rule::GaussLegendre,
        Rule::RiemannLeft,
        Rule::RiemannRight,
        Rule::RiemannMiddle,
        Rule::RiemannTrapezoid,
        Rule::Trapezoid,
    ];

    /// captum's name of the rule (`gausslegendre`, `riemann_left`, ...).
    pub fn captum_name(self) -> &'static str {
        match self {
            Rule::GaussLegendre => "gausslegendre",
            Rule::RiemannLeft => "riemann_left",
            Rule::RiemannRight => "riemann_right",
            Rule::RiemannMiddle => "riemann_middle",
            Rule::RiemannTrapezoid => "riemann_trapezoid",
            Rule::Trapezoid => "trapezoid",
        }
    }

    /// The command-line name of the rule (`gauss-legendre`, `riemann-left`, ...).
    pub fn cli_name(self) -> &'static str {
        match self {
            Rule::GaussLegendre => "gauss-legendre",
            Rule::RiemannLeft => "riemann-left",
            Rule::RiemannRight => "riemann-right",
            Rule::RiemannMiddle => "riemann-middle",
            Rule::RiemannTrapezoid => "riemann-trapezoid",
            Rule::Trapezoid => "trapezoid",
        }
    }

    /// The smallest step count captum accepts for this rule.
    pub fn min_steps(self) -> usize {
        match self {
            Rule::GaussLegendre => 1,
            _ => 2,
        }
    }

    /// Checks a step count: at least [`Rule::min_steps`], at most [`MAX_STEPS`].
    pub fn check_steps(self, n: usize) -> Result<()> {
        if n < self.min_steps() {
            return Err(Error::Config(format!(
                "{} needs at least {} steps, got {n} (captum rejects fewer)",
                self.cli_name(),
                self.min_steps()
            )));
        }
        if n > MAX_STEPS {
            return Err(Error::Config(format!(
                "{n} steps is above the limit of {MAX_STEPS} (2^20) steps per graph; \
                 the integral has converged long before (see --delta-tol for adaptive steps)"
            )));
        }
        Ok(())
    }

    /// The step table for `n` steps: alphas in `[0, 1]` and float32-rounded weights.
    /// `n` must pass [`Rule::check_steps`].
    pub fn table(self, n: usize) -> Result<StepTable> {
        self.check_steps(n)?;
        Ok(self.table_unchecked(n))
    }

    /// [`Rule::table`] for an `n` that already passed [`Rule::check_steps`].
    pub(crate) fn table_unchecked(self, n: usize) -> StepTable {
        let (alphas, weights) = match self {
            Rule::GaussLegendre => gauss_legendre(n),
            _ => {
                let nf = n as f64;
                let (a, b) = match self {
                    Rule::RiemannLeft => (0.0, 1.0 - 1.0 / nf),
                    Rule::RiemannRight => (1.0 / nf, 1.0),
                    Rule::RiemannMiddle => (1.0 / (2.0 * nf), 1.0 - 1.0 / (2.0 * nf)),
                    _ => (0.0, 1.0),
                };
                let mut w = vec![1.0 / nf; n];
                if self == Rule::Trapezoid {
                    w = vec![1.0 / (nf - 1.0); n];
                }
                if matches!(self, Rule::RiemannTrapezoid | Rule::Trapezoid) {
                    w[0] /= 2.0;
                    w[n - 1] /= 2.0;
                }
                (torch_linspace_f32(a, b, n), w)
            }
        };
        StepTable {
            alphas,
            weights: weights.iter().map(|&w| w as f32 as f64).collect(),
        }
    }
}

impl std::str::FromStr for Rule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Rule::ALL
            .into_iter()
            .find(|r| r.cli_name() == s || r.captum_name() == s)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown rule {s:?}; use gauss-legendre, riemann-left, riemann-right, riemann-middle, riemann-trapezoid or trapezoid"
                ))
            })
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.cli_name())
    }
}

/// The points and weights of one integration: `∫₀¹ g(α) dα ≈ Σ weights[k] g(alphas[k])`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTable {
    /// Interpolation coefficients, one per step.
    pub alphas: Vec<f64>,
    /// Step weights, rounded to float32 as captum does.
    pub weights: Vec<f64>,
}

impl StepTable {
    /// Number of steps.
    pub fn len(&self) -> usize {
        self.alphas.len()
    }
    /// True for a table with no steps (never produced by [`Rule::table`]).
    pub fn is_empty(&self) -> bool {
        self.alphas.is_empty()
    }
}

/// `torch.linspace(a, b, n)` in float32 on the CPU, returned as f64 values.
///
/// PyTorch converts the ends to float32, computes `step = (end - start) / (n - 1)`
/// in float32 and fills the first half as `start + step * i` and the second as
/// `end - step * (n - 1 - i)`. Its x86-64 kernels are compiled with FMA
/// contraction, so each of those is one fused multiply-add (single rounding).
/// This reproduces torch 2.15's values bit for bit for every `n` below 1200 and
/// every captum rule (checked when the fixtures were made, and by the
/// `rule_tables_match_captum` test).
fn torch_linspace_f32(a: f64, b: f64, n: usize) -> Vec<f64> {
    let (start, end) = (a as f32, b as f32);
    if n == 1 {
        return vec![start as f64];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((n - 1 - i) as f32, end)
            }
        })
        .map(|v| v as f64)
        .collect()
}

/// Gauss-Legendre nodes and weights on `[0, 1]`, ascending, in float64, in O(n):
/// the nodes `t` and weights `v` on `[-1, 1]` come from Bogaert's iteration-free
/// method (SIAM J. Sci. Comput. 36(3), 2014, through the `gauss-quad` crate), are
/// made exactly symmetric as numpy's `leggauss` does (`t = (t - t[::-1]) / 2`,
/// `v = (v + v[::-1]) / 2`), and are mapped by `(1 + t) / 2`, `v / 2`.
///
/// Against numpy 2.4's `leggauss` (what captum calls) the alphas agree to 2.3e-16 for
/// every step count up to 5000 and the float32 weights in all but a few positions
/// (one float32 ulp, numpy's weights being the less accurate ones for n >= 50);
/// `tests/quadrature.rs` checks both, and an O(n²) Newton reference.
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let Some(deg) = std::num::NonZeroUsize::new(n) else {
        return (Vec::new(), Vec::new());
    };
    let (t, v): (Vec<f64>, Vec<f64>) = gauss_quad::legendre::GaussLegendre::new(deg)
        .into_iter()
        .unzip();
    let alphas = (0..n)
        .map(|i| 0.5 * (1.0 + (t[i] - t[n - 1 - i]) / 2.0))
        .collect();
    let weights = (0..n)
        .map(|i| 0.5 * ((v[i] + v[n - 1 - i]) / 2.0))
        .collect();
    (alphas, weights)
}
