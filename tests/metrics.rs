//! The metrics of `graph_ig::metrics` against independent computations:
//! hand-computed values on a model whose probabilities are known in closed
//! form, a brute-force per-graph loop written separately, PyG's own metric
//! functions (fixture written by `scripts/metrics_reference.py`), and edge cases;
//! the same for the node-level metrics, whose AUCs are checked against a
//! from-scratch pairwise (Mann–Whitney) count.

mod common;
use common::pairwise_auc;

use graph_ig::metrics::evaluate::{EvalReport, Explanation};
use graph_ig::metrics::fidelity::{
    characterization_score, contrastivity, fidelity_curve_auc, mask_sparsity, probability_drop,
    pyg_fidelity_model, pyg_fidelity_phenomenon, trapezoid,
};
use graph_ig::metrics::ground_truth::{Confusion, GraphGroundTruth};
use graph_ig::metrics::masks::{
    edge_scores, keep_count, pope_binarize, threshold_mask, top_k_mask,
};
use graph_ig::metrics::nodes::{evaluate_nodes, NodeEvalReport, NodeExplanation};
use graph_ig::metrics::{
    edge_scores_from_nodes, evaluate, node_marks, roc_auc, EvalConfig, MaskRule, Ranking,
};
use graph_ig::model::Linear;
use graph_ig::{Error, GraphBatch, GraphConvNet, Pool};
use rand::Rng;

const TOL: f64 = 1e-12;

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= TOL * (1.0 + b.abs()),
        "{what}: got {a}, expected {b}"
    );
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

// ------------------------------------------------------------ hand-computed

/// One GraphConv layer of width 1 that sums the weighted source features into
/// each node, add pooling, `lin1` = identity, `lin2` = `(z − 4.5, 0)`. With
/// positive features the pooled value is `z = Σ_e w_e x_src(e)`, so
/// `p_0 = σ(z − 4.5)` and the prediction is class 0 iff `z > 4.5`.
fn sum_model() -> GraphConvNet {
    sum_model_with_root(0.0)
}

/// [`sum_model`] with the root weight `root` (`x_i' = Σ_e w_e x_src + root · x_i`).
fn sum_model_with_root(root: f64) -> GraphConvNet {
    let lin = |out_dim, in_dim, weight: Vec<f64>, bias: Vec<f64>| Linear {
        out_dim,
        in_dim,
        weight,
        bias,
    };
    GraphConvNet::tutorial(
        vec![(
            lin(1, 1, vec![1.0], vec![0.0]),
            lin(1, 1, vec![root], vec![0.0]),
        )],
        lin(1, 1, vec![1.0], vec![0.0]),
        lin(2, 1, vec![1.0, 0.0], vec![-4.5, 0.0]),
        Pool::Add,
    )
    .unwrap()
}

/// Four graphs, see the comments of [`hand_computed`].
fn hand_batch() -> GraphBatch {
    GraphBatch::builder(1)
        // A: x = 1, 2, 3; edges carry x_src = 1, 2, 3, 2; z = 8.
        .labelled_graph(
            &[1.0, 2.0, 3.0],
            &[(0, 1), (1, 2), (2, 0), (1, 0)],
            0,
            Some(&[0, 1, 1, 0]),
        )
        // B: no edges; z = 0.
        .labelled_graph(&[1.0, 1.0], &[], 1, Some(&[]))
        // C: x_src = 1, 1, 1; z = 3 (predicted 1, labelled 0).
        .labelled_graph(
            &[1.0, 1.0, 1.0],
            &[(0, 1), (1, 2), (2, 0)],
            0,
            Some(&[1, 0, 0]),
        )
        // D: x_src = 1, 2, 3, 4; z = 10.
        .labelled_graph(
            &[1.0, 2.0, 3.0, 4.0],
            &[(0, 1), (1, 2), (2, 3), (3, 0)],
            0,
            Some(&[0, 0, 1, 1]),
        )
        .build()
        .expect("valid batch")
}

/// A: scores 0.005 (below Pope's 1% of the max), -0.5, 0.9, 0.3.
/// C: all zero. D: ties at |0.5|.
const HAND_ATTR: [f64; 11] = [0.005, -0.5, 0.9, 0.3, 0.0, 0.0, 0.0, 0.5, -0.5, 0.5, 0.2];
const HAND_TARGET: [usize; 4] = [0, 1, 1, 0];

fn hand_report(cfg: &EvalConfig, other: Option<&Explanation<'_>>) -> EvalReport {
    let main = Explanation {
        edge_attr: &HAND_ATTR,
        target: &HAND_TARGET,
    };
    evaluate(&sum_model(), &hand_batch(), &main, other, cfg).expect("evaluate")
}

fn half_cfg() -> EvalConfig {
    EvalConfig {
        mask: MaskRule::Sparsity(0.5),
        curve: vec![0.25, 0.5, 0.75],
        ..Default::default()
    }
}

#[test]
fn hand_computed() {
    let r = hand_report(&half_cfg(), None);
    let g = &r.graphs;
    // p of the target class as a function of z: class 0 → σ(z − 4.5), class 1 → σ(4.5 − z).
    let p0 = |z: f64| sigmoid(z - 4.5);
    let p1 = |z: f64| sigmoid(4.5 - z);

    // A: keep floor(0.5·4) = 2 edges by |a|: e2 (0.9), e1 (0.5) → z = 3 + 2 = 5;
    // removed: e0, e3 → z = 1 + 2 = 3. Pope: e1, e2, e3 salient → occluded z = 1.
    let a = &g[0];
    assert_eq!(
        (a.full.prediction, a.kept.prediction, a.removed.prediction),
        (0, 0, 1)
    );
    close(a.full.p_target, p0(8.0), "A full");
    close(a.kept.p_target, p0(5.0), "A kept");
    close(a.removed.p_target, p0(3.0), "A removed");
    assert_eq!((a.kept_edges, a.pope_salient), (2, 3));
    close(a.pope_occluded.p_target, p0(1.0), "A occluded");
    assert_eq!(a.pope_occluded.prediction, 1);

    // B: no edges; every masked graph is the full graph.
    let b = &g[1];
    for o in [b.full, b.kept, b.removed, b.pope_occluded] {
        assert_eq!(o.prediction, 1);
        close(o.p_target, p1(0.0), "B");
    }
    assert_eq!((b.kept_edges, b.pope_salient), (0, 0));

    // C: all-zero attributions: ties broken by edge index, keep floor(1.5) = 1 edge: e0.
    let c = &g[2];
    close(c.full.p_target, p1(3.0), "C full");
    close(c.kept.p_target, p1(1.0), "C kept");
    close(c.removed.p_target, p1(2.0), "C removed");
    assert_eq!(
        c.pope_salient, 0,
        "all-zero attributions have no salient edge"
    );
    close(c.pope_occluded.p_target, p1(3.0), "C occluded");

    // D: ties at |0.5| between e0, e1, e2: keep e0, e1 → z = 3, removed z = 7.
    let d = &g[3];
    close(d.kept.p_target, p0(3.0), "D kept");
    close(d.removed.p_target, p0(7.0), "D removed");
    assert_eq!((d.kept.prediction, d.removed.prediction), (1, 0));
    assert_eq!(d.pope_salient, 4);
    close(d.pope_occluded.p_target, p0(0.0), "D occluded");

    // DIG.
    let fp = [
        p0(8.0) - p0(3.0),
        0.0,
        p1(3.0) - p1(2.0),
        p0(10.0) - p0(7.0),
    ];
    let fm = [
        p0(8.0) - p0(5.0),
        0.0,
        p1(3.0) - p1(1.0),
        p0(10.0) - p0(3.0),
    ];
    close(
        r.dig.fidelity_plus,
        fp.iter().sum::<f64>() / 4.0,
        "DIG fid+",
    );
    close(
        r.dig.fidelity_minus,
        fm.iter().sum::<f64>() / 4.0,
        "DIG fid-",
    );
    close(
        r.dig.sparsity.unwrap(),
        (0.5 + (1.0 - 1.0 / 3.0) + 0.5) / 3.0,
        "DIG sparsity (graphs with edges)",
    );

    // PyG, model: predictions full (0, 1, 1, 0), removed (1, 1, 1, 0), kept (0, 1, 1, 1).
    close(r.pyg.model.fid_plus, 0.25, "PyG fid+ model");
    close(r.pyg.model.fid_minus, 0.25, "PyG fid- model");
    close(
        r.pyg.model.characterization,
        1.0 / (0.5 / 0.25 + 0.5 / 0.75),
        "charact",
    );
    // PyG, phenomenon, labels (0, 1, 0, 0): full hits (1, 1, 0, 1), removed (0, 1, 0, 1), kept (1, 1, 0, 0).
    let ph = r.pyg.phenomenon.expect("labels");
    close(ph.fid_plus, 0.25, "PyG fid+ phenomenon");
    close(ph.fid_minus, 0.25, "PyG fid- phenomenon");
    close(r.accuracy.unwrap(), 0.75, "accuracy");

    // Pope: occluded predictions (1, 1, 1, 1): accuracy 0.25.
    close(
        r.pope.fidelity_accuracy.unwrap(),
        0.75 - 0.25,
        "Pope fidelity",
    );
    let drop = [p0(8.0) - p0(1.0), 0.0, 0.0, p0(10.0) - p0(0.0)];
    close(
        r.pope.fidelity_probability,
        drop.iter().sum::<f64>() / 4.0,
        "Pope probability fidelity",
    );
    close(
        r.pope.sparsity.unwrap(),
        (0.25 + 1.0 + 0.0) / 3.0,
        "Pope sparsity",
    );
    assert_eq!(r.pope.contrastivity, None);

    // The curve's middle point is the mask above; kept edges are floor(ρ E).
    for (gi, x) in g.iter().enumerate() {
        let e = x.num_edges;
        let ks: Vec<usize> = x.curve.iter().map(|p| p.kept_edges).collect();
        assert_eq!(ks, vec![e / 4, e / 2, (3 * e) / 4], "graph {gi}");
        assert_eq!(x.curve[1].kept, x.kept);
        assert_eq!(x.curve[1].removed, x.removed);
    }

    // Ground truth: A P=R=1, AUC 1; C P=R=1, AUC 0.5 (ties); D P=R=0, AUC 0.25.
    let gt = r.ground_truth.as_ref().expect("marks");
    let per: Vec<_> = g.iter().map(|x| x.ground_truth.clone().unwrap()).collect();
    assert_eq!(per[1].marked, 0);
    assert_eq!(per[0].auc, Some(1.0));
    assert_eq!(per[2].auc, Some(0.5));
    assert_eq!(per[3].auc, Some(0.25));
    assert_eq!(
        per[3].confusion,
        Confusion {
            tp: 0,
            fp: 2,
            fn_: 2,
            tn: 0
        }
    );
    assert_eq!(per[3].precision_at_marked, Some(0.0));
    assert_eq!(per[2].precision_at_marked, Some(1.0));
    assert_eq!(gt.all.graphs, 3);
    close(
        gt.all.mean_auc.unwrap(),
        (1.0 + 0.5 + 0.25) / 3.0,
        "mean AUC",
    );
    // Pooled over A, C, D: 20 of 30 positive-negative pairs ordered (ties count 1/2).
    close(gt.all.pooled_auc.unwrap(), 20.0 / 30.0, "pooled AUC");
    close(gt.all.mean_precision.unwrap(), 2.0 / 3.0, "mean P");
    close(gt.all.mean_recall.unwrap(), 2.0 / 3.0, "mean R");
    close(gt.all.mean_f1.unwrap(), 2.0 / 3.0, "mean F1");
    assert_eq!(
        (gt.all.pooled.tp, gt.all.pooled.fp, gt.all.pooled.fn_),
        (3, 2, 2)
    );
    close(gt.all.pooled.f1(), 0.6, "pooled F1");
    assert_eq!(gt.by_label[&0], gt.all);
    assert_eq!(gt.by_label[&1].graphs, 0);
    assert_eq!(gt.by_label[&1].mean_auc, None);
}

#[test]
fn hand_computed_signed_and_threshold() {
    // Signed ranking, D: e0 (0.5), e2 (0.5), e3 (0.2), e1 (-0.5) → keep e0, e2: z = 4; removed z = 6.
    let cfg = EvalConfig {
        ranking: Ranking::Signed,
        ..half_cfg()
    };
    let r = hand_report(&cfg, None);
    let d = &r.graphs[3];
    close(d.kept.p_target, sigmoid(4.0 - 4.5), "signed D kept");
    close(d.removed.p_target, sigmoid(6.0 - 4.5), "signed D removed");
    // Signed Pope: A's e1 (-0.5) is not salient, D's e1 neither.
    assert_eq!(r.graphs[0].pope_salient, 2);
    assert_eq!(r.graphs[3].pope_salient, 3);

    // Threshold 0.4 on |a|: A keeps e1, e2; C none; D e0, e1, e2.
    let cfg = EvalConfig {
        mask: MaskRule::Threshold(0.4),
        ..half_cfg()
    };
    let r = hand_report(&cfg, None);
    let kept: Vec<usize> = r.graphs.iter().map(|g| g.kept_edges).collect();
    assert_eq!(kept, vec![2, 0, 0, 3]);
    close(
        r.graphs[3].kept.p_target,
        sigmoid(6.0 - 4.5),
        "threshold D kept",
    );
    close(
        r.graphs[2].kept.p_target,
        sigmoid(4.5),
        "threshold C: no edge kept",
    );
}

#[test]
fn hand_computed_contrastivity() {
    // Second explanation: A explains class 1 with salient e0, e3 (0.5 / 0.9 > 0.01);
    // B explains 0 (no edges); C explains 0 with all edges salient; D explains 0, the
    // same class as the main file, and is left out.
    let attr = [0.9, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 0.3, 0.3, 0.3, 0.3];
    let other = Explanation {
        edge_attr: &attr,
        target: &[1, 0, 0, 0],
    };
    let r = hand_report(&half_cfg(), Some(&other));
    // A: main salient {e1, e2, e3}, other {e0, e3}: 3 differ, union 4.
    assert_eq!(r.graphs[0].contrastivity, Some(0.75));
    assert_eq!(r.graphs[1].contrastivity, None, "no edges");
    // C: main none, other all 3.
    assert_eq!(r.graphs[2].contrastivity, Some(1.0));
    assert_eq!(r.graphs[3].contrastivity, None, "same class");
    assert_eq!(r.pope.contrastivity, Some(0.875));
    assert_eq!(r.pope.contrastivity_graphs, 2);
}

// ------------------------------------------------------------ brute force

/// A random labelled batch with marks, graphs without edges, and tied or
/// all-zero attributions.
fn random_case(seed: u64, f: usize) -> (GraphBatch, Vec<f64>, Vec<usize>) {
    let mut rng = common::rng(seed);
    let mut b = GraphBatch::builder(f);
    let sizes = [
        (1, 0),
        (5, 0),
        (2, 2),
        (6, 14),
        (9, 20),
        (12, 31),
        (4, 7),
        (15, 40),
    ];
    let mut attr = Vec::new();
    for (gi, &(n, e)) in sizes.iter().enumerate() {
        let (x, edges) = common::random_graph(&mut rng, n, e, f);
        let gt: Vec<u8> = (0..e).map(|_| u8::from(rng.gen_bool(0.3))).collect();
        b = b.labelled_graph(&x, &edges, rng.gen_range(0..3), Some(&gt));
        for _ in 0..e {
            attr.push(match gi % 3 {
                // Coarse values: many ties.
                0 => (rng.gen_range(-3..=3) as f64) / 2.0,
                1 => rng.gen_range(-1.0..1.0),
                _ => 0.0,
            });
        }
    }
    let batch = b.build().expect("valid");
    let target = (0..batch.num_graphs())
        .map(|_| rng.gen_range(0..3))
        .collect();
    (batch, attr, target)
}

/// The mask of the `k` best edges, by counting for each edge how many edges
/// beat it (higher score, or equal score and lower index).
fn brute_top_k(s: &[f64], k: usize) -> Vec<bool> {
    (0..s.len())
        .map(|e| {
            let better = (0..s.len())
                .filter(|&o| s[o] > s[e] || (s[o] == s[e] && o < e))
                .count();
            better < k
        })
        .collect()
}

fn brute_k(e: usize, num: u32, den: u32) -> usize {
    // floor(num/den · e) in integers.
    (num as usize * e) / den as usize
}

fn argmax(v: &[f64]) -> usize {
    let mut b = 0;
    for k in 1..v.len() {
        if v[k] > v[b] {
            b = k;
        }
    }
    b
}

#[test]
fn brute_force_per_graph_loop() {
    for (seed, pool) in [(1, Pool::Add), (2, Pool::Mean), (3, Pool::Max)] {
        let f = 4;
        let mut rng = common::rng(100 + seed);
        let model = common::random_model(&mut rng, f, &[8, 6], 5, 3, pool);
        let (batch, attr, target) = random_case(seed, f);
        // Sparsity 0.75 = keep 1/4; curve 1/4, 1/2, 3/4 — fractions exact in binary.
        let cfg = EvalConfig {
            mask: MaskRule::Sparsity(0.75),
            curve: vec![0.25, 0.5, 0.75],
            ..Default::default()
        };
        let main = Explanation {
            edge_attr: &attr,
            target: &target,
        };
        let other_attr: Vec<f64> = attr.iter().map(|a| (a * 7.0).sin()).collect();
        let other_target: Vec<usize> = target.iter().map(|t| (t + 1) % 3).collect();
        let other = Explanation {
            edge_attr: &other_attr,
            target: &other_target,
        };
        let r = evaluate(&model, &batch, &main, Some(&other), &cfg).expect("evaluate");
        let labels = batch.graph_labels().unwrap();
        let gts = batch.edge_gt().unwrap();

        let (mut n_dig_p, mut n_dig_m, mut pyg_p, mut pyg_m) = (0.0, 0.0, 0.0, 0.0);
        let (mut ph_p, mut ph_m, mut acc, mut acc_occ, mut pope_prob) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut sp_dig, mut sp_pope, mut with_edges) = (0.0, 0.0, 0usize);
        let (mut contrast, mut n_contrast) = (0.0, 0usize);
        let (mut curve_p, mut curve_m) = (vec![0.0; 3], vec![0.0; 3]);
        let ng = batch.num_graphs();
        for gi in 0..ng {
            let sub = batch.subset(gi..gi + 1).unwrap();
            let lg = graph_ig::cpu::network::LocalGraph::from_batch(&sub, 0);
            let x: Vec<f64> = sub.features().iter().map(|&v| v as f64).collect();
            let run = |w: &[f64]| graph_ig::cpu::network::outputs(&model, &lg, &x, w).unwrap();
            let er = batch.graph(gi).edges;
            let e = er.len();
            let s: Vec<f64> = attr[er.clone()].iter().map(|a| a.abs()).collect();
            let t = target[gi];
            let full = run(&vec![1.0; e]);
            let m = brute_top_k(&s, brute_k(e, 1, 4));
            let w_keep: Vec<f64> = m.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
            let w_drop: Vec<f64> = w_keep.iter().map(|w| 1.0 - w).collect();
            let (kept, removed) = (run(&w_keep), run(&w_drop));
            let ge = &r.graphs[gi];
            for (a, b) in full.iter().zip(&ge.log_probs) {
                close(*a, *b, "log_probs");
            }
            close(ge.kept.p_target, kept[t].exp(), "kept p");
            close(ge.removed.p_target, removed[t].exp(), "removed p");
            n_dig_p += full[t].exp() - removed[t].exp();
            n_dig_m += full[t].exp() - kept[t].exp();
            let (yf, yk, yr) = (argmax(&full), argmax(&kept), argmax(&removed));
            pyg_p += f64::from(u8::from(yr != yf));
            pyg_m += f64::from(u8::from(yk != yf));
            let y = labels[gi] as usize;
            let hit = |p: usize| f64::from(u8::from(p == y));
            ph_p += (hit(yf) - hit(yr)).abs();
            ph_m += (hit(yf) - hit(yk)).abs();
            acc += hit(yf);
            // Pope.
            let max = s.iter().cloned().fold(0.0, f64::max);
            let sal: Vec<bool> = s.iter().map(|&v| max > 0.0 && v / max > 0.01).collect();
            let w_occ: Vec<f64> = sal.iter().map(|&b| if b { 0.0 } else { 1.0 }).collect();
            let occ = run(&w_occ);
            acc_occ += hit(argmax(&occ));
            pope_prob += full[t].exp() - occ[t].exp();
            if e > 0 {
                with_edges += 1;
                sp_dig += 1.0 - m.iter().filter(|&&b| b).count() as f64 / e as f64;
                sp_pope += 1.0 - sal.iter().filter(|&&b| b).count() as f64 / e as f64;
            }
            let so: Vec<f64> = other_attr[er.clone()].iter().map(|a| a.abs()).collect();
            let maxo = so.iter().cloned().fold(0.0, f64::max);
            let salo: Vec<bool> = so.iter().map(|&v| maxo > 0.0 && v / maxo > 0.01).collect();
            let diff = sal.iter().zip(&salo).filter(|(a, b)| a != b).count();
            let union = sal.iter().zip(&salo).filter(|(a, b)| **a || **b).count();
            if union > 0 {
                contrast += diff as f64 / union as f64;
                n_contrast += 1;
            }
            // Curve.
            for (k, num) in [1u32, 2, 3].iter().enumerate() {
                let mk = brute_top_k(&s, brute_k(e, *num, 4));
                let wk: Vec<f64> = mk.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
                let wd: Vec<f64> = wk.iter().map(|w| 1.0 - w).collect();
                curve_p[k] += f64::from(u8::from(argmax(&run(&wd)) != yf));
                curve_m[k] += f64::from(u8::from(argmax(&run(&wk)) != yf));
            }
            // Ground truth of this graph.
            let gt = &gts[er.clone()];
            let tp = (0..e).filter(|&i| m[i] && gt[i] == 1).count();
            let sel = m.iter().filter(|&&b| b).count();
            let marked = gt.iter().filter(|&&g| g == 1).count();
            let g_gt = ge.ground_truth.as_ref().unwrap();
            assert_eq!(g_gt.marked, marked);
            if marked > 0 {
                let p = if sel > 0 { tp as f64 / sel as f64 } else { 0.0 };
                close(g_gt.confusion.precision(), p, "precision");
                close(g_gt.confusion.recall(), tp as f64 / marked as f64, "recall");
            }
        }
        let n = ng as f64;
        close(r.dig.fidelity_plus, n_dig_p / n, "DIG fid+");
        close(r.dig.fidelity_minus, n_dig_m / n, "DIG fid-");
        close(r.pyg.model.fid_plus, pyg_p / n, "PyG fid+");
        close(r.pyg.model.fid_minus, pyg_m / n, "PyG fid-");
        let ph = r.pyg.phenomenon.unwrap();
        close(ph.fid_plus, ph_p / n, "PyG phenomenon fid+");
        close(ph.fid_minus, ph_m / n, "PyG phenomenon fid-");
        close(r.accuracy.unwrap(), acc / n, "accuracy");
        close(
            r.pope.fidelity_accuracy.unwrap(),
            (acc - acc_occ) / n,
            "Pope fidelity",
        );
        close(r.pope.fidelity_probability, pope_prob / n, "Pope prob");
        close(
            r.dig.sparsity.unwrap(),
            sp_dig / with_edges as f64,
            "DIG sparsity",
        );
        close(
            r.pope.sparsity.unwrap(),
            sp_pope / with_edges as f64,
            "Pope sparsity",
        );
        assert_eq!(r.pope.contrastivity_graphs, n_contrast);
        close(
            r.pope.contrastivity.unwrap(),
            contrast / n_contrast as f64,
            "contrastivity",
        );
        for k in 0..3 {
            close(r.pyg.curve_model.fid_plus[k], curve_p[k] / n, "curve fid+");
            close(r.pyg.curve_model.fid_minus[k], curve_m[k] / n, "curve fid-");
        }
        let y: Vec<f64> = (0..3)
            .map(|k| (curve_p[k] / n) / (1.0 - curve_m[k] / n))
            .collect();
        let auc = 0.25 * (y[0] + y[1]) / 2.0 + 0.25 * (y[1] + y[2]) / 2.0;
        close(r.pyg.curve_model.auc.unwrap(), auc, "curve AUC");
    }
}

// ------------------------------------------------------------ pure functions

#[test]
fn masks_top_k_threshold_pope() {
    let s = [0.3, 0.9, 0.3, 0.1, 0.9];
    assert_eq!(top_k_mask(&s, 0), vec![false; 5]);
    assert_eq!(top_k_mask(&s, 1), vec![false, true, false, false, false]);
    assert_eq!(top_k_mask(&s, 3), vec![true, true, false, false, true]);
    assert_eq!(top_k_mask(&s, 9), vec![true; 5]);
    assert_eq!(top_k_mask(&[], 3), Vec::<bool>::new());
    assert_eq!(
        threshold_mask(&s, 0.3),
        vec![false, true, false, false, true]
    );
    assert_eq!(
        pope_binarize(&[0.0, 0.005, 0.02, 1.0], 0.01),
        vec![false, false, true, true]
    );
    assert_eq!(pope_binarize(&[0.0, 0.0], 0.01), vec![false, false]);
    assert_eq!(pope_binarize(&[-1.0, -0.5], 0.01), vec![false, false]);
    assert_eq!(edge_scores(&[-2.0, 1.0], Ranking::Abs), vec![2.0, 1.0]);
    assert_eq!(edge_scores(&[-2.0, 1.0], Ranking::Signed), vec![-2.0, 1.0]);
    // floor(ρ E) with exact decimal semantics, even where the f64 product is just below.
    assert_eq!(keep_count(5, 1.0 - 0.8), 1);
    assert_eq!(keep_count(10, 1.0 - 0.9), 1);
    assert_eq!(keep_count(90, 0.7), 63);
    assert_eq!(keep_count(7, 0.5), 3);
    assert_eq!(keep_count(4, 1.0), 4);
    assert_eq!(keep_count(4, 0.0), 0);
    assert_eq!(keep_count(0, 0.5), 0);
    for e in 0..300 {
        for tenth in 0..=10u32 {
            let want = (tenth as usize * e) / 10;
            assert_eq!(
                keep_count(e, tenth as f64 / 10.0),
                want,
                "{tenth}/10 of {e}"
            );
            let sparsity = (10 - tenth) as f64 / 10.0;
            assert_eq!(keep_count(e, 1.0 - sparsity), want, "1 - {sparsity} of {e}");
        }
    }
}

#[test]
fn formulas_by_hand() {
    // PyG model fidelity.
    let (p, m) = pyg_fidelity_model(&[0, 1, 1, 0], &[1, 1, 0, 0], &[0, 1, 1, 1]).unwrap();
    close(p, 0.5, "fid+");
    close(m, 0.25, "fid-");
    assert_eq!(pyg_fidelity_model(&[], &[], &[]), None);
    // Phenomenon: labels 0 1 0 0, full hits 1 1 0 1, removed 0 1 1 1, kept 1 1 0 0.
    let (p, m) =
        pyg_fidelity_phenomenon(&[0, 1, 0, 0], &[0, 1, 1, 0], &[1, 1, 0, 0], &[0, 1, 1, 1])
            .unwrap();
    close(p, 0.5, "phen fid+");
    close(m, 0.25, "phen fid-");
    // Characterization: 1 / (0.5/0.5 + 0.5/(1-0.25)) = 0.6; PyG's example weights.
    close(
        characterization_score(0.5, 0.25, 0.5, 0.5).unwrap(),
        0.6,
        "charact",
    );
    close(
        characterization_score(0.8, 0.1, 0.2, 0.8).unwrap(),
        1.0 / (0.2 / 0.8 + 0.8 / 0.9),
        "charact weighted",
    );
    assert_eq!(characterization_score(0.0, 0.2, 0.5, 0.5).unwrap(), 0.0);
    assert_eq!(characterization_score(0.4, 1.0, 0.5, 0.5).unwrap(), 0.0);
    assert!(matches!(
        characterization_score(0.4, 0.2, 0.5, 0.6),
        Err(Error::Config(_))
    ));
    // Fidelity curve: y = fid+ / (1 - fid-) = 0.2, 0.5, 1.0 over x 0, 0.5, 1.5.
    let auc = fidelity_curve_auc(&[0.1, 0.25, 0.5], &[0.5, 0.5, 0.5], &[0.0, 0.5, 1.5])
        .unwrap()
        .unwrap();
    close(auc, 0.5 * 0.35 + 1.0 * 0.75, "curve AUC");
    close(trapezoid(&[1.0, 3.0], &[2.0, 4.0]), 4.0, "trapezoid");
    assert_eq!(
        fidelity_curve_auc(&[0.1, 0.2], &[0.0, 1.0], &[0.0, 1.0]).unwrap(),
        None
    );
    assert!(fidelity_curve_auc(&[0.1, 0.2], &[0.0, 0.0], &[1.0, 0.0]).is_err());
    // DIG and sparsity.
    close(
        probability_drop(&[0.9, 0.8], &[0.5, 0.9]).unwrap(),
        (0.4 - 0.1) / 2.0,
        "drop",
    );
    assert_eq!(probability_drop(&[], &[]), None);
    assert_eq!(mask_sparsity(&[true, false, false, false]), Some(0.75));
    assert_eq!(mask_sparsity(&[]), None);
    // Contrastivity.
    assert_eq!(
        contrastivity(&[true, true, false, false], &[false, true, true, false]),
        Some(2.0 / 3.0)
    );
    assert_eq!(contrastivity(&[false, false], &[false, false]), None);
    assert_eq!(contrastivity(&[true], &[true]), Some(0.0));
}

#[test]
fn ground_truth_by_hand() {
    // Scores 0.9 0.1 0.5 0.5, marks 1 0 1 0; mask = top 2 = e0, e2 (e2 wins the tie).
    let s = [0.9, 0.1, 0.5, 0.5];
    let gt = [1, 0, 1, 0];
    let g = GraphGroundTruth::of(&s, &top_k_mask(&s, 2), &gt);
    assert_eq!(g.marked, 2);
    assert_eq!(
        g.confusion,
        Confusion {
            tp: 2,
            fp: 0,
            fn_: 0,
            tn: 2
        }
    );
    assert_eq!(g.precision_at_marked, Some(1.0));
    // AUC: pairs (0.9 > 0.1, 0.9 > 0.5, 0.5 > 0.1, 0.5 = 0.5) = 3.5 / 4.
    assert_eq!(g.auc, Some(0.875));
    assert_eq!(roc_auc(&s, &gt), Some(0.875));
    // Precision/recall/F1 with zero denominators are 0.
    let c = Confusion::of(&[false, false], &[0, 1]);
    assert_eq!((c.precision(), c.recall(), c.f1()), (0.0, 0.0, 0.0));
    let c = Confusion::of(&[true, true, true], &[1, 0, 0]);
    close(c.precision(), 1.0 / 3.0, "P");
    close(c.recall(), 1.0, "R");
    close(c.f1(), 0.5, "F1");
    // No marked edge: no AUC, no precision at |gt|.
    let g = GraphGroundTruth::of(&[0.1, 0.2], &[true, false], &[0, 0]);
    assert_eq!((g.marked, g.auc, g.precision_at_marked), (0, None, None));
}

// ------------------------------------------------------------ errors

#[test]
fn errors_are_clean() {
    let model = sum_model();
    let batch = hand_batch();
    let cfg = half_cfg();
    let run = |attr: &[f64], target: &[usize], cfg: &EvalConfig| {
        evaluate(
            &model,
            &batch,
            &Explanation {
                edge_attr: attr,
                target,
            },
            None,
            cfg,
        )
    };
    let mut nan = HAND_ATTR;
    nan[5] = f64::NAN;
    let e = run(&nan, &HAND_TARGET, &cfg).unwrap_err().to_string();
    assert!(e.contains("edge 5") && e.contains("graph 2"), "{e}");
    assert!(run(&HAND_ATTR[..10], &HAND_TARGET, &cfg).is_err());
    assert!(run(&HAND_ATTR, &[0, 0, 0], &cfg).is_err());
    let e = run(&HAND_ATTR, &[0, 0, 2, 0], &cfg)
        .unwrap_err()
        .to_string();
    assert!(e.contains("class 2"), "{e}");
    for bad in [
        EvalConfig {
            mask: MaskRule::Sparsity(1.5),
            ..half_cfg()
        },
        EvalConfig {
            curve: vec![0.5, 0.2],
            ..half_cfg()
        },
        EvalConfig {
            curve: vec![0.5, 1.2],
            ..half_cfg()
        },
        EvalConfig {
            pope_threshold: 1.0,
            ..half_cfg()
        },
        EvalConfig {
            charact_weights: (0.3, 0.3),
            ..half_cfg()
        },
        EvalConfig {
            mask: MaskRule::Threshold(f64::NAN),
            ..half_cfg()
        },
    ] {
        assert!(
            matches!(run(&HAND_ATTR, &HAND_TARGET, &bad), Err(Error::Config(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn json_has_every_value() {
    let r = hand_report(&half_cfg(), None);
    let v = r.to_json();
    assert_eq!(v["graphs"], 4);
    assert_eq!(v["edges"], 11);
    assert_eq!(v["settings"]["mask"]["sparsity"], 0.5);
    assert_eq!(v["pyg"]["model"]["fid_plus"], 0.25);
    assert_eq!(v["pope"]["contrastivity"], serde_json::Value::Null);
    assert_eq!(v["ground_truth"]["all"]["graphs"], 3);
    assert_eq!(
        v["ground_truth"]["by_label"]["1"]["mean_auc"],
        serde_json::Value::Null
    );
    let pg = &v["per_graph"];
    assert_eq!(pg["kept_edges"], serde_json::json!([2, 0, 1, 2]));
    assert_eq!(pg["gt_auc"], serde_json::json!([1.0, null, 0.5, 0.25]));
    assert_eq!(pg["gt_precision"][1], serde_json::Value::Null);
    assert_eq!(pg["removed_prediction"], serde_json::json!([1, 1, 1, 0]));
    assert_eq!(pg["curve_kept_edges"][0], serde_json::json!([1, 2, 3]));
}

// ------------------------------------------------------------ PyG's own functions

/// Values computed by PyG 2.8.1's `torch_geometric.explain.metric` (`fidelity`
/// through a real `Explainer` with hard edge masks, `characterization_score`,
/// `fidelity_curve_auc`) on Mutagenicity graphs with the built-in model, for
/// seeded attributions stored in the fixture.
#[test]
fn pyg_reference_fixture() {
    let Some(dir) = common::mutagenicity_dir() else {
        return;
    };
    let path = common::repo_root().join("tests/fixtures/metrics_reference.json");
    let text = std::fs::read_to_string(&path).expect("fixture (scripts/metrics_reference.py)");
    let fx: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let nums = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let graphs: Vec<usize> = fx["graphs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap() as usize)
        .collect();
    let model = graph_ig::default_model::mutagenicity().expect("built-in model");
    let full = graph_ig::graph::tu::load_tu(
        &dir,
        "Mutagenicity",
        model.num_features(),
        &Default::default(),
    )
    .expect("dataset");
    let batch = full.select(&graphs).unwrap();
    let attr: Vec<f64> = fx["attr"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(&nums)
        .collect();
    let target: Vec<usize> = fx["target"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as usize)
        .collect();
    let cfg = EvalConfig {
        mask: MaskRule::Sparsity(fx["sparsity"].as_f64().unwrap()),
        curve: nums(&fx["curve"]),
        ..Default::default()
    };
    let r = evaluate(
        &model,
        &batch,
        &Explanation {
            edge_attr: &attr,
            target: &target,
        },
        None,
        &cfg,
    )
    .expect("evaluate");
    // PyG's masked forward passes run in float64; its fidelities are float32
    // means (`(..).float().mean()`), hence two tolerances.
    let near = |a: f64, b: f64, what: &str| {
        assert!((a - b).abs() <= 1e-9, "{what}: graph-ig {a}, PyG {b}");
    };
    let near32 = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
            "{what}: graph-ig {a}, PyG {b}"
        );
    };
    // PyG's masked forward passes (Explainer.get_masked_prediction).
    for (gi, g) in r.graphs.iter().enumerate() {
        for (name, o) in [("full", g.full), ("kept", g.kept), ("removed", g.removed)] {
            let lp = nums(&fx[format!("log_probs_{name}")][gi]);
            near(
                o.p_target,
                lp[target[gi]].exp(),
                &format!("graph {gi} {name}"),
            );
        }
        near(
            g.kept_edges as f64,
            fx["kept_edges"][gi].as_f64().unwrap(),
            "kept edges",
        );
    }
    for (variant, ours) in [
        ("model", Some(r.pyg.model)),
        ("phenomenon", r.pyg.phenomenon),
    ] {
        let ours = ours.unwrap();
        let p = &fx["pyg"][variant];
        near32(ours.fid_plus, p["fid_plus"].as_f64().unwrap(), "fid+");
        near32(ours.fid_minus, p["fid_minus"].as_f64().unwrap(), "fid-");
        near32(
            ours.characterization,
            p["characterization"].as_f64().unwrap(),
            "charact",
        );
    }
    for (variant, ours) in [
        ("curve_model", Some(&r.pyg.curve_model)),
        ("curve_phenomenon", r.pyg.curve_phenomenon.as_ref()),
    ] {
        let ours = ours.unwrap();
        let p = &fx["pyg"][variant];
        for (a, b) in ours.fid_plus.iter().zip(nums(&p["fid_plus"])) {
            near32(*a, b, "curve fid+");
        }
        for (a, b) in ours.fid_minus.iter().zip(nums(&p["fid_minus"])) {
            near32(*a, b, "curve fid-");
        }
        match (ours.auc, p["auc"].as_f64()) {
            (Some(a), Some(b)) => near32(a, b, "curve AUC"),
            (a, b) => assert_eq!(a, b, "curve AUC defined in both or neither"),
        }
    }
}

// ------------------------------------------------------------ node level

/// Four graphs for the node-level hand computation (see [`node_level_hand_computed`]).
fn node_hand_batch() -> GraphBatch {
    GraphBatch::builder(1)
        .labelled_graph(
            &[1.0, 2.0, 3.0, 4.0],
            &[(0, 1), (1, 2), (2, 3), (3, 0)],
            0,
            Some(&[1, 0, 0, 0]),
        )
        .labelled_graph(&[1.0, 1.0, 1.0], &[(0, 1), (1, 2)], 1, Some(&[0, 0]))
        .labelled_graph(
            &[2.0, 3.0, 1.0, 5.0],
            &[(0, 1), (1, 0), (2, 3)],
            0,
            Some(&[0, 0, 1]),
        )
        .labelled_graph(
            &[1.0, 2.0, 3.0],
            &[(0, 1), (1, 2), (2, 0)],
            1,
            Some(&[0, 1, 0]),
        )
        .build()
        .expect("valid batch")
}

const NODE_SCORE: [f64; 14] = [
    0.9, -0.2, 0.5, 0.0, // G0
    0.0, 0.0, 0.0, // G1
    0.4, 0.4, 0.1, 0.4, // G2
    0.0, 0.005, 1.0, // G3
];
const NODE_TARGET: [usize; 4] = [0, 1, 0, 0];

fn node_hand_report(cfg: &EvalConfig, other: Option<&NodeExplanation<'_>>) -> NodeEvalReport {
    let main = NodeExplanation {
        node_score: &NODE_SCORE,
        target: &NODE_TARGET,
    };
    evaluate_nodes(&sum_model(), &node_hand_batch(), &main, other, cfg).expect("evaluate_nodes")
}

#[test]
fn node_marks_and_derived_edge_scores_by_hand() {
    // Marked edge (0, 1): nodes 0 and 1; a marked self-loop marks its node once.
    assert_eq!(
        node_marks(4, &[0, 1, 2, 3], &[1, 2, 3, 0], &[1, 0, 0, 0]),
        vec![1, 1, 0, 0]
    );
    assert_eq!(
        node_marks(3, &[2, 0], &[2, 1], &[1, 0]),
        vec![0, 0, 1],
        "self-loop"
    );
    assert_eq!(node_marks(2, &[], &[], &[]), vec![0, 0]);
    let d = edge_scores_from_nodes(&[0.9, -0.2, 0.5, 0.0], &[0, 1, 2, 3], &[1, 2, 3, 0]);
    for (a, b) in d.iter().zip([0.35, 0.15, 0.25, 0.45]) {
        close(*a, b, "derived edge score");
    }
    assert_eq!(edge_scores_from_nodes(&[1.0, 3.0], &[1], &[1]), vec![3.0]);
    // The pairwise count agrees with the rank formula of the library.
    for (s, m) in [
        (vec![0.9, 0.1, 0.5, 0.5], vec![1, 0, 1, 0]),
        (vec![0.0, 0.0, 0.0], vec![1, 0, 0]),
        (vec![0.3, 0.2, 0.1], vec![0, 0, 1]),
    ] {
        assert_eq!(pairwise_auc(&s, &m), roc_auc(&s, &m));
    }
    assert_eq!(pairwise_auc(&[0.1, 0.2], &[1, 1]), None);
}

#[test]
fn node_level_hand_computed() {
    let r = node_hand_report(&half_cfg(), None);
    let g = &r.graphs;
    let p0 = |z: f64| sigmoid(z - 4.5);
    let p1 = |z: f64| sigmoid(4.5 - z);
    // G0: z = 10. Salient (|s| / 0.9 > 0.01): nodes 0, 1, 2; every edge touches
    // one of them, so the occluded z = 0.
    close(g[0].full.p_target, p0(10.0), "G0 full");
    assert_eq!(g[0].pope_salient, 3);
    close(g[0].pope_occluded.p_target, p0(0.0), "G0 occluded");
    // G1: all-zero scores: nothing salient, the occluded graph is the full one.
    assert_eq!(g[1].pope_salient, 0);
    close(g[1].pope_occluded.p_target, p1(2.0), "G1 occluded");
    // G2: every node salient, z = 6 → 0.
    assert_eq!(g[2].pope_salient, 4);
    close(g[2].full.p_target, p0(6.0), "G2 full");
    close(g[2].pope_occluded.p_target, p0(0.0), "G2 occluded");
    // G3: 0.005 is below 1% of the max: only node 2 is salient; edges (1, 2)
    // and (2, 0) go, (0, 1) stays: z = 1.
    assert_eq!(g[3].pope_salient, 1);
    close(g[3].pope_occluded.p_target, p0(1.0), "G3 occluded");
    assert_eq!(g[3].pope_occluded.prediction, 1);

    // Labels (0, 1, 0, 1); full predictions (0, 1, 0, 0), occluded (1, 1, 1, 1).
    close(r.accuracy.unwrap(), 0.75, "accuracy");
    close(r.pope.fidelity_accuracy.unwrap(), 0.75 - 0.5, "fidelity");
    let drop = [
        p0(10.0) - p0(0.0),
        0.0,
        p0(6.0) - p0(0.0),
        p0(6.0) - p0(1.0),
    ];
    close(
        r.pope.fidelity_probability,
        drop.iter().sum::<f64>() / 4.0,
        "probability fidelity",
    );
    close(
        r.pope.sparsity.unwrap(),
        (0.25 + 1.0 + 0.0 + 2.0 / 3.0) / 4.0,
        "sparsity",
    );
    assert_eq!(r.graphs_with_nodes, 4);
    assert_eq!(r.pope.contrastivity, None);

    // Ground truth: marks G0 {0, 1}, G1 none, G2 {2, 3}, G3 {1, 2}. Masks keep
    // floor(N / 2) nodes by |s|, ties to the lower index: G0 {0, 2}, G2 {0, 1}, G3 {2}.
    let per: Vec<_> = g.iter().map(|x| x.ground_truth.clone().unwrap()).collect();
    assert_eq!(per[1].marked, 0);
    assert_eq!(per[0].auc, Some(0.75));
    assert_eq!(per[2].auc, Some(0.25));
    assert_eq!(per[3].auc, Some(1.0));
    let c = |tp, fp, fn_, tn| Confusion { tp, fp, fn_, tn };
    assert_eq!(per[0].confusion, c(1, 1, 1, 1));
    assert_eq!(per[2].confusion, c(0, 2, 2, 0));
    assert_eq!(per[3].confusion, c(1, 0, 1, 1));
    assert_eq!(per[0].precision_at_marked, Some(0.5));
    assert_eq!(per[2].precision_at_marked, Some(0.0));
    assert_eq!(per[3].precision_at_marked, Some(1.0));
    let gt = r.ground_truth.as_ref().expect("marks");
    assert_eq!((gt.all.graphs, gt.all.auc_graphs), (3, 3));
    close(gt.all.mean_auc.unwrap(), 2.0 / 3.0, "mean AUC");
    // Pooled: 19 of the 30 positive-negative pairs (hand count), and the pairwise count.
    close(gt.all.pooled_auc.unwrap(), 19.0 / 30.0, "pooled AUC");
    let abs: Vec<f64> = NODE_SCORE.iter().map(|v| v.abs()).collect();
    let marks = [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1];
    let pooled: Vec<usize> = (0..4).chain(7..14).collect();
    let (ps, pm): (Vec<f64>, Vec<u8>) = pooled.iter().map(|&i| (abs[i], marks[i])).unzip();
    close(
        gt.all.pooled_auc.unwrap(),
        pairwise_auc(&ps, &pm).unwrap(),
        "pooled AUC, pairwise",
    );
    close(gt.all.mean_precision.unwrap(), 0.5, "mean P");
    close(gt.all.mean_recall.unwrap(), 1.0 / 3.0, "mean R");
    close(
        gt.all.mean_f1.unwrap(),
        (0.5 + 0.0 + 2.0 / 3.0) / 3.0,
        "mean F1",
    );
    assert_eq!(gt.all.pooled, c(2, 3, 4, 2));
    close(gt.all.mean_precision_at_marked.unwrap(), 0.5, "P@|gt|");
    assert_eq!(gt.by_label[&0].graphs, 2);
    close(gt.by_label[&0].mean_auc.unwrap(), 0.5, "label 0 AUC");
    assert_eq!(gt.by_label[&1].graphs, 1);
    assert_eq!(gt.by_label[&1].mean_auc, Some(1.0));

    // Signed ranking: G0's -0.2 is neither salient nor high: salient {0, 2}
    // (still every edge occluded); AUC 2/4.
    let r = node_hand_report(
        &EvalConfig {
            ranking: Ranking::Signed,
            ..half_cfg()
        },
        None,
    );
    assert_eq!(r.graphs[0].pope_salient, 2);
    assert_eq!(r.graphs[0].ground_truth.as_ref().unwrap().auc, Some(0.5));

    // Contrastivity: the second explanation's targets (1, 0, 1, 0): G3 explains
    // the same class and is left out. G0: {0, 1, 2} vs {2, 3}: 3 differ of 4;
    // G1: {} vs {0}: 1 of 1; G2: all 4 vs none: 4 of 4.
    let other_score = [
        0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0,
    ];
    let other = NodeExplanation {
        node_score: &other_score,
        target: &[1, 0, 1, 0],
    };
    let r = node_hand_report(&half_cfg(), Some(&other));
    let cs: Vec<Option<f64>> = r.graphs.iter().map(|g| g.contrastivity).collect();
    assert_eq!(cs, vec![Some(0.75), Some(1.0), Some(1.0), None]);
    assert_eq!(r.pope.contrastivity_graphs, 3);
    close(r.pope.contrastivity.unwrap(), 2.75 / 3.0, "contrastivity");

    // JSON.
    let v = r.to_json();
    assert_eq!(v["nodes"], 14);
    assert_eq!(
        v["per_graph"]["pope_salient"],
        serde_json::json!([3, 0, 4, 1])
    );
    assert_eq!(
        v["per_graph"]["gt_auc"],
        serde_json::json!([0.75, null, 0.25, 1.0])
    );
    assert_eq!(v["ground_truth"]["all"]["pooled_counts"]["fn"], 4);
    assert_eq!(v["settings"]["tie_break"], "lower node index");
}

/// Occluding nodes matters through their features too: a model with a root
/// weight (`x_i' = x_i`, summed), one graph without edges.
#[test]
fn node_occlusion_zeroes_features() {
    let m = sum_model_with_root(1.0);
    let batch = GraphBatch::builder(1)
        .labelled_graph(&[2.0, 3.0, 4.0], &[], 0, None)
        .build()
        .unwrap();
    let r = evaluate_nodes(
        &m,
        &batch,
        &NodeExplanation {
            node_score: &[0.0, 1.0, 0.0],
            target: &[0],
        },
        None,
        &EvalConfig::default(),
    )
    .unwrap();
    // z = 2 + 3 + 4 = 9; node 1 occluded: z = 6.
    close(r.graphs[0].full.p_target, sigmoid(9.0 - 4.5), "full");
    close(
        r.graphs[0].pope_occluded.p_target,
        sigmoid(6.0 - 4.5),
        "occluded",
    );
    assert!(r.ground_truth.is_none(), "no marks");
}

#[test]
fn node_level_brute_force() {
    for (seed, pool) in [(11, Pool::Add), (12, Pool::Mean), (13, Pool::Max)] {
        let f = 4;
        let mut rng = common::rng(200 + seed);
        let model = common::random_model(&mut rng, f, &[8, 6], 5, 3, pool);
        let (batch, _, target) = random_case(seed, f);
        let ng = batch.num_graphs();
        let score: Vec<f64> = (0..ng)
            .flat_map(|g| {
                let n = batch.graph(g).num_nodes();
                (0..n)
                    .map(|_| match g % 3 {
                        0 => (rng.gen_range(-3..=3) as f64) / 2.0,
                        1 => rng.gen_range(-1.0..1.0),
                        _ => 0.0,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let other_score: Vec<f64> = score.iter().map(|a| (a * 5.0 + 1.0).cos()).collect();
        let other_target: Vec<usize> = target.iter().map(|t| (t + 2) % 3).collect();
        let cfg = EvalConfig {
            mask: MaskRule::Sparsity(0.75),
            ..Default::default()
        };
        let r = evaluate_nodes(
            &model,
            &batch,
            &NodeExplanation {
                node_score: &score,
                target: &target,
            },
            Some(&NodeExplanation {
                node_score: &other_score,
                target: &other_target,
            }),
            &cfg,
        )
        .expect("evaluate_nodes");
        let labels = batch.graph_labels().unwrap();
        let gts = batch.edge_gt().unwrap();
        let (mut acc, mut acc_occ, mut drop, mut sp) = (0.0, 0.0, 0.0, 0.0);
        let (mut contrast, mut n_contrast) = (0.0, 0usize);
        let (mut auc_sum, mut auc_n, mut marked_graphs) = (0.0, 0usize, 0usize);
        let (mut p_sum, mut r_sum, mut f_sum) = (0.0, 0.0, 0.0);
        let (mut tp_all, mut fp_all, mut fn_all) = (0usize, 0usize, 0usize);
        let (mut pool_s, mut pool_m) = (Vec::new(), Vec::new());
        let f64x = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        for gi in 0..ng {
            let gr = batch.graph(gi);
            let (n0, n) = (gr.nodes.start, gr.num_nodes());
            let sub = batch.subset(gi..gi + 1).unwrap();
            let lg = graph_ig::cpu::network::LocalGraph::from_batch(&sub, 0);
            let x = f64x(sub.features());
            let edges: Vec<(usize, usize)> = gr
                .edges
                .clone()
                .map(|e| (batch.src()[e] as usize - n0, batch.dst()[e] as usize - n0))
                .collect();
            let s: Vec<f64> = score[gr.nodes.clone()].iter().map(|a| a.abs()).collect();
            let t = target[gi];
            let run =
                |x: &[f64], w: &[f64]| graph_ig::cpu::network::outputs(&model, &lg, x, w).unwrap();
            let full = run(&x, &vec![1.0; edges.len()]);
            let ge = &r.graphs[gi];
            close(ge.full.p_target, full[t].exp(), "full p");
            // Pope: occlude the salient nodes by hand.
            let max = s.iter().cloned().fold(0.0, f64::max);
            let sal: Vec<bool> = s.iter().map(|&v| max > 0.0 && v / max > 0.01).collect();
            let mut xo = x.clone();
            for v in 0..n {
                if sal[v] {
                    for k in 0..f {
                        xo[v * f + k] = 0.0;
                    }
                }
            }
            let wo: Vec<f64> = edges
                .iter()
                .map(|&(a, b)| if sal[a] || sal[b] { 0.0 } else { 1.0 })
                .collect();
            let occ = run(&xo, &wo);
            close(ge.pope_occluded.p_target, occ[t].exp(), "occluded p");
            let y = labels[gi] as usize;
            acc += f64::from(u8::from(argmax(&full) == y));
            acc_occ += f64::from(u8::from(argmax(&occ) == y));
            drop += full[t].exp() - occ[t].exp();
            if n > 0 {
                sp += 1.0 - sal.iter().filter(|&&b| b).count() as f64 / n as f64;
            }
            if other_target[gi] != t {
                let so: Vec<f64> = other_score[gr.nodes.clone()]
                    .iter()
                    .map(|a| a.abs())
                    .collect();
                let maxo = so.iter().cloned().fold(0.0, f64::max);
                let salo: Vec<bool> = so.iter().map(|&v| maxo > 0.0 && v / maxo > 0.01).collect();
                let diff = sal.iter().zip(&salo).filter(|(a, b)| a != b).count();
                let union = sal.iter().zip(&salo).filter(|(a, b)| **a || **b).count();
                if union > 0 {
                    contrast += diff as f64 / union as f64;
                    n_contrast += 1;
                }
            }
            // Ground truth: a node is marked if a marked edge starts or ends at it.
            let gt_e = &gts[gr.edges.clone()];
            let marks: Vec<u8> = (0..n)
                .map(|v| {
                    u8::from(
                        edges
                            .iter()
                            .zip(gt_e)
                            .any(|(&(a, b), &g)| g == 1 && (a == v || b == v)),
                    )
                })
                .collect();
            let marked = marks.iter().filter(|&&m| m == 1).count();
            let g_gt = ge.ground_truth.as_ref().unwrap();
            assert_eq!(g_gt.marked, marked, "graph {gi}");
            assert_eq!(g_gt.auc, pairwise_auc(&s, &marks), "graph {gi} AUC");
            if let Some(a) = pairwise_auc(&s, &marks) {
                auc_sum += a;
                auc_n += 1;
                pool_s.extend_from_slice(&s);
                pool_m.extend_from_slice(&marks);
            }
            if marked > 0 {
                marked_graphs += 1;
                let m = brute_top_k(&s, brute_k(n, 1, 4));
                let tp = (0..n).filter(|&v| m[v] && marks[v] == 1).count();
                let sel = m.iter().filter(|&&b| b).count();
                let (fp, fn_) = (sel - tp, marked - tp);
                let p = if sel > 0 { tp as f64 / sel as f64 } else { 0.0 };
                let rc = tp as f64 / marked as f64;
                close(g_gt.confusion.precision(), p, "precision");
                close(g_gt.confusion.recall(), rc, "recall");
                p_sum += p;
                r_sum += rc;
                f_sum += if tp > 0 { 2.0 * p * rc / (p + rc) } else { 0.0 };
                tp_all += tp;
                fp_all += fp;
                fn_all += fn_;
            }
        }
        let nf = ng as f64;
        close(r.accuracy.unwrap(), acc / nf, "accuracy");
        close(
            r.pope.fidelity_accuracy.unwrap(),
            (acc - acc_occ) / nf,
            "Pope fidelity",
        );
        close(r.pope.fidelity_probability, drop / nf, "Pope probability");
        close(r.pope.sparsity.unwrap(), sp / nf, "Pope sparsity");
        assert_eq!(r.pope.contrastivity_graphs, n_contrast);
        close(
            r.pope.contrastivity.unwrap(),
            contrast / n_contrast as f64,
            "contrastivity",
        );
        let gt = &r.ground_truth.as_ref().unwrap().all;
        assert!(auc_n > 0 && marked_graphs > 0);
        assert_eq!((gt.graphs, gt.auc_graphs), (marked_graphs, auc_n));
        close(gt.mean_auc.unwrap(), auc_sum / auc_n as f64, "mean AUC");
        close(
            gt.pooled_auc.unwrap(),
            pairwise_auc(&pool_s, &pool_m).unwrap(),
            "pooled AUC",
        );
        let mg = marked_graphs as f64;
        close(gt.mean_precision.unwrap(), p_sum / mg, "mean P");
        close(gt.mean_recall.unwrap(), r_sum / mg, "mean R");
        close(gt.mean_f1.unwrap(), f_sum / mg, "mean F1");
        assert_eq!(
            (gt.pooled.tp, gt.pooled.fp, gt.pooled.fn_),
            (tp_all, fp_all, fn_all)
        );
    }
}

/// Node scores through their derived edge scores give the edge-level report of
/// those edge scores computed by hand.
#[test]
fn derived_edge_scores_feed_evaluate() {
    let batch = node_hand_batch();
    let derived = edge_scores_from_nodes(&NODE_SCORE, batch.src(), batch.dst());
    // By hand, G0: edges (0,1) (1,2) (2,3) (3,0) → 0.35 0.15 0.25 0.45; edge
    // (0, 1) of G0 is marked: AUC of |.| = 2/3 (0.35 beats 0.15 and 0.25, not 0.45).
    let r = evaluate(
        &sum_model(),
        &batch,
        &Explanation {
            edge_attr: &derived,
            target: &NODE_TARGET,
        },
        None,
        &half_cfg(),
    )
    .unwrap();
    let auc = r.graphs[0].ground_truth.as_ref().unwrap().auc.unwrap();
    close(auc, 2.0 / 3.0, "derived AUC G0");
    let s: Vec<f64> = derived[..4].iter().map(|v| v.abs()).collect();
    close(auc, pairwise_auc(&s, &[1, 0, 0, 0]).unwrap(), "pairwise");
}

#[test]
fn node_level_errors_are_clean() {
    let model = sum_model();
    let batch = node_hand_batch();
    let cfg = half_cfg();
    let run = |s: &[f64], t: &[usize]| {
        evaluate_nodes(
            &model,
            &batch,
            &NodeExplanation {
                node_score: s,
                target: t,
            },
            None,
            &cfg,
        )
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    let e = run(&NODE_SCORE[..13], &NODE_TARGET);
    assert!(e.contains("13 node scores for 14 nodes"), "{e}");
    let mut nan = NODE_SCORE;
    nan[8] = f64::NAN;
    let e = run(&nan, &NODE_TARGET);
    assert!(e.contains("node 8") && e.contains("graph 2"), "{e}");
    let e = run(&NODE_SCORE, &[0, 0, 0]);
    assert!(e.contains("3 targets for 4 graphs"), "{e}");
    let e = run(&NODE_SCORE, &[0, 0, 5, 0]);
    assert!(e.contains("class 5"), "{e}");
}

/// Two JSON reports agree: the same structure and strings, numbers within `tol`
/// (relative to 1 + |b|). Returns the largest difference.
fn json_close(a: &serde_json::Value, b: &serde_json::Value, tol: f64, at: &str) -> f64 {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            let d = (x - y).abs() / (1.0 + y.abs());
            assert!(d <= tol, "{at}: {x} vs {y}");
            d
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            x.iter()
                .zip(y)
                .enumerate()
                .map(|(k, (p, q))| json_close(p, q, tol, &format!("{at}[{k}]")))
                .fold(0.0, f64::max)
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: keys");
            x.iter()
                .map(|(k, p)| {
                    let q = y.get(k).unwrap_or_else(|| panic!("{at}: key {k} missing"));
                    if k == "device" {
                        return 0.0;
                    }
                    json_close(p, q, tol, &format!("{at}.{k}"))
                })
                .fold(0.0, f64::max)
        }
        _ => {
            assert_eq!(a, b, "{at}");
            0.0
        }
    }
}

/// The metrics with their forward passes on the GPU path (interpret mode here, every
/// masked variant of every graph in one batched pass) equal the CPU reference's, at
/// edge and at node level, with and without a second explanation.
#[test]
fn metrics_on_the_gpu_path_match_the_cpu() {
    use graph_ig::{explain, Device, ExplainConfig, Method, Target};
    for (seed, pool) in [(41u64, Pool::Add), (42, Pool::Max)] {
        let mut r = common::rng(seed);
        let model = common::random_model(&mut r, 5, &[12, 8], 12, 2, pool);
        let batch = common::edge_case_batch(&mut r, 5);
        let run = |method, target| {
            let cfg = ExplainConfig {
                method,
                target,
                ..Default::default()
            };
            explain(&model, &batch, &cfg, Device::Cpu).unwrap()
        };
        let (ig0, ig1) = (
            run(Method::IntegratedGradients, Target::Class(0)),
            run(Method::IntegratedGradients, Target::Class(1)),
        );
        let (gc0, gc1) = (
            run(Method::GradCam(None), Target::Class(0)),
            run(Method::GradCam(None), Target::Class(1)),
        );
        let edge = |a: &graph_ig::Attributions| -> Vec<f64> { a.edge.clone().unwrap() };
        let (e0, e1) = (edge(&ig0), edge(&ig1));
        let main = Explanation {
            edge_attr: &e0,
            target: &ig0.target,
        };
        let other = Explanation {
            edge_attr: &e1,
            target: &ig1.target,
        };
        let (n0, n1) = (
            gc0.node_score.clone().unwrap(),
            gc1.node_score.clone().unwrap(),
        );
        let nmain = NodeExplanation {
            node_score: &n0,
            target: &gc0.target,
        };
        let nother = NodeExplanation {
            node_score: &n1,
            target: &gc1.target,
        };
        let on = |device| EvalConfig {
            device,
            ..Default::default()
        };
        let cpu = evaluate(&model, &batch, &main, Some(&other), &on(Device::Cpu)).unwrap();
        let small = EvalConfig {
            memory_budget: Some(50_000),
            ..on(Device::Interpret)
        };
        for cfg in [on(Device::Interpret), small] {
            let gpu = evaluate(&model, &batch, &main, Some(&other), &cfg).unwrap();
            let d = json_close(&gpu.to_json(), &cpu.to_json(), 1e-4, "edge report");
            println!("{pool:?}: edge-level metrics, interpret vs cpu: largest difference {d:.2e}");
            let ncpu =
                evaluate_nodes(&model, &batch, &nmain, Some(&nother), &on(Device::Cpu)).unwrap();
            let ngpu = evaluate_nodes(&model, &batch, &nmain, Some(&nother), &cfg).unwrap();
            let d = json_close(&ngpu.to_json(), &ncpu.to_json(), 1e-4, "node report");
            println!("{pool:?}: node-level metrics, interpret vs cpu: largest difference {d:.2e}");
        }
    }
}
