//! Fuzz target `pyg`: see `graph_ig::fuzzing::pyg`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graph_ig::fuzzing::pyg(data));
