//! `Verifier`: the resource-server side. Checks a JWT's signature with pinned algorithms and a
//! key (secret, PEM, JWK or JWKS), then its `iss`/`aud` and time claims with a correctly-signed
//! leeway on an injected clock.
//!
//! # What each part does
//!
//! * **Parsing** is [`crate::peek::peek`]'s: the same framing, canonical base64url, JSON,
//!   duplicate-member and claim-type rules, and the same [`crate::peek::time_claims`]
//!   conversion of NumericDates to milliseconds, so the client and the verifier read one
//!   token string one way. The verifier additionally wants the bare compact token (no
//!   `Bearer ` prefix, no whitespace) because the signature covers the exact bytes.
//! * **`jsonwebtoken`** does the RSA/ECDSA/Ed25519 signature check and key handling only
//!   ([`jsonwebtoken::crypto::verify`] with a [`jsonwebtoken::DecodingKey`] built once, in
//!   [`Verifier::new`]); HMAC is the `hmac` crate's, with each secret absorbed once there.
//!   `jsonwebtoken`'s `decode`/`Validation` is never called, so none of its claim validation
//!   runs: it reads the system clock (no injection possible), defaults to 60 s of leeway, skips
//!   `nbf` by default and treats `exp` as valid for the whole second it falls in.
//! * **Time checks** are [`crate::rules`]: expired when `now − leeway ≥ exp`, not yet valid
//!   when `now + leeway < nbf`, issued in the future when `now + leeway < iat`. Leeway only
//!   ever makes a check more lenient.
//!
//! # Order of checks in [`Verifier::verify`]
//!
//! size → bare compact form → peek (structure, JSON, claim types) → `alg` pinned → no `crit`
//! → key selection (`kid`) → signature → required claims (`exp` unless
//! `require_exp = false`; `iat` when `max_age_ms` is set) → `iss` → `aud` → `exp` → `nbf` →
//! `iat` in the future → `max_age_ms`. The first failure is returned. Nothing about the claims
//! is reported before the signature has been checked, except that they parse.
//!
//! [`Verifier::verify`] is [`Verifier::prepare`] (everything up to key selection), the
//! signature, and [`Verifier::finish`] (everything after it); a host with faster native crypto
//! can check the signature itself between the two (see [`host`] for the contract).
//!
//! See `docs/verifier.md` for the rules in prose (leeway sign, `likely_clock_skew`, limits).

use core::fmt;
use core::str::FromStr;

use serde_json::{Map, Value};

use crate::peek::{PeekError, TimeClaims, MAX_TOKEN_BYTES};
use crate::rules::{is_expired, is_issued_in_future, is_not_yet_valid};
use crate::time::UnixMillis;
use crate::ErrorCode;

pub mod discovery;
pub mod host;
mod keys;
pub mod remote;

pub use host::{Curve, HostKey, Prepared, SignatureCheck};
use keys::{
    jwk_entry, jwks_entries, parse_key_document, pem_entry, secret_entry, KeyEntry, KeyKind,
};

/// Default leeway: 5 000 ms.
pub const DEFAULT_LEEWAY_MS: i64 = 5_000;
/// Largest leeway accepted unless [`VerifyOptions::allow_large_leeway`] is set: 30 000 ms.
pub const MAX_LEEWAY_MS: i64 = 30_000;
/// Largest leeway accepted even with [`VerifyOptions::allow_large_leeway`]: one day.
pub const MAX_ALLOWED_LARGE_LEEWAY_MS: i64 = 86_400_000;
/// Largest JWKS, JWK or PEM document accepted: 1 MiB.
pub const MAX_KEY_DOCUMENT_BYTES: usize = 1 << 20;
/// Most keys accepted in a JWKS document.
pub const MAX_JWKS_KEYS: usize = 100;
/// Shortest HMAC secret accepted, in bytes (RFC 7518 §3.2's minimum for HS256: 256 bits).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: u64 = 2048;
/// Largest RSA modulus accepted, in bits (the limit of the `rsa` crate behind `jsonwebtoken`).
pub const MAX_RSA_BITS: u64 = 4096;
/// `likely_clock_skew` threshold floor and cap (see [`skew_threshold_ms`]).
pub const SKEW_THRESHOLD_FLOOR_MS: i64 = 1_000;
/// `likely_clock_skew` threshold cap (see [`skew_threshold_ms`]).
pub const SKEW_THRESHOLD_CAP_MS: i64 = 60_000;

/// A JWS signature algorithm (RFC 7518 §3) that the verifier can be pinned to. `none` is not
/// one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The JOSE name (`"HS256"`, …, `"EdDSA"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm with this exact (case-sensitive) JOSE name; `None` for `none` and
    /// anything unsupported.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// HS256, HS384 or HS512.
    pub const fn is_hmac(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    const fn key_kind(self) -> KeyKind {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyKind::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyKind::Rsa,
            Algorithm::ES256 => KeyKind::EcP256,
            Algorithm::ES384 => KeyKind::EcP384,
            Algorithm::EdDSA => KeyKind::Ed25519,
        }
    }

    const fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = VerifyError;
    /// Parses a JOSE name; `none` and unknown names are `algorithm_not_allowed`.
    fn from_str(s: &str) -> Result<Self, VerifyError> {
        Algorithm::from_name(s).ok_or(VerifyError::AlgorithmNotAllowed { alg: None })
    }
}

/// Why a token or a configuration was rejected. Codes (from [`ErrorCode::code`]) are stable
/// and shared with the bindings. Nothing here carries token, key or claim text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// `expired`: `now − leeway ≥ exp`.
    Expired {
        /// How far past `exp` the verifier's clock is: `now − exp` (≥ leeway), in ms.
        by_ms: i64,
        /// The miss is small against the token's lifetime ([`skew_threshold_ms`]).
        likely_clock_skew: bool,
    },
    /// `not_yet_valid`: `now + leeway < nbf`.
    NotYetValid {
        /// How far before `nbf` the verifier's clock is: `nbf − now` (> leeway), in ms. The
        /// token becomes acceptable `valid_in_ms − leeway` ms from now.
        valid_in_ms: i64,
        /// The miss is small against the token's lifetime ([`skew_threshold_ms`]).
        likely_clock_skew: bool,
    },
    /// `issued_in_future`: `now + leeway < iat`.
    IssuedInFuture {
        /// How far before `iat` the verifier's clock is: `iat − now` (> leeway), in ms.
        by_ms: i64,
        /// The miss is small against the token's lifetime ([`skew_threshold_ms`]).
        likely_clock_skew: bool,
    },
    /// `too_old`: with `max_age_ms` set, `now − leeway ≥ iat + max_age_ms`.
    TooOld {
        /// How far past `iat + max_age_ms` the verifier's clock is, in ms (≥ leeway).
        by_ms: i64,
    },
    /// `invalid_signature`: the signature does not verify under the selected key.
    InvalidSignature,
    /// `algorithm_not_allowed`: the token's `alg` is `none`, unknown, or not pinned; or the
    /// options pinned no algorithm / an unknown one.
    AlgorithmNotAllowed {
        /// The token's algorithm when it is a supported one (`None` for `none`/unknown).
        alg: Option<Algorithm>,
    },
    /// `key_algorithm_mismatch`: the selected key cannot be used with the token's `alg` (wrong
    /// key type or curve — e.g. an RSA key for HS256 — or a JWK whose `alg` differs), or no
    /// key can serve any pinned algorithm.
    KeyAlgorithmMismatch {
        /// The algorithm asked for (`None` at configuration time).
        alg: Option<Algorithm>,
    },
    /// `unknown_kid`: the token's `kid` names no usable key (a JWKS entry skipped at
    /// construction — `use: enc`, `key_ops` without `verify`, an unsupported curve, refused
    /// material — counts as absent: the token chose it, so it is a token error); or the token
    /// has no `kid` and several keys could verify it.
    UnknownKid {
        /// Whether the token had a `kid` at all.
        kid_in_token: bool,
    },
    /// `malformed_token`: the token could not be parsed.
    MalformedToken {
        /// The [`PeekError`] code (`invalid_base64`, `invalid_json`, `duplicate_claim`,
        /// `invalid_claim_type`, `claim_out_of_range`, `encrypted_token`, `malformed_token`,
        /// …) or one of the verifier's own: `not_bare_token` (whitespace or a `Bearer`
        /// prefix: pass the bare token), `unsupported_crit` (a `crit` header).
        reason: &'static str,
        /// What was wrong (segment, header parameter or claim name), when known.
        what: Option<&'static str>,
    },
    /// `invalid_issuer`: `iss` differs from the configured issuer.
    InvalidIssuer,
    /// `invalid_audience`: `aud` contains none of the configured audiences, or the token has
    /// an `aud` and no audience is configured (RFC 7519 §4.1.3).
    InvalidAudience,
    /// `missing_claim`: a claim the options require is absent.
    MissingClaim {
        /// `"exp"`, `"iat"`, `"iss"` or `"aud"`.
        claim: &'static str,
    },
    /// `invalid_key`: a key could not be used (not PEM, a private key, too short a secret,
    /// RSA modulus outside 2048–4096 bits, an invalid curve point, …).
    InvalidKey {
        /// Why, in words that never quote the key.
        reason: &'static str,
    },
    /// `invalid_jwks`: the JWKS document is not usable as a whole.
    InvalidJwks {
        /// Why.
        reason: &'static str,
    },
    /// `leeway_too_large`: leeway above [`MAX_LEEWAY_MS`] without `allow_large_leeway`, or
    /// above [`MAX_ALLOWED_LARGE_LEEWAY_MS`].
    LeewayTooLarge {
        /// The leeway asked for.
        leeway_ms: i64,
    },
    /// `token_too_large`: the token is longer than [`MAX_TOKEN_BYTES`].
    TokenTooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// `invalid_config`: a negative leeway or `max_age_ms`, or no algorithm pinned.
    InvalidConfig {
        /// The option at fault.
        what: &'static str,
    },
}

impl ErrorCode for VerifyError {
    fn code(&self) -> &'static str {
        match self {
            VerifyError::Expired { .. } => "expired",
            VerifyError::NotYetValid { .. } => "not_yet_valid",
            VerifyError::IssuedInFuture { .. } => "issued_in_future",
            VerifyError::TooOld { .. } => "too_old",
            VerifyError::InvalidSignature => "invalid_signature",
            VerifyError::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            VerifyError::KeyAlgorithmMismatch { .. } => "key_algorithm_mismatch",
            VerifyError::UnknownKid { .. } => "unknown_kid",
            VerifyError::MalformedToken { .. } => "malformed_token",
            VerifyError::InvalidIssuer => "invalid_issuer",
            VerifyError::InvalidAudience => "invalid_audience",
            VerifyError::MissingClaim { .. } => "missing_claim",
            VerifyError::InvalidKey { .. } => "invalid_key",
            VerifyError::InvalidJwks { .. } => "invalid_jwks",
            VerifyError::LeewayTooLarge { .. } => "leeway_too_large",
            VerifyError::TokenTooLarge { .. } => "token_too_large",
            VerifyError::InvalidConfig { .. } => "invalid_config",
        }
    }
}

impl VerifyError {
    /// Whether this is a time-claim rejection that is probably explained by clock skew
    /// between the issuer and this verifier (see [`skew_threshold_ms`]).
    pub const fn likely_clock_skew(&self) -> bool {
        match *self {
            VerifyError::Expired {
                likely_clock_skew, ..
            }
            | VerifyError::NotYetValid {
                likely_clock_skew, ..
            }
            | VerifyError::IssuedInFuture {
                likely_clock_skew, ..
            } => likely_clock_skew,
            _ => false,
        }
    }
}

fn skew_note(likely: bool) -> &'static str {
    if likely {
        " (likely clock skew)"
    } else {
        ""
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VerifyError::Expired { by_ms, likely_clock_skew } => {
                write!(f, "token expired {by_ms} ms ago{}", skew_note(likely_clock_skew))
            }
            VerifyError::NotYetValid { valid_in_ms, likely_clock_skew } => write!(
                f,
                "token not valid before nbf, {valid_in_ms} ms from now{}",
                skew_note(likely_clock_skew)
            ),
            VerifyError::IssuedInFuture { by_ms, likely_clock_skew } => write!(
                f,
                "token issued {by_ms} ms in the future{}",
                skew_note(likely_clock_skew)
            ),
            VerifyError::TooOld { by_ms } => {
                write!(f, "token older than max_age by {by_ms} ms")
            }
            VerifyError::InvalidSignature => f.write_str("token signature is invalid"),
            VerifyError::AlgorithmNotAllowed { alg: Some(alg) } => {
                write!(f, "token algorithm {alg} is not allowed by this verifier")
            }
            VerifyError::AlgorithmNotAllowed { alg: None } => {
                f.write_str("algorithm is none or unsupported; never allowed")
            }
            VerifyError::KeyAlgorithmMismatch { alg: Some(alg) } => {
                write!(f, "the selected key cannot verify {alg} (wrong key type, curve or JWK alg)")
            }
            VerifyError::KeyAlgorithmMismatch { alg: None } => {
                f.write_str("no configured key can be used with any pinned algorithm")
            }
            VerifyError::UnknownKid { kid_in_token: true } => {
                f.write_str("token kid matches no usable key in the key set")
            }
            VerifyError::UnknownKid { kid_in_token: false } => {
                f.write_str("token has no kid and several keys could verify it")
            }
            VerifyError::MalformedToken { reason, what: Some(what) } => {
                write!(f, "malformed token: {reason} ({what})")
            }
            VerifyError::MalformedToken { reason, what: None } => {
                write!(f, "malformed token: {reason}")
            }
            VerifyError::InvalidIssuer => f.write_str("token iss does not match the expected issuer"),
            VerifyError::InvalidAudience => {
                f.write_str("token aud does not contain an expected audience")
            }
            VerifyError::MissingClaim { claim } => write!(f, "token lacks required claim \"{claim}\""),
            VerifyError::InvalidKey { reason } => write!(f, "invalid key: {reason}"),
            VerifyError::InvalidJwks { reason } => write!(f, "invalid JWKS: {reason}"),
            VerifyError::LeewayTooLarge { leeway_ms } => write!(
                f,
                "leeway {leeway_ms} ms is too large (limit {MAX_LEEWAY_MS} ms unless allow_large_leeway, \
                 {MAX_ALLOWED_LARGE_LEEWAY_MS} ms in any case)"
            ),
            VerifyError::TokenTooLarge { len } => {
                write!(f, "token is {len} bytes, more than the limit of {MAX_TOKEN_BYTES}")
            }
            VerifyError::InvalidConfig { what } => write!(f, "invalid verifier option: {what}"),
        }
    }
}

impl std::error::Error for VerifyError {}

fn from_peek(e: PeekError) -> VerifyError {
    match e {
        PeekError::TokenTooLarge { len } => VerifyError::TokenTooLarge { len },
        other => VerifyError::MalformedToken {
            reason: other.code(),
            what: other.what(),
        },
    }
}

/// The token a host received as bytes (a Python `bytes`, a JS `Uint8Array` of UTF-8), as the
/// text [`Verifier::verify`] takes: longer than [`MAX_TOKEN_BYTES`] is `token_too_large`,
/// not UTF-8 (e.g. a Python `str` with a lone surrogate, encoded with `surrogatepass`) is
/// `malformed_token` with `reason: "invalid_utf8"`. Either way a token error, never a host
/// exception: anyone can send such bytes.
pub fn token_text(bytes: &[u8]) -> Result<&str, VerifyError> {
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::TokenTooLarge { len: bytes.len() });
    }
    core::str::from_utf8(bytes).map_err(|_| VerifyError::MalformedToken {
        reason: "invalid_utf8",
        what: Some("token"),
    })
}

/// What a host answers for a token that is not text at all (a JS number, `null`, an object;
/// a Python `None`): `malformed_token` with `reason: "not_a_string"`, a token error like any
/// other unparseable token, so a handler that catches token errors answers 401.
pub const TOKEN_NOT_A_STRING: VerifyError = VerifyError::MalformedToken {
    reason: "not_a_string",
    what: Some("token"),
};

/// The `likely_clock_skew` threshold for a token: `clamp(lifetime / 10, 1 s, 60 s)` where
/// `lifetime = exp − (nbf, else iat)`; 1 s when the lifetime is unknown (no `exp`, or neither
/// `nbf` nor `iat`, or not positive). A time-claim miss (`by_ms` / `valid_in_ms`) at or below
/// the threshold is flagged `likely_clock_skew`.
pub fn skew_threshold_ms(times: &TimeClaims) -> i64 {
    let lifetime = match (times.exp_ms, times.nbf_ms.or(times.iat_ms)) {
        (Some(exp), Some(start)) if exp > start => Some(exp.saturating_sub(start)),
        _ => None,
    };
    match lifetime {
        Some(l) => (l / 10).clamp(SKEW_THRESHOLD_FLOOR_MS, SKEW_THRESHOLD_CAP_MS),
        None => SKEW_THRESHOLD_FLOOR_MS,
    }
}

/// Where the verification key(s) come from. `Debug` never prints key material.
#[derive(Clone, Copy)]
pub enum KeySource<'a> {
    /// An HMAC secret (raw bytes, at least [`MIN_HMAC_SECRET_BYTES`]). Key material of another
    /// kind is refused (`invalid_key`), at least what PyJWT's `HMACAlgorithm.prepare_key`
    /// refuses: a PEM block (also after a UTF-8 BOM or whitespace), an OpenSSH public key, a
    /// DER public key, certificate or private key, a JWK/JWKS JSON document. That stops the
    /// classic RS256 → HS256 confusion.
    Secret(&'a [u8]),
    /// Key bytes whose kind the pinned algorithms decide, as PyJWT's `key=` does: a
    /// [`KeySource::Secret`] when any HMAC algorithm (HS256/384/512) is pinned, otherwise a
    /// [`KeySource::Pem`] (a PEM public key or certificate given as bytes). With both kinds
    /// pinned, a public key is therefore refused as a secret: pass it as `Pem`.
    Bytes(&'a [u8]),
    /// One PEM public key: `PUBLIC KEY` (SubjectPublicKeyInfo: RSA, P-256, P-384 or Ed25519),
    /// `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE` (only its public key is used; the
    /// certificate's validity and chain are not checked). Private keys are refused.
    Pem(&'a [u8]),
    /// One JWK (JSON text): `kty` `oct`, `RSA`, `EC` (P-256/P-384) or `OKP` (Ed25519). A token
    /// `kid` is only compared when the JWK has one too (a mismatch is `unknown_kid`); a JWK
    /// `alg` restricts the key to that algorithm.
    Jwk(&'a str),
    /// A JWKS document (JSON text, `{"keys": [...]}`), at most [`MAX_KEY_DOCUMENT_BYTES`] and
    /// [`MAX_JWKS_KEYS`] keys. Keys that cannot verify signatures (`use` ≠ `sig`, `key_ops`
    /// without `verify`, an encryption or unknown `alg`, unsupported `kty`/curve, invalid
    /// material) are skipped; at least one must remain. A token with a `kid` uses the usable
    /// keys with that `kid` (`unknown_kid` if none — a `kid` naming a skipped entry included:
    /// anyone can send such a token, so it is a token error, never a configuration error); a
    /// token without one uses the only key that fits its algorithm (`unknown_kid` if several
    /// do), so a set of one key needs no `kid`s.
    Jwks(&'a str),
}

impl fmt::Debug for KeySource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, len) = match self {
            KeySource::Secret(s) => ("Secret", s.len()),
            KeySource::Bytes(b) => ("Bytes", b.len()),
            KeySource::Pem(p) => ("Pem", p.len()),
            KeySource::Jwk(j) => ("Jwk", j.len()),
            KeySource::Jwks(j) => ("Jwks", j.len()),
        };
        write!(f, "KeySource::{kind}(<{len} bytes>)")
    }
}

/// Verifier options. Build with [`VerifyOptions::new`] and set fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The algorithms a token may use (pinned). Must not be empty.
    pub algorithms: Vec<Algorithm>,
    /// Leeway in ms for `exp`, `nbf`, `iat` and `max_age_ms` (default [`DEFAULT_LEEWAY_MS`]).
    /// Must be ≥ 0 and ≤ [`MAX_LEEWAY_MS`] unless `allow_large_leeway`.
    pub leeway_ms: i64,
    /// Allow a leeway above [`MAX_LEEWAY_MS`] (up to [`MAX_ALLOWED_LARGE_LEEWAY_MS`]).
    pub allow_large_leeway: bool,
    /// Expected `iss` (exact, case-sensitive match). `None`: not checked.
    pub issuer: Option<String>,
    /// Accepted audiences: the token's `aud` (string or array) must contain one of them.
    /// Empty: the token must not carry a non-empty `aud` (RFC 7519 §4.1.3).
    pub audience: Vec<String>,
    /// Maximum token age from `iat` in ms: too old when `now − leeway ≥ iat + max_age_ms`.
    /// Requires `iat`. `None`: not checked.
    pub max_age_ms: Option<i64>,
    /// Require `exp` (default `true`; a token without `exp` is `missing_claim`).
    pub require_exp: bool,
}

impl VerifyOptions {
    /// Options pinning `algorithms`, with the defaults: 5 s leeway, no issuer or audience
    /// check, no max age, `exp` required.
    pub fn new(algorithms: &[Algorithm]) -> Self {
        VerifyOptions {
            algorithms: algorithms.to_vec(),
            leeway_ms: DEFAULT_LEEWAY_MS,
            allow_large_leeway: false,
            issuer: None,
            audience: Vec::new(),
            max_age_ms: None,
            require_exp: true,
        }
    }

    fn validate(&self) -> Result<(), VerifyError> {
        if self.algorithms.is_empty() {
            return Err(VerifyError::InvalidConfig {
                what: "algorithms (none pinned)",
            });
        }
        if self.leeway_ms < 0 {
            return Err(VerifyError::InvalidConfig {
                what: "leeway_ms (negative)",
            });
        }
        let limit = if self.allow_large_leeway {
            MAX_ALLOWED_LARGE_LEEWAY_MS
        } else {
            MAX_LEEWAY_MS
        };
        if self.leeway_ms > limit {
            return Err(VerifyError::LeewayTooLarge {
                leeway_ms: self.leeway_ms,
            });
        }
        if self.max_age_ms.is_some_and(|m| m < 0) {
            return Err(VerifyError::InvalidConfig {
                what: "max_age_ms (negative)",
            });
        }
        Ok(())
    }
}

/// A successfully verified token.
#[derive(Clone, PartialEq)]
pub struct Verified {
    /// The header's `alg`.
    pub alg: Algorithm,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// All claims, as parsed.
    pub claims: Map<String, Value>,
    /// `iat`/`nbf`/`exp` in ms (see [`crate::peek::time_claims`] for the rounding).
    pub times: TimeClaims,
    /// The payload segment decoded: the JSON text `claims` was parsed from, as the token has
    /// it (member order, number spelling). A host whose JSON parser keeps the last of
    /// duplicate members (JavaScript's `JSON.parse`) builds its claims object from it without
    /// a second serialization.
    pub claims_json: String,
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("claims", &format_args!("<{} members>", self.claims.len()))
            .field("times", &self.times)
            .finish()
    }
}

/// Verifies JWTs. Built once (keys are parsed and checked in [`Verifier::new`]), then
/// [`verify`](Verifier::verify) any number of tokens; `Send + Sync`, no interior mutability.
#[derive(Clone)]
pub struct Verifier {
    options: VerifyOptions,
    keys: Vec<KeyEntry>,
    /// JWKS entries left out because they cannot verify signatures (shown by `Debug`).
    skipped: usize,
    /// Secret, PEM or a single JWK: the token's `kid` is only compared when both have one.
    single: bool,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| match &k.kid {
                Some(kid) => format!("{kid}:{}", k.kind.name()),
                None => k.kind.name().to_owned(),
            })
            .collect();
        f.debug_struct("Verifier")
            .field("algorithms", &self.options.algorithms)
            .field("keys", &keys)
            .field("skipped_keys", &self.skipped)
            .field("leeway_ms", &self.options.leeway_ms)
            .field("issuer", &self.options.issuer)
            .field("audience", &self.options.audience)
            .field("max_age_ms", &self.options.max_age_ms)
            .field("require_exp", &self.options.require_exp)
            .finish()
    }
}

impl Verifier {
    /// Builds a verifier: validates the options, parses and checks every key once.
    ///
    /// Errors: `invalid_config`, `leeway_too_large`, `invalid_key`, `invalid_jwks`, and
    /// `key_algorithm_mismatch` when no key can serve any pinned algorithm.
    pub fn new(key: KeySource<'_>, options: VerifyOptions) -> Result<Verifier, VerifyError> {
        crate::ensure_crypto_provider();
        options.validate()?;
        let mut options = options;
        let mut seen = Vec::with_capacity(options.algorithms.len());
        options.algorithms.retain(|a| {
            let fresh = !seen.contains(a);
            seen.push(*a);
            fresh
        });
        let key = match key {
            KeySource::Bytes(bytes) if options.algorithms.iter().any(|a| a.is_hmac()) => {
                KeySource::Secret(bytes)
            }
            KeySource::Bytes(bytes) => KeySource::Pem(bytes),
            other => other,
        };
        let (keys, skipped, single) = match key {
            KeySource::Secret(secret) | KeySource::Bytes(secret) => {
                (vec![secret_entry(secret)?], 0, true)
            }
            KeySource::Pem(pem) => (vec![pem_entry(pem)?], 0, true),
            KeySource::Jwk(text) => {
                let value = parse_key_document(text, |reason| VerifyError::InvalidKey { reason })?;
                (vec![jwk_entry(&value)?], 0, true)
            }
            KeySource::Jwks(text) => {
                let (keys, skipped) = jwks_entries(text)?;
                (keys, skipped, false)
            }
        };
        if !keys
            .iter()
            .any(|k| options.algorithms.iter().any(|a| k.supports(*a)))
        {
            return Err(VerifyError::KeyAlgorithmMismatch { alg: None });
        }
        Ok(Verifier {
            options,
            keys,
            skipped,
            single,
        })
    }

    /// The options in force (algorithms deduplicated).
    pub fn options(&self) -> &VerifyOptions {
        &self.options
    }

    /// The pinned algorithms.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.options.algorithms
    }

    /// The `kid`s of the usable keys, in document order (keys without a `kid` are left out).
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref()).collect()
    }

    /// Number of usable keys.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Verifies `token` (the bare compact JWS) at the verifier's wall-clock time `now`.
    /// See the module docs for the order of checks: [`Verifier::prepare`], core's own
    /// signature check ([`Verifier::check_signature`]), [`Verifier::finish`].
    pub fn verify(&self, token: &str, now: UnixMillis) -> Result<Verified, VerifyError> {
        let prepared = self.prepare_with(token, crate::peek::Members::All)?;
        self.check_signature(&prepared, token)?;
        self.finish(prepared, SignatureCheck::Valid, now)
    }
}

/// Core's check of one signature under one key: HMAC with the key's prepared state, the rest
/// with `jsonwebtoken` (`signature` is the encoded segment, `tag` the same decoded).
fn verify_with(
    entry: &KeyEntry,
    alg: Algorithm,
    message: &[u8],
    signature: &str,
    tag: &[u8],
) -> Result<(), VerifyError> {
    if let Some(valid) = entry.mac.as_ref().and_then(|m| m.verify(alg, message, tag)) {
        return if valid {
            Ok(())
        } else {
            Err(VerifyError::InvalidSignature)
        };
    }
    match jsonwebtoken::crypto::verify(signature, message, &entry.key, alg.to_jwt()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(VerifyError::InvalidSignature),
        // The signature segment was already checked as base64url by peek, and keys were
        // probed in `Verifier::new`: only a key the backend still refuses lands here.
        Err(_) => Err(VerifyError::InvalidKey {
            reason: "the signature backend refused the key",
        }),
    }
}

/// The time checks, in the order exp, nbf, iat-in-future, max age.
fn check_times(
    times: &TimeClaims,
    now: i64,
    leeway: i64,
    max_age: Option<i64>,
) -> Result<(), VerifyError> {
    let threshold = skew_threshold_ms(times);
    if let Some(exp) = times.exp_ms {
        if is_expired(now, exp, leeway) {
            let by_ms = now.saturating_sub(exp);
            return Err(VerifyError::Expired {
                by_ms,
                likely_clock_skew: by_ms <= threshold,
            });
        }
    }
    if let Some(nbf) = times.nbf_ms {
        if is_not_yet_valid(now, nbf, leeway) {
            let valid_in_ms = nbf.saturating_sub(now);
            return Err(VerifyError::NotYetValid {
                valid_in_ms,
                likely_clock_skew: valid_in_ms <= threshold,
            });
        }
    }
    if let Some(iat) = times.iat_ms {
        if is_issued_in_future(now, iat, leeway) {
            let by_ms = iat.saturating_sub(now);
            return Err(VerifyError::IssuedInFuture {
                by_ms,
                likely_clock_skew: by_ms <= threshold,
            });
        }
        if let Some(max_age) = max_age {
            let limit = iat.saturating_add(max_age);
            if is_expired(now, limit, leeway) {
                return Err(VerifyError::TooOld {
                    by_ms: now.saturating_sub(limit),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keys::{bit_len, check_secret, pem_label};

    #[test]
    fn skew_threshold_rule() {
        let t = |iat: Option<i64>, nbf: Option<i64>, exp: Option<i64>| {
            skew_threshold_ms(&TimeClaims {
                iat_ms: iat,
                nbf_ms: nbf,
                exp_ms: exp,
            })
        };
        assert_eq!(t(Some(0), None, Some(3_600_000)), 60_000);
        assert_eq!(t(Some(0), None, Some(300_000)), 30_000);
        assert_eq!(t(Some(0), None, Some(5_000)), 1_000);
        assert_eq!(t(Some(0), Some(100_000), Some(300_000)), 20_000); // nbf wins over iat
        assert_eq!(t(None, None, Some(300_000)), 1_000);
        assert_eq!(t(Some(0), None, None), 1_000);
        assert_eq!(t(Some(10), None, Some(10)), 1_000);
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0, 0x80, 0]), 16);
        assert_eq!(bit_len(&[1, 0, 1]), 17);
    }

    #[test]
    fn pem_labels() {
        assert_eq!(
            pem_label(b"x\n-----BEGIN PUBLIC KEY-----\nAA\n"),
            Some(&b"PUBLIC KEY"[..])
        );
        assert_eq!(pem_label(b"-----BEGIN "), None);
        assert_eq!(pem_label(b"nothing"), None);
    }

    #[test]
    fn secret_rules() {
        assert_eq!(check_secret(&[7u8; 31]).unwrap_err().code(), "invalid_key");
        assert!(check_secret(&[7u8; 32]).is_ok());
        let pem = b"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n";
        assert_eq!(check_secret(pem).unwrap_err().code(), "invalid_key");
    }

    #[test]
    fn token_bytes_are_token_errors() {
        assert_eq!(token_text(b"a.b.c"), Ok("a.b.c"));
        let not_utf8 = token_text(b"a.\xed\xa0\x80.c").unwrap_err();
        assert_eq!(not_utf8.code(), "malformed_token");
        assert!(matches!(
            not_utf8,
            VerifyError::MalformedToken {
                reason: "invalid_utf8",
                ..
            }
        ));
        let big = vec![b'a'; MAX_TOKEN_BYTES + 1];
        assert_eq!(token_text(&big).unwrap_err().code(), "token_too_large");
        assert_eq!(TOKEN_NOT_A_STRING.code(), "malformed_token");
    }

    #[test]
    fn secrets_that_only_start_like_key_material_are_secrets() {
        for s in [
            &b"{not json: just a long secret, 0123456789}"[..],
            b"[1, 2, 3] is a list but also a long enough secret",
            b"ssh-agent-passphrase-0123456789abcdefghij",
            b"sk-proj-0123456789abcdefghijklmnopqrstuvwxyz",
            b"0\x20\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07",
        ] {
            assert_eq!(check_secret(s), Ok(()), "{s:?}");
        }
        for s in [
            &b"\xef\xbb\xbf-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"[..],
            b"ecdsa-sha2-nistp999@example.com AAAAE2VjZHNhLXNoYTItbmlzdHA",
            b"  {\"keys\": [], \"padding\": \"0123456789\"}",
            b"[{\"kty\": \"oct\", \"k\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]",
        ] {
            assert_eq!(check_secret(s).unwrap_err().code(), "invalid_key", "{s:?}");
        }
    }

    #[test]
    fn options_are_validated() {
        let mut o = VerifyOptions::new(&[Algorithm::HS256]);
        o.leeway_ms = 30_001;
        assert_eq!(
            o.validate(),
            Err(VerifyError::LeewayTooLarge { leeway_ms: 30_001 })
        );
        o.allow_large_leeway = true;
        assert_eq!(o.validate(), Ok(()));
        o.leeway_ms = MAX_ALLOWED_LARGE_LEEWAY_MS + 1;
        assert_eq!(o.validate().unwrap_err().code(), "leeway_too_large");
        o.leeway_ms = -1;
        assert_eq!(o.validate().unwrap_err().code(), "invalid_config");
        let o = VerifyOptions::new(&[]);
        assert_eq!(o.validate().unwrap_err().code(), "invalid_config");
    }

    #[test]
    fn ed25519_short_key_is_an_error_not_a_panic() {
        let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#;
        let err = Verifier::new(KeySource::Jwk(jwk), VerifyOptions::new(&[Algorithm::EdDSA]))
            .unwrap_err();
        assert_eq!(
            err,
            VerifyError::InvalidKey {
                reason: "Ed25519 public key must be 32 bytes"
            }
        );
    }
}
