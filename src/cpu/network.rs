//! One graph with node ids local to it: the structure the CPU backend works on.

use super::message_passing::Csr;

/// One graph with node ids local to it.
#[derive(Debug, Clone)]
pub struct LocalGraph {
    /// Number of nodes.
    pub n: usize,
    /// Local source node of every edge.
    pub src: Vec<u32>,
    /// Local target node of every edge.
    pub dst: Vec<u32>,
    /// The edges grouped by destination, for the forward gather.
    pub csr: Csr,
    /// `[0, n]`: the node offsets of the one graph.
    pub node_ptr: [usize; 2],
    /// The data's edge weights, when it has them.
    pub edge_weight: Option<Vec<f32>>,
    /// Node tasks: the explained node.
    pub center: Option<[u32; 1]>,
    /// Node tasks: every node's whole-graph in-degree statistics.
    pub degrees: Option<crate::graph::khop::Degrees>,
}

impl LocalGraph {
    /// A graph of `n` nodes with the given local edges. Ids must be below `n`.
    pub fn new(n: usize, src: Vec<u32>, dst: Vec<u32>) -> Self {
        let csr = Csr::by_destination(n, &src, &dst);
        LocalGraph {
            n,
            src,
            dst,
            csr,
            node_ptr: [0, n],
            edge_weight: None,
            center: None,
            degrees: None,
        }
    }

    /// Graph `g` of a batch, with local ids.
    pub fn from_batch(batch: &crate::GraphBatch, g: usize) -> Self {
        let gr = batch.graph(g);
        let n0 = gr.nodes.start as u32;
        let local = |v: &[u32]| v[gr.edges.clone()].iter().map(|i| i - n0).collect();
        let mut lg = Self::new(gr.num_nodes(), local(batch.src()), local(batch.dst()));
        lg.edge_weight = batch.edge_weight().map(|w| w[gr.edges.clone()].to_vec());
        if let Some(t) = batch.node_task() {
            lg.center = Some([t.center[g]]);
            lg.degrees = Some(t.degrees.slice(gr.nodes));
        }
        lg
    }
}

/// The body's values on every graph of `batch` at once, as one graph with the batch's
/// node ids, at the real input (edge mask 1): `(the graph, the tape)`, for reading GAT's
/// attention and the embeddings.
pub fn whole_batch_body(
    net: &crate::nn::Network<'_, super::Cpu>,
    batch: &crate::GraphBatch,
) -> crate::Result<(LocalGraph, crate::nn::network::SeqTape<super::Cpu>)> {
    let mut g = LocalGraph::new(
        batch.num_nodes(),
        batch.src().to_vec(),
        batch.dst().to_vec(),
    );
    g.edge_weight = batch.edge_weight().map(<[f32]>::to_vec);
    let st = net.structure(&super::Cpu, &g)?;
    let x: Vec<f64> = batch.features().iter().map(|&v| f64::from(v)).collect();
    let w = vec![1.0; batch.num_edges()];
    let tape = net.forward_body(
        &super::Cpu,
        crate::nn::Instances {
            graph: &g,
            steps: 1,
        },
        &st,
        x,
        crate::nn::Mask::Edge(&w),
    )?;
    Ok((g, tape))
}

/// The model's output rows (log-probabilities for a `log_softmax` model) on one graph at
/// node features `x [n, F]` and edge mask `w [E]`: a one-off pass that prepares the model
/// for the call. Many passes should share one [`crate::nn::Network`].
pub fn outputs(
    model: &crate::Model,
    g: &LocalGraph,
    x: &[f64],
    w: &[f64],
) -> crate::Result<Vec<f64>> {
    crate::nn::Network::new(&super::Cpu, model)?.graph_outputs(g, x.to_vec(), w)
}

/// The gradients `(∂F/∂x [n, F], ∂F/∂w [E])` of the attributed output `F` at class
/// `target` (the log-probability for a `log_softmax` model) on one graph, at node
/// features `x` and edge mask `w`: a one-off pass.
pub fn gradients(
    model: &crate::Model,
    g: &LocalGraph,
    x: &[f64],
    w: &[f64],
    target: usize,
) -> crate::Result<(Vec<f64>, Vec<f64>)> {
    use crate::nn::{Instances, Mask, Network, Seed, Want};
    let cpu = super::Cpu;
    let net = Network::new(&cpu, model)?;
    let st = net.structure(&cpu, g)?;
    let inst = Instances { graph: g, steps: 1 };
    let w = w.to_vec();
    let tape = net.forward(&cpu, inst, &st, x.to_vec(), Mask::Edge(&w))?;
    let want = Want {
        x: true,
        mask: true,
        blocks: false,
    };
    let gr = net.backward(
        &cpu,
        inst,
        &st,
        &tape,
        Mask::Edge(&w),
        Seed::Output,
        &vec![target],
        want,
    )?;
    Ok((gr.x.unwrap_or_default(), gr.mask.unwrap_or_default()))
}
