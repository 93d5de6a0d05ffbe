//! Fuzz target `args`: see `graph_ig::fuzzing::args`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graph_ig::fuzzing::args(data));
