//! Fuzz target `tu`: see `graph_ig::fuzzing::tu`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graph_ig::fuzzing::tu(data));
