//! The entry points of the fuzz targets in `fuzz/`, shared with their corpus replay
//! (`tests/fuzz_replay.rs`), so that CI replays exactly what the fuzzer runs.
//!
//! Each takes arbitrary bytes and must return, for every input, without a panic, an
//! abort or an allocation the input did not pay for: bad input gives a clean
//! [`crate::Error`], which the entry point drops. A crash found by the fuzzer becomes a
//! file in `tests/fuzz_regressions/TARGET/`, replayed by `cargo test`.
//!
//! The readers of user data covered: the TU text files ([`tu`]), the model safetensors
//! and its metadata ([`model`]), the PyG data file ([`pyg`]), the architecture card
//! and its check against a state dict ([`card`]), the attribution files of `top`,
//! `eval` and `render` ([`attributions`]), and the command line's ranges, lists, names
//! and numbers ([`args`]).
//!
//! Adding a reader: write a function here that feeds the bytes to it (see [`model`]),
//! add it to [`TARGETS`], and add the five-line file `fuzz/fuzz_targets/NAME.rs`
//! calling it (copy `fuzz/fuzz_targets/model.rs`; `fuzz/README.md` says how to list it
//! and give it seeds).

use crate::explain::rules::MAX_STEPS;
use crate::graph::pyg_stream::PygSource;
use crate::graph::source::GraphSource;
use crate::graph::tu::{load_tu, TuOptions};
use crate::graph::tu_stream::TuSource;
use crate::labels::{LabelMap, LabeledGraphs};
use crate::model::Linear;
use crate::topk::{AttrFile, Ranking};
use crate::{
    Adaptive, Device, ExplainConfig, GpuKernel, GraphBatch, GraphConvNet, Method, NodeBaseline,
    Pool, Rule, Storage, Target, Wrt,
};
use std::path::{Path, PathBuf};

/// The entry point of a fuzz target.
pub type Entry = fn(&[u8]);

/// Every fuzz target: its name (the file in `fuzz/fuzz_targets/` and the corpus
/// folder) and its entry point.
pub const TARGETS: [(&str, Entry); 6] = [
    ("tu", tu),
    ("model", model),
    ("pyg", pyg),
    ("card", card),
    ("attributions", attributions),
    ("args", args),
];

/// The memory ceiling the fuzz targets run under (below libFuzzer's 2 GiB), so that
/// an input asking for more gets the named error rather than an out-of-memory report.
pub const MEMORY_CEILING: u64 = 1 << 30;

/// A scratch folder for this thread's files (in `/dev/shm` where there is one).
fn scratch() -> PathBuf {
    thread_local! {
        static DIR: PathBuf = {
            let base = Path::new("/dev/shm");
            let base = if base.is_dir() { base.to_path_buf() } else { std::env::temp_dir() };
            let dir = base.join(format!(
                "graph-ig-fuzz-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::create_dir_all(&dir);
            dir
        };
    }
    DIR.with(Clone::clone)
}

/// The TU files a [`tu`] input is split into, in order, at each 0xFF byte (which
/// UTF-8 text never holds). Fewer parts leave the later files absent.
pub const TU_FILES: [&str; 8] = [
    "graph_indicator",
    "A",
    "node_labels",
    "node_attributes",
    "edge_labels",
    "edge_gt",
    "graph_labels",
    "label_readme",
];

/// The TU reader: byte 0 picks the model's feature width (`b % 32`) and
/// `use_node_attr` (`b & 0x40`); the rest is the files of [`TU_FILES`], separated by
/// 0xFF bytes. Runs [`load_tu`] and [`LabeledGraphs::load_tu`] (with the label readme).
pub fn tu(data: &[u8]) {
    crate::memory::set_ceiling(Some(MEMORY_CEILING));
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let dir = scratch();
    let mut parts = rest.split(|&b| b == 0xff);
    for name in TU_FILES {
        let path = dir.join(format!("F_{name}.txt"));
        match parts.next() {
            Some(bytes) => {
                if std::fs::write(&path, bytes).is_err() {
                    return;
                }
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let opts = TuOptions {
        use_node_attr: first & 0x40 != 0,
    };
    let f = (first % 32) as usize;
    let whole = load_tu(&dir, "F", f, &opts);
    // The streaming reader agrees with the whole-file reader, value for value and error
    // for error (memory refusals aside: the two check different sizes).
    let streamed = TuSource::open(&dir, "F", f, &opts).and_then(|s| s.load(0..s.num_graphs()));
    agree("TuSource", &whole, &streamed);
    let _ = LabeledGraphs::load_tu(&dir, "F");
    if let Ok(text) = std::fs::read_to_string(dir.join("F_label_readme.txt")) {
        let _ = LabelMap::parse(&text, Path::new("F_label_readme.txt"));
    }
}

/// The model reader: the bytes are a safetensors state dict (its metadata included).
pub fn model(data: &[u8]) {
    crate::memory::set_ceiling(Some(MEMORY_CEILING));
    if let Ok(m) = GraphConvNet::from_safetensors_bytes(data, "fuzz.safetensors") {
        let _ = (m.num_features(), m.num_classes(), m.widths());
    }
}

/// The PyG data-file reader (`--data FILE.safetensors`): the bytes are the file. What a
/// node task then does with it (the computation subgraphs of a few targets) runs too.
pub fn pyg(data: &[u8]) {
    crate::memory::set_ceiling(Some(MEMORY_CEILING));
    // The memory-mapped reader agrees with the in-memory one.
    let path = scratch().join("fuzz.safetensors");
    if std::fs::write(&path, data).is_ok() {
        let whole = crate::graph::pyg::load(&path).map(|d| d.batch);
        let streamed = PygSource::open(&path).and_then(|s| s.load(0..s.num_graphs()));
        agree("PygSource", &whole, &streamed);
    }
    if let Ok(d) = crate::graph::pyg::from_bytes(data, "fuzz.safetensors") {
        let b = &d.batch;
        let _ = (
            b.num_graphs(),
            b.num_nodes(),
            b.num_edges(),
            b.num_features(),
        );
        let n = b.num_nodes().min(4);
        let targets: Vec<usize> = (0..n).collect();
        let _ = crate::graph::khop::node_instances(b, &targets, 2, d.node_labels.as_deref());
    }
}

/// Panics unless a streaming reader's whole-range load (`b`) equals the in-memory
/// reader's batch (`a`), or both fail with the same message (a memory refusal on either
/// side is let through).
fn agree(what: &str, a: &crate::Result<crate::GraphBatch>, b: &crate::Result<crate::GraphBatch>) {
    use crate::Error;
    match (a, b) {
        (Ok(a), Ok(b)) => assert!(
            a == b,
            "{what} loads other graphs than the in-memory reader"
        ),
        (Err(Error::Memory { .. }), _) | (_, Err(Error::Memory { .. })) => {}
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}: another error"),
        (a, b) => panic!(
            "{what}: the in-memory reader gives {}, the streaming one {}",
            a.as_ref()
                .map_or_else(|e| e.to_string(), |_| "a batch".into()),
            b.as_ref()
                .map_or_else(|e| e.to_string(), |_| "a batch".into())
        ),
    }
}

/// The architecture-card reader: the bytes are the card's JSON; a card that parses is
/// then checked against the state dict of the built-in model, as `--arch` does.
pub fn card(data: &[u8]) {
    crate::memory::set_ceiling(Some(MEMORY_CEILING));
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = crate::model::Card::parse(&text, Path::new("fuzz.json")) {
        if let Some(bytes) = crate::default_model::bytes("mutagenicity") {
            if let Ok(m) =
                GraphConvNet::from_safetensors_bytes_with_card(bytes, "fuzz.safetensors", &c)
            {
                let _ = (m.num_features(), m.num_classes(), m.describe());
            }
        }
    }
}

/// The attribution-file reader of `top`, `eval` and `render`: the bytes are the file.
/// What `top` does with an opened file runs as well.
pub fn attributions(data: &[u8]) {
    crate::memory::set_ceiling(Some(MEMORY_CEILING));
    let path = scratch().join("attr.safetensors");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(f) = AttrFile::open(&path) else {
        return;
    };
    for g in 0..f.num_graphs().min(64) {
        let _ = (f.graph_index(g), f.target(g), f.target_probability(g));
        for order in [Ranking::Abs, Ranking::Signed] {
            let _ = f.top_edges(g, 3, order);
            let _ = f.top_bonds(g, 3, order);
            let _ = f.top_nodes(g, 3, order);
        }
        let _ = f.node_scores(g);
        let _ = f.edge_gt(g);
    }
    let _ = f.describe_graphs();
}

/// The command line's values: each line of the input goes through every parser of
/// text values (graph ranges and lists, number lists, method, rule, target, device,
/// ...), and its numbers through the checks of the step counts and of the settings.
pub fn args(data: &[u8]) {
    crate::memory::set_ceiling(Some(MEMORY_CEILING));
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(64) {
        let _ = crate::args::graph_bounds(line);
        let _ = crate::args::nonempty_graph_bounds(line);
        let _ = crate::args::graph_list(line);
        for total in [0, 1, 7, usize::MAX] {
            let _ = crate::args::graph_range(line, total);
        }
        if let Ok(curve) = crate::args::number_list("--curve", line) {
            let cfg = crate::metrics::EvalConfig {
                curve,
                charact_weights: crate::args::number_pair("--charact-weights", line)
                    .unwrap_or((0.5, 0.5)),
                ..Default::default()
            };
            let _ = cfg.validate();
        }
        let _ = line.parse::<Method>();
        let _ = line.parse::<Wrt>();
        let _ = line.parse::<Rule>();
        let _ = line.parse::<Target>();
        let _ = line.parse::<Pool>();
        let _ = line.parse::<Storage>();
        let _ = line.parse::<GpuKernel>();
        let _ = line.parse::<Device>();
        let _ = line.parse::<Ranking>();
        settings(line);
    }
}

/// A tiny model (2 features, 2 classes) and batch for [`args`]'s settings checks.
fn tiny() -> (GraphConvNet, GraphBatch) {
    let lin = |out_dim: usize, in_dim: usize| Linear {
        out_dim,
        in_dim,
        weight: vec![0.5; out_dim * in_dim],
        bias: vec![0.1; out_dim],
    };
    let model = GraphConvNet::tutorial(
        vec![(lin(2, 2), lin(2, 2))],
        lin(2, 2),
        lin(2, 2),
        Pool::Add,
    );
    let batch = GraphBatch::builder(2)
        .labelled_graph(&[1.0, 0.0, 0.0, 1.0], &[(0, 1), (1, 0)], 1, None)
        .build();
    (
        model.expect("a valid tiny model"),
        batch.unwrap_or_else(|_| GraphBatch::builder(2).build().expect("empty batch")),
    )
}

/// The numbers of `line` as step counts, tolerances, samples and baselines: checked
/// as `explain` checks them, and run when they are small.
fn settings(line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let int = |i: usize| words.get(i).and_then(|w| w.parse::<usize>().ok());
    let float = |i: usize| words.get(i).and_then(|w| w.parse::<f64>().ok());
    let Some(steps) = int(0) else {
        return;
    };
    for rule in Rule::ALL {
        if rule.check_steps(steps).is_ok() && steps <= 4096 {
            let _ = rule.table(steps);
        }
    }
    let (model, batch) = tiny();
    let rule = words
        .get(3)
        .and_then(|w| w.parse::<Rule>().ok())
        .unwrap_or_default();
    let cfg = ExplainConfig {
        steps,
        rule,
        adaptive: float(1).map(|tol| Adaptive {
            tol,
            max_steps: int(2).unwrap_or(steps),
        }),
        node_baseline: float(4).map_or(NodeBaseline::Zeros, |v| NodeBaseline::Constant(v as f32)),
        ..Default::default()
    };
    let small = steps <= 64 && cfg.adaptive.is_none_or(|a| a.max_steps <= 256);
    if cfg.validate(&model, &batch).is_ok() && small && steps <= MAX_STEPS {
        #[cfg(feature = "cpu-ref")]
        let _ = crate::explain(&model, &batch, &cfg, Device::Cpu);
    }
}

/// Replays one target over every file of `dir` (a corpus or regression folder);
/// returns how many files it ran.
pub fn replay(target: Entry, dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    let mut n = 0;
    for f in files.iter().filter(|f| f.is_file()) {
        if let Ok(bytes) = std::fs::read(f) {
            target(&bytes);
            n += 1;
        }
    }
    n
}
