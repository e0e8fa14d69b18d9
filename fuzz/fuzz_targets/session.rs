//! cargo-fuzz target `session`: see `fuzz/harness/session.rs` for the input layout and invariants.
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::session::run(data));
