//! cargo-fuzz target `skew`: see `fuzz/harness/skew.rs` for the input layout and invariants.
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::skew::run(data));
