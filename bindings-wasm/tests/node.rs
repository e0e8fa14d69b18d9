//! wasm-bindgen-test on Node (the runner's default):
//! `cargo test -p tokenclock-wasm --target wasm32-unknown-unknown --test node`.
#![cfg(target_arch = "wasm32")]

mod common;

use wasm_bindgen_test::wasm_bindgen_test;

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
