//! Barnes-Hut t-SNE (van der Maaten, JMLR 2014) in two dimensions, seeded, for the
//! pictures of `graph-ig embed --svg`.
//!
//! - Input affinities: for each point, its `3 · perplexity` nearest neighbours (exact
//!   search), a Gaussian whose width a binary search sets so that the conditional
//!   distribution has the asked perplexity, then `P = (P_j|i + P_i|j) / 2N`.
//! - Gradient: the attractive part over the sparse `P`, the repulsive part from a
//!   quadtree, where a cell of width `w` at distance `d` stands for all its points when
//!   `w / d < theta` (`theta = 0` is the exact gradient, tested against the formula).
//! - Optimisation as in the reference implementation, with scikit-learn's automatic
//!   learning rate `max(N / 12 / 4, 50)`: momentum 0.5
//!   then 0.8 from iteration 250, early exaggeration 12 for the first 250 iterations,
//!   per-coordinate gains, Gaussian start of standard deviation 1e-4 from `seed`.
//!
//! ```
//! use graph_ig::tsne::{tsne, TsneConfig};
//! // Two clusters of 20 points in 5 dimensions.
//! let x: Vec<f64> = (0..40)
//!     .flat_map(|i| (0..5).map(move |k| (i / 20) as f64 * 10.0 + ((i * 7 + k * 3) % 5) as f64 * 0.1))
//!     .collect();
//! let y = tsne(&x, 40, 5, &TsneConfig { perplexity: 5.0, iterations: 300, ..Default::default() }).unwrap();
//! assert_eq!(y.len(), 80);
//! ```

use crate::{Error, Result};
use rand::{Rng, SeedableRng};

/// Settings of [`tsne`].
#[derive(Debug, Clone, PartialEq)]
pub struct TsneConfig {
    /// Perplexity of the input affinities (30, as the GAT project uses).
    pub perplexity: f64,
    /// Barnes-Hut accuracy: 0 is exact, 0.5 the usual.
    pub theta: f64,
    /// Gradient steps.
    pub iterations: usize,
    /// Seed of the start.
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        TsneConfig {
            perplexity: 30.0,
            theta: 0.5,
            iterations: 1000,
            seed: 0,
        }
    }
}

const EXAGGERATION: f64 = 12.0;
const STOP_LYING: usize = 250;

/// A 2-D embedding `[n, 2]` of the `n` points `x` `[n, d]` (row-major).
pub fn tsne(x: &[f64], n: usize, d: usize, cfg: &TsneConfig) -> Result<Vec<f64>> {
    if x.len() != n * d {
        return Err(Error::Config(format!(
            "t-SNE: {} values for {n} points of dimension {d}",
            x.len()
        )));
    }
    if !(cfg.perplexity > 0.0 && cfg.theta >= 0.0) {
        return Err(Error::Config(format!(
            "t-SNE: perplexity {} and theta {} must be positive",
            cfg.perplexity, cfg.theta
        )));
    }
    if n < 2 {
        return Ok(vec![0.0; 2 * n]);
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::Config(
            "t-SNE: the points hold NaN or infinity".into(),
        ));
    }
    let p = affinities(x, n, d, cfg.perplexity);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    // Box-Muller: standard normals, scaled to a standard deviation of 1e-4.
    let mut y: Vec<f64> = (0..2 * n)
        .map(|_| {
            let (u, v): (f64, f64) = (rng.gen_range(f64::MIN_POSITIVE..1.0), rng.gen());
            1e-4 * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        })
        .collect();
    let learning_rate = (n as f64 / EXAGGERATION / 4.0).max(50.0);
    let mut velocity = vec![0.0; 2 * n];
    let mut gains = vec![1.0; 2 * n];
    for it in 0..cfg.iterations {
        let exaggeration = if it < STOP_LYING { EXAGGERATION } else { 1.0 };
        let momentum = if it < STOP_LYING { 0.5 } else { 0.8 };
        let grad = gradient(&p, &y, n, cfg.theta, exaggeration);
        for k in 0..2 * n {
            let same = (grad[k] > 0.0) == (velocity[k] > 0.0);
            gains[k] = if same { gains[k] * 0.8 } else { gains[k] + 0.2 };
            gains[k] = f64::max(gains[k], 0.01);
            velocity[k] = momentum * velocity[k] - learning_rate * gains[k] * grad[k];
            y[k] += velocity[k];
        }
        // Keep the embedding centred.
        for c in 0..2 {
            let mean = (0..n).map(|i| y[2 * i + c]).sum::<f64>() / n as f64;
            for i in 0..n {
                y[2 * i + c] -= mean;
            }
        }
    }
    Ok(y)
}

/// The symmetric sparse affinities: for each row `i`, `(j, p_ij)`, summing to 1 overall.
pub fn affinities(x: &[f64], n: usize, d: usize, perplexity: f64) -> Vec<Vec<(usize, f64)>> {
    let k = ((3.0 * perplexity) as usize).clamp(1, n - 1);
    let dist2 =
        |i: usize, j: usize| -> f64 { (0..d).map(|c| (x[i * d + c] - x[j * d + c]).powi(2)).sum() };
    let target = perplexity.min((n - 1) as f64).ln();
    let mut cond: Vec<Vec<(usize, f64)>> = Vec::with_capacity(n);
    for i in 0..n {
        let mut nb: Vec<(usize, f64)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (j, dist2(i, j)))
            .collect();
        nb.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        nb.truncate(k);
        // Binary search on beta = 1 / (2 sigma^2) for entropy ln(perplexity).
        let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
        let d0 = nb[0].1;
        let mut w = vec![0.0; nb.len()];
        for _ in 0..200 {
            let mut sum = 0.0;
            for (q, &(_, dd)) in nb.iter().enumerate() {
                w[q] = (-(dd - d0) * beta).exp();
                sum += w[q];
            }
            let mean_d: f64 = nb
                .iter()
                .zip(&w)
                .map(|(&(_, dd), &wq)| (dd - d0) * wq)
                .sum::<f64>()
                / sum;
            let entropy = sum.ln() + beta * mean_d;
            if (entropy - target).abs() < 1e-10 {
                break;
            }
            if entropy > target {
                lo = beta;
                beta = if hi.is_finite() {
                    (beta + hi) / 2.0
                } else {
                    beta * 2.0
                };
            } else {
                hi = beta;
                beta = (beta + lo) / 2.0;
            }
        }
        let sum: f64 = w.iter().sum();
        cond.push(
            nb.iter()
                .zip(&w)
                .map(|(&(j, _), &wq)| (j, wq / sum))
                .collect(),
        );
    }
    // Symmetrise: p_ij = (p_j|i + p_i|j) / 2n.
    let mut sym: Vec<std::collections::BTreeMap<usize, f64>> = vec![Default::default(); n];
    for (i, row) in cond.iter().enumerate() {
        for &(j, v) in row {
            *sym[i].entry(j).or_default() += v / (2.0 * n as f64);
            *sym[j].entry(i).or_default() += v / (2.0 * n as f64);
        }
    }
    sym.into_iter().map(|m| m.into_iter().collect()).collect()
}

/// The gradient of KL(P || Q) at `y` `[n, 2]`, with `P` scaled by `exaggeration`.
pub fn gradient(
    p: &[Vec<(usize, f64)>],
    y: &[f64],
    n: usize,
    theta: f64,
    exaggeration: f64,
) -> Vec<f64> {
    let tree = QuadTree::build(y, n);
    let mut rep = vec![0.0; 2 * n];
    let mut z = 0.0;
    for i in 0..n {
        let (fx, fy, zi) = tree.repulsion(0, y[2 * i], y[2 * i + 1], theta);
        rep[2 * i] = fx;
        rep[2 * i + 1] = fy;
        z += zi;
    }
    let mut g = vec![0.0; 2 * n];
    for i in 0..n {
        let (xi, yi) = (y[2 * i], y[2 * i + 1]);
        let (mut ax, mut ay) = (0.0, 0.0);
        for &(j, pij) in &p[i] {
            let (dx, dy) = (xi - y[2 * j], yi - y[2 * j + 1]);
            let q = 1.0 / (1.0 + dx * dx + dy * dy);
            ax += exaggeration * pij * q * dx;
            ay += exaggeration * pij * q * dy;
        }
        g[2 * i] = 4.0 * (ax - rep[2 * i] / z);
        g[2 * i + 1] = 4.0 * (ay - rep[2 * i + 1] / z);
    }
    g
}

/// A point quadtree over the embedding with each cell's count and centre of mass.
struct QuadTree {
    nodes: Vec<Cell>,
}

struct Cell {
    /// Centre and half width of the square.
    cx: f64,
    cy: f64,
    half: f64,
    count: usize,
    /// Sum of the points' coordinates (centre of mass × count).
    sx: f64,
    sy: f64,
    /// The one point of a leaf, `None` for an empty or inner cell.
    point: Option<(f64, f64)>,
    children: Option<[usize; 4]>,
}

/// Below this half width a cell is not split again (coincident points share a leaf).
const MIN_HALF: f64 = 1e-12;

impl QuadTree {
    fn build(y: &[f64], n: usize) -> QuadTree {
        let (mut lo_x, mut lo_y, mut hi_x, mut hi_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for i in 0..n {
            lo_x = lo_x.min(y[2 * i]);
            hi_x = hi_x.max(y[2 * i]);
            lo_y = lo_y.min(y[2 * i + 1]);
            hi_y = hi_y.max(y[2 * i + 1]);
        }
        let half = ((hi_x - lo_x).max(hi_y - lo_y) / 2.0).max(1e-9) * 1.0001;
        let mut t = QuadTree {
            nodes: vec![Cell::new((lo_x + hi_x) / 2.0, (lo_y + hi_y) / 2.0, half)],
        };
        for i in 0..n {
            t.insert(0, y[2 * i], y[2 * i + 1]);
        }
        t
    }

    fn insert(&mut self, mut c: usize, px: f64, py: f64) {
        loop {
            let cell = &mut self.nodes[c];
            cell.count += 1;
            cell.sx += px;
            cell.sy += py;
            if cell.children.is_none() {
                if cell.count == 1 {
                    cell.point = Some((px, py));
                    return;
                }
                if cell.half < MIN_HALF {
                    return;
                }
                // Split: move the old point down, then continue with the new one.
                let old = cell.point.take();
                let (cx, cy, h) = (cell.cx, cell.cy, cell.half / 2.0);
                let base = self.nodes.len();
                for k in 0..4 {
                    let dx = if k & 1 == 0 { -h } else { h };
                    let dy = if k & 2 == 0 { -h } else { h };
                    self.nodes.push(Cell::new(cx + dx, cy + dy, h));
                }
                self.nodes[c].children = Some([base, base + 1, base + 2, base + 3]);
                if let Some((ox, oy)) = old {
                    let q = self.quadrant(c, ox, oy);
                    self.insert(q, ox, oy);
                }
            }
            c = self.quadrant(c, px, py);
        }
    }

    fn quadrant(&self, c: usize, px: f64, py: f64) -> usize {
        let cell = &self.nodes[c];
        let k = usize::from(px >= cell.cx) | (usize::from(py >= cell.cy) << 1);
        cell.children.expect("an inner cell")[k]
    }

    /// The unnormalised repulsive force on (px, py) and its share of Z.
    fn repulsion(&self, c: usize, px: f64, py: f64, theta: f64) -> (f64, f64, f64) {
        let cell = &self.nodes[c];
        if cell.count == 0 {
            return (0.0, 0.0, 0.0);
        }
        let (mx, my) = (cell.sx / cell.count as f64, cell.sy / cell.count as f64);
        let (dx, dy) = (px - mx, py - my);
        let d2 = dx * dx + dy * dy;
        let leaf = cell.children.is_none();
        if leaf || (2.0 * cell.half) * (2.0 * cell.half) < theta * theta * d2 {
            // The point itself (a leaf at distance 0 holding only it) does not repel.
            let mut count = cell.count as f64;
            if leaf && d2 == 0.0 {
                count -= 1.0;
            }
            let q = 1.0 / (1.0 + d2);
            return (count * q * q * dx, count * q * q * dy, count * q);
        }
        let mut acc = (0.0, 0.0, 0.0);
        for &ch in &cell.children.expect("an inner cell") {
            let r = self.repulsion(ch, px, py, theta);
            acc = (acc.0 + r.0, acc.1 + r.1, acc.2 + r.2);
        }
        acc
    }
}

impl Cell {
    fn new(cx: f64, cy: f64, half: f64) -> Cell {
        Cell {
            cx,
            cy,
            half,
            count: 0,
            sx: 0.0,
            sy: 0.0,
            point: None,
            children: None,
        }
    }
}
