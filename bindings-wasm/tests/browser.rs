//! wasm-bindgen-test in headless Chromium (`CHROMEDRIVER=/usr/bin/chromedriver`):
//! `cargo test -p tokenclock-wasm --target wasm32-unknown-unknown --test browser`.
#![cfg(target_arch = "wasm32")]

mod common;

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn peek_reads_the_claims() {
    common::peek_reads_the_claims();
}

#[wasm_bindgen_test]
fn core_errors_are_error_objects_with_codes() {
    common::core_errors_are_error_objects_with_codes();
}

#[wasm_bindgen_test]
fn bad_numbers_are_range_errors() {
    common::bad_numbers_are_range_errors();
}

#[wasm_bindgen_test]
fn session_uses_the_injected_clock() {
    common::session_uses_the_injected_clock();
}

#[wasm_bindgen_test]
fn estimates_convert_times() {
    common::estimates_convert_times();
}
