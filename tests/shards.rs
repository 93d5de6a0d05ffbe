//! Sharded sweeps (`explain --shard K/N`, or the shard from SLURM's or Kubernetes'
//! environment) and `graph-ig merge`: the merged file is the unsharded run's file,
//! byte for byte; merging refuses shards that are not every shard of one run; `eval`,
//! `top` and `render` read a folder of shards as the merged file; several devices
//! (`--device interpret:2`) give the same tensors as one.

mod common;

use common::{cli_fails, cli_ok, text, SCHEDULER_VARS};
use graph_ig::output::ReadBack;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `explain` on the built-in data with `extra` arguments, into `out`.
fn explain(out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "explain",
        "--steps",
        "4",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    cli_ok(&args)
}

fn shard_file(dir: &Path, k: usize, n: usize) -> PathBuf {
    graph_ig::shard::shard_path(
        &dir.join("run.safetensors"),
        graph_ig::shard::Shard::new(k, n).unwrap(),
    )
}

/// Replaces `from` by `to` (of the same length) in a file's header.
fn patch_header(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    assert!(header.contains(from), "{from} in {header}");
    let patched = header.replacen(from, to, 1);
    bytes[8..8 + n].copy_from_slice(patched.as_bytes());
    std::fs::write(path, bytes).unwrap();
}

fn metadata(path: &Path) -> std::collections::HashMap<String, String> {
    ReadBack::open(path).unwrap().metadata().unwrap()
}

#[test]
fn merged_shards_are_the_unsharded_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.safetensors");
    // An odd selection, so that shard edges fall mid-chunk and off 0.
    let sel = ["--graphs", "7..611"];
    explain(&full, &sel);
    let shards = dir.path().join("shards");
    for k in 0..3 {
        let stdout = explain(
            &shards.join("run.safetensors"),
            &[&sel[..], &["--shard", &format!("{k}/3")]].concat(),
        );
        assert!(stdout.contains(s(&shard_file(&shards, k, 3))), "{stdout}");
    }
    // Balanced by edge count (plus one per graph): a third of the edges each, within 1%.
    let edges: Vec<usize> = (0..3)
        .map(|k| {
            ReadBack::open(shard_file(&shards, k, 3))
                .unwrap()
                .shape("edge_attr")
                .unwrap()
                .unwrap()[0]
        })
        .collect();
    let total: usize = edges.iter().sum();
    for e in &edges {
        assert!(
            e.abs_diff(total / 3) < total / 100,
            "edges per shard {edges:?}"
        );
    }
    let m = shard_file(&shards, 1, 3);
    let md = metadata(&m);
    assert_eq!(md.get("shard").map(String::as_str), Some("1/3"));
    assert_eq!(
        md.get("shard_total_rows").map(String::as_str),
        Some("7..611")
    );

    let merged = dir.path().join("merged.safetensors");
    let stdout = cli_ok(&["merge", s(&shards), "--out", s(&merged)]);
    assert!(stdout.contains("3 shards, 604 rows"), "{stdout}");
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&full).unwrap(),
        "merged shards = one unsharded run, byte for byte"
    );
    // Files in any order give the same merge.
    let again = dir.path().join("again.safetensors");
    cli_ok(&[
        "merge",
        s(&shard_file(&shards, 2, 3)),
        s(&shard_file(&shards, 0, 3)),
        s(&shard_file(&shards, 1, 3)),
        "--out",
        s(&again),
    ]);
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&full).unwrap()
    );

    // eval, top and render read the folder of shards as the merged file.
    let top = |attr: &Path| cli_ok(&["top", "--attr", s(attr), "--k", "3"]);
    assert_eq!(top(&shards), top(&full));
    let ev = |attr: &Path| {
        let o = cli_ok(&["eval", "--attr", s(attr), "--device", "cpu"]);
        o.lines()
            .filter(|l| !l.contains(s(attr)) && !l.contains("time:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(ev(&shards), ev(&full));
    let (a, b) = (dir.path().join("a.svg"), dir.path().join("b.svg"));
    cli_ok(&[
        "render",
        "--attr",
        s(&shards),
        "--graph",
        "20",
        "--out",
        s(&a),
    ]);
    cli_ok(&[
        "render",
        "--attr",
        s(&full),
        "--graph",
        "20",
        "--out",
        s(&b),
    ]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// Runs `explain` as a task of a scheduler, with `env` set.
fn explain_in(out: &Path, env: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_graph-ig"));
    for k in SCHEDULER_VARS {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    c.args([
        "explain", "--steps", "4", "--device", "cpu", "--quiet", "--graphs", "0..300",
    ]);
    c.args(["--out", s(out)]).args(extra);
    c.output().unwrap()
}

#[test]
fn the_shard_comes_from_slurm_or_kubernetes() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.safetensors");
    explain(&full, &["--graphs", "0..300"]);
    let out = dir.path().join("run.safetensors");
    // A SLURM array --array=1-2 (ids not from 0).
    for id in ["1", "2"] {
        let o = explain_in(
            &out,
            &[
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_COUNT", "2"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_MAX", "2"),
            ],
            &[],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains(&format!("SLURM_ARRAY_TASK_ID={id}")), "{err}");
    }
    let merged = dir.path().join("m1.safetensors");
    cli_ok(&[
        "merge",
        s(&shard_file(dir.path(), 0, 2)),
        s(&shard_file(dir.path(), 1, 2)),
        "--out",
        s(&merged),
    ]);
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&full).unwrap()
    );

    // A Kubernetes Indexed Job needs --shards.
    let k8s = dir.path().join("k8s/run.safetensors");
    let o = explain_in(&k8s, &[("JOB_COMPLETION_INDEX", "1")], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--shards"), "{}", text(&o.stderr));
    for i in ["0", "1", "2"] {
        let o = explain_in(&k8s, &[("JOB_COMPLETION_INDEX", i)], &["--shards", "3"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let merged = dir.path().join("m2.safetensors");
    cli_ok(&["merge", s(&dir.path().join("k8s")), "--out", s(&merged)]);
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&full).unwrap()
    );

    // SLURM tasks of one step (srun -n 2).
    let steps = dir.path().join("steps/run.safetensors");
    for p in ["0", "1"] {
        let o = explain_in(&steps, &[("SLURM_PROCID", p), ("SLURM_NTASKS", "2")], &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("SLURM_PROCID"),
            "{}",
            text(&o.stderr)
        );
    }
    let merged = dir.path().join("m3.safetensors");
    cli_ok(&["merge", s(&dir.path().join("steps")), "--out", s(&merged)]);
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&full).unwrap()
    );
}

#[test]
fn merge_refuses_what_is_not_every_shard_of_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    for k in 0..3 {
        explain(
            &a.join("run.safetensors"),
            &["--graphs", "0..200", "--shard", &format!("{k}/3")],
        );
    }
    let merged = dir.path().join("m.safetensors");
    let m = s(&merged);
    let f = |k: usize| shard_file(&a, k, 3);

    // A missing shard.
    cli_fails(
        &["merge", s(&f(0)), s(&f(2)), "--out", m],
        &["shard 1/3 is missing", "have 0, 2"],
    );
    // The same shard twice.
    cli_fails(
        &["merge", s(&f(0)), s(&f(1)), s(&f(1)), s(&f(2)), "--out", m],
        &["shard 1/3 appears twice"],
    );
    // Another command (other steps), another split, another selection.
    let b = dir.path().join("b");
    explain(
        &b.join("run.safetensors"),
        &[
            "--graphs",
            "0..200",
            "--shard",
            "1/3",
            "--rule",
            "riemann-left",
        ],
    );
    cli_fails(
        &[
            "merge",
            s(&f(0)),
            s(&shard_file(&b, 1, 3)),
            s(&f(2)),
            "--out",
            m,
        ],
        &["shards of different commands", "rule"],
    );
    let c = dir.path().join("c");
    explain(
        &c.join("run.safetensors"),
        &["--graphs", "0..200", "--shard", "1/2"],
    );
    cli_fails(
        &[
            "merge",
            s(&f(0)),
            s(&shard_file(&c, 1, 2)),
            s(&f(2)),
            "--out",
            m,
        ],
        &["split 2 and 3 ways"],
    );
    // A finished unsharded output is not a shard.
    let whole = dir.path().join("whole.safetensors");
    explain(&whole, &["--graphs", "0..200"]);
    cli_fails(&["merge", s(&whole), "--out", m], &["not a shard"]);

    // Tampered metadata: overlapping rows, another version, another model.
    let rows = metadata(&f(1))["shard_rows"].clone();
    let (lo, hi) = rows.split_once("..").unwrap();
    let (lo, hi): (usize, usize) = (lo.parse().unwrap(), hi.parse().unwrap());
    let shifted = format!("{}..{}", lo - 1, hi - 1);
    if shifted.len() == rows.len() {
        let t = dir.path().join("t");
        std::fs::create_dir_all(&t).unwrap();
        for k in 0..3 {
            std::fs::copy(f(k), shard_file(&t, k, 3)).unwrap();
        }
        patch_header(
            &shard_file(&t, 1, 3),
            &format!("\"shard_rows\":\"{rows}\""),
            &format!("\"shard_rows\":\"{shifted}\""),
        );
        cli_fails(&["merge", s(&t), "--out", m], &["overlaps"]);
    }
    let version = metadata(&f(2))["graph_ig_version"].clone();
    let other: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                if c == '9' {
                    '8'
                } else {
                    '9'
                }
            } else {
                c
            }
        })
        .collect();
    let v = dir.path().join("v");
    std::fs::create_dir_all(&v).unwrap();
    for k in 0..3 {
        std::fs::copy(f(k), shard_file(&v, k, 3)).unwrap();
    }
    patch_header(
        &shard_file(&v, 2, 3),
        &format!("\"graph_ig_version\":\"{version}\""),
        &format!("\"graph_ig_version\":\"{other}\""),
    );
    cli_fails(
        &["merge", s(&v), "--out", m],
        &["different versions of graph-ig"],
    );
    let sha = metadata(&f(0))["model_sha256"].clone();
    let flipped = format!(
        "{}{}",
        if sha.starts_with('0') { "1" } else { "0" },
        &sha[1..]
    );
    patch_header(
        &shard_file(&v, 0, 3),
        &format!("\"model_sha256\":\"{sha}\""),
        &format!("\"model_sha256\":\"{flipped}\""),
    );
    cli_fails(&["merge", s(&v), "--out", m], &["different models"]);
    assert!(!merged.exists(), "a refused merge writes nothing");

    // An interrupted shard: its partial folder is named.
    let p = dir.path().join("p");
    for k in [0, 2] {
        std::fs::copy(f(k), shard_file(&p, k, 3)).ok();
    }
    std::fs::create_dir_all(&p).unwrap();
    for k in [0, 2] {
        std::fs::copy(f(k), shard_file(&p, k, 3)).unwrap();
    }
    let mut partial = shard_file(&p, 1, 3).into_os_string();
    partial.push(".partial");
    std::fs::create_dir_all(&partial).unwrap();
    cli_fails(
        &["merge", s(&p), "--out", m],
        &["shard 1/3 is missing", ".partial", "rerun"],
    );
}

#[test]
fn shards_of_node_tasks_merge_to_the_unsharded_file() {
    let cora = common::repo_root().join("../shared/data/Planetoid/Cora.safetensors");
    if !cora.exists() {
        println!("notice: skipping, {} is absent", cora.display());
        return;
    }
    let model = common::repo_root().join("tests/fixtures/zoo/models/cora_gcn.safetensors");
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "explain",
            "--data",
            s(&cora),
            "--model",
            s(&model),
            "--nodes",
            "0..9",
            "--steps",
            "4",
            "--device",
            "cpu",
            "--quiet",
            "--out",
            s(out),
        ];
        args.extend_from_slice(extra);
        cli_ok(&args)
    };
    let full = dir.path().join("full.safetensors");
    run(&full, &[]);
    for k in 0..2 {
        run(
            &dir.path().join("run.safetensors"),
            &["--shard", &format!("{k}/2")],
        );
    }
    let merged = dir.path().join("merged.safetensors");
    cli_ok(&[
        "merge",
        s(&shard_file(dir.path(), 0, 2)),
        s(&shard_file(dir.path(), 1, 2)),
        "--out",
        s(&merged),
    ]);
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&full).unwrap()
    );
}

#[test]
fn bad_shard_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.safetensors");
    for (arg, part) in [("4/4", "0..4"), ("x", "K/N"), ("1/0", "shard")] {
        cli_fails(
            &["explain", "--shard", arg, "--steps", "2", "--out", s(&out)],
            &[part],
        );
    }
    cli_fails(
        &["explain", "--shards", "3", "--steps", "2", "--out", s(&out)],
        &["--shards 3 needs a shard number"],
    );
    cli_fails(
        &["merge", s(dir.path()), "--out", s(&out)],
        &["no shard files"],
    );
}

/// Two emulated devices split every chunk and give the same tensors as one.
#[cfg(feature = "interpret")]
#[test]
fn two_interpret_devices_give_the_bits_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.safetensors");
    let two = dir.path().join("two.safetensors");
    let run = |out: &Path, device: &str| {
        cli_ok(&[
            "explain",
            "--graphs",
            "0..7",
            "--steps",
            "3",
            "--wrt",
            "both",
            "--device",
            device,
            "--quiet",
            "--out",
            s(out),
        ])
    };
    run(&one, "interpret");
    let stdout = run(&two, "interpret:2");
    assert!(stdout.contains("device interpret:2"), "{stdout}");
    let (a, b) = (ReadBack::open(&one).unwrap(), ReadBack::open(&two).unwrap());
    let mut names = a.names().unwrap();
    let mut theirs = b.names().unwrap();
    names.sort();
    theirs.sort();
    assert_eq!(names, theirs);
    for n in &names {
        assert_eq!(a.f64s(n).unwrap(), b.f64s(n).unwrap(), "tensor {n}");
    }
    assert_eq!(
        metadata(&two).get("device").map(String::as_str),
        Some("interpret:2")
    );
}
