//! cargo-fuzz target `retry_after`: see `fuzz/harness/retry_after.rs` for the input layout and invariants.
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::retry_after::run(data));
