//! Keys: PEM documents, HMAC secrets, JWKs and JWK sets parsed and checked into the entries a
//! [`Verifier`](super::Verifier) holds.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::DecodingKey;
use serde::Deserialize as _;
use serde_json::Value;
use sha2::{Sha256, Sha384, Sha512};

use super::host::{Curve, HostKey};
use super::{
    Algorithm, VerifyError, MAX_JWKS_KEYS, MAX_KEY_DOCUMENT_BYTES, MAX_RSA_BITS,
    MIN_HMAC_SECRET_BYTES, MIN_RSA_BITS,
};

/// What a key is, as far as choosing an algorithm goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Hmac,
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyKind {
    pub(super) const fn name(self) -> &'static str {
        match self {
            KeyKind::Hmac => "hmac",
            KeyKind::Rsa => "rsa",
            KeyKind::EcP256 => "ec-p256",
            KeyKind::EcP384 => "ec-p384",
            KeyKind::Ed25519 => "ed25519",
        }
    }
}

/// One usable key.
#[derive(Clone)]
pub(super) struct KeyEntry {
    pub(super) kid: Option<String>,
    pub(super) kind: KeyKind,
    /// A JWK's `alg`: the only algorithm this key may be used with.
    pub(super) alg: Option<Algorithm>,
    pub(super) key: DecodingKey,
    /// The same key for a host's crypto library; `None` when it has no form every host
    /// imports (an EC key given as a compressed point), so core checks its signatures.
    pub(super) host: Option<HostKey>,
    /// An HMAC secret keyed for each hash once (`None` for other keys).
    pub(super) mac: Option<MacKeys>,
}

/// An HMAC secret with the key already absorbed for SHA-256, -384 and -512 (RFC 2104's inner
/// and outer pads): per token only the signing input is hashed.
#[derive(Clone)]
pub(super) struct MacKeys {
    sha256: Hmac<Sha256>,
    sha384: Hmac<Sha384>,
    sha512: Hmac<Sha512>,
}

impl MacKeys {
    /// `None` only if the `hmac` crate refused a key length (it takes any).
    fn new(secret: &[u8]) -> Option<MacKeys> {
        Some(MacKeys {
            sha256: Hmac::new_from_slice(secret).ok()?,
            sha384: Hmac::new_from_slice(secret).ok()?,
            sha512: Hmac::new_from_slice(secret).ok()?,
        })
    }

    /// Whether `tag` is the `alg` MAC of `message` (compared in constant time); `None` when
    /// `alg` is not an HMAC algorithm.
    pub(super) fn verify(&self, alg: Algorithm, message: &[u8], tag: &[u8]) -> Option<bool> {
        Some(
            match alg {
                Algorithm::HS256 => self.sha256.clone().chain_update(message).verify_slice(tag),
                Algorithm::HS384 => self.sha384.clone().chain_update(message).verify_slice(tag),
                Algorithm::HS512 => self.sha512.clone().chain_update(message).verify_slice(tag),
                _ => return None,
            }
            .is_ok(),
        )
    }
}

impl KeyEntry {
    pub(super) fn supports(&self, alg: Algorithm) -> bool {
        self.kind == alg.key_kind() && self.alg.is_none_or(|a| a == alg)
    }
}

/// Checks that `key` loads in the signature backend for `alg` (EC points on the curve, Ed25519
/// points valid): a probe verification of a dummy signature must return `Ok(false)`, not an
/// error.
/// True when `key` is a usable public key for `alg`. Asked of the RustCrypto provider (always
/// compiled in), which parses the key eagerly: aws-lc would only fail at the first signature.
pub(super) fn probe(key: &DecodingKey, alg: Algorithm) -> bool {
    (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&alg.to_jwt(), key)
        .is_ok()
}

pub(super) fn secret_entry(secret: &[u8]) -> Result<KeyEntry, VerifyError> {
    check_secret(secret)?;
    Ok(KeyEntry {
        kid: None,
        kind: KeyKind::Hmac,
        alg: None,
        key: DecodingKey::from_secret(secret),
        host: Some(HostKey::Secret(secret.to_vec())),
        mac: MacKeys::new(secret),
    })
}

pub(super) fn check_secret(secret: &[u8]) -> Result<(), VerifyError> {
    if secret.len() < MIN_HMAC_SECRET_BYTES {
        return Err(VerifyError::InvalidKey {
            reason: "HMAC secret shorter than 32 bytes (RFC 7518 section 3.2)",
        });
    }
    if secret.len() > MAX_KEY_DOCUMENT_BYTES {
        return Err(VerifyError::InvalidKey {
            reason: "HMAC secret larger than 1 MiB",
        });
    }
    // PyJWT's rule (`HMACAlgorithm.prepare_key`): key material of another kind must never be
    // used as an HMAC secret; that is how the RS256 → HS256 confusion attack works.
    if let Some(what) = public_key_material(secret) {
        return Err(VerifyError::InvalidKey { reason: what });
    }
    Ok(())
}

/// Why `bytes` is key material of another kind that must not serve as an HMAC secret, or
/// `None`. Refused, after an optional UTF-8 BOM and leading whitespace where text is meant:
///
/// * a PEM block of any label (`----- BEGIN`/`-----BEGIN`, anywhere in the bytes; RFC 4716's
///   `---- BEGIN SSH2 PUBLIC KEY ----` too);
/// * an OpenSSH public key line: `ssh-*`, `ecdsa-sha2-*`, `sk-ssh-*`, `sk-ecdsa-sha2-*`, then
///   whitespace and base64 (also PyJWT's bare `ssh-rsa`, `ssh-ed25519`, `ssh-dss`,
///   `ecdsa-sha2-nistp*` prefixes);
/// * DER: exactly one SEQUENCE shaped as a SubjectPublicKeyInfo, a PKCS#1 `RSAPublicKey`, an
///   X.509 certificate, or a PKCS#8 / SEC1 private key (a structural check, no key parsing);
/// * JSON text that is a JWK or JWKS: an object or array with a `kty` member at any depth, or
///   any JSON object (a key document is never a secret's bytes).
pub(super) fn public_key_material(bytes: &[u8]) -> Option<&'static str> {
    if looks_like_pem(bytes) {
        return Some("HMAC secret is a PEM document; pass public keys as PEM, not as a secret");
    }
    let text = trim_text_start(bytes);
    if looks_like_ssh_key(text) {
        return Some("HMAC secret is an OpenSSH public key");
    }
    if looks_like_der_key(bytes) {
        return Some("HMAC secret is a DER public key, certificate or private key");
    }
    if looks_like_jwk_json(text) {
        return Some("HMAC secret is a JWK or JWKS document; pass it as a JWK or JWKS");
    }
    None
}

/// `bytes` without a leading UTF-8 byte order mark and ASCII whitespace.
fn trim_text_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.trim_ascii_start();
    start
        .strip_prefix(b"\xEF\xBB\xBF")
        .map_or(start, <[u8]>::trim_ascii_start)
}

/// A PEM (or RFC 4716) `BEGIN` line anywhere: four dashes, a dash or a space, `BEGIN `.
fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| {
        w.starts_with(b"----") && matches!(w.get(4), Some(b'-' | b' ')) && w.ends_with(b"BEGIN ")
    })
}

fn looks_like_ssh_key(text: &[u8]) -> bool {
    // PyJWT refuses these prefixes outright.
    const PYJWT: [&[u8]; 6] = [
        b"ssh-ed25519",
        b"ssh-rsa",
        b"ssh-dss",
        b"ecdsa-sha2-nistp256",
        b"ecdsa-sha2-nistp384",
        b"ecdsa-sha2-nistp521",
    ];
    if PYJWT.iter().any(|p| text.starts_with(p)) {
        return true;
    }
    // Any OpenSSH key type (certificates, security keys, new curves): a type name, blanks,
    // then base64 (every key blob starts with a length, `AAAA`).
    const FAMILIES: [&[u8]; 4] = [b"ssh-", b"ecdsa-sha2-", b"sk-ssh-", b"sk-ecdsa-sha2-"];
    if !FAMILIES.iter().any(|p| text.starts_with(p)) {
        return false;
    }
    let name_len = text
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'@' | b'_')))
        .unwrap_or(text.len());
    let rest = text.get(name_len..).unwrap_or_default();
    let blob = rest.trim_ascii_start();
    blob.len() < rest.len() && blob.starts_with(b"AAAA")
}

/// One DER TLV at the start of `bytes`: (tag, content, rest). Definite lengths only.
fn der_tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (len_bytes, rest) = rest.split_at_checked(n)?;
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

/// The tags of the TLVs that make up `content` exactly, or `None` if they do not.
fn der_children(mut content: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, inner, rest) = der_tlv(content)?;
        out.push((tag, inner));
        content = rest;
    }
    Some(out)
}

fn looks_like_der_key(bytes: &[u8]) -> bool {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const BIT_STRING: u8 = 0x03;
    const OCTET_STRING: u8 = 0x04;
    const OID: u8 = 0x06;
    let Some((SEQUENCE, content, [])) = der_tlv(bytes) else {
        return false;
    };
    let Some(children) = der_children(content) else {
        return false;
    };
    let starts_with_oid = |inner: &[u8]| der_tlv(inner).is_some_and(|(tag, _, _)| tag == OID);
    let tags: Vec<u8> = children.iter().map(|&(t, _)| t).collect();
    match (tags.as_slice(), children.as_slice()) {
        // SubjectPublicKeyInfo: { AlgorithmIdentifier { OID, … }, BIT STRING }.
        ([SEQUENCE, BIT_STRING], [(_, alg), _]) => starts_with_oid(alg),
        // PKCS#1 RSAPublicKey { n, e }.
        ([INTEGER, INTEGER], _) => true,
        // Certificate { tbsCertificate, signatureAlgorithm { OID, … }, signature }.
        ([SEQUENCE, SEQUENCE, BIT_STRING], [_, (_, alg), _]) => starts_with_oid(alg),
        // PKCS#8 PrivateKeyInfo { version, AlgorithmIdentifier, OCTET STRING, … }.
        ([INTEGER, SEQUENCE, OCTET_STRING, ..], [_, (_, alg), ..]) => starts_with_oid(alg),
        // SEC1 ECPrivateKey { version, OCTET STRING, … }; PKCS#1 RSAPrivateKey (9 INTEGERs).
        ([INTEGER, OCTET_STRING, ..], _) => true,
        (t, _) => t.len() >= 9 && t.iter().all(|&x| x == INTEGER),
    }
}

/// JSON text (after a BOM and whitespace) that is a key document: an object, or an array
/// holding a `kty` member at any depth. Text that starts like one but does not parse (e.g.
/// nested deeper than the JSON reader goes) is refused when it names `kty` at all.
fn looks_like_jwk_json(text: &[u8]) -> bool {
    let Some(&first) = text.first() else {
        return false;
    };
    if first != b'{' && first != b'[' {
        return false;
    }
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(_)) => true,
        Ok(value) => has_kty(&value),
        Err(_) => text.windows(3).any(|w| w == b"kty"),
    }
}

fn has_kty(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map.contains_key("kty") {
                    return true;
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

/// The label of the first `-----BEGIN <label>-----` line.
pub(super) fn pem_label(pem: &[u8]) -> Option<&[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let start = pem
        .windows(BEGIN.len())
        .position(|w| w == BEGIN)?
        .checked_add(BEGIN.len())?;
    let rest = pem.get(start..)?;
    let end = rest.windows(5).position(|w| w == b"-----")?;
    rest.get(..end)
}

pub(super) fn pem_entry(pem: &[u8]) -> Result<KeyEntry, VerifyError> {
    const NOT_PEM: VerifyError = VerifyError::InvalidKey {
        reason: "not a PEM public key or certificate",
    };
    if pem.len() > MAX_KEY_DOCUMENT_BYTES {
        return Err(VerifyError::InvalidKey {
            reason: "PEM larger than 1 MiB",
        });
    }
    let label = pem_label(pem).ok_or(NOT_PEM)?;
    match label {
        b"PUBLIC KEY" | b"RSA PUBLIC KEY" | b"CERTIFICATE" => {}
        l if l.ends_with(b"PRIVATE KEY") => {
            return Err(VerifyError::InvalidKey {
                reason: "a private key was given; pass the public key (PUBLIC KEY or CERTIFICATE)",
            })
        }
        _ => return Err(NOT_PEM),
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        let (n, e) = match Jwk::from_decoding_key(&key, None) {
            Ok(Jwk {
                algorithm: AlgorithmParameters::RSA(p),
                ..
            }) => (b64(&p.n)?, b64(&p.e)?),
            _ => {
                return Err(VerifyError::InvalidKey {
                    reason: "RSA public key does not parse",
                })
            }
        };
        check_rsa(&n, &e)?;
        return Ok(KeyEntry {
            kid: None,
            kind: KeyKind::Rsa,
            alg: None,
            key,
            host: Some(HostKey::rsa(&n, &e)),
            mac: None,
        });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        let kind = match key.try_get_as_bytes().map(<[u8]>::len) {
            Ok(33 | 65) => KeyKind::EcP256,
            Ok(49 | 97) => KeyKind::EcP384,
            _ => {
                return Err(VerifyError::InvalidKey {
                    reason: "EC key is not on P-256 or P-384",
                })
            }
        };
        return ec_or_ed_entry(None, kind, None, key);
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return ec_or_ed_entry(None, KeyKind::Ed25519, None, key);
    }
    Err(VerifyError::InvalidKey {
        reason: "PEM holds no RSA, P-256, P-384 or Ed25519 public key",
    })
}

/// Checks an EC/Ed key loads for its algorithm. An Ed25519 key must be exactly 32 bytes:
/// `jsonwebtoken` slices `[..32]` without a length check.
pub(super) fn ec_or_ed_entry(
    kid: Option<String>,
    kind: KeyKind,
    alg: Option<Algorithm>,
    key: DecodingKey,
) -> Result<KeyEntry, VerifyError> {
    let probe_alg = match kind {
        KeyKind::EcP256 => Algorithm::ES256,
        KeyKind::EcP384 => Algorithm::ES384,
        KeyKind::Ed25519 => {
            if key.try_get_as_bytes().map(<[u8]>::len) != Ok(32) {
                return Err(VerifyError::InvalidKey {
                    reason: "Ed25519 public key must be 32 bytes",
                });
            }
            Algorithm::EdDSA
        }
        KeyKind::Hmac | KeyKind::Rsa => {
            return Err(VerifyError::InvalidKey {
                reason: "not an EC or Ed25519 key",
            })
        }
    };
    if !probe(&key, probe_alg) {
        return Err(VerifyError::InvalidKey {
            reason: "public key is not a valid curve point",
        });
    }
    let host = host_key_of_point(kind, key.try_get_as_bytes().unwrap_or_default());
    Ok(KeyEntry {
        kid,
        kind,
        alg,
        key,
        host,
        mac: None,
    })
}

/// The host form of a checked EC point (SEC1) or Ed25519 key. A compressed EC point has no
/// `y` to hand over without curve arithmetic: `None` (core keeps checking that key).
fn host_key_of_point(kind: KeyKind, bytes: &[u8]) -> Option<HostKey> {
    let (curve, size) = match kind {
        KeyKind::EcP256 => (Curve::P256, 32),
        KeyKind::EcP384 => (Curve::P384, 48),
        KeyKind::Ed25519 => return Some(HostKey::Ed25519 { x: bytes.to_vec() }),
        KeyKind::Hmac | KeyKind::Rsa => return None,
    };
    match bytes.split_first() {
        Some((0x04, xy)) if xy.len() == 2 * size => {
            let (x, y) = xy.split_at(size);
            Some(HostKey::Ec {
                curve,
                x: x.to_vec(),
                y: y.to_vec(),
            })
        }
        _ => None,
    }
}

pub(super) fn b64(s: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| VerifyError::InvalidKey {
            reason: "key parameter is not unpadded base64url",
        })
}

/// Big-endian unsigned integer bit length.
pub(super) fn bit_len(be: &[u8]) -> u64 {
    let Some(first) = be.iter().position(|&b| b != 0) else {
        return 0;
    };
    let bytes = u64::try_from(be.len() - first).unwrap_or(u64::MAX);
    let top = be.get(first).copied().unwrap_or(0);
    bytes
        .saturating_mul(8)
        .saturating_sub(u64::from(top.leading_zeros()))
}

pub(super) fn check_rsa(n: &[u8], e: &[u8]) -> Result<(), VerifyError> {
    let bits = bit_len(n);
    if bits < MIN_RSA_BITS {
        return Err(VerifyError::InvalidKey {
            reason: "RSA modulus shorter than 2048 bits",
        });
    }
    if bits > MAX_RSA_BITS {
        return Err(VerifyError::InvalidKey {
            reason: "RSA modulus longer than 4096 bits",
        });
    }
    if bit_len(e) > 33 {
        return Err(VerifyError::InvalidKey {
            reason: "RSA public exponent too large",
        });
    }
    let e_val = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if e_val < 3 || e_val % 2 == 0 || e_val > (1 << 33) - 1 {
        return Err(VerifyError::InvalidKey {
            reason: "RSA public exponent must be odd and at least 3",
        });
    }
    Ok(())
}

/// Size-checks and parses a key document (JWK or JWKS) as a JSON object.
pub(super) fn parse_key_document(
    text: &str,
    err: impl Fn(&'static str) -> VerifyError,
) -> Result<Value, VerifyError> {
    if text.len() > MAX_KEY_DOCUMENT_BYTES {
        return Err(err("document larger than 1 MiB"));
    }
    let value: Value = serde_json::from_str(text).map_err(|_| err("not valid JSON"))?;
    if !value.is_object() {
        return Err(err("not a JSON object"));
    }
    Ok(value)
}

/// One JWK (a JSON object) → a usable key, or why it is not usable.
pub(super) fn jwk_entry(value: &Value) -> Result<KeyEntry, VerifyError> {
    const BAD: VerifyError = VerifyError::InvalidKey {
        reason: "JWK does not parse",
    };
    let obj = value.as_object().ok_or(VerifyError::InvalidKey {
        reason: "JWK is not a JSON object",
    })?;
    let jwk = Jwk::deserialize(value).map_err(|_| BAD)?;
    let kid = jwk.common.key_id.clone();

    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => {
            return Err(VerifyError::InvalidKey {
                reason: "JWK use is not \"sig\"",
            })
        }
    }
    if let Some(ops) = &jwk.common.key_operations {
        if !ops.contains(&KeyOperations::Verify) {
            return Err(VerifyError::InvalidKey {
                reason: "JWK key_ops does not include \"verify\"",
            });
        }
    }
    let alg = match obj.get("alg") {
        None => None,
        Some(Value::String(name)) => {
            Some(Algorithm::from_name(name).ok_or(VerifyError::InvalidKey {
                reason: "JWK alg is not a supported JWS signature algorithm",
            })?)
        }
        Some(_) => return Err(BAD),
    };
    // Guard against `alg` parsed differently by jsonwebtoken (it must agree with ours).
    if alg.is_some()
        && jwk
            .common
            .key_algorithm
            .is_none_or(|k| k == KeyAlgorithm::UNKNOWN_ALGORITHM)
    {
        return Err(BAD);
    }

    let entry = match &jwk.algorithm {
        AlgorithmParameters::OctetKey(p) => {
            let secret = b64(&p.value)?;
            check_secret(&secret)?;
            KeyEntry {
                kid,
                kind: KeyKind::Hmac,
                alg,
                key: DecodingKey::from_secret(&secret),
                mac: MacKeys::new(&secret),
                host: Some(HostKey::Secret(secret)),
            }
        }
        AlgorithmParameters::RSA(p) => {
            if obj.contains_key("d") {
                return Err(VerifyError::InvalidKey {
                    reason: "JWK holds a private key; give the public key",
                });
            }
            let (n, e) = (b64(&p.n)?, b64(&p.e)?);
            check_rsa(&n, &e)?;
            KeyEntry {
                kid,
                kind: KeyKind::Rsa,
                alg,
                key: DecodingKey::from_rsa_raw_components(&n, &e),
                host: Some(HostKey::rsa(&n, &e)),
                mac: None,
            }
        }
        AlgorithmParameters::EllipticCurve(p) => {
            if obj.contains_key("d") {
                return Err(VerifyError::InvalidKey {
                    reason: "JWK holds a private key; give the public key",
                });
            }
            let (kind, size) = match p.curve {
                EllipticCurve::P256 => (KeyKind::EcP256, 32),
                EllipticCurve::P384 => (KeyKind::EcP384, 48),
                _ => {
                    return Err(VerifyError::InvalidKey {
                        reason: "EC curve is not P-256 or P-384",
                    })
                }
            };
            let (x, y) = (b64(&p.x)?, b64(&p.y)?);
            if x.len() != size || y.len() != size {
                return Err(VerifyError::InvalidKey {
                    reason: "EC coordinates have the wrong length for the curve",
                });
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            ec_or_ed_entry(kid, kind, alg, DecodingKey::from_ec_der(&point))?
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            if obj.contains_key("d") {
                return Err(VerifyError::InvalidKey {
                    reason: "JWK holds a private key; give the public key",
                });
            }
            if p.curve != EllipticCurve::Ed25519 {
                return Err(VerifyError::InvalidKey {
                    reason: "OKP curve is not Ed25519",
                });
            }
            let x = b64(&p.x)?;
            ec_or_ed_entry(kid, KeyKind::Ed25519, alg, DecodingKey::from_ed_der(&x))?
        }
        _ => {
            return Err(VerifyError::InvalidKey {
                reason: "JWK kty is not oct, RSA, EC or OKP",
            })
        }
    };
    if let Some(a) = entry.alg {
        if a.key_kind() != entry.kind {
            return Err(VerifyError::InvalidKey {
                reason: "JWK alg does not fit its key type",
            });
        }
    }
    Ok(entry)
}

/// The usable keys of a JWKS document and the number of entries skipped.
pub(super) fn jwks_entries(text: &str) -> Result<(Vec<KeyEntry>, usize), VerifyError> {
    let doc = parse_key_document(text, |reason| VerifyError::InvalidJwks { reason })?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(VerifyError::InvalidJwks {
            reason: "no \"keys\" array",
        })?;
    if keys.len() > MAX_JWKS_KEYS {
        return Err(VerifyError::InvalidJwks {
            reason: "more than 100 keys",
        });
    }
    let mut usable = Vec::with_capacity(keys.len());
    let mut skipped = 0usize;
    for value in keys {
        if !value.is_object() {
            return Err(VerifyError::InvalidJwks {
                reason: "a key is not a JSON object",
            });
        }
        // An entry that cannot verify signatures is left out: a token naming it gets
        // `unknown_kid` like a token naming no entry (see `select_keys`).
        match jwk_entry(value) {
            Ok(entry) => usable.push(entry),
            Err(_) => skipped = skipped.saturating_add(1),
        }
    }
    if usable.is_empty() {
        return Err(VerifyError::InvalidJwks {
            reason: "no usable signature verification key",
        });
    }
    Ok((usable, skipped))
}
