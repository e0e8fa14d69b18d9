//! SNTP request building and reply checking (core `sntp`). The host sends the packet over
//! UDP itself (`node:dgram`); browsers cannot.

use tokenclock::sntp::{self, Leap};
use tokenclock::time::UnixMillis;
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{range_error, sntp_error, type_error};

/// One SNTP client request (core `sntp::SntpRequest`): send [`packet`](Self::packet), keep the
/// object to check the reply with [`parseSntpReply`](parse_sntp_reply).
#[wasm_bindgen]
pub struct SntpRequest {
    inner: sntp::SntpRequest,
}

#[wasm_bindgen]
impl SntpRequest {
    /// A request sent at `transmitMs` (Unix ms). `entropy` (a u32, default random) fills the
    /// sub-millisecond bits of the transmit timestamp so a reply cannot be forged by guessing.
    #[wasm_bindgen(constructor)]
    pub fn new(transmit_ms: JsValue, entropy: JsValue) -> Result<SntpRequest, JsValue> {
        let transmit = edge::uint("transmitMs", &transmit_ms)?;
        let entropy = match edge::opt_uint_as::<u32>("entropy", &entropy)? {
            Some(e) => e,
            None => {
                let mut b = [0u8; 4];
                crate::host::secure_random(&mut b)?;
                u32::from_le_bytes(b)
            }
        };
        Ok(SntpRequest {
            inner: sntp::build_request(UnixMillis(transmit), entropy),
        })
    }

    /// The 48 bytes to send.
    #[wasm_bindgen(getter)]
    pub fn packet(&self) -> js_sys::Uint8Array {
        js_sys::Uint8Array::from(&self.inner.packet()[..])
    }

    /// When it was sent (Unix ms).
    #[wasm_bindgen(getter = transmitMs)]
    pub fn transmit_ms(&self) -> f64 {
        self.inner.transmit().as_millis() as f64
    }

    /// The 64-bit NTP transmit timestamp the reply must echo.
    #[wasm_bindgen(getter = transmitTimestamp)]
    pub fn transmit_timestamp(&self) -> u64 {
        self.inner.transmit_timestamp()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!(
            "SntpRequest(transmit {} ms)",
            self.inner.transmit().as_millis()
        )
    }

    /// `{ transmitMs }`.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        Out::new()
            .num("transmitMs", self.inner.transmit().as_millis())
            .build()
    }
}

/// A checked SNTP reply (core `sntp::SntpReply`); feed it to `SkewEstimator.addSntp`.
#[wasm_bindgen]
#[derive(Clone, Copy)]
pub struct SntpReply {
    pub(crate) inner: sntp::SntpReply,
}

fn leap_name(l: Leap) -> &'static str {
    match l {
        Leap::NoWarning => "none",
        Leap::InsertSecond => "insert_second",
        Leap::DeleteSecond => "delete_second",
    }
}

fn leap_arg(v: &JsValue) -> Result<Leap, JsValue> {
    if edge::is_absent(v) {
        return Ok(Leap::NoWarning);
    }
    let leap = if let Some(name) = v.as_string() {
        [Leap::NoWarning, Leap::InsertSecond, Leap::DeleteSecond]
            .into_iter()
            .find(|&l| leap_name(l) == name)
    } else {
        let i = edge::uint_as::<u8>("fields.leap", v)?;
        [Leap::NoWarning, Leap::InsertSecond, Leap::DeleteSecond]
            .into_iter()
            .find(|l| l.indicator() == i)
    };
    leap.ok_or_else(|| {
        range_error("fields.leap must be \"none\", \"insert_second\", \"delete_second\" or 0, 1, 2")
    })
}

#[wasm_bindgen]
impl SntpReply {
    /// A reply from its fields (one checked elsewhere, or recorded): `{ offsetUs, delayUs,
    /// serverTransmitMs, stratum, leap = "none", version = 4 }` — what `toJSON()` gives
    /// (`leap` also as its indicator 0/1/2). `parseSntpReply` is the way to check a packet;
    /// this one only checks ranges: `delayUs` and `serverTransmitMs` are not negative,
    /// `stratum` is 1..=15, `version` 1..=4.
    #[wasm_bindgen(constructor)]
    pub fn new(fields: JsValue) -> Result<SntpReply, JsValue> {
        if !fields.is_object() {
            return Err(type_error(
                "fields must be an object { offsetUs, delayUs, serverTransmitMs, stratum }",
            ));
        }
        let field = |k: &str| edge::get(&fields, k);
        let stratum = edge::uint_as::<u8>("fields.stratum", &field("stratum")?)?;
        if !(1..=15).contains(&stratum) {
            return Err(range_error("fields.stratum must be 1..=15"));
        }
        let version = edge::opt_uint_as::<u8>("fields.version", &field("version")?)?.unwrap_or(4);
        if !(1..=4).contains(&version) {
            return Err(range_error("fields.version must be 1..=4"));
        }
        Ok(SntpReply {
            inner: sntp::SntpReply {
                offset_us: edge::int("fields.offsetUs", &field("offsetUs")?)?,
                delay_us: edge::uint("fields.delayUs", &field("delayUs")?)?,
                stratum,
                leap: leap_arg(&field("leap")?)?,
                version,
                server_transmit: UnixMillis(edge::uint(
                    "fields.serverTransmitMs",
                    &field("serverTransmitMs")?,
                )?),
            },
        })
    }

    /// Clock offset θ (`server − local`), microseconds.
    #[wasm_bindgen(getter = offsetUs)]
    pub fn offset_us(&self) -> f64 {
        self.inner.offset_us as f64
    }

    /// Round-trip delay δ, microseconds.
    #[wasm_bindgen(getter = delayUs)]
    pub fn delay_us(&self) -> f64 {
        self.inner.delay_us as f64
    }

    /// Bound on the offset's error (δ/2 rounded up), microseconds.
    #[wasm_bindgen(getter = errorBoundUs)]
    pub fn error_bound_us(&self) -> f64 {
        self.inner.error_bound_us() as f64
    }

    /// The server's stratum (1..=15).
    #[wasm_bindgen(getter)]
    pub fn stratum(&self) -> u8 {
        self.inner.stratum
    }

    /// The leap indicator: 0, 1 or 2.
    #[wasm_bindgen(getter = leapIndicator)]
    pub fn leap_indicator(&self) -> u8 {
        self.inner.leap.indicator()
    }

    /// `"none"`, `"insert_second"` or `"delete_second"`.
    #[wasm_bindgen(getter)]
    pub fn leap(&self) -> String {
        leap_name(self.inner.leap).to_owned()
    }

    /// The reply's NTP version.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> u8 {
        self.inner.version
    }

    /// The server's transmit timestamp, Unix ms (server clock).
    #[wasm_bindgen(getter = serverTransmitMs)]
    pub fn server_transmit_ms(&self) -> f64 {
        self.inner.server_transmit.as_millis() as f64
    }

    /// The fields as a plain object.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        let r = &self.inner;
        Out::new()
            .num("offsetUs", r.offset_us)
            .num("delayUs", r.delay_us)
            .num("errorBoundUs", r.error_bound_us())
            .num("stratum", i64::from(r.stratum))
            .str("leap", leap_name(r.leap))
            .num("leapIndicator", i64::from(r.leap.indicator()))
            .num("version", i64::from(r.version))
            .num("serverTransmitMs", r.server_transmit.as_millis())
            .build()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!(
            "SntpReply(offset {} us ± {} us, stratum {})",
            self.inner.offset_us,
            self.inner.error_bound_us(),
            self.inner.stratum
        )
    }
}

/// Checks an SNTP reply against the request it answers, received at `receivedMs` (Unix ms).
/// Throws `TokenClockError` (`sntp_*` codes; a kiss-o'-death has `.kissCode`).
#[wasm_bindgen(js_name = parseSntpReply)]
pub fn parse_sntp_reply(
    reply: JsValue,
    request: &SntpRequest,
    received_ms: JsValue,
) -> Result<SntpReply, JsValue> {
    let reply = edge::bytes("reply", &reply)?;
    let received = edge::uint("receivedMs", &received_ms)?;
    sntp::parse_reply(&reply, &request.inner, UnixMillis(received))
        .map(|inner| SntpReply { inner })
        .map_err(|e| sntp_error(&e))
}
