//! Fuzz target `model`: see `graph_ig::fuzzing::model`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graph_ig::fuzzing::model(data));
