//! A seeded generator of small molecule-like graphs with a planted motif.
//!
//! Atoms use Mutagenicity's label map (C O Cl H N F Br S P I Na K Li Ca, 14
//! one-hot features), so models and tools made for Mutagenicity apply.
//! Each molecule has one or two six-membered rings (sometimes with a ring
//! nitrogen), hydrogens and substituents (Cl, F, Br, OH, CH3, CHO, nitrile,
//! N-methylamine, nitroso), sometimes a side chain, a counter-ion (an isolated
//! Na atom) or a second small component.
//!
//! **The class is decided by a planted nitro group** (an N bonded to a ring
//! carbon and to two O atoms, one double and one single bond): class 0
//! ("mutagen") has one, class 1 has none. The ground-truth edges are the four
//! directed N–O bonds of the nitro group, as in Mutagenicity's `_edge_gt.txt`.
//! Decoys (nitroso N=O, OH, amines, nitriles) make the model learn the motif
//! rather than the presence of N or O. Each bond is listed in both directions,
//! `(u, v)` then `(v, u)`, like the TU files.

use crate::graph::{GraphBatch, GraphParts};
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::Path;

/// Atom symbols by label, as in Mutagenicity.
pub const ATOM_SYMBOLS: [&str; 14] = [
    "C", "O", "Cl", "H", "N", "F", "Br", "S", "P", "I", "Na", "K", "Li", "Ca",
];

const C: u8 = 0;
const O: u8 = 1;
const CL: u8 = 2;
const H: u8 = 3;
const N: u8 = 4;
const F: u8 = 5;
const BR: u8 = 6;
const NA: u8 = 10;

/// Settings of the generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticConfig {
    /// Number of molecules.
    pub num_graphs: usize,
    /// Random seed; the same seed gives the same dataset on every platform.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    /// The embedded default dataset: 1000 molecules, seed 7.
    fn default() -> Self {
        SyntheticConfig {
            num_graphs: 1000,
            seed: 7,
        }
    }
}

/// A generated dataset.
#[derive(Debug, Clone)]
pub struct SyntheticDataset {
    /// The graphs, with one-hot features (F = 14), edge labels (valence
    /// 0 = single, 1 = double, 2 = triple), ground-truth marks and graph labels.
    pub batch: GraphBatch,
    /// The atom label of every node.
    pub node_labels: Vec<u8>,
}

/// One molecule under construction.
#[derive(Default)]
struct Mol {
    atoms: Vec<u8>,
    bonds: Vec<(usize, usize, i64, u8)>, // (u, v, valence, ground truth)
}

impl Mol {
    fn atom(&mut self, label: u8) -> usize {
        self.atoms.push(label);
        self.atoms.len() - 1
    }
    fn bond(&mut self, u: usize, v: usize, valence: i64) {
        self.bonds.push((u, v, valence, 0));
    }
    fn attach(&mut self, to: usize, label: u8, valence: i64) -> usize {
        let a = self.atom(label);
        self.bond(to, a, valence);
        a
    }
    fn hydrogens(&mut self, to: usize, k: usize) {
        for _ in 0..k {
            self.attach(to, H, 0);
        }
    }
    /// A six-membered ring; returns its atoms.
    fn ring(&mut self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let with_n = rng.gen_bool(0.15);
        let atoms: Vec<usize> = (0..6)
            .map(|i| self.atom(if with_n && i == 3 { N } else { C }))
            .collect();
        for i in 0..6 {
            self.bond(atoms[i], atoms[(i + 1) % 6], (i % 2) as i64);
        }
        atoms
    }
    /// A substituent (or H) on a ring carbon. Never a nitro group.
    fn substituent(&mut self, rng: &mut ChaCha8Rng, at: usize) {
        match rng.gen_range(0..20) {
            0 => drop(self.attach(at, CL, 0)),
            1 => drop(self.attach(at, F, 0)),
            2 => drop(self.attach(at, BR, 0)),
            3 => {
                let o = self.attach(at, O, 0);
                self.hydrogens(o, 1);
            }
            4 => {
                let c = self.attach(at, C, 0);
                self.hydrogens(c, 3);
            }
            5 => {
                let c = self.attach(at, C, 0);
                self.attach(c, O, 1);
                self.hydrogens(c, 1);
            }
            6 => {
                let c = self.attach(at, C, 0);
                self.attach(c, N, 2);
            }
            7 => {
                // N-methylamine: N with one H and one CH3.
                let n = self.attach(at, N, 0);
                self.hydrogens(n, 1);
                let c = self.attach(n, C, 0);
                self.hydrogens(c, 3);
            }
            8 => {
                // Nitroso decoy: N=O, a single oxygen.
                let n = self.attach(at, N, 0);
                self.attach(n, O, 1);
            }
            _ => self.hydrogens(at, 1),
        }
    }
    /// The planted motif: a nitro group on `at`, its N–O bonds marked.
    fn nitro(&mut self, at: usize) {
        let n = self.attach(at, N, 0);
        let o1 = self.atom(O);
        let o2 = self.atom(O);
        self.bonds.push((n, o1, 1, 1));
        self.bonds.push((n, o2, 0, 1));
    }
}

fn molecule(rng: &mut ChaCha8Rng, mutagen: bool) -> Mol {
    let mut m = Mol::default();
    let mut sites: Vec<usize> = Vec::new();
    let ring1 = m.ring(rng);
    sites.extend(ring1.iter().copied().filter(|&a| m.atoms[a] == C));
    if rng.gen_bool(0.4) {
        let ring2 = m.ring(rng);
        let (a, b) = (sites.remove(0), ring2[0]);
        if rng.gen_bool(0.5) {
            m.bond(a, b, 0);
        } else {
            let bridge = m.attach(a, C, 0);
            m.hydrogens(bridge, 2);
            m.bond(bridge, b, 0);
        }
        sites.extend(ring2[1..].iter().copied().filter(|&x| m.atoms[x] == C));
    }
    if rng.gen_bool(0.3) {
        // A side chain of 1 to 3 carbons.
        let mut prev = sites.remove(rng.gen_range(0..sites.len()));
        let len = rng.gen_range(1..=3);
        for i in 0..len {
            let c = m.attach(prev, C, 0);
            m.hydrogens(c, if i + 1 == len { 3 } else { 2 });
            prev = c;
        }
    }
    if mutagen {
        let at = sites.remove(rng.gen_range(0..sites.len()));
        m.nitro(at);
    }
    for &s in &sites {
        m.substituent(rng, s);
    }
    if rng.gen_bool(0.08) {
        m.atom(NA); // an isolated counter-ion
    }
    if rng.gen_bool(0.05) {
        // A second component: a water molecule.
        let o = m.atom(O);
        m.hydrogens(o, 2);
    }
    m
}

/// The molecules of a dataset, in order, one at a time: each with its atom labels, its
/// bonds `(u, v, valence, ground truth)` (local atom ids, each listed once) and whether it
/// carries the motif. [`generate`] and [`write_tu_streaming`] both read it, so that they
/// give the same dataset for the same settings.
struct Molecules {
    rng: ChaCha8Rng,
    left: usize,
}

impl Molecules {
    fn new(cfg: &SyntheticConfig) -> Result<Self> {
        if cfg.num_graphs == 0 {
            return Err(Error::Config(
                "the synthetic dataset needs at least one graph".into(),
            ));
        }
        Ok(Molecules {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            left: cfg.num_graphs,
        })
    }
}

impl Iterator for Molecules {
    type Item = (Mol, bool);
    fn next(&mut self) -> Option<(Mol, bool)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mutagen = self.rng.gen_bool(0.5);
        Some((molecule(&mut self.rng, mutagen), mutagen))
    }
}

/// Generates a dataset. Half the molecules (at random) carry the nitro motif.
pub fn generate(cfg: &SyntheticConfig) -> Result<SyntheticDataset> {
    let molecules = Molecules::new(cfg)?;
    let f = ATOM_SYMBOLS.len();
    let mut p = GraphParts {
        num_features: f,
        node_ptr: vec![0],
        edge_ptr: vec![0],
        ..Default::default()
    };
    let (mut edge_labels, mut edge_gt, mut graph_labels) = (Vec::new(), Vec::new(), Vec::new());
    let mut node_labels = Vec::new();
    for (m, mutagen) in molecules {
        let n0 = node_labels.len();
        for &a in &m.atoms {
            let mut row = vec![0.0f32; f];
            row[a as usize] = 1.0;
            p.x.extend(row);
            node_labels.push(a);
        }
        for &(u, v, val, gt) in &m.bonds {
            for (s, d) in [(u, v), (v, u)] {
                p.src.push(n0 + s);
                p.dst.push(n0 + d);
                edge_labels.push(val);
                edge_gt.push(gt);
            }
        }
        p.node_ptr.push(node_labels.len());
        p.edge_ptr.push(p.src.len());
        graph_labels.push(i64::from(!mutagen));
    }
    p.edge_labels = Some(edge_labels);
    p.edge_gt = Some(edge_gt);
    p.graph_labels = Some(graph_labels);
    Ok(SyntheticDataset {
        batch: GraphBatch::from_parts(p)?,
        node_labels,
    })
}

/// The text of `NAME_label_readme.txt`.
fn write_readme(f: &mut dyn Write) -> std::io::Result<()> {
    writeln!(f, "Synthetic molecules from graph-ig (seeded).")?;
    writeln!(f, "Node labels: 0..13 = {}", ATOM_SYMBOLS.join(" "))?;
    writeln!(f, "Edge labels: valence 0 = single, 1 = double, 2 = triple")?;
    writeln!(
        f,
        "Graph labels: 0 = has the planted nitro group, 1 = has none"
    )?;
    writeln!(f, "Edge gt: 1 for the N-O bonds of the nitro group")
}

/// What [`write_tu_streaming`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenCounts {
    /// Molecules.
    pub graphs: usize,
    /// Atoms.
    pub nodes: u64,
    /// Directed edges (each bond twice).
    pub edges: u64,
}

/// The files [`write_tu_streaming`] writes, in the order it opens them.
const TU_SUFFIXES: [&str; 7] = [
    "A",
    "graph_indicator",
    "node_labels",
    "edge_labels",
    "edge_gt",
    "graph_labels",
    "label_readme",
];

/// Writes the dataset of `cfg` as TU text files `DIR/NAME_*.txt`, a molecule at a time,
/// in memory that does not grow with `cfg.num_graphs`. The files are byte for byte those
/// of `generate(cfg)?.write_tu(dir, name)`. Each file is written to a temporary file
/// beside it, and all are renamed once all are complete: a failure while writing (a
/// full disk, [`Error::NoSpace`]) removes the temporary files and leaves the folder's
/// earlier files as they were.
pub fn write_tu_streaming(
    cfg: &SyntheticConfig,
    dir: impl AsRef<Path>,
    name: &str,
) -> Result<WrittenCounts> {
    let molecules = Molecules::new(cfg)?;
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let paths: Vec<_> = TU_SUFFIXES
        .iter()
        .map(|s| dir.join(format!("{name}_{s}.txt")))
        .collect();
    let temps: Vec<_> = paths.iter().map(|p| crate::output::temp_path(p)).collect();
    let remove_temps = || {
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
    };
    let mut counts = WrittenCounts {
        graphs: 0,
        nodes: 0,
        edges: 0,
    };
    // The index of the file at fault with its error, for the message.
    let written = (|| -> std::result::Result<(), (usize, std::io::Error)> {
        let mut files = Vec::with_capacity(temps.len());
        for (k, t) in temps.iter().enumerate() {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(t)
                .map_err(|e| (k, e))?;
            files.push(std::io::BufWriter::with_capacity(1 << 20, f));
        }
        let [a, gi, nl, el, gt, gl, readme] = &mut files[..] else {
            return Err((0, std::io::Error::other("not seven files")));
        };
        for (m, mutagen) in molecules {
            counts.graphs += 1;
            let n0 = counts.nodes;
            for &atom in &m.atoms {
                writeln!(nl, "{atom}").map_err(|e| (2, e))?;
                writeln!(gi, "{}", counts.graphs).map_err(|e| (1, e))?;
            }
            counts.nodes += m.atoms.len() as u64;
            for &(u, v, val, mark) in &m.bonds {
                for (s, d) in [(u, v), (v, u)] {
                    writeln!(a, "{}, {}", n0 + s as u64 + 1, n0 + d as u64 + 1)
                        .map_err(|e| (0, e))?;
                    writeln!(el, "{val}").map_err(|e| (3, e))?;
                    writeln!(gt, "{mark}").map_err(|e| (4, e))?;
                }
            }
            counts.edges += 2 * m.bonds.len() as u64;
            writeln!(gl, "{}", i64::from(!mutagen)).map_err(|e| (5, e))?;
        }
        write_readme(readme).map_err(|e| (6, e))?;
        for (k, f) in files.into_iter().enumerate() {
            let f = f.into_inner().map_err(|e| (k, e.into_error()))?;
            f.sync_all().map_err(|e| (k, e))?;
        }
        for (k, (t, p)) in temps.iter().zip(&paths).enumerate() {
            std::fs::rename(t, p).map_err(|e| (k, e))?;
        }
        Ok(())
    })();
    written.map_err(|(k, e)| {
        remove_temps();
        crate::output::write_error(&paths[k], e, 0)
    })?;
    Ok(counts)
}

impl SyntheticDataset {
    /// Writes the dataset as TU text files `DIR/NAME_*.txt`, readable by
    /// [`crate::graph::tu::load_tu`] and by PyG's `TUDataset`.
    pub fn write_tu(&self, dir: impl AsRef<Path>, name: &str) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let b = &self.batch;
        // Each file atomically: a failure (a full disk) leaves no truncated file.
        let write = |suffix: &str, body: &dyn Fn(&mut dyn Write) -> std::io::Result<()>| {
            let path = dir.join(format!("{name}_{suffix}.txt"));
            crate::output::write_atomic(&path, 0, |f| {
                let mut f = std::io::BufWriter::new(f);
                body(&mut f)?;
                f.flush()
            })
        };
        write("A", &|f| {
            for (s, d) in b.src().iter().zip(b.dst()) {
                writeln!(f, "{}, {}", s + 1, d + 1)?;
            }
            Ok(())
        })?;
        write("graph_indicator", &|f| {
            for g in b.graphs() {
                for _ in g.nodes {
                    writeln!(f, "{}", g.index + 1)?;
                }
            }
            Ok(())
        })?;
        write("node_labels", &|f| {
            self.node_labels.iter().try_for_each(|l| writeln!(f, "{l}"))
        })?;
        let column = |v: &[i64]| {
            let v = v.to_vec();
            move |f: &mut dyn Write| v.iter().try_for_each(|l| writeln!(f, "{l}"))
        };
        write("edge_labels", &column(b.edge_labels().unwrap_or(&[])))?;
        let gt: Vec<i64> = b
            .edge_gt()
            .unwrap_or(&[])
            .iter()
            .map(|&m| m as i64)
            .collect();
        write("edge_gt", &column(&gt))?;
        write("graph_labels", &column(b.graph_labels().unwrap_or(&[])))?;
        write("label_readme", &|f| write_readme(f))?;
        Ok(())
    }
}
