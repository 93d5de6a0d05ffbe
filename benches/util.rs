//! Shared by the benchmarks: a deterministic model of any width, ring graphs of
//! any size, a timer and the table row format.

use graph_ig::model::Linear;
use graph_ig::{explain, Device, ExplainConfig, GraphBatch, GraphConvNet, Pool};
use std::time::Instant;

/// A deterministic model of the tutorial's shape with the given width.
pub fn model(width: usize, layers: usize) -> GraphConvNet {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut lin = |i: usize, o: usize| Linear {
        out_dim: o,
        in_dim: i,
        weight: (0..o * i).map(|_| next() / (i as f64).sqrt()).collect(),
        bias: (0..o).map(|_| next() * 0.1).collect(),
    };
    let mut convs = Vec::new();
    let mut d = 14;
    for _ in 0..layers {
        let lin_rel = lin(d, width);
        let mut lin_root = lin(d, width);
        lin_root.bias = vec![0.0; width];
        convs.push((lin_rel, lin_root));
        d = width;
    }
    let lin1 = lin(width, width);
    let lin2 = lin(width, 2);
    GraphConvNet::tutorial(convs, lin1, lin2, Pool::Add).expect("the bench model's widths chain")
}

/// Best wall-clock seconds of `reps` runs of `explain` on `device`, from host arrays
/// to host results (after one untimed warm-up run on a GPU, which creates the context
/// and loads the kernels).
pub fn time(
    device: Device,
    model: &GraphConvNet,
    batch: &GraphBatch,
    cfg: &ExplainConfig,
    reps: usize,
) -> f64 {
    if device != Device::Cpu {
        explain(model, batch, cfg, device).expect("warm-up run");
    }
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        let a = explain(model, batch, cfg, device).expect("benchmark run");
        std::hint::black_box(&a);
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

/// One row of the table ([`HEADER`]'s columns).
pub fn row(name: &str, batch: &GraphBatch, steps: usize, width: usize, secs: f64) {
    println!(
        "{name:34} {:>6} {:>8} {:>8} {:>5} {:>5} {:>10.6} {:>9.1} {:>12.3e}",
        batch.num_graphs(),
        batch.num_nodes(),
        batch.num_edges(),
        steps,
        width,
        secs,
        batch.num_graphs() as f64 / secs,
        (batch.num_nodes() * steps) as f64 / secs,
    );
}

/// The column names of [`row`].
pub const HEADER: [&str; 9] = [
    "name",
    "graphs",
    "nodes",
    "edges",
    "steps",
    "width",
    "seconds",
    "graphs/s",
    "node-steps/s",
];

/// Prints the header of the table.
pub fn header() {
    let h = HEADER;
    println!(
        "{:34} {:>6} {:>8} {:>8} {:>5} {:>5} {:>10} {:>9} {:>12}",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    );
}

/// `copies` ring graphs of `n` nodes each (both directions of every bond, one-hot
/// features over 14 atom types), for scaling with the nodes per graph.
pub fn ring_batch(n: usize, copies: usize) -> GraphBatch {
    let mut b = GraphBatch::builder(14);
    let mut x = vec![0f32; n * 14];
    for i in 0..n {
        x[i * 14 + i % 14] = 1.0;
    }
    let edges: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| [(i, (i + 1) % n), ((i + 1) % n, i)])
        .collect();
    for _ in 0..copies {
        b = b.graph(&x, &edges);
    }
    b.build().expect("ring graphs")
}

/// The methods besides IG that the benches time on all of Mutagenicity, with the row name
/// and the number of gradient evaluations per graph (the `steps` column).
pub fn other_methods() -> Vec<(&'static str, graph_ig::Method, usize)> {
    use graph_ig::Method;
    vec![
        ("saliency", Method::Saliency, 1),
        ("smoothgrad", Method::SmoothGrad, 50),
        ("vargrad", Method::VarGrad, 50),
        ("grad_cam", Method::GradCam(None), 1),
        ("contrastive_gradient", Method::ContrastiveGradient, 1),
        ("eb", Method::ExcitationBackprop, 1),
        ("c_eb", Method::ContrastiveEb, 1),
    ]
}
