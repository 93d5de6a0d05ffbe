//! `graph-ig render` and the molecule layout: the SVG parses as XML, rasterises
//! (resvg) to a picture that is not blank and has red bonds where the
//! attribution is high, grids have several panels, text is escaped, errors are
//! clean, and layouts of rings and trees have no crossing bonds.

mod common;

use common::rasterise;

use common::{cli_fails, cli_ok};
use graph_ig::labels::LabeledGraphs;
use graph_ig::render::layout::{count_crossings, layout};
use graph_ig::render::svg::{diverging_rgb, escape};
use graph_ig::render::{render_svg, MolBond, Molecule, Panel, RenderOptions};
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::topk::AttrFile;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// ---------------------------------------------------------------- layout

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn pairs(bonds: &[(usize, usize, u8)]) -> Vec<(usize, usize)> {
    bonds.iter().map(|b| (b.0, b.1)).collect()
}

/// Benzene with its six hydrogens.
fn benzene(with_h: bool) -> (usize, Vec<(usize, usize, u8)>) {
    let mut b: Vec<(usize, usize, u8)> = (0..6)
        .map(|i| (i, (i + 1) % 6, 1 + (i % 2) as u8))
        .collect();
    if with_h {
        b.extend((0..6).map(|i| (i, 6 + i, 1)));
    }
    (if with_h { 12 } else { 6 }, b)
}

#[test]
fn benzene_is_a_regular_hexagon_without_crossings() {
    for with_h in [false, true] {
        let (n, bonds) = benzene(with_h);
        let pos = layout(n, &bonds);
        assert_eq!(pos.len(), n);
        assert_eq!(count_crossings(&pos, &pairs(&bonds)), 0);
        for &(a, b, _) in &bonds {
            let d = dist(pos[a], pos[b]);
            assert!((d - 1.0).abs() < 0.05, "bond {a}-{b} has length {d}");
        }
        // Opposite ring atoms: twice the bond length in a regular hexagon.
        for i in 0..3 {
            let d = dist(pos[i], pos[i + 3]);
            assert!((d - 2.0).abs() < 0.06, "para distance {d}");
        }
        // Hydrogens point outwards: farther from the centre than their carbon.
        if with_h {
            let c = [
                pos[..6].iter().map(|p| p[0]).sum::<f64>() / 6.0,
                pos[..6].iter().map(|p| p[1]).sum::<f64>() / 6.0,
            ];
            for i in 0..6 {
                assert!(dist(pos[6 + i], c) > dist(pos[i], c) + 0.8);
            }
        }
        // Deterministic.
        assert_eq!(pos, layout(n, &bonds));
    }
}

#[test]
fn trees_and_fused_rings_have_no_crossings() {
    // A branched tree of 22 atoms.
    let tree: Vec<(usize, usize, u8)> = (1..22).map(|i| ((i - 1) / 3, i, 1)).collect();
    let pos = layout(22, &tree);
    assert_eq!(count_crossings(&pos, &pairs(&tree)), 0);
    for i in 0..22 {
        for j in i + 1..22 {
            assert!(dist(pos[i], pos[j]) > 0.3, "atoms {i} and {j} overlap");
        }
    }
    // Naphthalene: two fused hexagons.
    let mut naph: Vec<(usize, usize, u8)> = (0..6).map(|i| (i, (i + 1) % 6, 1)).collect();
    naph.extend([(1, 6, 1), (6, 7, 1), (7, 8, 1), (8, 9, 1), (9, 2, 1)]);
    let pos = layout(10, &naph);
    assert_eq!(count_crossings(&pos, &pairs(&naph)), 0);
    for &(a, b, _) in &naph {
        assert!((dist(pos[a], pos[b]) - 1.0).abs() < 0.1);
    }
    // A triple bond is straight: N#C-C.
    let pos = layout(3, &[(0, 1, 3), (1, 2, 1)]);
    assert!((dist(pos[0], pos[2]) - 2.0).abs() < 0.05);
}

#[test]
fn components_and_isolated_atoms_do_not_overlap() {
    // Two benzene rings as separate components, plus two isolated atoms and a self-loop.
    let (_, mut bonds) = benzene(false);
    bonds.extend((0..6).map(|i| (6 + i, 6 + (i + 1) % 6, 1)));
    bonds.push((12, 12, 1));
    let pos = layout(14, &bonds);
    for i in 0..14 {
        for j in i + 1..14 {
            assert!(
                dist(pos[i], pos[j]) > 0.9,
                "atoms {i} and {j} are too close"
            );
        }
    }
    let max0 = pos[..6].iter().map(|p| p[0]).fold(f64::MIN, f64::max);
    let min1 = pos[6..12].iter().map(|p| p[0]).fold(f64::MAX, f64::min);
    assert!(min1 > max0 + 1.0, "components side by side");
    // Atoms only; nothing at all.
    assert_eq!(layout(3, &[]).len(), 3);
    assert!(layout(0, &[]).is_empty());
}

#[test]
fn synthetic_molecules_are_drawn_without_crossings() {
    let d = generate(&SyntheticConfig {
        num_graphs: 60,
        seed: 11,
    })
    .unwrap();
    let b = &d.batch;
    let mut crossed = Vec::new();
    for g in b.graphs() {
        let n0 = g.nodes.start;
        let mut bonds: Vec<(usize, usize, u8)> = g
            .edges
            .clone()
            .map(|e| (b.src()[e] as usize - n0, b.dst()[e] as usize - n0, 1))
            .filter(|x| x.0 < x.1)
            .collect();
        bonds.dedup();
        let pos = layout(g.num_nodes(), &bonds);
        if count_crossings(&pos, &pairs(&bonds)) > 0 {
            crossed.push(g.index);
        }
    }
    assert!(
        crossed.is_empty(),
        "graphs with crossing bonds: {crossed:?}"
    );
}

// ---------------------------------------------------------------- SVG

/// Pixels that are not white, and pixels that are clearly red.
fn count_pixels(pm: &resvg::tiny_skia::Pixmap) -> (usize, usize, usize) {
    let (mut ink, mut red, mut blue) = (0, 0, 0);
    for p in pm.pixels() {
        let c = p.demultiply();
        let (r, g, b, a) = (c.red(), c.green(), c.blue(), c.alpha());
        if a > 0 && (r < 240 || g < 240 || b < 240) {
            ink += 1;
        }
        if a > 200 && r > 150 && g < 90 && b < 100 {
            red += 1;
        }
        if a > 200 && b > 150 && r < 110 && g < 130 {
            blue += 1;
        }
    }
    (ink, red, blue)
}

fn panels_of(doc: &roxmltree::Document) -> usize {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("panel"))
        .count()
}

#[test]
fn colour_map_is_diverging_and_symmetric() {
    let [r, g, b] = diverging_rgb(1.0);
    assert!(r > 150 && g < 50 && b < 60);
    let [r, g, b] = diverging_rgb(-1.0);
    assert!(b > 150 && r < 100 && g < 100);
    let [r, g, b] = diverging_rgb(0.0);
    assert!(
        r == g && g == b && r > 150 && r < 240,
        "grey at 0, visible on white"
    );
    assert_eq!(diverging_rgb(5.0), diverging_rgb(1.0));
    assert_eq!(diverging_rgb(f64::NAN), [0, 0, 0]);
    assert_eq!(
        escape(r#"<a & "b" 'c'>"#),
        "&lt;a &amp; &quot;b&quot; &apos;c&apos;&gt;"
    );
}

fn nitrobenzene(attr_no: f64) -> Molecule {
    let (_, ring) = benzene(false);
    let mut atoms: Vec<String> = vec!["C".into(); 6];
    atoms.extend(["N", "O", "O"].map(String::from));
    let mut bonds: Vec<MolBond> = ring
        .iter()
        .map(|&(a, b, o)| MolBond {
            a,
            b,
            order: o,
            attr: 0.01,
            marked: false,
            label: String::new(),
        })
        .collect();
    for (a, b, o, attr) in [(0, 6, 1, -0.2), (6, 7, 2, attr_no), (6, 8, 1, attr_no)] {
        bonds.push(MolBond {
            a,
            b,
            order: o,
            attr,
            marked: a == 6,
            label: format!("{a}-{b}"),
        });
    }
    Molecule {
        atoms,
        bonds,
        atom_score: None,
    }
}

#[test]
fn a_panel_rasterises_with_red_high_bonds_and_escaped_text() {
    let panel = Panel {
        title: r#"<graph> & "co" 'x'"#.into(),
        subtitle: "ig".into(),
        molecule: nitrobenzene(1.0),
    };
    let opts = RenderOptions {
        show_ground_truth: true,
        ..Default::default()
    };
    let svg = render_svg(&[panel], &opts);
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert_eq!(panels_of(&doc), 1);
    assert!(doc
        .descendants()
        .any(|n| n.text() == Some(r#"<graph> & "co" 'x'"#)));
    // Double bond: two lines; the nitro halo drawn for marked bonds.
    let nitro = doc
        .descendants()
        .find(|n| n.children().any(|c| c.text() == Some("6-7: +1.0000")))
        .expect("the N=O bond has a tooltip");
    assert_eq!(
        nitro.children().filter(|c| c.has_tag_name("line")).count(),
        2
    );
    assert_eq!(
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("gt"))
            .count(),
        2
    );
    let pm = rasterise(&svg);
    let (ink, red, blue) = count_pixels(&pm);
    let total = (pm.width() * pm.height()) as usize;
    assert!(ink > 2000, "only {ink} of {total} pixels drawn");
    assert!(
        red > 150,
        "only {red} red pixels for the strongly positive N–O bonds"
    );
    assert!(
        blue > 30,
        "only {blue} blue pixels for the negative C–N bond and the bar"
    );
    // With the N–O bonds turned negative, the red goes (but for the colour bar).
    let svg = render_svg(
        &[Panel {
            molecule: nitrobenzene(-1.0),
            ..Default::default()
        }],
        &RenderOptions::default(),
    );
    let (_, red2, _) = count_pixels(&rasterise(&svg));
    assert!(red2 < red / 2, "red {red2} vs {red}");
}

// ---------------------------------------------------------------- CLI

struct Fixture {
    root: PathBuf,
    ig: PathBuf,
    saliency: PathBuf,
    nodes: PathBuf,
    ceb: PathBuf,
    other: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("render-tests");
        std::fs::create_dir_all(&root).unwrap();
        let f = Fixture {
            ig: root.join("ig.safetensors"),
            saliency: root.join("saliency.safetensors"),
            nodes: root.join("nodes.safetensors"),
            ceb: root.join("ceb.safetensors"),
            other: root.join("other"),
            root,
        };
        for (out, method, wrt) in [
            (&f.ig, "ig", "edges"),
            (&f.saliency, "saliency", "edges"),
            (&f.nodes, "ig", "nodes"),
            (&f.ceb, "c-eb", "edges"),
        ] {
            cli_ok(&[
                "explain",
                "--graphs",
                "0..6",
                "--method",
                method,
                "--wrt",
                wrt,
                "--quiet",
                "--device",
                "cpu",
                "--out",
                out.to_str().unwrap(),
            ]);
        }
        generate(&SyntheticConfig {
            num_graphs: 8,
            seed: 99,
        })
        .unwrap()
        .write_tu(&f.other, "Synthetic")
        .unwrap();
        f
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_render_draws_a_mutagen_with_its_nitro_group_red() {
    let f = fixture();
    let file = AttrFile::open(&f.ig).unwrap();
    let data = LabeledGraphs::synthetic().unwrap();
    // The first mutagen of the file.
    let g = (0..6)
        .find(|&g| data.batch.graph_labels().unwrap()[g] == 0 && file.target(g) == Some(0))
        .expect("a mutagen among graphs 0..6");
    let out = f.root.join("one.svg");
    let stdout = cli_ok(&[
        "render",
        "--attr",
        s(&f.ig),
        "--graph",
        &g.to_string(),
        "--out",
        s(&out),
    ]);
    assert!(stdout.contains("1 panel"), "{stdout}");
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    assert_eq!(panels_of(&doc), 1);
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(texts
        .iter()
        .any(|t| t.contains(&format!("graph {g} of Synthetic"))));
    assert!(texts
        .iter()
        .any(|t| t.contains("ig (gauss-legendre, 50 steps)")));
    assert!(texts.iter().any(|t| t.contains("target 0 = mutagen")));
    assert!(texts.contains(&"N") && texts.contains(&"O"));
    // The strongest bond (by |attribution|) is an N–O bond of the nitro group.
    let strongest = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("bond"))
        .max_by(|a, b| {
            let v = |n: &roxmltree::Node| {
                n.attribute("data-attr")
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
                    .abs()
            };
            v(a).total_cmp(&v(b))
        })
        .unwrap();
    let tip = strongest
        .children()
        .find(|c| c.has_tag_name("title"))
        .and_then(|t| t.text())
        .unwrap();
    assert!(tip.starts_with('N') && tip.contains("–O"), "{tip}");
    let pm = rasterise(&svg);
    let (ink, red, _) = count_pixels(&pm);
    assert!(ink > 3000, "{ink} pixels drawn");
    assert!(red > 100, "{red} red pixels");
    // The PNG, for a look (text is left out: no fonts are loaded).
    let png = pm.encode_png().expect("PNG encoding");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000);
    std::fs::write(f.root.join("one.png"), png).unwrap();
}

/// A node-level explanation (contrastive EB, tensor node_score) is drawn as atom discs
/// whose scores are the file's, with plain bonds and an atom-score colour bar.
#[test]
fn cli_render_draws_node_scores_on_the_atoms() {
    let f = fixture();
    let file = AttrFile::open(&f.ceb).unwrap();
    let g = 1;
    let out = f.root.join("ceb.svg");
    cli_ok(&[
        "render",
        "--attr",
        s(&f.ceb),
        "--graph",
        &g.to_string(),
        "--out",
        s(&out),
    ]);
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let scores: Vec<f64> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("atom"))
        .map(|n| {
            n.attribute("data-score")
                .expect("every atom has a score")
                .parse()
                .unwrap()
        })
        .collect();
    let want = file.node_score(g).unwrap();
    assert_eq!(scores.len(), want.len());
    for (a, b) in scores.iter().zip(want) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
    // The atom of largest |score| has the largest, fully coloured disc.
    let discs: Vec<(f64, String)> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("atom"))
        .map(|n| {
            let c = n.children().find(|c| c.has_tag_name("circle")).unwrap();
            (
                c.attribute("r").unwrap().parse().unwrap(),
                c.attribute("fill").unwrap().to_string(),
            )
        })
        .collect();
    let top = (0..want.len())
        .max_by(|&a, &b| want[a].abs().total_cmp(&want[b].abs()))
        .unwrap();
    let rmax = discs.iter().map(|d| d.0).fold(0.0, f64::max);
    assert_eq!(discs[top].0, rmax, "{discs:?}");
    assert_ne!(discs[top].1, "white");
    // Bonds carry no attribution of their own; the colour bar says what it shows.
    assert!(doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("bond"))
        .all(|n| n.attribute("data-attr") == Some("0")));
    assert!(doc
        .descendants()
        .any(|n| n.text() == Some("atom score (node level)")));
    let pm = rasterise(&svg);
    let (ink, red, blue) = count_pixels(&pm);
    assert!(
        ink > 3000 && red + blue > 100,
        "{ink} drawn, {red} red, {blue} blue"
    );
}

#[test]
fn cli_render_grids_of_graphs_and_methods() {
    let f = fixture();
    let out = f.root.join("grid.svg");
    cli_ok(&[
        "render",
        "--attr",
        s(&f.ig),
        "--graph",
        "0,1,4",
        "--out",
        s(&out),
    ]);
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(panels_of(&doc), 3);
    // Two methods for one graph, side by side, on one colour scale.
    let stdout = cli_ok(&[
        "render",
        "--attr",
        s(&f.ig),
        "--attr",
        s(&f.saliency),
        "--graph",
        "2",
        "--out",
        s(&out),
        "--shared-scale",
    ]);
    assert!(stdout.contains("2 panels"), "{stdout}");
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(panels_of(&doc), 2);
    let subtitles: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .filter(|t| t.contains("target"))
        .collect();
    assert!(
        subtitles.iter().any(|t| t.starts_with("ig")),
        "{subtitles:?}"
    );
    assert!(
        subtitles.iter().any(|t| t.starts_with("saliency")),
        "{subtitles:?}"
    );
    // Side by side: the second panel is translated to the right.
    let shifts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("panel"))
        .filter_map(|n| n.attribute("transform"))
        .collect();
    assert_eq!(shifts[0], "translate(0,0)");
    assert!(
        shifts[1].ends_with(",0)") && shifts[1] != shifts[0],
        "{shifts:?}"
    );
    let (ink, _, _) = count_pixels(&rasterise(&svg));
    assert!(ink > 4000);
}

#[test]
fn cli_render_errors_are_clean() {
    let f = fixture();
    let out = f.root.join("err.svg");
    let o = s(&out);
    cli_fails(
        &["render", "--attr", s(&f.ig), "--graph", "9", "--out", o],
        &["graph 9 is not in", "dataset graphs 0..6"],
    );
    cli_fails(
        &["render", "--attr", s(&f.ig), "--graph", "1;2", "--out", o],
        &["--graph"],
    );
    cli_fails(
        &["render", "--attr", s(&f.nodes), "--graph", "0", "--out", o],
        &["edge_attr", "--wrt edges"],
    );
    cli_fails(
        &[
            "render",
            "--attr",
            s(&f.ig),
            "--data",
            s(&f.other),
            "--name",
            "Synthetic",
            "--graph",
            "0",
            "--out",
            o,
        ],
        &["do not fit", "another dataset"],
    );
    cli_fails(
        &[
            "render",
            "--attr",
            s(&f.ig),
            "--graph",
            "0",
            "--out",
            "/nonexistent/dir/x.svg",
        ],
        &["/nonexistent/dir/x.svg"],
    );
    cli_fails(
        &["render", "--attr", s(&f.ig), "--bond-px", "0", "--out", o],
        &["--bond-px"],
    );
}

/// Not a test of behaviour: lays out every Mutagenicity molecule and prints
/// how many have crossing bonds (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn survey_mutagenicity_layouts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/Mutagenicity/raw");
    let data = LabeledGraphs::load_tu(&dir, "Mutagenicity").unwrap();
    let b = &data.batch;
    let t = std::time::Instant::now();
    let (mut crossed, mut worst) = (Vec::new(), (0, 0.0f64));
    for g in b.graphs() {
        let t0 = std::time::Instant::now();
        let n0 = g.nodes.start;
        let mut bonds: Vec<(usize, usize, u8)> = g
            .edges
            .clone()
            .map(|e| (b.src()[e] as usize - n0, b.dst()[e] as usize - n0, 1))
            .filter(|x| x.0 < x.1)
            .collect();
        bonds.sort_unstable();
        bonds.dedup();
        let pos = layout(g.num_nodes(), &bonds);
        let c = count_crossings(&pos, &pairs(&bonds));
        if c > 0 {
            crossed.push((g.index, c));
        }
        let dt = t0.elapsed().as_secs_f64();
        if dt > worst.1 {
            worst = (g.index, dt);
        }
    }
    println!(
        "{} graphs in {:.1} s (slowest: graph {} in {:.3} s); {} with crossings: {:?}",
        b.num_graphs(),
        t.elapsed().as_secs_f64(),
        worst.0,
        worst.1,
        crossed.len(),
        &crossed[..crossed.len().min(40)]
    );
}
