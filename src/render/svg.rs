//! Small SVG helpers: XML escaping, number formatting and the diverging colour map.

/// Escapes text for XML character data and attribute values (`& < > " '`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with two decimals, without a trailing `.00`.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Anchors of the diverging map: blue (−1), light grey (0), red (+1), after
/// Moreland's "cool to warm". Grey in the middle keeps zero-attribution bonds
/// visible on white.
const ANCHORS: [(f64, [f64; 3]); 5] = [
    (-1.0, [59.0, 76.0, 192.0]),
    (-0.5, [141.0, 176.0, 254.0]),
    (0.0, [205.0, 205.0, 205.0]),
    (0.5, [244.0, 154.0, 123.0]),
    (1.0, [180.0, 4.0, 38.0]),
];

/// The colour of `t` in `[-1, 1]` (clamped; NaN is black) as `#rrggbb`.
pub fn diverging(t: f64) -> String {
    let [r, g, b] = diverging_rgb(t);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The colour of `t` in `[-1, 1]` (clamped; NaN is black) as RGB bytes.
pub fn diverging_rgb(t: f64) -> [u8; 3] {
    if t.is_nan() {
        return [0, 0, 0];
    }
    let t = t.clamp(-1.0, 1.0);
    let k = ANCHORS
        .windows(2)
        .position(|w| t <= w[1].0)
        .unwrap_or(ANCHORS.len() - 2);
    let (t0, c0) = ANCHORS[k];
    let (t1, c1) = ANCHORS[k + 1];
    let f = ((t - t0) / (t1 - t0)).clamp(0.0, 1.0);
    let mut out = [0u8; 3];
    for i in 0..3 {
        out[i] = (c0[i] + f * (c1[i] - c0[i])).round().clamp(0.0, 255.0) as u8;
    }
    out
}
