//! A 2-D scatter plot as hand-written SVG, points coloured by class (`graph-ig embed
//! --svg`, for the t-SNE of the embeddings).
//!
//! ```
//! let svg = graph_ig::render::scatter::scatter(&[0.0, 0.0, 1.0, 2.0], Some(&[0, 1]), "t-SNE");
//! assert!(svg.contains("<circle"));
//! ```

use super::attention::class_colour;
use super::svg::{escape, num};
use std::fmt::Write as _;

/// `points` `[n, 2]` (row-major), coloured by `classes` (one per point), under `title`.
pub fn scatter(points: &[f64], classes: Option<&[i64]>, title: &str) -> String {
    let n = points.len() / 2;
    let (w, h, m) = (640.0, 640.0, 40.0);
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for i in 0..n {
        for c in 0..2 {
            lo[c] = lo[c].min(points[2 * i + c]);
            hi[c] = hi[c].max(points[2 * i + c]);
        }
    }
    let span = (0..2)
        .map(|c| (hi[c] - lo[c]).max(1e-12))
        .fold(0.0f64, f64::max);
    let scale = (w - 2.0 * m) / span;
    let r = if n > 1000 { 2.0 } else { 3.5 };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12"><rect width="{w}" height="{h}" fill="white"/><text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        num(w / 2.0),
        escape(title)
    );
    for i in 0..n {
        let c = classes.and_then(|c| c.get(i).copied());
        let _ = write!(
            s,
            r#"<circle cx="{}" cy="{}" r="{r}" fill="{}" fill-opacity="0.8"/>"#,
            num(m + (points[2 * i] - lo[0]) * scale),
            num(h - m - (points[2 * i + 1] - lo[1]) * scale),
            class_colour(c)
        );
    }
    if let Some(cl) = classes {
        let mut seen: Vec<i64> = cl.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for (k, c) in seen.iter().take(20).enumerate() {
            let y = 44.0 + 16.0 * k as f64;
            let _ = write!(
                s,
                r#"<circle cx="{}" cy="{}" r="5" fill="{}"/><text x="{}" y="{}">class {c}</text>"#,
                num(w - 80.0),
                num(y),
                class_colour(Some(*c)),
                num(w - 70.0),
                num(y + 4.0)
            );
        }
    }
    s.push_str("</svg>");
    s
}
