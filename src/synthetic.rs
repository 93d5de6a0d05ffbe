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

/// Generates a dataset. Half the molecules (at random) carry the nitro motif.
pub fn generate(cfg: &SyntheticConfig) -> Result<SyntheticDataset> {
    if cfg.num_graphs == 0 {
        return Err(Error::Config(
            "the synthetic dataset needs at least one graph".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let f = ATOM_SYMBOLS.len();
    let mut p = GraphParts {
        num_features: f,
        node_ptr: vec![0],
        edge_ptr: vec![0],
        ..Default::default()
    };
    let (mut edge_labels, mut edge_gt, mut graph_labels) = (Vec::new(), Vec::new(), Vec::new());
    let mut node_labels = Vec::new();
    for _ in 0..cfg.num_graphs {
        let mutagen = rng.gen_bool(0.5);
        let m = molecule(&mut rng, mutagen);
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
        write("label_readme", &|f| {
            writeln!(f, "Synthetic molecules from graph-ig (seeded).")?;
            writeln!(f, "Node labels: 0..13 = {}", ATOM_SYMBOLS.join(" "))?;
            writeln!(f, "Edge labels: valence 0 = single, 1 = double, 2 = triple")?;
            writeln!(
                f,
                "Graph labels: 0 = has the planted nitro group, 1 = has none"
            )?;
            writeln!(f, "Edge gt: 1 for the N-O bonds of the nitro group")
        })?;
        Ok(())
    }
}
