//! cargo-fuzz target `sntp`: see `fuzz/harness/sntp.rs` for the input layout and invariants.
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::sntp::run(data));
