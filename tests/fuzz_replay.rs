//! The fuzz targets (`graph_ig::fuzzing`, run by libFuzzer from `fuzz/`) replayed in
//! every `cargo test`: over every crash the fuzzer found (`tests/fuzz_regressions/
//! TARGET/`, committed), over the seed corpus when `fuzz/make_corpus.py` has built
//! it (`fuzz/corpus/TARGET/`; CI builds it first), and over a fixed set of random
//! mutations of those inputs. An input that panics fails the test and is named.

use graph_ig::fuzzing::{replay, TARGETS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `target` on `input`; on a panic, saves the input under `target/fuzz-replay/`
/// and fails naming it.
fn run_one(name: &str, target: fn(&[u8]), input: &[u8], origin: &str) {
    if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
        let dir = root().join("target").join("fuzz-replay").join(name);
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("crash-{:016x}", fxhash(input)));
        let _ = std::fs::write(&path, input);
        panic!(
            "fuzz target {name} panicked on {origin}; the input is saved as {} \
             (add it to tests/fuzz_regressions/{name}/ once fixed)",
            path.display()
        );
    }
}

fn fxhash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100000001b3)
    })
}

/// The files of a folder, sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            Some((
                e.path().display().to_string(),
                std::fs::read(e.path()).ok()?,
            ))
        })
        .collect();
    v.sort();
    v
}

/// Numbers that break careless arithmetic.
const EXTREMES: [&str; 8] = [
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "4294967296",
    "1048577",
    "1e308",
    "nan",
    "-1",
];

/// A random mutation of `seed`: byte flips, insertions, deletions, repeats,
/// truncation, or a number swapped for an extreme one.
fn mutate(seed: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        let n = v.len();
        match rng.gen_range(0..6) {
            0 if n > 0 => {
                let i = rng.gen_range(0..n);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => {
                let i = rng.gen_range(0..=n);
                v.insert(i, rng.gen());
            }
            2 if n > 0 => {
                let i = rng.gen_range(0..n);
                let j = rng.gen_range(i..=n.min(i + 64));
                v.drain(i..j);
            }
            3 if n > 0 => {
                let i = rng.gen_range(0..n);
                let j = rng.gen_range(i..=n.min(i + 32));
                let part = v[i..j].to_vec();
                for _ in 0..rng.gen_range(1..8) {
                    v.splice(i..i, part.iter().copied());
                }
            }
            4 if n > 0 => v.truncate(rng.gen_range(0..n)),
            _ => {
                // Replace a run of ASCII digits (or insert) with an extreme number.
                let x = EXTREMES[rng.gen_range(0..EXTREMES.len())].as_bytes();
                let i = rng.gen_range(0..=n);
                let mut j = i;
                while j < n && v[j].is_ascii_digit() {
                    j += 1;
                }
                v.splice(i..j, x.iter().copied());
            }
        }
    }
    v
}

#[test]
fn fuzz_regressions_corpus_and_mutations_run_cleanly() {
    let mut summary = Vec::new();
    for (name, target) in TARGETS {
        let regressions = files(&root().join("tests/fuzz_regressions").join(name));
        let corpus = files(&root().join("fuzz/corpus").join(name));
        for (origin, input) in regressions.iter().chain(&corpus) {
            run_one(name, target, input, origin);
        }
        // Mutations: a fixed budget per target, spread over the inputs.
        let inputs: Vec<&(String, Vec<u8>)> = regressions.iter().chain(&corpus).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let mutants = if inputs.is_empty() { 0 } else { 1500 };
        for k in 0..mutants {
            let (origin, seed) = inputs[k % inputs.len()];
            let m = mutate(seed, &mut rng);
            run_one(name, target, &m, &format!("mutation {k} of {origin}"));
        }
        summary.push(format!(
            "{name}: {} regressions, {} corpus files, {mutants} mutations",
            regressions.len(),
            corpus.len()
        ));
    }
    eprintln!("{}", summary.join("\n"));
    // The committed regressions always run, corpus or not.
    assert!(
        replay(TARGETS[0].1, &root().join("tests/fuzz_regressions/tu")) > 0,
        "tests/fuzz_regressions/tu holds the tu target's crashes"
    );
}

/// Every entry point has its libFuzzer target (`fuzz/fuzz_targets/NAME.rs`, listed in
/// `fuzz/Cargo.toml`) and every target its entry point, so that none is left out of
/// the fuzzing or of this replay.
#[test]
fn every_fuzz_target_has_an_entry_point_and_a_bin() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("fuzz/fuzz_targets"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".rs")
                .map(str::to_string)
        })
        .collect();
    files.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(
        files, names,
        "fuzz/fuzz_targets/*.rs against graph_ig::fuzzing::TARGETS"
    );
    let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    for n in &names {
        let file =
            std::fs::read_to_string(root().join(format!("fuzz/fuzz_targets/{n}.rs"))).unwrap();
        assert!(
            file.contains(&format!("graph_ig::fuzzing::{n}(data)")),
            "fuzz/fuzz_targets/{n}.rs calls graph_ig::fuzzing::{n}"
        );
        assert!(
            manifest.contains(&format!("name = \"{n}\"\npath = \"fuzz_targets/{n}.rs\"")),
            "fuzz/Cargo.toml lists {n}"
        );
        assert!(
            root().join(format!("fuzz/dicts/{n}.dict")).exists(),
            "fuzz/dicts/{n}.dict (.ci/run passes it)"
        );
    }
}
