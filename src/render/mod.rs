//! Pictures of explanations: molecules drawn as hand-written SVG, bonds
//! coloured and sized by their attribution, or, for the node-level methods
//! (Grad-CAM, the contrastive gradient, EB, c-EB), atoms on discs coloured and
//! sized by their score.
//!
//! - [`layout`] places the atoms so the drawing looks like a molecule
//!   (regular rings, zigzag chains, no crossing bonds where it can).
//! - [`Molecule::from_file`] takes one graph of an output file of
//!   `graph-ig explain` and names its atoms and bonds from the dataset.
//! - [`render_svg`] draws one panel or a grid of panels: atom symbols (H
//!   smaller), bonds as one, two or three lines by bond order, coloured by a
//!   diverging map (blue negative, grey 0, red positive, symmetric around 0)
//!   and wider as |attribution| grows, a title and a colour bar per panel;
//!   with [`Molecule::atom_score`], a disc behind each atom in the same colours,
//!   larger as |score| grows, and thin grey bonds.
//!
//! ```
//! use graph_ig::render::{render_svg, Molecule, MolBond, Panel, RenderOptions};
//! let atoms = ["C", "N", "O", "O"].map(String::from).to_vec();
//! let bond = |a, b, order, attr| MolBond { a, b, order, attr, marked: false, label: String::new() };
//! let molecule = Molecule {
//!     atoms,
//!     bonds: vec![bond(0, 1, 1, 0.1), bond(1, 2, 2, 0.9), bond(1, 3, 1, 0.8)],
//!     atom_score: None,
//! };
//! let panel = Panel { title: "nitro".into(), subtitle: "ig".into(), molecule };
//! let svg = render_svg(&[panel], &RenderOptions::default());
//! assert!(svg.starts_with("<svg"));
//! ```

pub mod attention;
pub mod layout;
pub mod scatter;
pub mod svg;

use crate::labels::LabeledGraphs;
use crate::topk::AttrFile;
use crate::Result;
use std::collections::HashMap;
use std::fmt::Write as _;
use svg::{diverging, escape, num};

/// The largest graph [`Molecule::from_file`] accepts: the layout costs O(n²)
/// memory and time per connected component.
pub const MAX_ATOMS: usize = 2000;

/// One bond to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct MolBond {
    /// First atom (index into [`Molecule::atoms`]).
    pub a: usize,
    /// Second atom.
    pub b: usize,
    /// Bond order: 2 and 3 are drawn as two and three lines; anything else as one.
    pub order: u8,
    /// The attribution that colours and sizes the bond.
    pub attr: f64,
    /// A ground-truth mark (drawn as a halo with [`RenderOptions::show_ground_truth`]).
    pub marked: bool,
    /// A tooltip (for example `N3–O4 double`); may be empty.
    pub label: String,
}

/// A molecule to draw: atom symbols and bonds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Molecule {
    /// The symbol of every atom (`C`, `N`, ...).
    pub atoms: Vec<String>,
    /// The bonds, each once.
    pub bonds: Vec<MolBond>,
    /// Node-level scores, one per atom: when present they colour and size the atoms
    /// and the colour bar, and the bonds are drawn plain.
    pub atom_score: Option<Vec<f64>>,
}

/// One picture of a grid: a molecule with a title.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    /// First title line (graph, dataset).
    pub title: String,
    /// Second title line (method, target class).
    pub subtitle: String,
    /// The molecule.
    pub molecule: Molecule,
}

/// How to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    /// Pixels per bond length.
    pub bond_px: f64,
    /// Panels per row of the grid.
    pub columns: usize,
    /// One colour scale for all panels (the largest |attribution| of all);
    /// otherwise each panel has its own.
    pub shared_scale: bool,
    /// Draw a halo behind bonds with ground-truth marks.
    pub show_ground_truth: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            bond_px: 44.0,
            columns: 3,
            shared_scale: false,
            show_ground_truth: false,
        }
    }
}

impl Molecule {
    /// The molecule of the file's graph `g` (a position in the file), named from
    /// `data`, with bond attributions from the `undirected_edge_*` tensors, or,
    /// for a file of a node-level method (tensor `node_score`, no edge
    /// attributions), atom scores and plain bonds.
    ///
    /// Errors if `g` is out of range, the file has neither edge attributions nor
    /// node scores, or the graph does not match the dataset (see
    /// [`AttrFile::match_dataset`]).
    pub fn from_file(file: &AttrFile, g: usize, data: &LabeledGraphs) -> Result<Molecule> {
        let atom_score =
            if file.tensors().edge_attr.is_none() && file.tensors().node_score.is_some() {
                Some(file.node_score(g)?.to_vec())
            } else {
                file.edge_attr(g)?;
                None
            };
        let gr = file.match_dataset(g, data)?;
        if gr.num_nodes() > MAX_ATOMS {
            return Err(crate::Error::Config(format!(
                "graph {} has {} atoms; pictures are drawn for graphs of at most {MAX_ATOMS}",
                file.graph_index(g),
                gr.num_nodes()
            )));
        }
        let b = &data.batch;
        let n0 = gr.nodes.start;
        let atoms: Vec<String> = gr.nodes.clone().map(|i| data.atom_symbol(i)).collect();
        // The dataset edge of each bond, and the ground-truth marks of either direction.
        let mut edge_of: HashMap<(usize, usize), usize> = HashMap::new();
        let mut marked: HashMap<(usize, usize), bool> = HashMap::new();
        let gt = file.edge_gt(g)?;
        for (k, e) in gr.edges.clone().enumerate() {
            let (s, t) = (b.src()[e] as usize - n0, b.dst()[e] as usize - n0);
            let key = (s.min(t), s.max(t));
            edge_of.entry(key).or_insert(e);
            let m = gt.is_some_and(|m| m[k] != 0.0) || b.edge_gt().is_some_and(|m| m[e] != 0);
            *marked.entry(key).or_insert(false) |= m;
        }
        let mut bonds = Vec::new();
        let pairs: Vec<(usize, usize, f64)> = if atom_score.is_some() {
            // Each bond once, in order of first appearance, with no attribution of its own.
            let mut seen = std::collections::HashSet::new();
            file.edge_pairs(g)?
                .into_iter()
                .map(|(s, t)| (s.min(t), s.max(t), 0.0))
                .filter(|&(u, v, _)| seen.insert((u, v)))
                .collect()
        } else {
            file.bonds(g)?
        };
        for (u, v, attr) in pairs {
            if u == v {
                continue;
            }
            let e = edge_of.get(&(u, v)).copied();
            let order = e.and_then(|e| data.bond_order(e)).unwrap_or(1);
            let name = e.and_then(|e| data.bond_name(e)).unwrap_or_default();
            bonds.push(MolBond {
                a: u,
                b: v,
                order,
                attr,
                marked: marked.get(&(u, v)).copied().unwrap_or(false),
                label: format!("{}{u}–{}{v} {name}", atoms[u], atoms[v])
                    .trim_end()
                    .to_string(),
            });
        }
        Ok(Molecule {
            atoms,
            bonds,
            atom_score,
        })
    }
}

impl Panel {
    /// The panel of the file's graph `g`: its molecule and a title naming the
    /// dataset graph, the target class and the method from the file's metadata.
    pub fn from_file(file: &AttrFile, g: usize, data: &LabeledGraphs) -> Result<Panel> {
        let molecule = Molecule::from_file(file, g, data)?;
        let d = file.graph_index(g);
        let title = format!("graph {d} of {}", data.name);
        let m = file.metadata();
        let mut parts = Vec::new();
        if let Some(method) = file.method() {
            let mut s = method.to_string();
            if method == "ig" {
                if let (Some(rule), Some(steps)) = (m.get("rule"), m.get("steps")) {
                    s = format!("ig ({rule}, {steps} steps)");
                }
            }
            parts.push(s);
        }
        if let Some(t) = file.target(g) {
            let mut s = format!("target {t}");
            if let Some(c) = data.class_name(t) {
                let _ = write!(s, " = {c}");
            }
            if let Some(p) = file.target_probability(g) {
                let _ = write!(s, ", p {p:.3}");
            }
            parts.push(s);
        }
        Ok(Panel {
            title,
            subtitle: parts.join(" · "),
            molecule,
        })
    }
}

/// A short number for the colour bar.
fn short(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-2..1e3).contains(&a) {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

const TITLE_H: f64 = 48.0;
const BAR_H: f64 = 58.0;
const MIN_W: f64 = 300.0;

/// A panel laid out: positions, natural size.
struct Drawn<'a> {
    panel: &'a Panel,
    pos: Vec<[f64; 2]>,
    lo: [f64; 2],
    hi: [f64; 2],
    size: [f64; 2],
    vmax: f64,
}

/// The largest finite |value| the panel's colours show: of the atom scores when
/// there are any, else of the bond attributions.
fn largest_abs(m: &Molecule) -> f64 {
    let values: Box<dyn Iterator<Item = f64> + '_> = match &m.atom_score {
        Some(s) => Box::new(s.iter().copied()),
        None => Box::new(m.bonds.iter().map(|b| b.attr)),
    };
    values
        .map(f64::abs)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

/// Draws `panels` as one SVG document: a grid of `options.columns` panels
/// per row (one panel: just that panel). All text is XML-escaped.
pub fn render_svg(panels: &[Panel], options: &RenderOptions) -> String {
    let s = options.bond_px.max(4.0);
    let pad = 0.7 * s;
    let shared = panels
        .iter()
        .map(|p| largest_abs(&p.molecule))
        .fold(0.0, f64::max);
    let drawn: Vec<Drawn> = panels
        .iter()
        .map(|panel| {
            let m = &panel.molecule;
            let bonds: Vec<(usize, usize, u8)> = m
                .bonds
                .iter()
                .filter(|b| b.a < m.atoms.len() && b.b < m.atoms.len())
                .map(|b| (b.a, b.b, b.order))
                .collect();
            let pos = layout::layout(m.atoms.len(), &bonds);
            let (lo, hi) = layout::bounds(&pos);
            let title_w = 8.6 * panel.title.chars().count() as f64 + 24.0;
            let sub_w = 6.6 * panel.subtitle.chars().count() as f64 + 24.0;
            let w = ((hi[0] - lo[0]) * s + 2.0 * pad)
                .max(MIN_W)
                .max(title_w)
                .max(sub_w);
            let h = (hi[1] - lo[1]) * s + 2.0 * pad + TITLE_H + BAR_H;
            let own = largest_abs(m);
            let vmax = if options.shared_scale { shared } else { own };
            Drawn {
                panel,
                pos,
                lo,
                hi,
                size: [w, h],
                vmax: if vmax > 0.0 { vmax } else { 1.0 },
            }
        })
        .collect();
    let cols = options.columns.clamp(1, drawn.len().max(1));
    let rows = drawn.len().div_ceil(cols).max(1);
    let cell_w = drawn.iter().map(|d| d.size[0]).fold(MIN_W, f64::max);
    let cell_h = drawn
        .iter()
        .map(|d| d.size[1])
        .fold(TITLE_H + BAR_H, f64::max);
    let (w, h) = (cell_w * cols as f64, cell_h * rows as f64);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#,
        num(w),
        num(h),
        num(w),
        num(h)
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, d) in drawn.iter().enumerate() {
        let (x0, y0) = ((i % cols) as f64 * cell_w, (i / cols) as f64 * cell_h);
        let _ = writeln!(
            out,
            r#"<g class="panel" transform="translate({},{})">"#,
            num(x0),
            num(y0)
        );
        draw_panel(&mut out, d, i, [cell_w, cell_h], s, options);
        let _ = writeln!(out, "</g>");
    }
    out.push_str("</svg>\n");
    out
}

/// Draws one panel into a cell of size `cell` at the origin.
fn draw_panel(
    out: &mut String,
    d: &Drawn,
    index: usize,
    cell: [f64; 2],
    s: f64,
    options: &RenderOptions,
) {
    let m = &d.panel.molecule;
    // Title.
    let _ = writeln!(
        out,
        r##"<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
        num(cell[0] / 2.0),
        escape(&d.panel.title)
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="40" text-anchor="middle" font-size="12" fill="#555">{}</text>"##,
        num(cell[0] / 2.0),
        escape(&d.panel.subtitle)
    );
    // The molecule, centred in the space between title and colour bar.
    let span = [(d.hi[0] - d.lo[0]) * s, (d.hi[1] - d.lo[1]) * s];
    let body_h = cell[1] - TITLE_H - BAR_H;
    let ox = (cell[0] - span[0]) / 2.0;
    let oy = TITLE_H + (body_h - span[1]) / 2.0;
    let px = |p: [f64; 2]| [(p[0] - d.lo[0]) * s + ox, (p[1] - d.lo[1]) * s + oy];

    // Bonds, weakest first so the strongest lie on top.
    let mut order: Vec<usize> = (0..m.bonds.len())
        .filter(|&k| m.bonds[k].a < m.atoms.len() && m.bonds[k].b < m.atoms.len())
        .collect();
    order.sort_by(|&x, &y| {
        let (ax, ay) = (m.bonds[x].attr.abs(), m.bonds[y].attr.abs());
        ax.partial_cmp(&ay)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(x.cmp(&y))
    });
    if options.show_ground_truth {
        for &k in &order {
            let b = &m.bonds[k];
            if !b.marked {
                continue;
            }
            let (p, q) = (px(d.pos[b.a]), px(d.pos[b.b]));
            let _ = writeln!(
                out,
                r##"<line class="gt" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#f5c400" stroke-opacity="0.45" stroke-width="{}" stroke-linecap="round"/>"##,
                num(p[0]),
                num(p[1]),
                num(q[0]),
                num(q[1]),
                num(0.42 * s)
            );
        }
    }
    for &k in &order {
        let b = &m.bonds[k];
        let t = b.attr / d.vmax;
        let colour = diverging(t);
        let mag = if t.is_finite() { t.abs().min(1.0) } else { 0.0 };
        let width = 0.045 * s + 0.2 * s * mag;
        let (p, q) = (px(d.pos[b.a]), px(d.pos[b.b]));
        let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        let (nx, ny) = (-dy / len, dx / len);
        let lines = if (2..=3).contains(&b.order) {
            b.order as usize
        } else {
            1
        };
        let lw = if lines == 1 {
            width
        } else {
            (width * 0.6).max(1.2)
        };
        let spacing = lw + (0.07 * s).max(2.0);
        let _ = write!(out, r#"<g class="bond" data-attr="{}">"#, b.attr);
        let tip = if b.label.is_empty() {
            format!("{:+.4}", b.attr)
        } else {
            format!("{}: {:+.4}", b.label, b.attr)
        };
        let _ = write!(out, "<title>{}</title>", escape(&tip));
        for l in 0..lines {
            let off = (l as f64 - (lines as f64 - 1.0) / 2.0) * spacing;
            let _ = write!(
                out,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="{}" stroke-linecap="round"/>"#,
                num(p[0] + off * nx),
                num(p[1] + off * ny),
                num(q[0] + off * nx),
                num(q[1] + off * ny),
                num(lw)
            );
        }
        let _ = writeln!(out, "</g>");
    }
    // Atoms: a disc that cuts the bonds (white, or coloured and sized by the atom's
    // score), then the symbol.
    for (i, sym) in m.atoms.iter().enumerate() {
        let p = px(d.pos[i]);
        let (r, size, weight, fill) = match sym.as_str() {
            "H" => (0.17 * s, 0.3 * s, "normal", "#666"),
            "C" => (0.2 * s, 0.36 * s, "normal", "#444"),
            _ => (0.27 * s, 0.46 * s, "bold", "#111"),
        };
        let score = m.atom_score.as_ref().and_then(|v| v.get(i).copied());
        let (r, disc, extra) = match score {
            None => (r, "white".to_string(), String::new()),
            Some(v) => {
                let t = v / d.vmax;
                let mag = if t.is_finite() { t.abs().min(1.0) } else { 0.0 };
                let tip = format!("<title>{}{i}: {v:+.4}</title>", escape(sym));
                (
                    r.max(0.22 * s) + 0.22 * s * mag,
                    diverging(t),
                    format!(r#" data-score="{v}">{tip}"#),
                )
            }
        };
        let open = if extra.is_empty() {
            r#"<g class="atom">"#.to_string()
        } else {
            format!(r#"<g class="atom"{extra}"#)
        };
        let _ = writeln!(
            out,
            r##"{open}<circle cx="{}" cy="{}" r="{}" fill="{disc}"/><text x="{}" y="{}" text-anchor="middle" font-size="{}" font-weight="{weight}" fill="{fill}">{}</text></g>"##,
            num(p[0]),
            num(p[1]),
            num(r),
            num(p[0]),
            num(p[1] + 0.35 * size),
            num(size),
            escape(sym)
        );
    }
    // Colour bar.
    let bar_w = 200.0f64.min(cell[0] - 40.0);
    let bx = (cell[0] - bar_w) / 2.0;
    let by = cell[1] - BAR_H + 22.0;
    let id = format!("cbar{index}");
    let _ = write!(
        out,
        r#"<defs><linearGradient id="{id}" x1="0" y1="0" x2="1" y2="0">"#
    );
    for k in 0..=10 {
        let t = k as f64 / 10.0;
        let _ = write!(
            out,
            r#"<stop offset="{}" stop-color="{}"/>"#,
            num(t),
            diverging(2.0 * t - 1.0)
        );
    }
    let _ = writeln!(out, "</linearGradient></defs>");
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#555">{}</text>"##,
        num(cell[0] / 2.0),
        num(by - 6.0),
        if m.atom_score.is_some() {
            "atom score (node level)"
        } else {
            "bond attribution (both directions)"
        }
    );
    let _ = writeln!(
        out,
        r##"<rect class="colorbar" x="{}" y="{}" width="{}" height="10" fill="url(#{id})" stroke="#999" stroke-width="0.5"/>"##,
        num(bx),
        num(by),
        num(bar_w)
    );
    for (x, label, anchor) in [
        (bx, short(-d.vmax), "start"),
        (bx + bar_w / 2.0, "0".to_string(), "middle"),
        (bx + bar_w, format!("+{}", short(d.vmax)), "end"),
    ] {
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" text-anchor="{anchor}" font-size="11" fill="#333">{}</text>"##,
            num(x),
            num(by + 23.0),
            escape(&label)
        );
    }
}
