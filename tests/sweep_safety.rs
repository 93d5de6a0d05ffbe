//! What a long `graph-ig explain` owes a pipeline: one writer per output (a lock),
//! the same bytes from the same run (resumed or not), nothing left behind by a
//! failure, a clean stop on SIGTERM and SIGINT, and progress in a log.

mod sweeps;

use graph_ig::output::{safetensors_bytes, write_atomic, Tensor};
use graph_ig::sweep::lock::OutputLock;
use graph_ig::sweep::{Sweep, CHUNK_GRAPHS};
use graph_ig::synthetic::{generate, SyntheticConfig};
use graph_ig::{Device, Error, ExplainConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use sweeps::*;

/// Settings that make a chunk last a few tenths of a second on the CPU.
const SLOW: [&str; 2] = ["--steps", "40"];
/// Graphs of the slow runs: four chunks.
const SLOW_GRAPHS: usize = 4 * CHUNK_GRAPHS;
/// Settings that make a chunk last seconds.
const SLOWER: [&str; 2] = ["--steps", "300"];

fn quiet(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["--quiet"];
    v.extend_from_slice(extra);
    v
}

/// Temporary files (`*.tmp`) anywhere under `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// The process id recorded in the lock of `out`'s partial folder, once there is one.
fn wait_for_lock(out: &Path) -> u32 {
    let lock = partial_of(out).join("lock");
    let mut pid = 0;
    assert!(
        wait_for(Duration::from_secs(60), || {
            pid = std::fs::read_to_string(&lock)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            pid != 0
        }),
        "the run takes its lock"
    );
    pid
}

fn wait_for_first_chunk(out: &Path) {
    assert!(
        wait_for(Duration::from_secs(120), || !chunks_in(&partial_of(out))
            .is_empty()),
        "the run finishes its first chunk"
    );
}

/// The graphs of a run that `stderr` says were kept, from
/// "interrupted: N of M graphs kept in DIR; rerun the same command to resume".
fn kept_graphs(stderr: &str, total: usize, partial: &Path) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains("interrupted:"))
        .unwrap_or_else(|| panic!("no interrupted line in:\n{stderr}"));
    let want_tail = format!(
        " of {total} graphs kept in {}; rerun the same command to resume",
        partial.display()
    );
    assert!(
        line.ends_with(&want_tail),
        "{line:?} should end with {want_tail:?}"
    );
    let n = line
        .split("interrupted: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}"));
    n
}

fn graphs_in_chunks(partial: &Path) -> usize {
    chunks_in(partial)
        .iter()
        .map(|c| {
            let r = &c["chunk-".len()..c.len() - ".safetensors".len()];
            let (a, b) = r.split_once('-').unwrap();
            b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap()
        })
        .sum()
}

// ---------------------------------------------------------------- one writer per output

/// A second run on an `out` whose lock is held, with the same settings, with
/// `--restart` and with other settings: each refused at once naming `pid`, with the
/// partial folder left as it was.
fn assert_refused(s: &Setup, out: &Path, pid: u32, same: [&'static str; 2]) {
    let busy = format!("{} is being written by process {pid}", out.display());
    let partial = partial_of(out);
    let before: Vec<(String, Vec<u8>)> = files_in(&partial)
        .into_iter()
        .map(|f| {
            (
                f.clone(),
                std::fs::read(partial.join(&f)).unwrap_or_default(),
            )
        })
        .collect();
    for (extra, what) in [
        (quiet(&same), "same settings"),
        (quiet(&[same[0], same[1], "--restart"]), "--restart"),
        (quiet(&["--steps", "8"]), "other settings"),
    ] {
        let started = std::time::Instant::now();
        let o = s.run(out, &extra);
        let err = assert_clean_error(&o, &[&busy], what);
        assert!(
            !err.contains("--restart"),
            "{what}: no advice to restart:\n{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: refused at once, not after waiting"
        );
        assert!(partial.join("lock").exists(), "{what}: lock kept");
        for (f, bytes) in &before {
            if f.starts_with("chunk-") || f == "manifest.json" || f == "lock" {
                assert_eq!(
                    &std::fs::read(partial.join(f)).unwrap_or_default(),
                    bytes,
                    "{what}: {f} untouched"
                );
            }
        }
    }
}

#[test]
fn a_second_run_on_the_same_out_fails_at_once_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), SLOW_GRAPHS, 1);
    let out = dir.path().join("out.safetensors");
    let partial = partial_of(&out);

    // The lock held by this process, over a manifest and a finished chunk.
    let lock = OutputLock::acquire(&out, &partial).unwrap();
    std::fs::write(partial.join("manifest.json"), "{}").unwrap();
    std::fs::write(partial.join("chunk-000000000-000000256.safetensors"), "x").unwrap();
    assert_refused(&s, &out, std::process::id(), SLOW);
    drop(lock);
    std::fs::remove_dir_all(&partial).unwrap();

    // Two real runs: the second is refused while the first computes.
    let first = s.spawn(&out, &quiet(&SLOWER));
    let pid = wait_for_lock(&out);
    assert_eq!(pid, first.id(), "the lock names its holder");
    assert_refused(&s, &out, pid, SLOWER);
    send_signal(pid, "TERM");
    let o = first.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("rerun the same command to resume")
            || text(&o.stderr).contains("nothing was kept"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_killed_run_does_not_block_the_run_that_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), SLOW_GRAPHS, 2);
    let reference = dir.path().join("ref.safetensors");
    assert_ok(&s.run(&reference, &quiet(&SLOW)), "reference run");

    let out = dir.path().join("out.safetensors");
    let mut first = s.spawn(&out, &quiet(&SLOW));
    wait_for_first_chunk(&out);
    send_signal(first.id(), "KILL");
    first.wait().unwrap();
    let partial = partial_of(&out);
    assert!(
        partial.join("lock").exists(),
        "a killed run leaves its lock file"
    );
    let kept = graphs_in_chunks(&partial);
    assert!(kept >= CHUNK_GRAPHS, "finished chunks survive a SIGKILL");

    // Temporary files of killed runs (chunks, and the output) are removed by the next one.
    std::fs::write(
        partial.join("chunk-000000512-000000768.safetensors.4000000-0.tmp"),
        b"half",
    )
    .unwrap();
    std::fs::write(dir.path().join("out.safetensors.4000000-3.tmp"), b"half").unwrap();

    let o = s.run(&out, &quiet(&SLOW));
    assert_ok(&o, "the resuming run");
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains(&format!(
            "resumed:          {kept} graphs from an earlier run"
        )),
        "it resumed the {kept} finished graphs:\n{stdout}"
    );
    assert_eq!(sha256_file(&out), sha256_file(&reference), "same bytes");
    assert!(!partial.exists());
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
}

#[test]
fn the_lock_refuses_a_second_holder_and_is_released_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub").join("out.safetensors");
    let partial = partial_of(&out);
    let lock = OutputLock::acquire(&out, &partial).expect("first lock");
    match OutputLock::acquire(&out, &partial) {
        Err(Error::Busy { out: o, pid, lock }) => {
            assert_eq!(o, out);
            assert_eq!(pid, Some(std::process::id()));
            assert_eq!(lock, partial.join("lock"));
        }
        other => panic!("expected Error::Busy, got {other:?}"),
    }
    drop(lock);
    let again = OutputLock::acquire(&out, &partial).expect("the lock is free again");
    again.remove_folder().unwrap();
    assert!(!partial.exists());
}

// ---------------------------------------------------------------- same run, same bytes

#[test]
fn the_same_run_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), CHUNK_GRAPHS + 30, 3);
    let (a, b) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    // Separate processes: a HashMap's order would differ between them.
    assert_ok(&s.run(&a, &quiet(&["--steps", "8"])), "run a");
    assert_ok(&s.run(&b, &quiet(&["--steps", "8"])), "run b");
    assert_eq!(sha256_file(&a), sha256_file(&b), "two identical runs");

    // The header: metadata keys sorted; tensors in safetensors' order (dtype, then name).
    let bytes = std::fs::read(&a).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "the header is padded to 8 bytes");
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap().trim_end();
    let meta_start = header.find("\"__metadata__\":{").expect("metadata") + 16;
    let meta = &header[meta_start..meta_start + header[meta_start..].find('}').unwrap()];
    let keys: Vec<&str> = meta
        .split("\",\"")
        .map(|kv| kv.trim_start_matches('"').split("\":\"").next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert!(keys.len() > 10, "{keys:?}");
    assert_eq!(keys, sorted, "metadata keys are sorted");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    assert!(st.tensor("edge_attr").is_ok());
    for varying in ["time", "host", "date", "pid", "user"] {
        assert!(
            !keys.iter().any(|k| k.contains(varying)),
            "no {varying} in the metadata: {keys:?}"
        );
    }
}

#[test]
fn serialisation_is_deterministic_and_readable() {
    let t = |dtype, shape: Vec<usize>, n: usize| Tensor {
        dtype,
        shape,
        data: (0..n).map(|i| i as u8).collect(),
    };
    let tensors = vec![
        ("b".to_string(), t(safetensors::Dtype::U8, vec![3], 3)),
        ("a".to_string(), t(safetensors::Dtype::F32, vec![2], 8)),
        ("c".to_string(), t(safetensors::Dtype::I64, vec![1, 1], 8)),
    ];
    let mut m1 = std::collections::HashMap::new();
    let mut m2 = BTreeMap::new();
    for k in ["zeta", "alpha", "mid", "beta", "omega"] {
        m1.insert(k.to_string(), format!("v-{k}"));
        m2.insert(k.to_string(), format!("v-{k}"));
    }
    let path = Path::new("x.safetensors");
    let a = safetensors_bytes(path, &tensors, &m1).unwrap();
    let b = safetensors_bytes(path, &tensors, &m2).unwrap();
    assert_eq!(a, b, "a HashMap and a BTreeMap of the same metadata");
    let mut reversed = tensors.clone();
    reversed.reverse();
    assert_eq!(safetensors_bytes(path, &reversed, &m2).unwrap(), a);
    let st = safetensors::SafeTensors::deserialize(&a).unwrap();
    assert_eq!(st.tensor("c").unwrap().data(), &[0, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(st.tensor("b").unwrap().shape(), &[3]);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&a).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["zeta"], "v-zeta");

    // Data that does not fit its shape is an error, not a bad file.
    let bad = vec![("a".to_string(), t(safetensors::Dtype::F32, vec![3], 8))];
    assert!(matches!(
        safetensors_bytes(path, &bad, &m2),
        Err(Error::Safetensors { .. })
    ));
    let huge = vec![(
        "a".to_string(),
        t(safetensors::Dtype::F32, vec![usize::MAX, 2], 8),
    )];
    assert!(safetensors_bytes(path, &huge, &m2).is_err());
}

#[test]
fn a_resumed_library_sweep_writes_the_bytes_of_an_uninterrupted_one() {
    let model = graph_ig::default_model::synthetic().unwrap();
    let batch = generate(&SyntheticConfig {
        num_graphs: 2 * CHUNK_GRAPHS + 40,
        seed: 4,
    })
    .unwrap()
    .batch;
    let config = ExplainConfig {
        steps: 8,
        ..Default::default()
    };
    let source = graph_ig::graph::source::InMemory::new(&batch);
    let sweep = |tag: &str| Sweep {
        model: &model,
        source: &source,
        rows: 0..batch.num_graphs(),
        config: &config,
        devices: vec![Device::Cpu],
        metadata: BTreeMap::from([("tag".to_string(), tag.to_string())]),
        whole: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.safetensors");
    sweep("a").run(&reference, false, &|_| {}).unwrap();

    // Stopped (through the stop flag) once the first chunk is done.
    let out = dir.path().join("out.safetensors");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let progress = |k: usize| {
        if done.fetch_add(k, std::sync::atomic::Ordering::SeqCst) + k >= CHUNK_GRAPHS {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };
    match sweep("a").run_until(&out, false, &progress, &stop) {
        Err(Error::Interrupted { kept, total, dir }) => {
            assert_eq!((kept, total), (CHUNK_GRAPHS, batch.num_graphs()));
            assert_eq!(dir, partial_of(&out));
        }
        other => panic!("expected Error::Interrupted, got {other:?}"),
    }
    assert!(!out.exists());
    let summary = sweep("a").run(&out, false, &|_| {}).unwrap();
    assert_eq!(summary.resumed_graphs, CHUNK_GRAPHS);
    assert_eq!(sha256_file(&out), sha256_file(&reference));

    // A stop before any chunk keeps nothing and leaves no folder.
    let out2 = dir.path().join("out2.safetensors");
    let stopped = std::sync::atomic::AtomicBool::new(true);
    let e = sweep("a")
        .run_until(&out2, false, &|_| {}, &stopped)
        .unwrap_err();
    assert!(e.to_string().contains("nothing was kept"), "{e}");
    assert!(!partial_of(&out2).exists());
}

// ---------------------------------------------------------------- nothing left behind

#[test]
fn a_write_error_removes_the_temporary_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x.safetensors");
    // An injected full disk after half of the bytes.
    let e = write_atomic(&target, 1000, |f| {
        f.write_all(&[7u8; 500])?;
        Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
    })
    .unwrap_err();
    match &e {
        Error::NoSpace {
            path, needed, free, ..
        } => {
            assert_eq!(path, &target);
            assert_eq!(*needed, 1000);
            assert!(free.is_some(), "the free space is reported");
        }
        other => panic!("expected Error::NoSpace, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("no space left") && msg.contains("1000 B"),
        "{msg}"
    );
    assert_eq!(
        files_in(dir.path()),
        Vec::<String>::new(),
        "nothing left behind"
    );

    // Any other failure, and a failed rename (onto a folder), leave nothing either.
    let e = write_atomic(&target, 10, |_| Err(std::io::Error::other("injected")));
    assert!(matches!(e, Err(Error::Io { .. })), "{e:?}");
    std::fs::create_dir_all(target.join("inside")).unwrap();
    assert!(write_atomic(&target, 3, |f| f.write_all(b"abc")).is_err());
    assert_eq!(files_in(dir.path()), vec!["x.safetensors".to_string()]);
}

#[test]
fn a_run_that_fails_after_finishing_chunks_keeps_them_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 2 * CHUNK_GRAPHS + 10, 5);
    let out = dir.path().join("out.safetensors");
    // The final rename fails: OUT is a folder.
    std::fs::create_dir_all(out.join("blocker")).unwrap();
    let o = s.run(&out, &quiet(&["--steps", "8"]));
    let g = 2 * CHUNK_GRAPHS + 10;
    let err = assert_clean_error(
        &o,
        &[&format!(
            "{g} of {g} graphs kept in {}; rerun the same command to resume",
            partial_of(&out).display()
        )],
        "final write onto a folder",
    );
    assert_eq!(
        err.trim_end().lines().count(),
        2,
        "the error and one line:\n{err}"
    );
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    std::fs::remove_dir_all(&out).unwrap();
    let o = s.run(&out, &quiet(&["--steps", "8"]));
    assert_ok(&o, "rerun");
    assert!(text(&o.stdout).contains(&format!("resumed:          {g} graphs")));
}

#[test]
fn a_run_that_fails_before_any_chunk_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 20, 6);
    // The output's folder cannot be made: a file is in the way.
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let out = dir.path().join("file").join("out.safetensors");
    let before = files_in(dir.path());
    let o = s.run(&out, &quiet(&["--steps", "8"]));
    assert_clean_error(&o, &[], "output under a file");
    assert_eq!(files_in(dir.path()), before, "nothing created");
}

/// Runs `script` (with `$MNT` a fresh tmpfs of `size`, and `$BIN`) in a new mount
/// namespace; `None` if this machine allows none (no root, no user namespaces).
fn on_tmpfs(size: &str, script: &str) -> Option<std::process::Output> {
    let full = format!(
        "set -u; MNT=$(mktemp -d); mount -t tmpfs -o size={size} tmpfs \"$MNT\" || exit 97; {script}"
    );
    let o = std::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", &full])
        .env("BIN", bin())
        .output()
        .ok()?;
    if o.status.code() == Some(97) || (!o.status.success() && text(&o.stderr).contains("unshare")) {
        eprintln!("skipped: cannot mount a tmpfs here: {}", text(&o.stderr));
        return None;
    }
    Some(o)
}

#[test]
fn a_full_disk_removes_the_truncated_file_and_says_how_much_space_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 4 * CHUNK_GRAPHS, 7);
    let args = format!(
        "explain --data {} --name {NAME} --model {} --device cpu --steps 4 --quiet",
        p(&s.data),
        p(&s.model)
    );
    // A disk too small for the first chunk: nothing kept, nothing left.
    let script = format!(
        "\"$BIN\" {args} --out \"$MNT/out.safetensors\"; echo \"status=$?\"; ls -A \"$MNT\""
    );
    let Some(o) = on_tmpfs("16k", &script) else {
        return;
    };
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(stdout.contains("status=1"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("no space left on the device: the file needs")
            && stderr.contains("and the rest of the run about")
            && stderr.contains("are free there"),
        "the message gives the space needed:\n{stderr}"
    );
    assert!(!stderr.contains("kept in"), "nothing was kept:\n{stderr}");
    let listing: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with("status="))
        .collect();
    assert_eq!(listing, Vec::<&str>::new(), "the disk is left empty");

    // Room for about two chunks: those are kept and the message says so.
    let script = format!(
        "\"$BIN\" {args} --out \"$MNT/out.safetensors\"; echo \"status=$?\"; \
         ls -A \"$MNT\" \"$MNT/out.safetensors.partial\""
    );
    let o = on_tmpfs("400k", &script).expect("the tmpfs worked before");
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(stdout.contains("status=1"), "{stdout}\n{stderr}");
    assert!(stderr.contains("no space left on the device"), "{stderr}");
    assert!(
        stderr.contains(&format!(" of {} graphs kept in ", 4 * CHUNK_GRAPHS))
            && stderr.contains("rerun the same command to resume"),
        "{stderr}"
    );
    assert!(
        stdout.contains("chunk-000000000-000000256.safetensors"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(".tmp"),
        "no truncated file is left:\n{stdout}"
    );
}

// ---------------------------------------------------------------- signals

fn interrupted_by(signal: &str, status: i32) {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), SLOW_GRAPHS, 8);
    let reference = dir.path().join("ref.safetensors");
    assert_ok(&s.run(&reference, &quiet(&SLOW)), "reference run");

    let out = dir.path().join("out.safetensors");
    let child = s.spawn(&out, &quiet(&SLOW));
    wait_for_first_chunk(&out);
    send_signal(child.id(), signal);
    let o = child.wait_with_output().unwrap();
    let stderr = text(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(status),
        "{signal}: exit status\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let partial = partial_of(&out);
    let kept = kept_graphs(&stderr, SLOW_GRAPHS, &partial);
    assert!(
        (CHUNK_GRAPHS..SLOW_GRAPHS).contains(&kept),
        "{signal}: kept {kept}"
    );
    assert_eq!(
        kept,
        graphs_in_chunks(&partial),
        "the count is what is on disk"
    );
    assert!(!out.exists());
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());

    let o = s.run(&out, &quiet(&SLOW));
    assert_ok(&o, "the rerun");
    assert!(text(&o.stdout).contains(&format!("resumed:          {kept} graphs")));
    assert_eq!(
        sha256_file(&out),
        sha256_file(&reference),
        "resumed after {signal}: the bytes of an uninterrupted run"
    );
}

#[test]
fn sigterm_finishes_the_chunk_in_flight_and_says_how_to_resume() {
    interrupted_by("TERM", 143);
}

#[test]
fn sigint_finishes_the_chunk_in_flight_and_says_how_to_resume() {
    interrupted_by("INT", 130);
}

#[test]
fn a_second_signal_stops_at_once() {
    // On a loaded machine the first signal can land before the first chunk starts, and
    // the run then stops by itself before the second arrives: try again (a few times).
    for attempt in 1..=5 {
        let dir = tempfile::tempdir().unwrap();
        let s = Setup::new(dir.path(), SLOW_GRAPHS, 9);
        let out = dir.path().join("out.safetensors");
        let mut child = s.spawn(&out, &quiet(&SLOW));
        wait_for_lock(&out);
        send_signal(child.id(), "TERM");
        std::thread::sleep(Duration::from_millis(100));
        let still_running = child.try_wait().unwrap().is_none();
        if still_running {
            send_signal(child.id(), "TERM");
        }
        let o = child.wait_with_output().unwrap();
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(143), "{stderr}");
        if !still_running && attempt < 5 {
            continue;
        }
        assert!(
            stderr.contains("interrupted again (SIGTERM): stopped at once"),
            "{stderr}"
        );
        return;
    }
}

// ---------------------------------------------------------------- progress

#[test]
fn without_a_terminal_progress_is_a_plain_line_and_quiet_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 2 * CHUNK_GRAPHS, 10);
    let out = dir.path().join("out.safetensors");
    let o = s
        .command(&out, &["--steps", "60"])
        .env("GRAPH_IG_PROGRESS_SECONDS", "0.1")
        .output()
        .unwrap();
    assert_ok(&o, "run with progress");
    let stderr = text(&o.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.starts_with("graph-ig: ") && l.contains(&format!(" of {} graphs (", 2 * CHUNK_GRAPHS))
        })
        .collect();
    assert!(lines.len() >= 2, "plain progress lines:\n{stderr}");
    for l in &lines {
        assert!(
            l.contains(" graphs/s, ") && (l.ends_with(" left") || l.ends_with("unknown")),
            "{l}"
        );
        assert!(
            !l.contains('\r') && !l.contains('\u{1b}'),
            "plain text: {l:?}"
        );
    }

    std::fs::remove_file(&out).unwrap();
    let o = s
        .command(&out, &["--steps", "60", "--quiet"])
        .env("GRAPH_IG_PROGRESS_SECONDS", "0.1")
        .output()
        .unwrap();
    assert_ok(&o, "quiet run");
    assert_eq!(text(&o.stderr), "", "--quiet: nothing on stderr");
}

#[test]
fn on_a_terminal_the_progress_bar_shows_from_the_start() {
    // `script` gives the run a terminal; skip where there is none.
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::new(dir.path(), 2 * CHUNK_GRAPHS, 11);
    let out = dir.path().join("out.safetensors");
    let cmd = s.command(&out, &["--steps", "20"]);
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let Ok(o) = std::process::Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .output()
    else {
        eprintln!("skipped: no script(1) here");
        return;
    };
    let tty = text(&o.stdout);
    assert!(o.status.success(), "{tty}");
    let total = 2 * CHUNK_GRAPHS;
    assert!(
        tty.contains("00:00:00 [") && tty.contains(&format!("/{total} graphs (")),
        "a bar from the first second:\n{tty}"
    );
    assert!(out.exists());
}
