//! Reading a JWT's header and claims **without verifying it**.
//!
//! [`peek`] is for a client that wants to know when the token it was handed says it expires
//! (or for a human inspecting one). Nothing read here is authenticated: never make an
//! authorization decision from a [`Peeked`]. The verifier checks the signature and then reads
//! the time claims with the same [`time_claims`], so client and resource server agree on what
//! a claim means to the millisecond.
//!
//! # What is accepted (decisions, in the order they are checked)
//!
//! 1. **Size.** The input as given (whitespace and `Bearer ` prefix included) must be at most
//!    [`MAX_TOKEN_BYTES`]; checked before anything else is looked at → `token_too_large`.
//! 2. **Framing.** Surrounding ASCII whitespace is trimmed, then an optional `Bearer` prefix
//!    (any case, followed by at least one space or tab, RFC 6750 §2.1) is stripped.
//!    The token must be three `.`-separated segments (RFC 7515 §7.1 compact JWS).
//!    Five segments with a non-empty first segment are a compact JWE (RFC 7516 §7.1):
//!    `encrypted_token`, it cannot be read without the key. Any other count, or an empty
//!    header or payload segment → `malformed_token`. An empty *signature* is allowed (an
//!    unsecured JWT, `alg: none`, RFC 7519 §6, can still be read; `alg` is exposed so the
//!    caller sees it).
//! 3. **Base64url.** Each segment is base64url *without padding* (RFC 7515 §2): `=` padding,
//!    the standard alphabet's `+` and `/`, whitespace inside, a length of 1 mod 4 and
//!    non-zero unused trailing bits (a non-canonical encoding) are all `invalid_base64`.
//!    These are the base64url rules of `jsonwebtoken` (the verifier's backend), which decodes
//!    with `base64::engine::general_purpose::URL_SAFE_NO_PAD`; and with canonical encodings
//!    only, one set of bytes has only one token spelling. All three segments are decoded
//!    (header, payload, signature) before any JSON is parsed.
//! 4. **JSON.** Header, then payload: UTF-8 (`invalid_utf8`), JSON (`invalid_json`, via
//!    `serde_json`, whose parser stops at 128 levels of nesting, so a nesting bomb is
//!    `invalid_json`, not a stack overflow; a number beyond the `f64` range such as `1e400` is
//!    also `invalid_json` there), and a JSON object (`not_a_json_object`). A byte-order mark
//!    is not JSON.
//! 5. **Duplicates.** RFC 7515 §5.2 and RFC 7519 §4 let a parser either reject duplicate
//!    member names or keep the last one. Two parsers that pick differently read one token
//!    two ways, so every member that peek interprets — header `alg`, `kid`, `typ`; claims
//!    `iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti` — must appear at most once
//!    (`duplicate_claim`, for header parameters too; names are compared after JSON escapes
//!    are decoded, so `"\u0065xp"` is `exp`). Other top-level members, and members of nested
//!    objects, keep `serde_json`'s last-one-wins.
//! 6. **Header.** `alg` must be present and a non-empty string; `kid` and `typ`, when present,
//!    strings (`invalid_header`).
//! 7. **Claims** (checked by [`time_claims`] in the order `exp`, `nbf`, `iat`, then `iss`, `sub`,
//!    `aud`, `jti`): see [`time_claims`] for the NumericDates. `iss`, `sub` and `jti` must be
//!    strings, `aud` a string or an array of strings (RFC 7519 §4.1.3); anything else,
//!    including `null`, is `invalid_claim_type`.
//!
//! Errors name the segment or claim that was wrong ([`PeekError::what`]), never input bytes.

use core::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::time::MAX_UNIX_MILLIS;
use crate::ErrorCode;

mod scan;

use scan::scan_object;
pub(crate) use scan::Members;
pub(crate) use scan::Object;

/// Largest input [`peek`] looks at, in bytes (UTF-8), whitespace and `Bearer ` prefix included.
///
/// Real access tokens are a few KiB; HTTP servers commonly refuse header lines beyond ~8 KiB.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Header parameters peek interprets; each may appear at most once.
const HEADER_MEMBERS: &[&str] = &["alg", "kid", "typ"];
/// Claims peek interprets; each may appear at most once.
const CLAIM_MEMBERS: &[&str] = &["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// One of the three segments of a compact JWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// The first segment, the JOSE header.
    Header,
    /// The second segment, the claims set.
    Payload,
    /// The third segment, the signature.
    Signature,
}

impl Segment {
    /// `"header"`, `"payload"` or `"signature"`.
    pub const fn name(self) -> &'static str {
        match self {
            Segment::Header => "header",
            Segment::Payload => "payload",
            Segment::Signature => "signature",
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a token's framing was wrong (`malformed_token`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The token did not have 3 `.`-separated segments (nor 5, which is a JWE). Carries the
    /// count found.
    SegmentCount(usize),
    /// The header or payload segment was empty.
    EmptySegment(Segment),
}

/// The time claims of a token, in milliseconds since the Unix epoch.
///
/// A NumericDate (RFC 7519 §2) is a JSON number of seconds and may be fractional. `exp` and
/// `iat` round **down** to the millisecond, `nbf` rounds **up**: both are conservative, the
/// token looks expired (or old) no later, and valid no earlier, than it really is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TimeClaims {
    /// `iat` (issued at), rounded down; `None` when absent.
    pub iat_ms: Option<i64>,
    /// `nbf` (not before), rounded up; `None` when absent.
    pub nbf_ms: Option<i64>,
    /// `exp` (expiration time), rounded down; `None` when absent.
    pub exp_ms: Option<i64>,
}

/// What [`peek`] read from a token. Nothing here is verified.
///
/// Holds no raw token text and no signature (only its decoded length). `Debug` prints the
/// interpreted fields and only the *number* of members of `header` and `claims`, so logging a
/// `Peeked` does not spill arbitrary claims.
#[derive(Clone, PartialEq)]
pub struct Peeked {
    /// Header `alg`. Always `Some` after a successful [`peek`] (a header without `alg` is
    /// `invalid_header`); may be `"none"` for an unsecured JWT.
    pub alg: Option<String>,
    /// Header `kid`.
    pub kid: Option<String>,
    /// Header `typ`.
    pub typ: Option<String>,
    /// `iat`, `nbf`, `exp` in milliseconds.
    pub times: TimeClaims,
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`: a single string becomes a one-element list; absent is empty.
    pub aud: Vec<String>,
    /// `jti`.
    pub jti: Option<String>,
    /// Length of the decoded signature in bytes (0 for an unsecured JWT).
    pub signature_len: usize,
    /// The whole decoded header.
    pub header: Map<String, Value>,
    /// The whole decoded claims set.
    pub claims: Map<String, Value>,
}

impl fmt::Debug for Peeked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peeked")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .field("times", &self.times)
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("jti", &self.jti)
            .field("signature_len", &self.signature_len)
            .field("header", &format_args!("<{} members>", self.header.len()))
            .field("claims", &format_args!("<{} members>", self.claims.len()))
            .finish()
    }
}

/// Why a token could not be peeked. Never carries input bytes, only which part was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeekError {
    /// `token_too_large`: the input was longer than [`MAX_TOKEN_BYTES`].
    TokenTooLarge {
        /// Length of the input in bytes.
        len: usize,
    },
    /// `malformed_token`: wrong number of segments or an empty header/payload.
    MalformedToken(Malformed),
    /// `encrypted_token`: a five-segment compact JWE, unreadable without the key.
    EncryptedToken,
    /// `invalid_base64`: a segment is not unpadded, canonical base64url.
    InvalidBase64 {
        /// Which segment.
        segment: Segment,
    },
    /// `invalid_utf8`: the decoded header or payload is not UTF-8.
    InvalidUtf8 {
        /// Which segment.
        segment: Segment,
    },
    /// `invalid_json`: the decoded header or payload is not JSON (or nests deeper than 128).
    InvalidJson {
        /// Which segment.
        segment: Segment,
    },
    /// `not_a_json_object`: the header or payload is JSON but not an object.
    NotAJsonObject {
        /// Which segment.
        segment: Segment,
    },
    /// `invalid_header`: `alg` missing, empty or not a string, or `kid`/`typ` not a string.
    InvalidHeader {
        /// The header parameter: `"alg"`, `"kid"` or `"typ"`.
        param: &'static str,
    },
    /// `invalid_claim_type`: a registered claim has the wrong JSON type (e.g. `exp` as a
    /// string, `true` or `null`).
    InvalidClaimType {
        /// The claim name.
        claim: &'static str,
    },
    /// `claim_out_of_range`: a NumericDate outside `0 ..= 253402300799.999` seconds.
    ClaimOutOfRange {
        /// The claim name: `"exp"`, `"nbf"` or `"iat"`.
        claim: &'static str,
    },
    /// `duplicate_claim`: an interpreted header parameter or claim appears more than once.
    DuplicateClaim {
        /// Header or payload.
        segment: Segment,
        /// The member name.
        name: &'static str,
    },
}

impl PeekError {
    /// What was wrong, as a stable name: the segment (`"header"`, `"payload"`,
    /// `"signature"`), the header parameter or claim (`"exp"`, `"alg"`, ...), or `None` when
    /// the token as a whole was wrong (too large, wrong segment count, encrypted).
    pub const fn what(&self) -> Option<&'static str> {
        match *self {
            PeekError::TokenTooLarge { .. }
            | PeekError::EncryptedToken
            | PeekError::MalformedToken(Malformed::SegmentCount(_)) => None,
            PeekError::MalformedToken(Malformed::EmptySegment(segment))
            | PeekError::InvalidBase64 { segment }
            | PeekError::InvalidUtf8 { segment }
            | PeekError::InvalidJson { segment }
            | PeekError::NotAJsonObject { segment } => Some(segment.name()),
            PeekError::InvalidHeader { param } => Some(param),
            PeekError::InvalidClaimType { claim } | PeekError::ClaimOutOfRange { claim } => {
                Some(claim)
            }
            PeekError::DuplicateClaim { name, .. } => Some(name),
        }
    }
}

impl ErrorCode for PeekError {
    fn code(&self) -> &'static str {
        match self {
            PeekError::TokenTooLarge { .. } => "token_too_large",
            PeekError::MalformedToken(_) => "malformed_token",
            PeekError::EncryptedToken => "encrypted_token",
            PeekError::InvalidBase64 { .. } => "invalid_base64",
            PeekError::InvalidUtf8 { .. } => "invalid_utf8",
            PeekError::InvalidJson { .. } => "invalid_json",
            PeekError::NotAJsonObject { .. } => "not_a_json_object",
            PeekError::InvalidHeader { .. } => "invalid_header",
            PeekError::InvalidClaimType { .. } => "invalid_claim_type",
            PeekError::ClaimOutOfRange { .. } => "claim_out_of_range",
            PeekError::DuplicateClaim { .. } => "duplicate_claim",
        }
    }
}

impl fmt::Display for PeekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PeekError::TokenTooLarge { len } => {
                write!(
                    f,
                    "token is {len} bytes, more than the limit of {MAX_TOKEN_BYTES}"
                )
            }
            PeekError::MalformedToken(Malformed::SegmentCount(n)) => write!(
                f,
                "token has {n} '.'-separated segment(s); a compact JWS has 3"
            ),
            PeekError::MalformedToken(Malformed::EmptySegment(s)) => {
                write!(f, "token's {s} segment is empty")
            }
            PeekError::EncryptedToken => f.write_str(
                "token is an encrypted JWT (JWE, 5 segments); its claims cannot be read",
            ),
            PeekError::InvalidBase64 { segment } => {
                write!(f, "token's {segment} segment is not unpadded base64url")
            }
            PeekError::InvalidUtf8 { segment } => write!(f, "token's {segment} is not UTF-8"),
            PeekError::InvalidJson { segment } => write!(f, "token's {segment} is not JSON"),
            PeekError::NotAJsonObject { segment } => {
                write!(f, "token's {segment} is not a JSON object")
            }
            PeekError::InvalidHeader { param: "alg" } => {
                f.write_str("token header must have \"alg\" as a non-empty string")
            }
            PeekError::InvalidHeader { param } => {
                write!(f, "token header parameter \"{param}\" must be a string")
            }
            PeekError::InvalidClaimType { claim } => {
                let expected = match claim {
                    "exp" | "nbf" | "iat" => "a JSON number (NumericDate)",
                    "aud" => "a string or an array of strings",
                    _ => "a string",
                };
                write!(f, "claim \"{claim}\" must be {expected}")
            }
            PeekError::ClaimOutOfRange { claim } => write!(
                f,
                "claim \"{claim}\" is outside 0 ..= 253402300799.999 seconds (1970 to 9999)"
            ),
            PeekError::DuplicateClaim { segment, name } => {
                write!(f, "token's {segment} has \"{name}\" more than once")
            }
        }
    }
}

impl std::error::Error for PeekError {}

/// Reads a JWT's header and claims **without verifying its signature**. See the module docs
/// for exactly what is accepted.
///
/// ```
/// # use tokenclock::peek::peek;
/// // {"alg":"none"} . {"exp":1700000000.5}
/// let p = peek("Bearer eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDAuNX0.").unwrap();
/// assert_eq!(p.alg.as_deref(), Some("none"));
/// assert_eq!(p.times.exp_ms, Some(1_700_000_000_500));
/// ```
pub fn peek(token: &str) -> Result<Peeked, PeekError> {
    let r = read(token, Members::All, Members::All)?;
    Ok(Peeked {
        alg: Some(r.alg),
        kid: r.kid,
        typ: r.typ,
        times: r.times,
        iss: r.iss,
        sub: r.sub,
        aud: r.aud,
        jti: r.jti,
        signature_len: r.signature.len(),
        header: r.header.into_map(),
        claims: r.claims.into_map(),
    })
}

/// What [`read`] found: [`Peeked`]'s fields, the members kept as asked, and the decoded
/// payload and signature (the verifier needs the signature bytes and hands the payload's JSON
/// text to hosts as is).
#[cfg_attr(not(feature = "verify"), allow(dead_code))]
pub(crate) struct Read {
    pub(crate) alg: String,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    pub(crate) times: TimeClaims,
    pub(crate) iss: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Vec<String>,
    pub(crate) jti: Option<String>,
    /// The header parameters kept.
    pub(crate) header: Object,
    /// The claims kept.
    pub(crate) claims: Object,
    /// The payload segment, decoded: the claims set's JSON text (valid UTF-8, checked).
    pub(crate) payload: Vec<u8>,
    /// The signature segment, decoded.
    pub(crate) signature: Vec<u8>,
    /// Nothing was trimmed or stripped: the input is the bare compact token, only base64url
    /// characters and the two dots (every segment decoded as canonical base64url).
    pub(crate) bare: bool,
}

/// [`peek`]'s reading with every check, keeping the header parameters and claims asked for
/// (with the verifier compiled in, `Members::Interpreted` keeps only the interpreted ones,
/// plus the extra names given).
pub(crate) fn read(
    token: &str,
    header_members: Members,
    claim_members: Members,
) -> Result<Read, PeekError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(PeekError::TokenTooLarge { len: token.len() });
    }
    let given_len = token.len();
    let token = strip_bearer(token.trim_ascii()).trim_ascii();

    let count = token.split('.').count();
    let mut parts = token.split('.');
    let (header_b64, payload_b64, signature_b64) =
        match (count, parts.next(), parts.next(), parts.next()) {
            (3, Some(h), Some(p), Some(s)) => (h, p, s),
            (5, Some(h), _, _) if !h.is_empty() => return Err(PeekError::EncryptedToken),
            (5, _, _, _) => {
                return Err(PeekError::MalformedToken(Malformed::EmptySegment(
                    Segment::Header,
                )))
            }
            _ => return Err(PeekError::MalformedToken(Malformed::SegmentCount(count))),
        };
    if header_b64.is_empty() {
        return Err(PeekError::MalformedToken(Malformed::EmptySegment(
            Segment::Header,
        )));
    }
    if payload_b64.is_empty() {
        return Err(PeekError::MalformedToken(Malformed::EmptySegment(
            Segment::Payload,
        )));
    }

    let header_bytes = decode_segment(header_b64, Segment::Header)?;
    let payload_bytes = decode_segment(payload_b64, Segment::Payload)?;
    let signature = decode_segment(signature_b64, Segment::Signature)?;

    let mut header = scan_object(
        &header_bytes,
        Segment::Header,
        HEADER_MEMBERS,
        header_members,
    )?;
    let alg = match header.take_string("alg") {
        Ok(Some(alg)) if !alg.is_empty() => alg,
        _ => return Err(PeekError::InvalidHeader { param: "alg" }),
    };
    let kid = header
        .take_string("kid")
        .map_err(|()| PeekError::InvalidHeader { param: "kid" })?;
    let typ = header
        .take_string("typ")
        .map_err(|()| PeekError::InvalidHeader { param: "typ" })?;

    let mut claims = scan_object(
        &payload_bytes,
        Segment::Payload,
        CLAIM_MEMBERS,
        claim_members,
    )?;
    let times = times_of(|name| claims.get(name))?;
    let iss = claim_string(&mut claims, "iss")?;
    let sub = claim_string(&mut claims, "sub")?;
    // Left in place: the verifier asks whether `aud` is present at all.
    let aud = audience(claims.get("aud"))?;
    let jti = claim_string(&mut claims, "jti")?;

    Ok(Read {
        alg,
        kid,
        typ,
        times,
        iss,
        sub,
        aud,
        jti,
        header,
        claims,
        payload: payload_bytes,
        signature,
        bare: token.len() == given_len,
    })
}

/// Extracts and validates `exp`, `nbf` and `iat` (checked in that order) from a decoded claims
/// set. Used by [`peek`] and by the verifier.
///
/// * Absent → `None`. Present, each must be a JSON number: a numeric string (`"1700000000"`),
///   `true` or `null` is `invalid_claim_type` (as panva's `jose` does: its `validateNumericDate`
///   requires `typeof value === 'number'` once the claim is not `undefined`; `null` is *not*
///   read as "absent", which would make `exp: null` mean "never expires").
/// * The value must lie in `0 ..= 253402300799.999` seconds (up to 9999-12-31T23:59:59.999Z,
///   [`crate::time::MAX_UNIX_MILLIS`]), else `claim_out_of_range` (negative values, `1e300`,
///   `2^63`). `-0` is 0.
/// * Seconds become milliseconds exactly in decimal, then `exp` and `iat` round down and `nbf`
///   rounds up: `exp: 1700000000.9999` → `1700000000999`, `nbf: 1700000000.0001` →
///   `1700000000001`.
///
/// Precision: `serde_json` (like `JSON.parse` and Python's `json`) stores a fractional number
/// as the nearest `f64`; it is converted from that double's shortest round-trip decimal form
/// (what JavaScript and Python print for it), which equals the text in the token whenever the
/// text has at most 15 significant digits (and a decimal exponent within ±22). Longer lexemes
/// are rounded to a double first (an error far below a microsecond for present-day dates).
///
/// A `Map` cannot show duplicate member names; [`peek`] rejects those before calling this.
pub fn time_claims(claims: &Map<String, Value>) -> Result<TimeClaims, PeekError> {
    times_of(|name| claims.get(name))
}

/// [`time_claims`] over any lookup of the claims by name.
fn times_of<'a>(claim: impl Fn(&str) -> Option<&'a Value>) -> Result<TimeClaims, PeekError> {
    let exp_ms = numeric_date(claim("exp"), "exp", Rounding::Down)?;
    let nbf_ms = numeric_date(claim("nbf"), "nbf", Rounding::Up)?;
    let iat_ms = numeric_date(claim("iat"), "iat", Rounding::Down)?;
    Ok(TimeClaims {
        iat_ms,
        nbf_ms,
        exp_ms,
    })
}

/// Strips an optional case-insensitive `Bearer` followed by spaces/tabs.
fn strip_bearer(s: &str) -> &str {
    let (Some(word), Some(rest)) = (s.get(..6), s.get(6..)) else {
        return s;
    };
    if word.eq_ignore_ascii_case("bearer") && rest.starts_with([' ', '\t']) {
        rest.trim_start_matches([' ', '\t'])
    } else {
        s
    }
}

fn decode_segment(segment_b64: &str, segment: Segment) -> Result<Vec<u8>, PeekError> {
    URL_SAFE_NO_PAD
        .decode(segment_b64)
        .map_err(|_| PeekError::InvalidBase64 { segment })
}

fn claim_string(claims: &mut Object, claim: &'static str) -> Result<Option<String>, PeekError> {
    claims
        .take_string(claim)
        .map_err(|()| PeekError::InvalidClaimType { claim })
}

fn audience(value: Option<&Value>) -> Result<Vec<String>, PeekError> {
    const BAD: PeekError = PeekError::InvalidClaimType { claim: "aud" };
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or(BAD))
            .collect(),
        Some(_) => Err(BAD),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rounding {
    Down,
    Up,
}

fn numeric_date(
    value: Option<&Value>,
    claim: &'static str,
    rounding: Rounding,
) -> Result<Option<i64>, PeekError> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => number_to_ms(n, rounding)
            .map(Some)
            .ok_or(PeekError::ClaimOutOfRange { claim }),
        Some(_) => Err(PeekError::InvalidClaimType { claim }),
    }
}

/// Seconds (a JSON number) → milliseconds, `None` when outside `0 ..= MAX_UNIX_MILLIS`.
fn number_to_ms(n: &Number, rounding: Rounding) -> Option<i64> {
    if let Some(secs) = n.as_u64() {
        let ms = i64::try_from(secs).ok()?.checked_mul(1000)?;
        return (ms <= MAX_UNIX_MILLIS).then_some(ms);
    }
    if n.as_i64().is_some() {
        return None; // a negative integer (non-negative ones were `as_u64`)
    }
    let secs = n.as_f64()?;
    if !secs.is_finite() {
        return None;
    }
    // `{:e}` is the shortest decimal that reads back as the same double ("1.7000000009999e9").
    decimal_to_ms(&format!("{secs:e}"), rounding)
}

/// Exact conversion of a decimal number of seconds (`-?d*(.d*)?([eE][+-]?d+)?`) to
/// milliseconds, rounded as asked. `None` when malformed, negative (other than zero) or above
/// `MAX_UNIX_MILLIS` (judged on the exact value, before rounding).
fn decimal_to_ms(text: &str, rounding: Rounding) -> Option<i64> {
    /// Digits of `MAX_UNIX_MILLIS` (253402300799999).
    const MAX_DIGITS: usize = 15;

    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, parse_exponent(e)?),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.len().saturating_add(frac_part.len()) == 0
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return None;
    }

    // value_ms = significand × 10^scale, with significand free of leading/trailing zeros.
    let digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b.saturating_sub(b'0'))
        .collect();
    let Some(first) = digits.iter().position(|&d| d != 0) else {
        return Some(0); // zero, including -0 and 0e999
    };
    if negative {
        return None;
    }
    let last = digits.iter().rposition(|&d| d != 0)?;
    let significand = digits.get(first..=last)?;
    let trailing_zeros = i64::try_from(digits.len() - 1 - last).ok()?;
    let frac_len = i64::try_from(frac_part.len()).ok()?;
    let scale = exponent
        .saturating_sub(frac_len)
        .saturating_add(3)
        .saturating_add(trailing_zeros);

    let to_int = |d: &[u8]| {
        d.iter().try_fold(0i64, |acc, &digit| {
            acc.checked_mul(10)?.checked_add(i64::from(digit))
        })
    };
    let (floor, ceil) = if scale >= 0 {
        let scale = usize::try_from(scale).ok()?;
        if significand.len().saturating_add(scale) > MAX_DIGITS {
            return None;
        }
        let value =
            to_int(significand)?.checked_mul(10i64.checked_pow(u32::try_from(scale).ok()?)?)?;
        (value, value)
    } else {
        // The dropped digits end in a non-zero digit, so the value is never an integer here.
        let dropped = usize::try_from(scale.unsigned_abs()).unwrap_or(usize::MAX);
        let kept = significand.len().saturating_sub(dropped);
        let int_digits = significand.get(..kept)?;
        if int_digits.len() > MAX_DIGITS {
            return None;
        }
        let floor = to_int(int_digits)?;
        (floor, floor.checked_add(1)?)
    };
    // exact value ≤ MAX ⇔ ceil(value) ≤ MAX, since MAX is an integer.
    if ceil > MAX_UNIX_MILLIS {
        return None;
    }
    Some(match rounding {
        Rounding::Down => floor,
        Rounding::Up => ceil,
    })
}

/// A decimal exponent, saturated far beyond any value that could still be in range.
fn parse_exponent(text: &str) -> Option<i64> {
    const CLAMP: i64 = 1_000_000_000;
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().fold(0i64, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(i64::from(b.saturating_sub(b'0')))
            .min(CLAMP)
    });
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            b64(header.as_bytes()),
            b64(payload.as_bytes())
        )
    }

    fn payload_err(payload: &str) -> PeekError {
        peek(&token(r#"{"alg":"HS256"}"#, payload)).unwrap_err()
    }

    fn times(payload: &str) -> TimeClaims {
        peek(&token(r#"{"alg":"HS256"}"#, payload)).unwrap().times
    }

    #[test]
    fn decimal_conversion_is_exact_and_directional() {
        use Rounding::{Down, Up};
        assert_eq!(
            decimal_to_ms("1700000000.9999", Down),
            Some(1_700_000_000_999)
        );
        assert_eq!(
            decimal_to_ms("1700000000.9999", Up),
            Some(1_700_000_001_000)
        );
        assert_eq!(
            decimal_to_ms("1700000000.0001", Up),
            Some(1_700_000_000_001)
        );
        assert_eq!(
            decimal_to_ms("1700000000.0001", Down),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            decimal_to_ms("1700000000.001", Down),
            Some(1_700_000_000_001)
        );
        assert_eq!(decimal_to_ms("1700000000.001", Up), Some(1_700_000_000_001));
        assert_eq!(decimal_to_ms("1.7e9", Up), Some(1_700_000_000_000));
        assert_eq!(decimal_to_ms("17E+8", Down), Some(1_700_000_000_000));
        assert_eq!(decimal_to_ms("1e-4", Up), Some(1));
        assert_eq!(decimal_to_ms("1e-4", Down), Some(0));
        assert_eq!(decimal_to_ms("5e-324", Up), Some(1));
        assert_eq!(decimal_to_ms("-0e0", Up), Some(0));
        assert_eq!(decimal_to_ms("0e999999999999999999999", Up), Some(0));
        assert_eq!(decimal_to_ms("-1e-9", Down), None);
        assert_eq!(decimal_to_ms("253402300799.999", Up), Some(MAX_UNIX_MILLIS));
        assert_eq!(decimal_to_ms("253402300799.9991", Down), None);
        assert_eq!(decimal_to_ms("253402300800", Down), None);
        assert_eq!(decimal_to_ms("1e300", Down), None);
        assert_eq!(decimal_to_ms("1e99999999999999999999", Down), None);
        assert_eq!(decimal_to_ms("1e-99999999999999999999", Down), Some(0));
        assert_eq!(decimal_to_ms("1e-99999999999999999999", Up), Some(1));
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", "1.2.3", "1x", "inf", "NaN", "+1", "1e5x",
        ] {
            assert_eq!(decimal_to_ms(bad, Down), None, "{bad:?}");
        }
    }

    #[test]
    fn fractional_numeric_dates_round_conservatively() {
        let t = times(r#"{"exp":1700000000.9999,"nbf":1700000000.0001,"iat":1699999999.5}"#);
        assert_eq!(
            t,
            TimeClaims {
                iat_ms: Some(1_699_999_999_500),
                nbf_ms: Some(1_700_000_000_001),
                exp_ms: Some(1_700_000_000_999),
            }
        );
        // Integers, exponents and -0.
        let t = times(r#"{"exp":1.7e9,"nbf":-0,"iat":0}"#);
        assert_eq!(
            t,
            TimeClaims {
                iat_ms: Some(0),
                nbf_ms: Some(0),
                exp_ms: Some(1_700_000_000_000)
            }
        );
        assert_eq!(times("{}"), TimeClaims::default());
    }

    #[test]
    fn time_claim_errors_name_the_claim() {
        assert_eq!(
            payload_err(r#"{"exp":"1700000000"}"#),
            PeekError::InvalidClaimType { claim: "exp" }
        );
        assert_eq!(
            payload_err(r#"{"nbf":null}"#),
            PeekError::InvalidClaimType { claim: "nbf" }
        );
        assert_eq!(
            payload_err(r#"{"iat":true}"#),
            PeekError::InvalidClaimType { claim: "iat" }
        );
        assert_eq!(
            payload_err(r#"{"exp":-1}"#),
            PeekError::ClaimOutOfRange { claim: "exp" }
        );
        assert_eq!(
            payload_err(r#"{"exp":-0.5}"#),
            PeekError::ClaimOutOfRange { claim: "exp" }
        );
        assert_eq!(
            payload_err(r#"{"iat":9223372036854775808}"#),
            PeekError::ClaimOutOfRange { claim: "iat" }
        );
        assert_eq!(
            payload_err(r#"{"iat":18446744073709551616}"#),
            PeekError::ClaimOutOfRange { claim: "iat" }
        );
        assert_eq!(
            payload_err(r#"{"nbf":1e300}"#),
            PeekError::ClaimOutOfRange { claim: "nbf" }
        );
        assert_eq!(
            payload_err(r#"{"exp":1e400}"#),
            PeekError::InvalidJson {
                segment: Segment::Payload
            }
        );
        // Order: exp before nbf before iat.
        assert_eq!(
            payload_err(r#"{"iat":-1,"exp":"x"}"#),
            PeekError::InvalidClaimType { claim: "exp" }
        );
    }

    #[test]
    fn time_claims_works_on_any_map() {
        let map = serde_json::json!({"exp": 1_700_000_000u64, "nbf": 1_700_000_000.25, "x": "y"});
        let Value::Object(map) = map else {
            unreachable!()
        };
        assert_eq!(
            time_claims(&map),
            Ok(TimeClaims {
                iat_ms: None,
                nbf_ms: Some(1_700_000_000_250),
                exp_ms: Some(1_700_000_000_000)
            })
        );
    }

    #[test]
    fn duplicates_of_interpreted_members_are_rejected() {
        assert_eq!(
            payload_err(r#"{"exp":1,"sub":"a","exp":2}"#),
            PeekError::DuplicateClaim {
                segment: Segment::Payload,
                name: "exp"
            }
        );
        assert_eq!(
            payload_err(r#"{"\u0065xp":1,"exp":2}"#),
            PeekError::DuplicateClaim {
                segment: Segment::Payload,
                name: "exp"
            }
        );
        let e = peek(&token(r#"{"alg":"none","alg":"HS256"}"#, "{}")).unwrap_err();
        assert_eq!(
            e,
            PeekError::DuplicateClaim {
                segment: Segment::Header,
                name: "alg"
            }
        );
        // Uninterpreted members: last one wins, as serde_json does.
        let p = peek(&token(
            r#"{"alg":"HS256"}"#,
            r#"{"x":1,"x":2,"n":{"exp":1,"exp":2}}"#,
        ))
        .unwrap();
        assert_eq!(p.claims.get("x"), Some(&Value::from(2)));
        assert_eq!(p.times, TimeClaims::default());
    }

    #[test]
    fn framing() {
        let good = token(
            r#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#,
            r#"{"aud":["a","b"],"sub":"s"}"#,
        );
        let p = peek(&format!(" \tbEaReR \t{good}\r\n")).unwrap();
        assert_eq!(p.alg.as_deref(), Some("HS256"));
        assert_eq!(p.kid.as_deref(), Some("k1"));
        assert_eq!(p.typ.as_deref(), Some("JWT"));
        assert_eq!(p.aud, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(p.signature_len, 3);
        assert_eq!(
            peek("Bearer").unwrap_err(),
            PeekError::MalformedToken(Malformed::SegmentCount(1))
        );
        assert_eq!(
            peek(&format!("Bearer{good}")).unwrap_err(),
            PeekError::InvalidBase64 {
                segment: Segment::Header
            }
        );
        assert_eq!(
            peek("").unwrap_err(),
            PeekError::MalformedToken(Malformed::SegmentCount(1))
        );
        assert_eq!(
            peek("..").unwrap_err(),
            PeekError::MalformedToken(Malformed::EmptySegment(Segment::Header))
        );
        assert_eq!(
            peek("....").unwrap_err(),
            PeekError::MalformedToken(Malformed::EmptySegment(Segment::Header))
        );
        assert_eq!(peek("a.b.c.d.e").unwrap_err(), PeekError::EncryptedToken);
        assert_eq!(
            peek("a.b.c.d").unwrap_err(),
            PeekError::MalformedToken(Malformed::SegmentCount(4))
        );
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            peek(&huge).unwrap_err(),
            PeekError::TokenTooLarge {
                len: MAX_TOKEN_BYTES + 1
            }
        );
        assert_eq!(peek(&huge).unwrap_err().code(), "token_too_large");
    }

    #[test]
    fn depth_bomb_is_invalid_json_not_a_crash() {
        let bomb = format!(r#"{{"x":{}{}}}"#, "[".repeat(20_000), "]".repeat(20_000));
        let t = format!("eyJhbGciOiJIUzI1NiJ9.{}.", b64(bomb.as_bytes()));
        assert!(t.len() <= MAX_TOKEN_BYTES);
        assert_eq!(
            peek(&t).unwrap_err(),
            PeekError::InvalidJson {
                segment: Segment::Payload
            }
        );
    }

    #[test]
    fn debug_holds_no_raw_text_or_signature() {
        let t = token(
            r#"{"alg":"HS256"}"#,
            r#"{"secret_claim":"hunter2","sub":"s"}"#,
        );
        let p = peek(&t).unwrap();
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains("c2ln"), "{dbg}");
        assert!(dbg.contains("<2 members>"), "{dbg}");
        assert!(dbg.contains("sub: Some(\"s\")"), "{dbg}");
    }

    #[test]
    fn errors_have_codes_and_do_not_echo_input() {
        let e = payload_err(r#"{"exp":"SECRET123"}"#);
        assert_eq!(e.code(), "invalid_claim_type");
        assert_eq!(e.what(), Some("exp"));
        assert!(!e.to_string().contains("SECRET123"));
        assert_eq!(
            e.to_string(),
            "claim \"exp\" must be a JSON number (NumericDate)"
        );
        assert_eq!(PeekError::EncryptedToken.what(), None);
        assert_eq!(
            PeekError::InvalidBase64 {
                segment: Segment::Signature
            }
            .what(),
            Some("signature")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_string(s in "\\PC{0,300}") {
            let _ = peek(&s);
        }

        #[test]
        fn never_panics_on_any_decoded_bytes(header in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
                                              payload in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = peek(&format!("{}.{}.", b64(&header), b64(&payload)));
            let _ = peek(&format!("eyJhbGciOiJub25lIn0.{}.", b64(&payload)));
        }

        #[test]
        fn three_decimals_are_exact(secs in 0u64..=253_402_300_799, ms in 0u64..1000) {
            let p = format!(r#"{{"exp":{secs}.{ms:03},"nbf":{secs}.{ms:03},"iat":{secs}.{ms:03}}}"#);
            let want = i64::try_from(secs * 1000 + ms).unwrap();
            proptest::prop_assert_eq!(
                times(&p),
                TimeClaims { iat_ms: Some(want), nbf_ms: Some(want), exp_ms: Some(want) }
            );
        }

        #[test]
        fn four_decimals_round_outward(secs in 0u64..4_000_000_000, tenths in 0u64..10_000) {
            let p = format!(r#"{{"exp":{secs}.{tenths:04},"nbf":{secs}.{tenths:04}}}"#);
            let floor = i64::try_from(secs * 1000 + tenths / 10).unwrap();
            let ceil = floor + i64::from(tenths % 10 != 0);
            let t = times(&p);
            proptest::prop_assert_eq!(t.exp_ms, Some(floor));
            proptest::prop_assert_eq!(t.nbf_ms, Some(ceil));
        }
    }
}
