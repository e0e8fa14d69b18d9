//! Test bodies shared by `node.rs` (Node) and `browser.rs` (headless Chromium): a few calls
//! through the exported functions and an error-path check, on the real wasm32 target.
#![allow(dead_code)]

use js_sys::{Function, Reflect};
use tokenclock_wasm::{oauth, peek, rules_is_expired, session::Session, skew::Estimate};
use wasm_bindgen::{JsCast, JsValue};

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).expect("property")
}

// {"alg":"none"} . {"exp":1700000000.5,"sub":"u"}
const TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDAuNSwic3ViIjoidSJ9.";

pub fn peek_reads_the_claims() {
    let p = peek::peek(JsValue::from_str(TOKEN)).expect("peek");
    assert_eq!(get(&p, "alg").as_string().as_deref(), Some("none"));
    assert_eq!(get(&p, "expMs").as_f64(), Some(1_700_000_000_500.0));
    assert_eq!(get(&p, "sub").as_string().as_deref(), Some("u"));
    assert!(get(&p, "kid").is_null());
}

pub fn core_errors_are_error_objects_with_codes() {
    let e = peek::peek(JsValue::from_str("a.b")).expect_err("two segments");
    let err = e.dyn_ref::<js_sys::Error>().expect("an Error object");
    assert_eq!(String::from(err.name()), "TokenClockError");
    assert_eq!(
        get(&e, "code").as_string().as_deref(),
        Some("malformed_token")
    );
    assert!(get(&e, "what").is_null());
    // The module still answers after an error.
    assert!(peek::peek(JsValue::from_str(TOKEN)).is_ok());
}

pub fn bad_numbers_are_range_errors() {
    for bad in [f64::NAN, f64::INFINITY, -1.0, 0.5, 9_007_199_254_740_992.0] {
        let e = rules_is_expired(
            JsValue::from_f64(bad),
            JsValue::from_f64(0.0),
            JsValue::from_f64(0.0),
        )
        .expect_err("a bad number");
        assert!(e.is_instance_of::<js_sys::RangeError>());
        assert_eq!(
            get(&e, "code").as_string().as_deref(),
            Some("invalid_argument")
        );
    }
    let e = rules_is_expired(
        JsValue::from_str("1"),
        JsValue::from_f64(0.0),
        JsValue::from_f64(0.0),
    )
    .expect_err("a string");
    assert!(e.is_instance_of::<js_sys::TypeError>());
    assert_eq!(
        rules_is_expired(
            JsValue::from_f64(1000.0),
            JsValue::from_f64(1000.0),
            JsValue::from_f64(0.0)
        )
        .ok(),
        Some(true)
    );
}

pub fn session_uses_the_injected_clock() {
    let options = js_sys::Object::new();
    let clock = Function::new_no_args("return { wallMs: 1700000000000, monoMs: 5000 };");
    Reflect::set(
        &options,
        &"tokenUrl".into(),
        &"https://issuer.example/token".into(),
    )
    .expect("set");
    Reflect::set(&options, &"clientId".into(), &"client".into()).expect("set");
    Reflect::set(&options, &"clientSecret".into(), &"secret".into()).expect("set");
    let grant = oauth::client_credentials(options.into()).expect("grant");
    let session_options = js_sys::Object::new();
    Reflect::set(&session_options, &"clock".into(), &clock).expect("set");
    Reflect::set(&session_options, &"seed".into(), &JsValue::from_f64(1.0)).expect("set");
    let session = Session::new(&grant, session_options.into()).expect("session");
    let now = session.now().expect("now");
    assert_eq!(get(&now, "wallMs").as_f64(), Some(1_700_000_000_000.0));
    let a = session.authorize(JsValue::UNDEFINED).expect("authorize");
    assert_eq!(a.kind(), "refresh");
    assert!(!a.to_string_js().contains("secret"));
}

pub fn estimates_convert_times() {
    let parts = js_sys::Object::new();
    Reflect::set(&parts, &"offsetMs".into(), &JsValue::from_f64(-250.0)).expect("set");
    let e = Estimate::new(parts.into()).expect("estimate");
    assert_eq!(
        e.to_server_time(JsValue::from_f64(10_000.0)).ok(),
        Some(9_750.0)
    );
    assert!(e.low_ms().is_null());
}
