//! cargo-fuzz target `http_date`: see `fuzz/harness/http_date.rs` for the input layout and invariants.
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::http_date::run(data));
