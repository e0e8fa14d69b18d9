//! cargo-fuzz target `token_response`: see `fuzz/harness/token_response.rs` for the input layout and invariants.
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::token_response::run(data));
