//! A deterministic 2D layout that looks like a molecule drawing.
//!
//! Per connected component:
//! 1. **Ideal distances.** Bonds have length 1. Atoms of one small ring (3 to 8
//!    atoms, the shortest cycle through each bond) get the chords of a regular
//!    polygon, so rings come out as regular polygons. Two neighbours of an
//!    atom get the distance of their ideal angle (120° at atoms with three
//!    bonds and along chains, which zigzag; 180° at a triple bond; evenly spread
//!    around atoms with four or more bonds). All other pairs get the shortest
//!    path through these distances.
//! 2. **Stress majorization** (Gansner, Koren and North 2004) from several
//!    starting layouts: classical MDS on the ideal distances (three pairs of
//!    eigenvectors) and seeded random layouts.
//! 3. **Untangling.** The part of the molecule behind each bridge bond (a
//!    substituent) is reflected or rotated where that removes bond crossings or
//!    atoms lying on top of each other.
//! 4. The layout with the fewest bond crossings (then fewest overlaps, then
//!    lowest stress) is kept, centred and turned so its long axis is horizontal.
//!
//! Components are placed side by side from left to right; isolated atoms are
//! put in a column to the right. Everything is deterministic: the same graph
//! always gets the same picture.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};

/// Gap between components, in bond lengths.
const GAP: f64 = 1.6;
/// Non-bonded atoms closer than this (in bond lengths) count as overlapping.
const TOO_CLOSE: f64 = 0.45;
/// An atom closer than this to a bond it is not part of lies on it.
const ON_BOND: f64 = 0.22;

/// Lays out a graph of `num_atoms` atoms joined by `bonds` `(a, b, order)`
/// (order 3 makes the bond's atoms linear; 0 or 1 is a single bond). Returns one
/// position per atom, in bond lengths. Self-loops and repeated bonds are ignored;
/// bonds naming atoms beyond `num_atoms` are ignored.
pub fn layout(num_atoms: usize, bonds: &[(usize, usize, u8)]) -> Vec<[f64; 2]> {
    let mut adj: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); num_atoms];
    let mut linear = vec![false; num_atoms];
    for &(a, b, order) in bonds {
        if a == b || a >= num_atoms || b >= num_atoms {
            continue;
        }
        adj[a].insert(b);
        adj[b].insert(a);
        if order >= 3 {
            linear[a] = true;
            linear[b] = true;
        }
    }
    let adj: Vec<Vec<usize>> = adj.into_iter().map(|s| s.into_iter().collect()).collect();

    // Connected components, in order of their smallest atom.
    let mut comp = vec![usize::MAX; num_atoms];
    let mut comps: Vec<Vec<usize>> = Vec::new();
    for s in 0..num_atoms {
        if comp[s] != usize::MAX {
            continue;
        }
        let c = comps.len();
        let mut members = vec![s];
        comp[s] = c;
        let mut i = 0;
        while i < members.len() {
            let u = members[i];
            for &v in &adj[u] {
                if comp[v] == usize::MAX {
                    comp[v] = c;
                    members.push(v);
                }
            }
            i += 1;
        }
        members.sort_unstable();
        comps.push(members);
    }

    let mut pos = vec![[0.0f64; 2]; num_atoms];
    let mut cursor = 0.0f64;
    let mut isolated = Vec::new();
    let mut placed_any = false;
    for members in &comps {
        if members.len() == 1 {
            isolated.push(members[0]);
            continue;
        }
        let local = layout_component(members, &adj, &linear);
        let (lo, hi) = bounds(&local);
        if placed_any {
            cursor += GAP;
        }
        for (k, &a) in members.iter().enumerate() {
            pos[a] = [
                local[k][0] - lo[0] + cursor,
                local[k][1] - (lo[1] + hi[1]) / 2.0,
            ];
        }
        cursor += hi[0] - lo[0];
        placed_any = true;
    }
    if !isolated.is_empty() {
        if placed_any {
            // A column to the right of the molecule.
            cursor += GAP;
            let h = (isolated.len() - 1) as f64;
            for (k, &a) in isolated.iter().enumerate() {
                pos[a] = [cursor, k as f64 - h / 2.0];
            }
        } else {
            // Atoms only: a row.
            for (k, &a) in isolated.iter().enumerate() {
                pos[a] = [k as f64 * 1.2, 0.0];
            }
        }
    }
    pos
}

/// The number of pairs of bonds that cross (bonds sharing an atom never count).
pub fn count_crossings(pos: &[[f64; 2]], bonds: &[(usize, usize)]) -> usize {
    let mut n = 0;
    for (i, &(a, b)) in bonds.iter().enumerate() {
        for &(c, d) in &bonds[i + 1..] {
            if a == c || a == d || b == c || b == d || a == b || c == d {
                continue;
            }
            if segments_cross(pos[a], pos[b], pos[c], pos[d]) {
                n += 1;
            }
        }
    }
    n
}

/// Smallest and largest coordinates.
pub fn bounds(pos: &[[f64; 2]]) -> ([f64; 2], [f64; 2]) {
    let mut lo = [f64::INFINITY; 2];
    let mut hi = [f64::NEG_INFINITY; 2];
    for p in pos {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    if pos.is_empty() {
        return ([0.0; 2], [0.0; 2]);
    }
    (lo, hi)
}

fn orient(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// Proper crossing of segments ab and cd (touching at an end does not count).
fn segments_cross(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let eps = 1e-9;
    let d1 = orient(c, d, a);
    let d2 = orient(c, d, b);
    let d3 = orient(a, b, c);
    let d4 = orient(a, b, d);
    ((d1 > eps && d2 < -eps) || (d1 < -eps && d2 > eps))
        && ((d3 > eps && d4 < -eps) || (d3 < -eps && d4 > eps))
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Distance from point p to segment ab.
fn point_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let l2 = dx * dx + dy * dy;
    if l2 == 0.0 {
        return dist(p, a);
    }
    let t = (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2).clamp(0.0, 1.0);
    dist(p, [a[0] + t * dx, a[1] + t * dy])
}

/// A component with local numbering: adjacency, bonds, linear atoms.
struct Component {
    n: usize,
    adj: Vec<Vec<usize>>,
    bonds: Vec<(usize, usize)>,
    linear: Vec<bool>,
    rings: Vec<Vec<usize>>,
}

/// Shortest cycles through each bond, of 3 to 8 atoms, each once, in ring order.
fn small_rings(c: &Component) -> Vec<Vec<usize>> {
    let mut seen: BTreeSet<Vec<usize>> = BTreeSet::new();
    let mut rings = Vec::new();
    let mut prev = vec![usize::MAX; c.n];
    let mut depth = vec![usize::MAX; c.n];
    for &(u, v) in &c.bonds {
        // BFS from u to v without the bond (u, v).
        prev.iter_mut().for_each(|p| *p = usize::MAX);
        depth.iter_mut().for_each(|d| *d = usize::MAX);
        depth[u] = 0;
        let mut q = VecDeque::from([u]);
        while let Some(x) = q.pop_front() {
            if x == v || depth[x] >= 7 {
                continue;
            }
            for &y in &c.adj[x] {
                if (x == u && y == v) || depth[y] != usize::MAX {
                    continue;
                }
                depth[y] = depth[x] + 1;
                prev[y] = x;
                q.push_back(y);
            }
        }
        if depth[v] == usize::MAX {
            continue;
        }
        let mut cycle = vec![v];
        let mut x = v;
        while x != u {
            x = prev[x];
            cycle.push(x);
        }
        if cycle.len() < 3 || cycle.len() > 8 {
            continue;
        }
        let mut key = cycle.clone();
        key.sort_unstable();
        if seen.insert(key) {
            rings.push(cycle);
        }
    }
    rings
}

#[derive(PartialEq)]
struct Item(f64, usize);
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

/// Ideal distances `[n * n]` and weights: see the module docs.
fn ideal_distances(c: &Component) -> (Vec<f64>, Vec<f64>) {
    let n = c.n;
    let rings = &c.rings;
    // Direct targets: bonds, ring chords (which win), neighbour angles.
    let mut direct: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    let mut fixed = std::collections::HashMap::new();
    let mut set = |a: usize, b: usize, d: f64, strong: bool| {
        let key = (a.min(b), a.max(b));
        match fixed.get(&key) {
            Some(&(_, true)) if !strong => {}
            _ => {
                fixed.insert(key, (d, strong));
            }
        }
    };
    for &(a, b) in &c.bonds {
        set(a, b, 1.0, true);
    }
    let mut in_ring = vec![Vec::new(); n];
    for (r, ring) in rings.iter().enumerate() {
        let k = ring.len();
        let side = (std::f64::consts::PI / k as f64).sin();
        for i in 0..k {
            in_ring[ring[i]].push(r);
            for j in i + 1..k {
                let s = (j - i).min(k - (j - i));
                if s >= 2 {
                    let chord = (std::f64::consts::PI * s as f64 / k as f64).sin() / side;
                    set(ring[i], ring[j], chord, true);
                }
            }
        }
    }
    for (x, nb) in c.adj.iter().enumerate() {
        let deg = nb.len();
        if deg < 2 {
            continue;
        }
        for (i, &a) in nb.iter().enumerate() {
            for &b in &nb[i + 1..] {
                let angle = if c.linear[x] && deg == 2 {
                    std::f64::consts::PI
                } else if deg <= 3 {
                    // Outside a ring next to a ring of k atoms: (2π − interior) / 2.
                    let ring_k = in_ring[x]
                        .iter()
                        .map(|&r| &rings[r])
                        .find(|r| r.contains(&a) != r.contains(&b))
                        .map(|r| r.len());
                    match ring_k {
                        Some(k) if deg == 3 => {
                            let interior = std::f64::consts::PI * (k as f64 - 2.0) / k as f64;
                            std::f64::consts::PI - interior / 2.0
                        }
                        _ => 2.0 * std::f64::consts::PI / 3.0,
                    }
                } else {
                    // Evenly spread: the mean chord of a regular deg-gon of radius 1.
                    let mean: f64 = (1..deg)
                        .map(|s| 2.0 * (std::f64::consts::PI * s as f64 / deg as f64).sin())
                        .sum::<f64>()
                        / (deg - 1) as f64;
                    set(a, b, mean, false);
                    continue;
                };
                set(a, b, 2.0 * (angle / 2.0).sin(), false);
            }
        }
    }
    // Weight factor of each pair: 4 for bonds and ring chords, 2 for neighbour angles.
    let mut factor = vec![1.0; n * n];
    for (&(a, b), &(d, s)) in &fixed {
        direct[a].push((b, d));
        direct[b].push((a, d));
        let f = if s { 4.0 } else { 2.0 };
        factor[a * n + b] = f;
        factor[b * n + a] = f;
    }
    for d in &mut direct {
        d.sort_by_key(|x| x.0);
    }
    // All pairs: Dijkstra from every atom.
    let mut dmat = vec![f64::INFINITY; n * n];
    for s in 0..n {
        let row = &mut dmat[s * n..(s + 1) * n];
        row[s] = 0.0;
        let mut heap = BinaryHeap::from([Item(0.0, s)]);
        while let Some(Item(d, x)) = heap.pop() {
            if d > row[x] {
                continue;
            }
            for &(y, w) in &direct[x] {
                let nd = d + w;
                if nd < row[y] {
                    row[y] = nd;
                    heap.push(Item(nd, y));
                }
            }
        }
    }
    let mut w = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let d = dmat[i * n + j];
                w[i * n + j] = factor[i * n + j] / (d * d);
            }
        }
    }
    (dmat, w)
}

/// Weighted stress of a layout.
fn stress(pos: &[[f64; 2]], d: &[f64], w: &[f64]) -> f64 {
    let n = pos.len();
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            let e = dist(pos[i], pos[j]) - d[i * n + j];
            s += w[i * n + j] * e * e;
        }
    }
    s
}

/// Localized stress majorization, in place (Gauss–Seidel sweeps).
fn majorize(pos: &mut [[f64; 2]], d: &[f64], w: &[f64], sweeps: usize) {
    let n = pos.len();
    for sweep in 0..sweeps {
        let mut moved = 0.0f64;
        for i in 0..n {
            let (mut sx, mut sy, mut sw) = (0.0, 0.0, 0.0);
            for j in 0..n {
                if i == j {
                    continue;
                }
                let wij = w[i * n + j];
                let dx = pos[i][0] - pos[j][0];
                let dy = pos[i][1] - pos[j][1];
                let l = (dx * dx + dy * dy).sqrt();
                let (ux, uy) = if l > 1e-9 {
                    (dx / l, dy / l)
                } else {
                    // Coincident atoms: push apart in a fixed, index-dependent direction.
                    let t = (i * 7 + j * 13 + sweep) as f64;
                    (t.cos(), t.sin())
                };
                let dij = d[i * n + j];
                sx += wij * (pos[j][0] + dij * ux);
                sy += wij * (pos[j][1] + dij * uy);
                sw += wij;
            }
            if sw > 0.0 {
                let nx = sx / sw;
                let ny = sy / sw;
                moved = moved.max((nx - pos[i][0]).abs() + (ny - pos[i][1]).abs());
                pos[i] = [nx, ny];
            }
        }
        if moved < 1e-5 {
            break;
        }
    }
}

/// Classical MDS: the top three eigenvectors of the double-centred squared distances.
fn mds_axes(d: &[f64], n: usize) -> Vec<Vec<f64>> {
    let mut b = vec![0.0; n * n];
    let mut row_mean = vec![0.0; n];
    for i in 0..n {
        for j in 0..n {
            let v = d[i * n + j] * d[i * n + j];
            b[i * n + j] = v;
            row_mean[i] += v / n as f64;
        }
    }
    let all_mean = row_mean.iter().sum::<f64>() / n as f64;
    for i in 0..n {
        for j in 0..n {
            b[i * n + j] = -0.5 * (b[i * n + j] - row_mean[i] - row_mean[j] + all_mean);
        }
    }
    let mut axes: Vec<Vec<f64>> = Vec::new();
    for k in 0..3.min(n) {
        let mut v: Vec<f64> = (0..n)
            .map(|i| ((i * (k + 2) + 1) as f64 * 0.7).sin() + 0.01 * i as f64)
            .collect();
        let mut lambda = 0.0;
        for _ in 0..150 {
            // Deflate: keep v orthogonal to earlier axes.
            for a in &axes {
                let an: f64 = a.iter().map(|x| x * x).sum::<f64>().max(1e-300);
                let p: f64 = a.iter().zip(&v).map(|(x, y)| x * y).sum::<f64>() / an;
                v.iter_mut().zip(a).for_each(|(y, x)| *y -= p * x);
            }
            let mut nv = vec![0.0; n];
            for i in 0..n {
                nv[i] = (0..n).map(|j| b[i * n + j] * v[j]).sum();
            }
            let norm = nv.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-12 {
                break;
            }
            lambda = norm;
            v = nv.into_iter().map(|x| x / norm).collect();
        }
        let scale = lambda.max(0.0).sqrt();
        axes.push(v.iter().map(|x| x * scale).collect());
    }
    axes
}

/// Layout quality: (crossings, overlaps), lower is better.
fn defects(pos: &[[f64; 2]], c: &Component) -> (usize, usize) {
    let crossings = count_crossings(pos, &c.bonds);
    let mut overlaps = 0;
    for i in 0..c.n {
        for j in i + 1..c.n {
            if dist(pos[i], pos[j]) < TOO_CLOSE && c.adj[i].binary_search(&j).is_err() {
                overlaps += 1;
            }
        }
        for &(a, b) in &c.bonds {
            if a != i && b != i && point_segment(pos[i], pos[a], pos[b]) < ON_BOND {
                overlaps += 1;
            }
        }
    }
    // Atoms inside a ring they are not part of.
    for ring in &c.rings {
        let poly: Vec<[f64; 2]> = ring.iter().map(|&r| pos[r]).collect();
        for (i, &p) in pos.iter().enumerate() {
            if !ring.contains(&i) && inside(p, &poly) {
                overlaps += 1;
            }
        }
    }
    (crossings, overlaps)
}

/// Point in polygon (even-odd rule).
fn inside(p: [f64; 2], poly: &[[f64; 2]]) -> bool {
    let mut c = false;
    let k = poly.len();
    for i in 0..k {
        let (a, b) = (poly[i], poly[(i + k - 1) % k]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                c = !c;
            }
        }
    }
    c
}

/// Bridges with the atoms on the smaller side: `(pivot, moving side)`.
fn bridges(c: &Component) -> Vec<(usize, Vec<usize>)> {
    let mut out = Vec::new();
    let mut mark = vec![false; c.n];
    for &(u, v) in &c.bonds {
        mark.iter_mut().for_each(|m| *m = false);
        mark[v] = true;
        let mut side = vec![v];
        let mut i = 0;
        let mut through = false;
        while i < side.len() {
            let x = side[i];
            for &y in &c.adj[x] {
                if x == v && y == u {
                    continue;
                }
                if y == u {
                    through = true;
                    break;
                }
                if !mark[y] {
                    mark[y] = true;
                    side.push(y);
                }
            }
            if through {
                break;
            }
            i += 1;
        }
        if through {
            continue;
        }
        if side.len() * 2 <= c.n {
            out.push((u, side));
        } else {
            let other: Vec<usize> = (0..c.n).filter(|&x| !mark[x]).collect();
            out.push((v, other));
        }
    }
    out
}

/// A candidate move of the atoms behind a bridge.
type Move = Box<dyn Fn([f64; 2]) -> [f64; 2]>;

/// A finished layout with its defects and stress.
type Candidate = ((usize, usize), f64, Vec<[f64; 2]>);

/// Moves the substituents behind bridge bonds where that removes crossings or overlaps.
fn untangle(pos: &mut [[f64; 2]], c: &Component) {
    let bridges = bridges(c);
    let mut best = defects(pos, c);
    for _pass in 0..3 {
        if best == (0, 0) {
            return;
        }
        let mut improved = false;
        for (pivot, side) in &bridges {
            if best == (0, 0) {
                return;
            }
            let p = pos[*pivot];
            // The bond from the pivot into the side fixes the reflection axis.
            let Some(&q) = side
                .iter()
                .find(|&&s| c.adj[*pivot].binary_search(&s).is_ok())
            else {
                continue;
            };
            let axis = [pos[q][0] - p[0], pos[q][1] - p[1]];
            let alen = (axis[0] * axis[0] + axis[1] * axis[1]).sqrt().max(1e-12);
            let (ax, ay) = (axis[0] / alen, axis[1] / alen);
            let mut moves: Vec<Move> = Vec::new();
            moves.push(Box::new(move |x: [f64; 2]| {
                let (dx, dy) = (x[0] - p[0], x[1] - p[1]);
                let t = dx * ax + dy * ay;
                [p[0] + 2.0 * t * ax - dx, p[1] + 2.0 * t * ay - dy]
            }));
            for deg in [
                30.0f64, -30.0, 60.0, -60.0, 90.0, -90.0, 120.0, -120.0, 180.0,
            ] {
                let (s, co) = deg.to_radians().sin_cos();
                moves.push(Box::new(move |x: [f64; 2]| {
                    let (dx, dy) = (x[0] - p[0], x[1] - p[1]);
                    [p[0] + co * dx - s * dy, p[1] + s * dx + co * dy]
                }));
            }
            let saved: Vec<[f64; 2]> = side.iter().map(|&s| pos[s]).collect();
            let mut choice: Option<(usize, (usize, usize))> = None;
            for (m, f) in moves.iter().enumerate() {
                for (&s, &o) in side.iter().zip(&saved) {
                    pos[s] = f(o);
                }
                let q = defects(pos, c);
                if q < choice.map_or(best, |x| x.1) {
                    choice = Some((m, q));
                }
            }
            match choice {
                Some((m, q)) => {
                    for (&s, &o) in side.iter().zip(&saved) {
                        pos[s] = moves[m](o);
                    }
                    best = q;
                    improved = true;
                }
                None => {
                    for (&s, &o) in side.iter().zip(&saved) {
                        pos[s] = o;
                    }
                }
            }
        }
        if !improved {
            return;
        }
    }
}

/// Centres a layout, turns its long axis horizontal and fixes its mirror image.
fn normalize(pos: &mut [[f64; 2]]) {
    let n = pos.len() as f64;
    let cx = pos.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pos.iter().map(|p| p[1]).sum::<f64>() / n;
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for p in pos.iter_mut() {
        p[0] -= cx;
        p[1] -= cy;
        sxx += p[0] * p[0];
        syy += p[1] * p[1];
        sxy += p[0] * p[1];
    }
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let (s, c) = (-angle).sin_cos();
    for p in pos.iter_mut() {
        *p = [c * p[0] - s * p[1], s * p[0] + c * p[1]];
    }
    // Mirror so that the first atom is in the upper left quadrant (y down in SVG).
    if pos[0][0] > 1e-9 {
        pos.iter_mut().for_each(|p| p[0] = -p[0]);
    }
    if pos[0][1] > 1e-9 {
        pos.iter_mut().for_each(|p| p[1] = -p[1]);
    }
}

/// Lays out one connected component (two atoms or more); positions in `members` order.
fn layout_component(members: &[usize], adj: &[Vec<usize>], linear: &[bool]) -> Vec<[f64; 2]> {
    let n = members.len();
    let local = |g: usize| members.binary_search(&g).unwrap_or(0);
    let ladj: Vec<Vec<usize>> = members
        .iter()
        .map(|&g| {
            let mut v: Vec<usize> = adj[g].iter().map(|&h| local(h)).collect();
            v.sort_unstable();
            v
        })
        .collect();
    let mut bonds = Vec::new();
    for (a, nb) in ladj.iter().enumerate() {
        for &b in nb {
            if a < b {
                bonds.push((a, b));
            }
        }
    }
    let mut c = Component {
        n,
        adj: ladj,
        bonds,
        linear: members.iter().map(|&g| linear[g]).collect(),
        rings: Vec::new(),
    };
    c.rings = small_rings(&c);
    if n == 2 {
        return vec![[0.0, 0.0], [1.0, 0.0]];
    }
    let (d, w) = ideal_distances(&c);

    // Starting layouts.
    let axes = mds_axes(&d, n);
    let mut starts: Vec<Vec<[f64; 2]>> = Vec::new();
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        if j < axes.len() {
            starts.push((0..n).map(|k| [axes[i][k], axes[j][k]]).collect());
        }
    }
    let randoms = if n > 150 { 1 } else { 4 };
    for seed in 0..randoms {
        let mut rng = ChaCha8Rng::seed_from_u64(0x6d6f6c + seed);
        let r = (n as f64).sqrt() * 1.5;
        starts.push(
            (0..n)
                .map(|_| [rng.gen_range(-r..r), rng.gen_range(-r..r)])
                .collect(),
        );
    }
    let sweeps = if n > 150 { 200 } else { 400 };
    let mut best: Option<Candidate> = None;
    for mut p in starts {
        majorize(&mut p, &d, &w, sweeps);
        untangle(&mut p, &c);
        let q = defects(&p, &c);
        let s = stress(&p, &d, &w);
        let better = match &best {
            None => true,
            Some((bq, bs, _)) => q < *bq || (q == *bq && s < *bs - 1e-9),
        };
        if better {
            best = Some((q, s, p));
        }
    }
    let mut p = best.map(|b| b.2).unwrap_or_else(|| vec![[0.0; 2]; n]);
    normalize(&mut p);
    p
}
