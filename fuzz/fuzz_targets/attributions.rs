//! Fuzz target `attributions`: see `graph_ig::fuzzing::attributions`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graph_ig::fuzzing::attributions(data));
