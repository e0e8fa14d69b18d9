//! A token record that crosses machines: how a fleet shares one token.
//!
//! A record never carries a deadline in the writer's local time. Its deadlines are on the
//! **issuer's clock** — from `exp`, and from the token endpoint's clock at the request plus
//! `expires_in` — so every reader maps them into its own local time through its *own* skew
//! estimate, worst case ([`crate::session::Session::adopt_record`]).
//!
//! A record belongs to one [`CredentialIdentity`](crate::identity::CredentialIdentity): it
//! carries the identity's hash, its store key is derived from it ([`store_key`]), and a reader
//! adopts only a record of its own identity. Records of user-delegated grants also carry the
//! current refresh token, and must be sealed ([`seal`]).
//!
//! Wire format (version 2), one line of ASCII:
//!
//! ```text
//! tcr2.<base64url(JSON)>.<hex(SHA-256(JSON))[..32]>
//! ```
//!
//! The checksum catches a truncated or half-written value; it is not authentication (anyone
//! who can write the store can recompute it). A record that fails any check is an error, and
//! callers ignore it: never trusted, never half-used.

use crate::oauth::Secret;
use crate::time::MAX_UNIX_MILLIS;
use crate::ErrorCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use core::fmt;
use sha2::{Digest, Sha256};

/// The record format version this crate writes and reads.
pub const RECORD_VERSION: u32 = 2;

/// Largest encoded record accepted (a token is at most 64 KiB; the rest is small).
pub const MAX_RECORD_BYTES: usize = 96 * 1024;

const PREFIX: &str = "tcr2.";

/// A token and its lifetime, in the issuer's clock, for another process to adopt.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Identifies the token without revealing it: hex of the first 16 bytes of its SHA-256.
    pub token_id: String,
    /// The access token.
    pub access_token: Secret,
    /// The credential identity it was issued to (64 hex characters,
    /// [`CredentialIdentity`](crate::identity::CredentialIdentity)'s `Display`).
    pub identity: String,
    /// The current refresh token, for user-delegated grants (then the record must be sealed).
    pub refresh_token: Option<Secret>,
    /// The earliest instant, on the issuer's clock (ms), at which the token may stop being
    /// valid: `min(exp, issuer time at the request + expires_in)`.
    pub deadline_ms: i64,
    /// How much later than `deadline_ms` it may really be (the writer's uncertainty about the
    /// issuer's clock; informational, readers use `deadline_ms`).
    pub deadline_slack_ms: i64,
    /// `exp` (issuer clock, ms), when the token is a JWT.
    pub exp_ms: Option<i64>,
    /// `nbf`.
    pub nbf_ms: Option<i64>,
    /// `iat`.
    pub iat_ms: Option<i64>,
    /// The writer's lease fencing token (0 when written outside a lease).
    pub fencing: u64,
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("token_id", &self.token_id)
            .field("identity", &self.identity)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("deadline_ms", &self.deadline_ms)
            .field("exp_ms", &self.exp_ms)
            .field("fencing", &self.fencing)
            .finish_non_exhaustive()
    }
}

/// A record could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// Longer than [`MAX_RECORD_BYTES`].
    TooLarge,
    /// Not `tcr2.<payload>.<checksum>`, bad base64, not JSON, a missing or mistyped field
    /// (names it).
    Malformed(&'static str),
    /// Written by another format version.
    UnsupportedVersion,
    /// The checksum does not match: truncated, half-written or tampered.
    Checksum,
    /// A time value is out of range or inconsistent (names it).
    OutOfRange(&'static str),
    /// The record is encrypted and no key was given.
    Encrypted,
    /// A key was given but the record is in clear (a reader with a key trusts only sealed
    /// records).
    NotEncrypted,
    /// The sealed record does not open with this key and store key: another key, another
    /// credential's record, or tampered.
    Decrypt,
}

impl ErrorCode for RecordError {
    fn code(&self) -> &'static str {
        match self {
            RecordError::TooLarge => "record_too_large",
            RecordError::Malformed(_) => "record_malformed",
            RecordError::UnsupportedVersion => "record_version",
            RecordError::Checksum => "record_checksum",
            RecordError::OutOfRange(_) => "record_out_of_range",
            RecordError::Encrypted => "record_encrypted",
            RecordError::NotEncrypted => "record_not_encrypted",
            RecordError::Decrypt => "record_decrypt",
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::TooLarge => write!(f, "token record larger than {MAX_RECORD_BYTES} bytes"),
            RecordError::Malformed(what) => write!(f, "malformed token record: {what}"),
            RecordError::UnsupportedVersion => {
                f.write_str("token record of another format version")
            }
            RecordError::Checksum => {
                f.write_str("token record checksum mismatch (truncated or tampered)")
            }
            RecordError::OutOfRange(what) => write!(f, "token record: {what} out of range"),
            RecordError::Encrypted => f.write_str("token record is encrypted and no key was given"),
            RecordError::NotEncrypted => {
                f.write_str("token record is not encrypted but a key was given")
            }
            RecordError::Decrypt => f.write_str(
                "token record does not decrypt with this key (wrong key, other credential or tampered)",
            ),
        }
    }
}

impl std::error::Error for RecordError {}

/// The id of a token: hex of the first 16 bytes of its SHA-256. Safe to log.
pub fn token_id(access_token: &str) -> String {
    hex(&Sha256::digest(access_token.as_bytes())[..16])
}

/// The store key for a credential identity: `<prefix>:token:v2:{<identity>}`. The identity is
/// a hash that holds no secret, and distinct identities never share a key.
pub fn store_key(prefix: &str, identity: &crate::identity::CredentialIdentity) -> String {
    // The identity is a Redis Cluster hash tag (`{...}`): the record, its lease and its fencing
    // counter ([`crate::fleet::StoreKeys`]) live in one slot, so one script can touch them all.
    format!("{prefix}:token:v{RECORD_VERSION}:{{{identity}}}")
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn checksum(json: &[u8]) -> String {
    hex(&Sha256::digest(json)[..16])
}

impl TokenRecord {
    /// Encodes the record (see the module docs for the format).
    pub fn encode(&self) -> String {
        let mut o = serde_json::Map::new();
        o.insert("v".into(), RECORD_VERSION.into());
        o.insert("token_id".into(), self.token_id.clone().into());
        o.insert("access_token".into(), self.access_token.expose().into());
        o.insert("identity".into(), self.identity.clone().into());
        o.insert(
            "refresh_token".into(),
            self.refresh_token.as_ref().map(Secret::expose).into(),
        );
        o.insert("deadline_ms".into(), self.deadline_ms.into());
        o.insert("deadline_slack_ms".into(), self.deadline_slack_ms.into());
        o.insert("exp_ms".into(), self.exp_ms.into());
        o.insert("nbf_ms".into(), self.nbf_ms.into());
        o.insert("iat_ms".into(), self.iat_ms.into());
        o.insert("fencing".into(), self.fencing.into());
        let json = serde_json::Value::Object(o).to_string();
        format!(
            "{PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(json.as_bytes()),
            checksum(json.as_bytes())
        )
    }

    /// Decodes and checks a record. Any failure is an error: the caller ignores the record.
    pub fn decode(s: &str) -> Result<TokenRecord, RecordError> {
        if s.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge);
        }
        let rest = s.strip_prefix(PREFIX).ok_or_else(|| {
            if s.starts_with("tcr") {
                RecordError::UnsupportedVersion
            } else {
                RecordError::Malformed("prefix")
            }
        })?;
        let (payload, sum) = rest
            .split_once('.')
            .ok_or(RecordError::Malformed("layout"))?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| RecordError::Malformed("base64"))?;
        if checksum(&json) != sum {
            return Err(RecordError::Checksum);
        }
        let v: serde_json::Value =
            serde_json::from_slice(&json).map_err(|_| RecordError::Malformed("json"))?;
        let o = v
            .as_object()
            .ok_or(RecordError::Malformed("not an object"))?;
        if o.get("v").and_then(serde_json::Value::as_u64) != Some(u64::from(RECORD_VERSION)) {
            return Err(RecordError::UnsupportedVersion);
        }
        let text = |k: &'static str| {
            o.get(k)
                .and_then(serde_json::Value::as_str)
                .ok_or(RecordError::Malformed(k))
        };
        let opt_text = |k: &'static str| match o.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(RecordError::Malformed(k)),
        };
        let time = |k: &'static str| match o.get(k).and_then(serde_json::Value::as_i64) {
            Some(t) if (0..=MAX_UNIX_MILLIS).contains(&t) => Ok(t),
            Some(_) => Err(RecordError::OutOfRange(k)),
            None => Err(RecordError::Malformed(k)),
        };
        let opt_time = |k: &'static str| match o.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(_) => time(k).map(Some),
        };
        let access_token = text("access_token")?;
        // The same character rules as a token response: the token goes into a header.
        if !crate::oauth::is_valid_access_token(access_token) {
            return Err(RecordError::Malformed("access_token"));
        }
        let token_id = text("token_id")?;
        if token_id != self::token_id(access_token) {
            return Err(RecordError::Malformed("token_id"));
        }
        let identity = text("identity")?;
        if identity.len() != 64
            || !identity
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(RecordError::Malformed("identity"));
        }
        let refresh_token = match opt_text("refresh_token")? {
            Some(rt) if crate::oauth::is_valid_refresh_token(&rt) => Some(Secret::new(rt)),
            Some(_) => return Err(RecordError::Malformed("refresh_token")),
            None => None,
        };
        let slack = o
            .get("deadline_slack_ms")
            .and_then(serde_json::Value::as_i64)
            .ok_or(RecordError::Malformed("deadline_slack_ms"))?;
        if !(0..=crate::lifetime::MAX_LIFETIME_MS).contains(&slack) {
            return Err(RecordError::OutOfRange("deadline_slack_ms"));
        }
        let rec = TokenRecord {
            token_id: token_id.to_owned(),
            access_token: Secret::new(access_token),
            identity: identity.to_owned(),
            refresh_token,
            deadline_ms: time("deadline_ms")?,
            deadline_slack_ms: slack,
            exp_ms: opt_time("exp_ms")?,
            nbf_ms: opt_time("nbf_ms")?,
            iat_ms: opt_time("iat_ms")?,
            fencing: o
                .get("fencing")
                .and_then(serde_json::Value::as_u64)
                .ok_or(RecordError::Malformed("fencing"))?,
        };
        if rec.exp_ms.is_some_and(|e| rec.deadline_ms > e) {
            return Err(RecordError::OutOfRange("deadline_ms after exp_ms"));
        }
        Ok(rec)
    }
}

/// The prefix of a sealed (encrypted) record.
pub const SEALED_PREFIX: &str = "tce1.";

/// A 256-bit key for sealing records at rest. Its `Debug` is redacted; it is zeroed on drop.
#[derive(Clone)]
pub struct RecordKey([u8; 32]);

impl RecordKey {
    /// A key from exactly 32 bytes (`None` for any other length).
    pub fn new(bytes: &[u8]) -> Option<RecordKey> {
        <[u8; 32]>::try_from(bytes).ok().map(RecordKey)
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordKey(<redacted>)")
    }
}

impl Drop for RecordKey {
    fn drop(&mut self) {
        // Not a guaranteed wipe (no volatile writes under `forbid(unsafe_code)`), but the key
        // does not linger in the freed allocation in the common case.
        self.0 = [0; 32];
        core::hint::black_box(&self.0);
    }
}

/// Seals an encoded record with AES-256-GCM: `tce1.<base64url(nonce ‖ ciphertext ‖ tag)>`.
/// The store key is the associated data, so a sealed record moved under another credential's
/// key does not open. `nonce` must be fresh random bytes for every seal (the host's CSPRNG;
/// this crate has no randomness of its own).
#[cfg(feature = "encrypt")]
pub fn seal(encoded: &str, key: &RecordKey, store_key: &str, nonce: [u8; 12]) -> String {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let cipher = aes_gcm::Aes256Gcm::new(&key.0.into());
    let ct = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: encoded.as_bytes(),
                aad: store_key.as_bytes(),
            },
        )
        // Only fails for messages beyond 64 GiB.
        .unwrap_or_default();
    let mut raw = Vec::with_capacity(12 + ct.len());
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&ct);
    format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
}

/// Opens a value read from the store into an encoded record (then
/// [`TokenRecord::decode`]). With a key only sealed values are accepted; without one only
/// clear ones.
#[cfg_attr(not(feature = "encrypt"), allow(unused_variables))]
pub fn open(value: &str, key: Option<&RecordKey>, store_key: &str) -> Result<String, RecordError> {
    if value.len() > MAX_RECORD_BYTES * 2 {
        return Err(RecordError::TooLarge);
    }
    let sealed = value.strip_prefix(SEALED_PREFIX);
    match (sealed, key) {
        (None, None) => Ok(value.to_owned()),
        (None, Some(_)) => Err(RecordError::NotEncrypted),
        (Some(_), None) => Err(RecordError::Encrypted),
        #[cfg(feature = "encrypt")]
        (Some(b64), Some(key)) => {
            use aes_gcm::aead::{Aead, KeyInit, Payload};
            let raw = URL_SAFE_NO_PAD
                .decode(b64)
                .map_err(|_| RecordError::Malformed("base64"))?;
            if raw.len() < 12 + 16 {
                return Err(RecordError::Decrypt);
            }
            let (nonce, ct) = raw.split_at(12);
            let cipher = aes_gcm::Aes256Gcm::new(&key.0.into());
            let nonce = <[u8; 12]>::try_from(nonce).map_err(|_| RecordError::Decrypt)?;
            let plain = cipher
                .decrypt(
                    &nonce.into(),
                    Payload {
                        msg: ct,
                        aad: store_key.as_bytes(),
                    },
                )
                .map_err(|_| RecordError::Decrypt)?;
            String::from_utf8(plain).map_err(|_| RecordError::Malformed("utf-8"))
        }
        #[cfg(not(feature = "encrypt"))]
        (Some(_), Some(_)) => Err(RecordError::Decrypt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenRecord {
        TokenRecord {
            token_id: token_id("header.payload.sig"),
            access_token: Secret::new("header.payload.sig"),
            identity: "ab".repeat(32),
            refresh_token: Some(Secret::new("rt-1")),
            deadline_ms: 1_700_000_060_000,
            deadline_slack_ms: 1_200,
            exp_ms: Some(1_700_000_060_000),
            nbf_ms: None,
            iat_ms: Some(1_700_000_000_000),
            fencing: 7,
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        let s = r.encode();
        assert!(s.starts_with("tcr2."));
        assert_eq!(TokenRecord::decode(&s), Ok(r));
    }

    #[test]
    fn any_damage_is_rejected() {
        let s = sample().encode();
        // Truncated (a half-written value).
        assert_eq!(
            TokenRecord::decode(&s[..s.len() - 3]).unwrap_err().code(),
            "record_checksum"
        );
        // A flipped payload character.
        let mut b = s.clone().into_bytes();
        b[10] = if b[10] == b'A' { b'B' } else { b'A' };
        let e = TokenRecord::decode(&String::from_utf8(b).unwrap()).unwrap_err();
        assert!(
            matches!(e.code(), "record_checksum" | "record_malformed"),
            "{e:?}"
        );
        assert_eq!(
            TokenRecord::decode("tcr3.abc.def").unwrap_err().code(),
            "record_version"
        );
        assert_eq!(
            TokenRecord::decode("hello").unwrap_err().code(),
            "record_malformed"
        );
        assert_eq!(
            TokenRecord::decode(&"x".repeat(MAX_RECORD_BYTES + 1))
                .unwrap_err()
                .code(),
            "record_too_large"
        );
    }

    #[test]
    fn a_record_with_a_foreign_token_id_is_rejected() {
        let mut r = sample();
        r.token_id = token_id("other");
        assert_eq!(
            TokenRecord::decode(&r.encode()).unwrap_err(),
            RecordError::Malformed("token_id")
        );
    }

    #[test]
    fn debug_holds_no_secret_and_keys_follow_the_identity() {
        let r = sample();
        let d = format!("{r:?}");
        assert!(!d.contains("payload") && !d.contains("rt-1"), "{d}");
        let cfg = |scope: &str| {
            crate::session::SessionConfig::new(
                "https://issuer.example/token",
                crate::oauth::ClientAuth::SecretPost {
                    client_id: "client".into(),
                    client_secret: Secret::new("s"),
                },
                crate::oauth::Grant::ClientCredentials {
                    scope: Some(scope.into()),
                    extra: vec![],
                },
            )
        };
        let id = |scope| crate::identity::CredentialIdentity::of(&cfg(scope)).unwrap();
        let k = store_key("tokenclock", &id("read"));
        assert_eq!(k, format!("tokenclock:token:v2:{{{}}}", id("read")));
        assert_ne!(k, store_key("tokenclock", &id("write")));
    }

    #[test]
    fn tokens_with_characters_a_token_response_refuses_are_rejected() {
        for bad in ["a b", "a\r\nX-Injected: 1", "tok\u{e9}n"] {
            let mut r = sample();
            r.access_token = Secret::new(bad);
            r.token_id = token_id(bad);
            assert_eq!(
                TokenRecord::decode(&r.encode()).unwrap_err(),
                RecordError::Malformed("access_token"),
                "{bad:?}"
            );
        }
        let mut r = sample();
        r.refresh_token = Some(Secret::new("rt\n2"));
        assert_eq!(
            TokenRecord::decode(&r.encode()).unwrap_err(),
            RecordError::Malformed("refresh_token")
        );
        let mut r = sample();
        r.identity = "AB".repeat(32);
        assert_eq!(
            TokenRecord::decode(&r.encode()).unwrap_err(),
            RecordError::Malformed("identity")
        );
    }
}

#[cfg(all(test, feature = "encrypt"))]
mod sealing {
    use super::*;

    #[test]
    fn sealed_records_hold_no_token_bytes_and_open_only_with_key_and_store_key() {
        let token = "header.payload.sig";
        let r = TokenRecord {
            token_id: token_id(token),
            access_token: Secret::new(token),
            identity: "cd".repeat(32),
            refresh_token: None,
            deadline_ms: 1_700_000_060_000,
            deadline_slack_ms: 0,
            exp_ms: None,
            nbf_ms: None,
            iat_ms: None,
            fencing: 1,
        };
        let key = RecordKey::new(&[7; 32]).unwrap();
        let sealed = seal(&r.encode(), &key, "k1", [1; 12]);
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert!(!sealed.contains("payload"));
        assert!(!sealed.contains(&URL_SAFE_NO_PAD.encode(token)));
        let opened = open(&sealed, Some(&key), "k1").unwrap();
        assert_eq!(TokenRecord::decode(&opened).unwrap(), r);
        assert_eq!(open(&sealed, Some(&key), "k2"), Err(RecordError::Decrypt));
        let other = RecordKey::new(&[8; 32]).unwrap();
        assert_eq!(open(&sealed, Some(&other), "k1"), Err(RecordError::Decrypt));
        assert_eq!(open(&sealed, None, "k1"), Err(RecordError::Encrypted));
        assert_eq!(
            open(&r.encode(), Some(&key), "k1"),
            Err(RecordError::NotEncrypted)
        );
        let mut bad = sealed.clone().into_bytes();
        let i = bad.len() - 2;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            open(&String::from_utf8(bad).unwrap(), Some(&key), "k1"),
            Err(RecordError::Decrypt)
        );
        assert_eq!(
            open("tce1.AAAA", Some(&key), "k1"),
            Err(RecordError::Decrypt)
        );
        assert!(RecordKey::new(&[0; 31]).is_none());
        assert_eq!(format!("{key:?}"), "RecordKey(<redacted>)");
    }
}
