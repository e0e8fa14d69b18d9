//! The JS edge: every argument is checked and converted here before it reaches core.
//!
//! * Numbers of milliseconds (instants and durations), counts and ids must be `number`s that
//!   are finite, integral, non-negative and at most `Number.MAX_SAFE_INTEGER`; offsets
//!   (`server − local`) may be negative. Anything else is a `RangeError` (a `TypeError` when the
//!   value is not a number at all) naming the parameter.
//! * Strings must be strings (no silent `String(x)`), byte arrays `Uint8Array`s.
//! * Sizes are capped before anything is copied into wasm memory, so no input can exhaust it
//!   (an allocation failure would abort the instance). The caps are far above every core limit,
//!   so the core still decides and reports its own size errors.
//!
//! Everything that may run user code (getters, proxies, iterators, the injected clock) goes
//! through `catch` imports (`Reflect`, `Function::call`), and the binding converts all
//! arguments before it borrows any of its own state, so a throwing or re-entrant callback can
//! neither unwind through a held borrow nor observe a half-applied call.

use js_sys::{Array, Function, JsString, Object, Reflect, Uint8Array};
use tokenclock::time::Reading;
use wasm_bindgen::{JsCast, JsValue};

use crate::errors::{range_error, type_error};

/// `Number.MAX_SAFE_INTEGER` (2^53 − 1): every integer up to it is exactly representable in an
/// f64, so the conversions below are exact.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Longest string accepted at the edge, in UTF-16 code units (at most 3 UTF-8 bytes each).
pub const MAX_STRING_UNITS: u32 = 8 * 1024 * 1024;

/// Largest byte array accepted at the edge.
pub const MAX_BYTES: u32 = 8 * 1024 * 1024;

/// Most `[name, value]` pairs (headers, extra parameters) accepted at the edge.
pub const MAX_PAIRS: u32 = 4096;

/// Why a JS number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    NotANumber,
    NotFinite,
    Negative,
    NotAnInteger,
    TooLarge,
}

impl NumberError {
    /// The message of the `RangeError`: names the parameter and the problem (not the value).
    pub fn message(self, param: &str, expected: &str) -> String {
        let what = match self {
            NumberError::NotANumber => "is NaN",
            NumberError::NotFinite => "is not finite",
            NumberError::Negative => "is negative",
            NumberError::NotAnInteger => "is not an integer",
            NumberError::TooLarge => "exceeds Number.MAX_SAFE_INTEGER",
        };
        format!("{param} {what}: expected {expected}")
    }
}

const NON_NEGATIVE: &str = "a non-negative integer number of milliseconds";
const SIGNED: &str = "an integer number of milliseconds";

/// A non-negative safe integer (milliseconds, counts, ids). Pure Rust: unit-tested on the host.
pub fn uint_from_f64(value: f64) -> Result<i64, NumberError> {
    let v = int_from_f64(value)?;
    if v < 0 {
        Err(NumberError::Negative)
    } else {
        Ok(v)
    }
}

/// A safe integer of either sign (offsets). `-0` is 0.
pub fn int_from_f64(value: f64) -> Result<i64, NumberError> {
    if value.is_nan() {
        Err(NumberError::NotANumber)
    } else if value.is_infinite() {
        Err(NumberError::NotFinite)
    } else if value.fract() != 0.0 {
        Err(NumberError::NotAnInteger)
    } else if value.abs() > MAX_SAFE_INTEGER {
        Err(NumberError::TooLarge)
    } else {
        // Integral and within ±(2^53 − 1) (checked above): the cast is exact.
        Ok(value as i64)
    }
}

// ----- presence and objects --------------------------------------------------------------------

/// `undefined` or `null`: an optional argument or option that was not given.
pub fn is_absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// Property `key` of an options object (`undefined` when `obj` itself is absent). Getters and
/// proxies may throw: the exception is returned, never unwound through Rust.
pub fn get(obj: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    if is_absent(obj) {
        return Ok(JsValue::UNDEFINED);
    }
    Reflect::get(obj, &JsValue::from_str(key))
}

/// Checks that an options argument is absent or an object.
pub fn options(param: &str, v: &JsValue) -> Result<(), JsValue> {
    if is_absent(v) || v.is_object() {
        Ok(())
    } else {
        Err(type_error(&format!("{param} must be an object")))
    }
}

/// A plain object being filled in for a result.
pub struct Out(Object);

impl Out {
    pub fn new() -> Self {
        Out(Object::new())
    }

    pub fn set(self, key: &str, value: impl Into<JsValue>) -> Self {
        let _ = Reflect::set(&self.0, &JsValue::from_str(key), &value.into());
        self
    }

    pub fn num(self, key: &str, v: i64) -> Self {
        self.set(key, num(v))
    }

    pub fn opt_num(self, key: &str, v: Option<i64>) -> Self {
        self.set(key, opt_num(v))
    }

    pub fn str(self, key: &str, v: &str) -> Self {
        self.set(key, JsValue::from_str(v))
    }

    pub fn opt_str(self, key: &str, v: Option<&str>) -> Self {
        self.set(key, v.map_or(JsValue::NULL, JsValue::from_str))
    }

    pub fn build(self) -> JsValue {
        self.0.into()
    }
}

impl Default for Out {
    fn default() -> Self {
        Out::new()
    }
}

/// An integer as a JS number (core values stay far inside ±2^53).
pub fn num(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

/// `null` or the number.
pub fn opt_num(v: Option<i64>) -> JsValue {
    v.map_or(JsValue::NULL, num)
}

/// `null` or the string (wasm-bindgen would turn `None` into `undefined`).
pub fn opt_str(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

// ----- numbers ---------------------------------------------------------------------------------

fn number(param: &str, v: &JsValue) -> Result<f64, JsValue> {
    v.as_f64()
        .ok_or_else(|| type_error(&format!("{param} must be a number")))
}

/// A required non-negative integer number of milliseconds (or count, or id).
pub fn uint(param: &str, v: &JsValue) -> Result<i64, JsValue> {
    uint_from_f64(number(param, v)?).map_err(|e| range_error(&e.message(param, NON_NEGATIVE)))
}

/// An optional [`uint`].
pub fn opt_uint(param: &str, v: &JsValue) -> Result<Option<i64>, JsValue> {
    if is_absent(v) {
        Ok(None)
    } else {
        uint(param, v).map(Some)
    }
}

/// A required integer of either sign (an offset).
pub fn int(param: &str, v: &JsValue) -> Result<i64, JsValue> {
    int_from_f64(number(param, v)?).map_err(|e| range_error(&e.message(param, SIGNED)))
}

/// An optional [`int`].
pub fn opt_int(param: &str, v: &JsValue) -> Result<Option<i64>, JsValue> {
    if is_absent(v) {
        Ok(None)
    } else {
        int(param, v).map(Some)
    }
}

/// A [`uint`] that must also fit `T` (e.g. a `u16` status, a `u32` entropy).
pub fn uint_as<T: TryFrom<i64>>(param: &str, v: &JsValue) -> Result<T, JsValue> {
    let n = uint(param, v)?;
    T::try_from(n).map_err(|_| range_error(&format!("{param} is too large")))
}

/// An optional [`uint_as`].
pub fn opt_uint_as<T: TryFrom<i64>>(param: &str, v: &JsValue) -> Result<Option<T>, JsValue> {
    if is_absent(v) {
        Ok(None)
    } else {
        uint_as(param, v).map(Some)
    }
}

/// A finite number (fractions, seconds in the simulation).
pub fn float(param: &str, v: &JsValue) -> Result<f64, JsValue> {
    let f = number(param, v)?;
    if f.is_finite() {
        Ok(f)
    } else {
        Err(range_error(&format!(
            "{param} {}: expected a finite number",
            if f.is_nan() {
                "is NaN"
            } else {
                "is not finite"
            }
        )))
    }
}

/// A 64-bit seed: a non-negative safe integer `number`, or a `bigint` in `0..2^64`.
pub fn seed(param: &str, v: &JsValue) -> Result<u64, JsValue> {
    if v.is_bigint() {
        return u64::try_from(v.clone())
            .map_err(|_| range_error(&format!("{param} must be a bigint in 0..2^64")));
    }
    Ok(uint(param, v)?.unsigned_abs())
}

/// The optional `seed` option of objects that draw randomness (tests and transcripts only).
pub fn opt_seed(v: &JsValue) -> Result<Option<u64>, JsValue> {
    if is_absent(v) {
        Ok(None)
    } else {
        seed("seed", v).map(Some)
    }
}

// ----- strings, bytes, booleans ----------------------------------------------------------------

/// A required string.
pub fn string(param: &str, v: &JsValue) -> Result<String, JsValue> {
    let s = v
        .dyn_ref::<JsString>()
        .ok_or_else(|| type_error(&format!("{param} must be a string")))?;
    if s.length() > MAX_STRING_UNITS {
        return Err(range_error(&format!(
            "{param} is longer than {MAX_STRING_UNITS} characters"
        )));
    }
    // Lone surrogates (not valid UTF-16) become U+FFFD, as TextEncoder does.
    Ok(String::from(s))
}

/// An optional [`string`].
pub fn opt_string(param: &str, v: &JsValue) -> Result<Option<String>, JsValue> {
    if is_absent(v) {
        Ok(None)
    } else {
        string(param, v).map(Some)
    }
}

/// An optional boolean (`true`/`false` only).
pub fn opt_bool(param: &str, v: &JsValue) -> Result<Option<bool>, JsValue> {
    if is_absent(v) {
        Ok(None)
    } else {
        v.as_bool()
            .map(Some)
            .ok_or_else(|| type_error(&format!("{param} must be a boolean")))
    }
}

/// Whether `v` is an array (`Array.isArray`), called through `Reflect.apply` so that even a
/// revoked proxy (whose `isArray` throws) is an error returned, not unwound through Rust.
pub fn is_array(v: &JsValue) -> Result<bool, JsValue> {
    if !v.is_object() {
        return Ok(false);
    }
    let array_ctor = Array::new().constructor();
    let is_array = Reflect::get(&array_ctor, &JsValue::from_str("isArray"))?
        .dyn_into::<Function>()
        .map_err(|_| type_error("Array.isArray is not available"))?;
    Ok(Reflect::apply(&is_array, &JsValue::UNDEFINED, &Array::of1(v))?.is_truthy())
}

/// Whether `v` is a `Uint8Array` (`instanceof`, which wasm-bindgen guards with try/catch).
pub fn is_bytes(v: &JsValue) -> bool {
    v.dyn_ref::<Uint8Array>().is_some()
}

/// A `Uint8Array`. Its length is read through `Reflect` and its bytes copied into a fresh
/// array with `Reflect.construct(Uint8Array, [v])`, so a proxy or a detached buffer is an error
/// returned, never an exception unwound through Rust.
pub fn bytes(param: &str, v: &JsValue) -> Result<Vec<u8>, JsValue> {
    if !is_bytes(v) {
        return Err(type_error(&format!("{param} must be a Uint8Array")));
    }
    let len = uint(&format!("{param}.length"), &get(v, "length")?)?;
    if len > i64::from(MAX_BYTES) {
        return Err(range_error(&format!(
            "{param} is larger than {MAX_BYTES} bytes"
        )));
    }
    let ctor = Uint8Array::new_with_length(0).constructor();
    let copy = Reflect::construct(&ctor, &Array::of1(v))?
        .dyn_into::<Uint8Array>()
        .map_err(|_| type_error(&format!("{param} must be a Uint8Array")))?;
    if copy.length() > MAX_BYTES {
        return Err(range_error(&format!(
            "{param} is larger than {MAX_BYTES} bytes"
        )));
    }
    Ok(copy.to_vec())
}

/// A body: a string (sent as UTF-8) or a `Uint8Array`.
pub fn body(param: &str, v: &JsValue) -> Result<Vec<u8>, JsValue> {
    if v.is_string() {
        string(param, v).map(String::into_bytes)
    } else if is_bytes(v) {
        bytes(param, v)
    } else {
        Err(type_error(&format!(
            "{param} must be a string or a Uint8Array"
        )))
    }
}

/// The items of a JS array, read through `Reflect` (so a proxy's traps cannot unwind through
/// Rust), at most `max` of them.
fn array_items(param: &str, v: &JsValue, max: u32) -> Result<Vec<JsValue>, JsValue> {
    let len = uint(&format!("{param}.length"), &get(v, "length")?)?;
    if len > i64::from(max) {
        return Err(range_error(&format!("{param} has more than {max} items")));
    }
    // `len` is at most `max` (checked above), so it fits a u32.
    let len = u32::try_from(len).unwrap_or(0);
    (0..len).map(|i| Reflect::get_u32(v, i)).collect()
}

/// The values an iterable yields (`Headers`, `Map`, a generator), through `Reflect` and
/// `Function::call` only; `None` when `v` is not iterable. At most `max` values.
fn iterate(param: &str, v: &JsValue, max: u32) -> Result<Option<Vec<JsValue>>, JsValue> {
    let Ok(make) = Reflect::get(v, &js_sys::Symbol::iterator())?.dyn_into::<Function>() else {
        return Ok(None);
    };
    let iter = make.call0(v)?;
    let next = get(&iter, "next")?
        .dyn_into::<Function>()
        .map_err(|_| type_error(&format!("{param} has an iterator without next()")))?;
    let mut items = Vec::new();
    loop {
        let step = next.call0(&iter)?;
        if !step.is_object() {
            return Err(type_error(&format!(
                "{param}'s iterator returned a non-object"
            )));
        }
        if get(&step, "done")?.is_truthy() {
            return Ok(Some(items));
        }
        if items.len() >= max as usize {
            return Err(range_error(&format!("{param} has more than {max} entries")));
        }
        items.push(get(&step, "value")?);
    }
}

/// An optional list of strings; a single string is a one-element list.
pub fn opt_string_list(param: &str, v: &JsValue) -> Result<Vec<String>, JsValue> {
    if is_absent(v) {
        return Ok(Vec::new());
    }
    if v.is_string() {
        return Ok(vec![string(param, v)?]);
    }
    if !is_array(v)? {
        return Err(type_error(&format!(
            "{param} must be a string or an array of strings"
        )));
    }
    array_items(param, v, MAX_PAIRS)?
        .iter()
        .map(|item| string(param, item))
        .collect()
}

/// `[name, value]` pairs: an array of pairs, an iterable of pairs (`Headers`, `Map`), or a
/// plain object whose own string-keyed properties are the pairs. Order is kept.
pub fn pairs(param: &str, v: &JsValue) -> Result<Vec<(String, String)>, JsValue> {
    if is_absent(v) {
        return Ok(Vec::new());
    }
    let wrong = || {
        type_error(&format!(
            "{param} must be an array of [name, value] pairs, a Headers object or a record"
        ))
    };
    if !v.is_object() {
        return Err(wrong());
    }
    let items = if is_array(v)? {
        array_items(param, v, MAX_PAIRS)?
    } else if let Some(items) = iterate(param, v, MAX_PAIRS)? {
        items
    } else {
        // A record: own string keys, read through Reflect.
        let keys = Reflect::own_keys(v)?;
        if keys.length() > MAX_PAIRS {
            return Err(range_error(&format!(
                "{param} has more than {MAX_PAIRS} entries"
            )));
        }
        let mut items = Vec::new();
        for key in keys.iter().filter(JsValue::is_string) {
            let value = Reflect::get(v, &key)?;
            items.push(Array::of2(&key, &value).into());
        }
        items
    };
    items
        .iter()
        .map(|item| {
            if !is_array(item)? {
                return Err(type_error(&format!(
                    "each entry of {param} must be [name, value]"
                )));
            }
            let pair = array_items(param, item, 2)?;
            match pair.as_slice() {
                [name, value] => Ok((
                    string(&format!("{param} name"), name)?,
                    string(&format!("{param} value"), value)?,
                )),
                _ => Err(type_error(&format!(
                    "each entry of {param} must be [name, value]"
                ))),
            }
        })
        .collect()
}

/// Pairs as a JS array of `[name, value]` arrays.
pub fn pairs_js<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> JsValue {
    let out = Array::new();
    for (name, value) in pairs {
        out.push(&Array::of2(
            &JsValue::from_str(name),
            &JsValue::from_str(value),
        ));
    }
    out.into()
}

// ----- readings ----------------------------------------------------------------------------------

/// A reading `{ wallMs, monoMs }`, range-checked by core (`Reading::new`: wall time within
/// 1970..=9999, monotonic time within 0..=2^53).
pub fn reading(param: &str, v: &JsValue) -> Result<Reading, JsValue> {
    if !v.is_object() {
        return Err(type_error(&format!(
            "{param} must be a reading {{ wallMs, monoMs }}"
        )));
    }
    let wall = uint(&format!("{param}.wallMs"), &get(v, "wallMs")?)?;
    let mono = uint(&format!("{param}.monoMs"), &get(v, "monoMs")?)?;
    Reading::new(wall, mono).map_err(|e| range_error(&format!("{param}: {e}")))
}

/// An optional [`reading`].
pub fn opt_reading(param: &str, v: &JsValue) -> Result<Option<Reading>, JsValue> {
    if is_absent(v) {
        Ok(None)
    } else {
        reading(param, v).map(Some)
    }
}

/// A reading as `{ wallMs, monoMs }`.
pub fn reading_js(r: Reading) -> JsValue {
    Out::new()
        .num("wallMs", r.wall.as_millis())
        .num("monoMs", r.mono.as_millis())
        .build()
}

/// `null` or the reading.
pub fn opt_reading_js(r: Option<Reading>) -> JsValue {
    r.map_or(JsValue::NULL, reading_js)
}

// ----- JSON --------------------------------------------------------------------------------------

/// A JSON value (claims, headers) as a plain JS value, through `JSON.parse`: numbers become
/// doubles exactly as `JSON.parse` reads them, and `"__proto__"` stays an ordinary property.
pub fn json_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|_| type_error("value cannot be represented as JSON"))?;
    js_sys::JSON::parse(&text)
}

/// A JS value as JSON text (`JSON.stringify`), for documents handed to core as text.
pub fn json_text(param: &str, v: &JsValue) -> Result<String, JsValue> {
    if v.is_string() {
        return string(param, v);
    }
    let text = js_sys::JSON::stringify(v)
        .map_err(|_| type_error(&format!("{param} cannot be serialised as JSON")))?;
    string(param, &text.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_non_negative_safe_integers() {
        assert_eq!(uint_from_f64(0.0), Ok(0));
        assert_eq!(uint_from_f64(-0.0), Ok(0));
        assert_eq!(uint_from_f64(1_700_000_000_123.0), Ok(1_700_000_000_123));
        assert_eq!(uint_from_f64(MAX_SAFE_INTEGER), Ok(9_007_199_254_740_991));
    }

    #[test]
    fn rejects_each_bad_kind_of_number() {
        assert_eq!(uint_from_f64(f64::NAN), Err(NumberError::NotANumber));
        assert_eq!(uint_from_f64(f64::INFINITY), Err(NumberError::NotFinite));
        assert_eq!(
            uint_from_f64(f64::NEG_INFINITY),
            Err(NumberError::NotFinite)
        );
        assert_eq!(uint_from_f64(-1.0), Err(NumberError::Negative));
        assert_eq!(uint_from_f64(0.5), Err(NumberError::NotAnInteger));
        assert_eq!(uint_from_f64(-0.5), Err(NumberError::NotAnInteger));
        assert_eq!(
            uint_from_f64(MAX_SAFE_INTEGER + 1.0),
            Err(NumberError::TooLarge)
        );
        assert_eq!(uint_from_f64(1e300), Err(NumberError::TooLarge));
    }

    #[test]
    fn signed_integers_keep_their_sign() {
        assert_eq!(int_from_f64(-30_000.0), Ok(-30_000));
        assert_eq!(int_from_f64(-MAX_SAFE_INTEGER), Ok(-9_007_199_254_740_991));
        assert_eq!(
            int_from_f64(-MAX_SAFE_INTEGER - 2.0),
            Err(NumberError::TooLarge)
        );
        assert_eq!(int_from_f64(-1e300), Err(NumberError::TooLarge));
    }

    #[test]
    fn message_names_the_parameter_and_the_problem() {
        assert_eq!(
            NumberError::Negative.message("leewayMs", NON_NEGATIVE),
            "leewayMs is negative: expected a non-negative integer number of milliseconds"
        );
    }
}
