//! Pictures of GAT's attention, as hand-written SVG (`graph-ig attention --svg`):
//!
//! - [`entropy_histogram`]: for one layer and head, the histogram of the nodes'
//!   attention entropies against the entropies of uniform attention, ln(in-degree),
//!   as the pytorch-GAT project plots them (natural log here, base 2 there). Learned
//!   attention close to uniform puts the two histograms on top of each other.
//! - [`neighbourhood`]: one node's incoming neighbourhood in one layer: the node in the
//!   middle, its sources on a circle, each edge coloured and sized by its attention
//!   (the mean over heads) against uniform attention (1 / in-degree: grey, red above,
//!   blue below, wider above), the node's own self-loop as a ring, nodes by class.
//!
//! ```
//! use graph_ig::attention::LayerAttention;
//! use graph_ig::render::attention::{entropy_histogram, neighbourhood};
//! // Node 2 attends to 0, 1 and itself.
//! let layer = LayerAttention {
//!     prefix: "conv1".into(),
//!     heads: 1,
//!     edge_index: vec![(0, 2), (1, 2), (0, 0), (1, 1), (2, 2)],
//!     alpha: vec![0.7, 0.2, 1.0, 1.0, 0.1],
//!     entropy: vec![0.0, 0.0, 0.80],
//!     uniform_entropy: vec![0.0, 0.0, 3f64.ln()],
//!     input_to_conv: vec![0, 1],
//! };
//! assert!(entropy_histogram(&layer, 0).unwrap().starts_with("<svg"));
//! let svg = neighbourhood(&layer, 2, Some(&[0, 1, 1])).unwrap();
//! assert!(svg.contains("node 2"));
//! ```

use super::svg::{diverging, escape, num};
use crate::attention::LayerAttention;
use crate::{Error, Result};
use std::fmt::Write as _;

/// Bins of [`entropy_histogram`].
pub const BINS: usize = 30;

/// The most neighbours [`neighbourhood`] draws (the strongest, by mean attention); the
/// title says how many were left out.
pub const MAX_NEIGHBOURS: usize = 200;

/// Ten distinguishable class colours (Tableau 10); classes past ten reuse them.
const CLASS_COLOURS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// The colour of class `c` (grey without a class).
pub fn class_colour(c: Option<i64>) -> &'static str {
    match c {
        Some(c) if c >= 0 => CLASS_COLOURS[c as usize % CLASS_COLOURS.len()],
        _ => "#cccccc",
    }
}

/// The histogram of `layer`'s attention entropies at head `head` against uniform
/// attention's, over every node.
pub fn entropy_histogram(layer: &LayerAttention, head: usize) -> Result<String> {
    if head >= layer.heads {
        return Err(Error::Config(format!(
            "{} has {} head(s); there is no head {head}",
            layer.prefix, layer.heads
        )));
    }
    let n = layer.uniform_entropy.len();
    let learned: Vec<f64> = (0..n)
        .map(|i| layer.entropy[i * layer.heads + head])
        .collect();
    let uniform = &layer.uniform_entropy;
    let top = learned
        .iter()
        .chain(uniform)
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let bin = |v: f64| ((v / top * BINS as f64) as usize).min(BINS - 1);
    let mut counts = [[0usize; BINS]; 2];
    for (s, series) in [&learned[..], &uniform[..]].iter().enumerate() {
        for &v in series.iter().filter(|v| v.is_finite()) {
            counts[s][bin(v.max(0.0))] += 1;
        }
    }
    let peak = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    let (w, h, left, right, top_m, bottom) = (640.0, 400.0, 60.0, 20.0, 50.0, 50.0);
    let (pw, ph) = (w - left - right, h - top_m - bottom);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}: head {head}, attention entropy of {n} nodes</text>"#,
        num(w / 2.0),
        escape(&layer.prefix)
    );
    let bw = pw / BINS as f64;
    for (series, (colour, label)) in [("#4e79a7", "learned"), ("#f28e2b", "uniform")]
        .iter()
        .enumerate()
    {
        for (b, &c) in counts[series].iter().enumerate() {
            if c == 0 {
                continue;
            }
            let bh = ph * c as f64 / peak as f64;
            let _ = write!(
                s,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{colour}" fill-opacity="0.55"><title>{label}: {c} nodes</title></rect>"#,
                num(left + b as f64 * bw + 0.5),
                num(top_m + ph - bh),
                num((bw - 1.0).max(0.5)),
                num(bh)
            );
        }
        let ly = top_m + 8.0 + 18.0 * series as f64;
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{colour}" fill-opacity="0.55"/><text x="{}" y="{}">{label}</text>"#,
            num(left + pw - 90.0),
            num(ly),
            num(left + pw - 72.0),
            num(ly + 10.0)
        );
    }
    // Axes with five ticks each.
    let _ = write!(
        s,
        r##"<path d="M{l} {t} V{b} H{r}" stroke="#333" fill="none"/>"##,
        l = num(left),
        t = num(top_m),
        b = num(top_m + ph),
        r = num(left + pw)
    );
    for k in 0..=5 {
        let f = k as f64 / 5.0;
        let x = left + f * pw;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{:.2}</text>"#,
            num(x),
            num(top_m + ph + 16.0),
            f * top
        );
        let y = top_m + ph - f * ph;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            num(left - 6.0),
            num(y + 4.0),
            (f * peak as f64).round()
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">entropy (nats)</text><text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">nodes</text></svg>"#,
        num(left + pw / 2.0),
        num(h - 12.0),
        num(top_m + ph / 2.0),
        num(top_m + ph / 2.0)
    );
    Ok(s)
}

/// Node `node`'s incoming neighbourhood in `layer` (see the module docs); `classes`,
/// one per node, colours the nodes.
pub fn neighbourhood(
    layer: &LayerAttention,
    node: usize,
    classes: Option<&[i64]>,
) -> Result<String> {
    let n = layer.uniform_entropy.len();
    if node >= n {
        return Err(Error::Config(format!(
            "node {node} is out of range: the graph has {n} nodes (0..{n})"
        )));
    }
    let class = |v: usize| classes.and_then(|c| c.get(v).copied());
    let mean = |q: usize| {
        layer.alpha[q * layer.heads..(q + 1) * layer.heads]
            .iter()
            .sum::<f64>()
            / layer.heads as f64
    };
    let mut incoming: Vec<(usize, f64)> = Vec::new();
    let mut own = None;
    for (q, &(src, dst)) in layer.edge_index.iter().enumerate() {
        if dst as usize != node {
            continue;
        }
        if src as usize == node {
            own = Some(own.unwrap_or(0.0) + mean(q));
        } else {
            incoming.push((src as usize, mean(q)));
        }
    }
    let total = incoming.len();
    incoming.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    incoming.truncate(MAX_NEIGHBOURS);
    let (w, h) = (640.0, 640.0);
    let (cx, cy, radius) = (w / 2.0, h / 2.0 + 10.0, 230.0);
    // Attention relative to uniform: 1 where the node attends to all its sources
    // equally (its in-degree counts its self-loop).
    let degree = (total + usize::from(own.is_some())).max(1) as f64;
    let thin = if incoming.len() > 60 { 0.5 } else { 1.0 };
    let width = |a: f64| thin * (0.5 + 2.5 * (a * degree).min(3.0));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let shown = if incoming.len() < total {
        format!(", the {} strongest shown", incoming.len())
    } else {
        String::new()
    };
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">node {node}: attention in {} (mean of {}), {total} in-neighbours{shown}</text>"#,
        num(w / 2.0),
        escape(&layer.prefix),
        if layer.heads == 1 {
            "1 head".to_string()
        } else {
            format!("{} heads", layer.heads)
        }
    );
    let k = incoming.len().max(1) as f64;
    let place = |j: usize| {
        let a = std::f64::consts::TAU * j as f64 / k - std::f64::consts::FRAC_PI_2;
        (cx + radius * a.cos(), cy + radius * a.sin())
    };
    for (j, &(_, a)) in incoming.iter().enumerate() {
        let (x, y) = place(j);
        let _ = write!(
            s,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="{}"><title>{a:.4} ({:.2} × uniform)</title></line>"#,
            num(x),
            num(y),
            num(cx),
            num(cy),
            diverging(a * degree - 1.0),
            num(width(a)),
            a * degree
        );
    }
    let r_node = if incoming.len() > 60 { 5.0 } else { 10.0 };
    for (j, &(v, a)) in incoming.iter().enumerate() {
        let (x, y) = place(j);
        let _ = write!(
            s,
            r##"<circle cx="{}" cy="{}" r="{r_node}" fill="{}" stroke="#333" stroke-width="0.5"><title>node {v}, class {}, attention {a:.4}</title></circle>"##,
            num(x),
            num(y),
            class_colour(class(v)),
            class(v).map_or("-".into(), |c| c.to_string())
        );
        if incoming.len() <= 40 {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{v}</text>"#,
                num(cx + (radius + 20.0) * (x - cx) / radius),
                num(cy + (radius + 20.0) * (y - cy) / radius + 4.0)
            );
        }
    }
    if let Some(a) = own {
        let _ = write!(
            s,
            r##"<circle cx="{}" cy="{}" r="22" fill="none" stroke="{}" stroke-width="{}"><title>self-loop {a:.4} ({:.2} × uniform)</title></circle>"##,
            num(cx),
            num(cy),
            diverging(a * degree - 1.0),
            num(width(a) / thin),
            a * degree
        );
    }
    let _ = write!(
        s,
        r##"<circle cx="{}" cy="{}" r="16" fill="{}" stroke="#000" stroke-width="1.5"/><text x="{}" y="{}" text-anchor="middle" font-weight="bold">{node}</text>"##,
        num(cx),
        num(cy),
        class_colour(class(node)),
        num(cx),
        num(cy + 4.0)
    );
    let _ = write!(
        s,
        r#"<text x="10" y="{}">edges, ring = self-loop: attention × in-degree (grey 1 = uniform, red above, blue below); nodes by class</text></svg>"#,
        num(h - 10.0)
    );
    Ok(s)
}
