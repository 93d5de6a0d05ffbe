//! Fuzz target `card`: see `graph_ig::fuzzing::card`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graph_ig::fuzzing::card(data));
