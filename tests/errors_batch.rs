//! Validation of `GraphBatch::from_parts` and `GraphBatch::builder`: every invalid
//! input is rejected with an `Error::Batch` whose message names the graph, edge,
//! node or feature involved; valid corner cases (single nodes, no edges, isolated
//! nodes, self-loops) build with the right offsets; `subset` renumbers.

use graph_ig::{Error, GraphBatch, GraphParts, Result};

const F: usize = 2;

/// A valid two-graph batch:
/// graph 0: nodes 0,1, edges (0,1),(1,0);
/// graph 1: nodes 2,3,4, edges (2,3),(3,4),(4,2).
fn valid_parts() -> GraphParts {
    GraphParts {
        num_features: F,
        x: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0],
        src: vec![0, 1, 2, 3, 4],
        dst: vec![1, 0, 3, 4, 2],
        node_ptr: vec![0, 2, 5],
        edge_ptr: vec![0, 2, 5],
        edge_labels: Some(vec![0, 0, 1, 1, 2]),
        edge_gt: Some(vec![0, 0, 1, 0, 1]),
        graph_labels: Some(vec![0, 1]),
        edge_weight: None,
    }
}

/// The message of an `Error::Batch`, or a panic naming what came instead.
fn batch_msg(r: Result<GraphBatch>, what: &str) -> String {
    match r {
        Err(Error::Batch(m)) => m,
        Err(other) => panic!("{what}: expected Error::Batch, got {other:?}"),
        Ok(b) => panic!("{what}: expected Error::Batch, but the batch was built: {b:?}"),
    }
}

fn assert_contains(msg: &str, parts: &[&str], what: &str) {
    for p in parts {
        assert!(
            msg.contains(p),
            "{what}: message {msg:?} should contain {p:?}"
        );
    }
}

#[test]
fn valid_parts_build() {
    let b = GraphBatch::from_parts(valid_parts()).expect("the reference batch is valid");
    assert_eq!(b.num_graphs(), 2);
    assert_eq!(b.num_nodes(), 5);
    assert_eq!(b.num_edges(), 5);
    assert_eq!(b.num_features(), F);
    assert_eq!(b.node_ptr(), &[0, 2, 5]);
    assert_eq!(b.edge_ptr(), &[0, 2, 5]);
    assert_eq!(b.src(), &[0, 1, 2, 3, 4]);
    assert_eq!(b.dst(), &[1, 0, 3, 4, 2]);
    assert_eq!(b.edge_labels(), Some(&[0i64, 0, 1, 1, 2][..]));
    assert_eq!(b.edge_gt(), Some(&[0u8, 0, 1, 0, 1][..]));
    assert_eq!(b.graph_labels(), Some(&[0i64, 1][..]));
}

#[test]
fn edge_crossing_graphs_names_graph_edge_and_other_graph() {
    let mut p = valid_parts();
    // Graph 1's first edge points into graph 0.
    p.dst[2] = 0;
    let m = batch_msg(GraphBatch::from_parts(p), "crossing edge");
    assert_contains(
        &m,
        &[
            "graph 1",
            "edge 0",
            "batch edge 2",
            "node 0",
            "graph 0",
            "cross",
        ],
        "crossing edge",
    );

    // A crossing source in graph 0's second edge.
    let mut p = valid_parts();
    p.src[1] = 3;
    let m = batch_msg(GraphBatch::from_parts(p), "crossing source");
    assert_contains(
        &m,
        &["graph 0", "edge 1", "node 3", "graph 1"],
        "crossing source",
    );
}

#[test]
fn node_index_out_of_range_names_graph_edge_and_node() {
    let mut p = valid_parts();
    p.dst[3] = 5; // graph 1, local edge 1; N = 5
    let m = batch_msg(GraphBatch::from_parts(p), "node out of range");
    assert_contains(
        &m,
        &["graph 1", "edge 1", "node 5", "out of range"],
        "node out of range",
    );

    let mut p = valid_parts();
    p.src[0] = 1000;
    let m = batch_msg(GraphBatch::from_parts(p), "source out of range");
    assert_contains(&m, &["graph 0", "edge 0", "1000"], "source out of range");
}

#[test]
fn non_finite_features_name_graph_node_and_feature() {
    for (bad, text) in [
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
        (f32::NEG_INFINITY, "-inf"),
    ] {
        let mut p = valid_parts();
        // Graph 1, local node 1 (global 3), feature 1.
        p.x[3 * F + 1] = bad;
        let m = batch_msg(GraphBatch::from_parts(p), text);
        assert_contains(
            &m,
            &["graph 1", "node 1", "global 3", "feature 1", "not finite"],
            text,
        );
    }
}

#[test]
fn empty_dataset_is_rejected() {
    let p = GraphParts {
        num_features: F,
        node_ptr: vec![0],
        edge_ptr: vec![0],
        ..Default::default()
    };
    let m = batch_msg(GraphBatch::from_parts(p), "empty dataset");
    assert_contains(&m, &["no graphs"], "empty dataset");

    let p = GraphParts {
        num_features: F,
        ..Default::default()
    };
    let m = batch_msg(GraphBatch::from_parts(p), "no offsets at all");
    assert_contains(&m, &["no graphs"], "no offsets at all");

    let m = batch_msg(GraphBatch::builder(F).build(), "empty builder");
    assert_contains(&m, &["no graphs"], "empty builder");
}

#[test]
fn zero_features_is_rejected() {
    let mut p = valid_parts();
    p.num_features = 0;
    let m = batch_msg(GraphBatch::from_parts(p), "F = 0");
    assert_contains(&m, &["num_features"], "F = 0");
}

#[test]
fn graph_without_nodes_is_rejected() {
    // Graph 1 of three has no nodes.
    let p = GraphParts {
        num_features: F,
        x: vec![0.0; 3 * F],
        src: vec![0, 2],
        dst: vec![1, 2],
        node_ptr: vec![0, 2, 2, 3],
        edge_ptr: vec![0, 1, 1, 2],
        ..Default::default()
    };
    let m = batch_msg(GraphBatch::from_parts(p), "graph with no nodes");
    assert_contains(&m, &["graph 1", "no nodes"], "graph with no nodes");

    let m = batch_msg(
        GraphBatch::builder(F)
            .graph(&[1.0, 0.0], &[])
            .graph(&[], &[])
            .build(),
        "builder graph with no nodes",
    );
    assert_contains(&m, &["graph 1", "no nodes"], "builder graph with no nodes");
}

#[test]
fn node_ptr_inconsistencies_are_rejected() {
    // Not starting at 0.
    let mut p = valid_parts();
    p.node_ptr = vec![1, 2, 5];
    let m = batch_msg(GraphBatch::from_parts(p), "node_ptr not at 0");
    assert_contains(&m, &["node_ptr", "start at 0"], "node_ptr not at 0");

    // Decreasing.
    let mut p = valid_parts();
    p.node_ptr = vec![0, 3, 2, 5];
    p.edge_ptr = vec![0, 2, 2, 5];
    let m = batch_msg(GraphBatch::from_parts(p), "node_ptr decreasing");
    assert_contains(
        &m,
        &["node_ptr", "decreases", "graph 1", "3", "2"],
        "node_ptr decreasing",
    );

    // Wrong end.
    let mut p = valid_parts();
    p.node_ptr = vec![0, 2, 4];
    let m = batch_msg(GraphBatch::from_parts(p), "node_ptr wrong end");
    assert_contains(&m, &["node_ptr", "ends at 4", "5"], "node_ptr wrong end");

    // Wrong length (differs from edge_ptr).
    let mut p = valid_parts();
    p.node_ptr = vec![0, 1, 2, 5];
    let m = batch_msg(GraphBatch::from_parts(p), "node_ptr wrong length");
    assert_contains(
        &m,
        &["node_ptr", "edge_ptr", "4", "3"],
        "node_ptr wrong length",
    );
}

#[test]
fn edge_ptr_inconsistencies_are_rejected() {
    let mut p = valid_parts();
    p.edge_ptr = vec![1, 2, 5];
    let m = batch_msg(GraphBatch::from_parts(p), "edge_ptr not at 0");
    assert_contains(&m, &["edge_ptr", "start at 0"], "edge_ptr not at 0");

    let mut p = valid_parts();
    p.edge_ptr = vec![0, 3, 2];
    let m = batch_msg(GraphBatch::from_parts(p), "edge_ptr decreasing");
    assert_contains(
        &m,
        &["edge_ptr", "decreases", "graph 1"],
        "edge_ptr decreasing",
    );

    let mut p = valid_parts();
    p.edge_ptr = vec![0, 2, 4];
    let m = batch_msg(GraphBatch::from_parts(p), "edge_ptr wrong end");
    assert_contains(&m, &["edge_ptr", "ends at 4", "5"], "edge_ptr wrong end");

    let mut p = valid_parts();
    p.edge_ptr = vec![0, 5];
    let m = batch_msg(GraphBatch::from_parts(p), "edge_ptr wrong length");
    assert_contains(&m, &["edge_ptr", "G+1"], "edge_ptr wrong length");
}

#[test]
fn x_not_a_multiple_of_f_is_rejected() {
    let mut p = valid_parts();
    p.x.push(1.0);
    let m = batch_msg(GraphBatch::from_parts(p), "x length");
    assert_contains(&m, &["11", "multiple", "F = 2"], "x length");

    let m = batch_msg(
        GraphBatch::builder(F)
            .graph(&[1.0, 0.0], &[])
            .graph(&[1.0, 0.0, 1.0], &[])
            .build(),
        "builder x length",
    );
    assert_contains(
        &m,
        &["graph 1", "3 feature values", "F = 2"],
        "builder x length",
    );
}

#[test]
fn src_dst_length_mismatch_is_rejected() {
    let mut p = valid_parts();
    p.dst.pop();
    let m = batch_msg(GraphBatch::from_parts(p), "src/dst length");
    assert_contains(&m, &["src has 5", "dst has 4"], "src/dst length");
}

#[test]
fn optional_arrays_with_wrong_length_are_rejected() {
    let mut p = valid_parts();
    p.edge_labels = Some(vec![0; 4]);
    let m = batch_msg(GraphBatch::from_parts(p), "edge_labels length");
    assert_contains(
        &m,
        &["edge_labels", "4", "expected 5"],
        "edge_labels length",
    );

    let mut p = valid_parts();
    p.edge_gt = Some(vec![0; 6]);
    let m = batch_msg(GraphBatch::from_parts(p), "edge_gt length");
    assert_contains(&m, &["edge_gt", "6", "expected 5"], "edge_gt length");

    let mut p = valid_parts();
    p.graph_labels = Some(vec![0]);
    let m = batch_msg(GraphBatch::from_parts(p), "graph_labels length");
    assert_contains(
        &m,
        &["graph_labels", "1", "expected 2"],
        "graph_labels length",
    );
}

#[test]
fn negative_graph_label_names_the_graph() {
    let mut p = valid_parts();
    p.graph_labels = Some(vec![0, -1]);
    let m = batch_msg(GraphBatch::from_parts(p), "negative label");
    assert_contains(&m, &["graph 1", "-1", "negative"], "negative label");

    let m = batch_msg(
        GraphBatch::builder(F)
            .labelled_graph(&[1.0, 0.0], &[], 0, None)
            .labelled_graph(&[1.0, 0.0], &[], -3, None)
            .build(),
        "builder negative label",
    );
    assert_contains(&m, &["graph 1", "-3"], "builder negative label");
}

#[test]
fn edge_gt_value_two_names_graph_and_edge() {
    let mut p = valid_parts();
    // Batch edge 2 = graph 1, local edge 0.
    p.edge_gt = Some(vec![0, 0, 2, 0, 1]);
    let m = batch_msg(GraphBatch::from_parts(p), "edge_gt = 2");
    assert_contains(&m, &["2", "0 or 1"], "edge_gt = 2");
    assert_contains(
        &m,
        &["graph 1", "edge 0"],
        "edge_gt = 2 (graph and local edge)",
    );
}

#[test]
fn builder_edge_gt_value_two_names_graph_and_edge() {
    let m = batch_msg(
        GraphBatch::builder(F)
            .labelled_graph(&[1.0, 0.0, 0.0, 1.0], &[(0, 1)], 0, Some(&[1]))
            .labelled_graph(&[1.0, 0.0, 0.0, 1.0], &[(0, 1), (1, 0)], 1, Some(&[0, 2]))
            .build(),
        "builder edge_gt = 2",
    );
    assert_contains(&m, &["0 or 1"], "builder edge_gt = 2");
    assert_contains(
        &m,
        &["graph 1", "edge 1"],
        "builder edge_gt = 2 (graph and local edge)",
    );
}

#[test]
fn builder_edge_out_of_range_names_graph_and_edge() {
    let m = batch_msg(
        GraphBatch::builder(F)
            .graph(&[1.0, 0.0, 0.0, 1.0], &[(0, 1), (1, 0)])
            .graph(&[1.0, 0.0, 0.0, 1.0], &[(0, 1), (1, 2)])
            .graph(&[1.0, 0.0], &[])
            .build(),
        "builder edge out of range",
    );
    assert_contains(
        &m,
        &["graph 1", "edge 1", "(1, 2)", "out of range", "2 nodes"],
        "builder edge out of range",
    );
}

#[test]
fn builder_reports_the_first_error_only() {
    // Graph 0 is fine, graph 1 has a bad edge, graph 2 a bad feature count: the first wins.
    let m = batch_msg(
        GraphBatch::builder(F)
            .graph(&[1.0, 0.0], &[])
            .graph(&[1.0, 0.0], &[(0, 3)])
            .graph(&[1.0], &[])
            .build(),
        "first error",
    );
    assert_contains(&m, &["graph 1", "edge 0"], "first error");
}

#[test]
fn builder_gt_length_mismatch_names_the_graph() {
    let m = batch_msg(
        GraphBatch::builder(F)
            .labelled_graph(&[1.0, 0.0, 0.0, 1.0], &[(0, 1)], 0, Some(&[1]))
            .labelled_graph(&[1.0, 0.0, 0.0, 1.0], &[(0, 1), (1, 0)], 1, Some(&[1]))
            .build(),
        "builder gt length",
    );
    assert_contains(
        &m,
        &["graph 1", "1 ground-truth marks", "2 edges"],
        "builder gt length",
    );
}

#[test]
fn builder_non_finite_feature_names_graph_node_feature() {
    let m = batch_msg(
        GraphBatch::builder(F)
            .graph(&[1.0, 0.0], &[])
            .graph(&[1.0, 0.0, 0.0, f32::NAN], &[(0, 1)])
            .build(),
        "builder NaN",
    );
    assert_contains(
        &m,
        &["graph 1", "node 1", "feature 1", "not finite"],
        "builder NaN",
    );
}

#[test]
fn corner_cases_build_with_correct_offsets() {
    // g0: one node, no edges; g1: 3 nodes, node 2 isolated, a self-loop on node 0;
    // g2: 2 nodes, no edges; g3: one node with a self-loop.
    let b = GraphBatch::builder(F)
        .labelled_graph(&[1.0, 0.0], &[], 1, Some(&[]))
        .labelled_graph(
            &[1.0, 0.0, 0.0, 1.0, 0.5, 0.5],
            &[(0, 0), (0, 1), (1, 0)],
            0,
            Some(&[0, 1, 1]),
        )
        .labelled_graph(&[0.0, 0.0, 0.0, 0.0], &[], 1, Some(&[]))
        .labelled_graph(&[2.0, -1.0], &[(0, 0)], 0, Some(&[1]))
        .build()
        .expect("corner cases are valid");
    assert_eq!(b.num_graphs(), 4);
    assert_eq!(b.num_nodes(), 7);
    assert_eq!(b.num_edges(), 4);
    assert_eq!(b.node_ptr(), &[0, 1, 4, 6, 7]);
    assert_eq!(b.edge_ptr(), &[0, 0, 3, 3, 4]);
    assert_eq!(b.src(), &[1, 1, 2, 6]);
    assert_eq!(b.dst(), &[1, 2, 1, 6]);
    assert_eq!(b.graph_labels(), Some(&[1i64, 0, 1, 0][..]));
    assert_eq!(b.edge_gt(), Some(&[0u8, 1, 1, 1][..]));
    assert_eq!(b.features().len(), 7 * F);
    assert_eq!(&b.features()[12..14], &[2.0, -1.0]);
    let g1 = b.graph(1);
    assert_eq!(g1.nodes, 1..4);
    assert_eq!(g1.edges, 0..3);
    assert_eq!(b.graph(0).num_edges(), 0);
    assert_eq!(b.graph(0).num_nodes(), 1);
    assert_eq!(b.graphs().count(), 4);

    // The same through from_parts.
    let p = GraphParts {
        num_features: F,
        x: b.features().to_vec(),
        src: b.src().iter().map(|&v| v as usize).collect(),
        dst: b.dst().iter().map(|&v| v as usize).collect(),
        node_ptr: b.node_ptr().to_vec(),
        edge_ptr: b.edge_ptr().to_vec(),
        edge_labels: None,
        edge_gt: b.edge_gt().map(<[u8]>::to_vec),
        graph_labels: b.graph_labels().map(<[i64]>::to_vec),
        edge_weight: None,
    };
    let b2 = GraphBatch::from_parts(p).expect("the same arrays through from_parts");
    assert_eq!(b2, b);

    // A single graph with a single node.
    let one = GraphBatch::builder(3)
        .graph(&[0.0, 1.0, 0.0], &[])
        .build()
        .expect("a single one-node graph is valid");
    assert_eq!(
        (one.num_graphs(), one.num_nodes(), one.num_edges()),
        (1, 1, 0)
    );
    assert_eq!(one.node_ptr(), &[0, 1]);
    assert_eq!(one.edge_ptr(), &[0, 0]);
    assert_eq!(one.graph_labels(), None);
    assert_eq!(one.edge_gt(), None);
}

#[test]
fn builder_keeps_labels_only_when_every_graph_has_one() {
    let b = GraphBatch::builder(F)
        .labelled_graph(&[1.0, 0.0], &[], 1, Some(&[]))
        .graph(&[1.0, 0.0], &[])
        .build()
        .expect("valid");
    assert_eq!(b.graph_labels(), None);
    assert_eq!(b.edge_gt(), None);

    // Labels everywhere, ground truth only on some graphs: labels kept, marks dropped.
    let b = GraphBatch::builder(F)
        .labelled_graph(&[1.0, 0.0, 0.0, 1.0], &[(0, 1)], 1, Some(&[1]))
        .labelled_graph(&[1.0, 0.0, 0.0, 1.0], &[(1, 0)], 0, None)
        .build()
        .expect("valid");
    assert_eq!(b.graph_labels(), Some(&[1i64, 0][..]));
    assert_eq!(b.edge_gt(), None);
}

#[test]
fn subset_renumbers_nodes_edges_and_extras() {
    // Four graphs with 1, 3, 2, 2 nodes.
    let b = GraphBatch::builder(F)
        .labelled_graph(&[1.0, 0.0], &[(0, 0)], 0, Some(&[0]))
        .labelled_graph(
            &[0.0, 1.0, 1.0, 1.0, 2.0, 2.0],
            &[(0, 1), (1, 2), (2, 0)],
            1,
            Some(&[1, 0, 1]),
        )
        .labelled_graph(&[3.0, 3.0, 4.0, 4.0], &[(1, 0)], 0, Some(&[1]))
        .labelled_graph(&[5.0, 5.0, 6.0, 6.0], &[], 1, Some(&[]))
        .build()
        .expect("valid");
    let s = b.subset(1..3).expect("a valid range");
    assert_eq!(s.num_graphs(), 2);
    assert_eq!(s.num_nodes(), 5);
    assert_eq!(s.num_edges(), 4);
    assert_eq!(s.node_ptr(), &[0, 3, 5]);
    assert_eq!(s.edge_ptr(), &[0, 3, 4]);
    assert_eq!(s.src(), &[0, 1, 2, 4]);
    assert_eq!(s.dst(), &[1, 2, 0, 3]);
    assert_eq!(
        s.features(),
        &[0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]
    );
    assert_eq!(s.graph_labels(), Some(&[1i64, 0][..]));
    assert_eq!(s.edge_gt(), Some(&[1u8, 0, 1, 1][..]));

    // The last graph alone (no edges).
    let s = b.subset(3..4).expect("the last graph");
    assert_eq!(s.node_ptr(), &[0, 2]);
    assert_eq!(s.edge_ptr(), &[0, 0]);
    assert_eq!(s.num_edges(), 0);
    assert_eq!(s.features(), &[5.0, 5.0, 6.0, 6.0]);

    // The whole batch is itself.
    assert_eq!(b.subset(0..4).expect("everything"), b);

    // Subsets of subsets compose.
    let ss = b.subset(1..4).unwrap().subset(1..2).unwrap();
    assert_eq!(ss, b.subset(2..3).unwrap());
}

#[test]
fn subset_rejects_empty_and_out_of_range() {
    let b = GraphBatch::from_parts(valid_parts()).unwrap();
    for (r, what) in [
        (1..1, "empty 1..1"),
        (0..3, "0..3 beyond 2 graphs"),
        (2..3, "2..3"),
        (5..9, "5..9"),
    ] {
        match b.subset(r.clone()) {
            Err(Error::Config(m)) => {
                assert!(
                    m.contains(&format!("{}..{}", r.start, r.end)),
                    "{what}: {m:?} should name the range"
                );
                assert!(
                    m.contains("2 graphs"),
                    "{what}: {m:?} should give the graph count"
                );
            }
            other => panic!("{what}: expected Error::Config, got {other:?}"),
        }
    }
    #[allow(clippy::reversed_empty_ranges)]
    let rev = 2..1;
    assert!(
        matches!(b.subset(rev), Err(Error::Config(_))),
        "a reversed range is rejected"
    );
}
