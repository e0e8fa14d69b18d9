//! Fixed test keys for the `verify` and `jwks` targets (generated once with OpenSSL 3 for the
//! fuzzing campaign; never use them anywhere else): RSA 2048, P-256, P-384, Ed25519, a
//! 48-byte HMAC secret, and the same public keys as JWKs (`keys/jwk-*.json`) and one JWKS
//! (`keys/jwks.json`, kids `rsa-1`, `p256-1`, `p384-1` (alg ES384), `ed-1`, `hs-1` (alg HS256)).

use jsonwebtoken::EncodingKey;
use tokenclock::verify::{Algorithm, KeySource};

pub const RSA_PUBLIC: &str = include_str!("keys/rsa-public.pem");
pub const RSA_PRIVATE: &str = include_str!("keys/rsa-private.pem");
pub const P256_PUBLIC: &str = include_str!("keys/p256-public.pem");
pub const P256_PRIVATE: &str = include_str!("keys/p256-private.pem");
pub const P384_PUBLIC: &str = include_str!("keys/p384-public.pem");
pub const P384_PRIVATE: &str = include_str!("keys/p384-private.pem");
pub const ED25519_PUBLIC: &str = include_str!("keys/ed25519-public.pem");
pub const ED25519_PRIVATE: &str = include_str!("keys/ed25519-private.pem");
pub const HMAC_SECRET_HEX: &str = include_str!("keys/hmac-secret.hex");
pub const JWKS: &str = include_str!("keys/jwks.json");
pub const JWK_RSA: &str = include_str!("keys/jwk-rsa-1.json");
pub const JWK_P256: &str = include_str!("keys/jwk-p256-1.json");
pub const JWK_P384: &str = include_str!("keys/jwk-p384-1.json");
pub const JWK_ED: &str = include_str!("keys/jwk-ed-1.json");
pub const JWK_HS: &str = include_str!("keys/jwk-hs-1.json");

/// The HMAC secret's bytes.
pub fn hmac_secret() -> Vec<u8> {
    super::unhex(HMAC_SECRET_HEX.trim()).unwrap_or_default()
}

/// Key families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Hmac,
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Family {
    /// The family that signs `alg`.
    pub fn of(alg: Algorithm) -> Family {
        use Algorithm::*;
        match alg {
            HS256 | HS384 | HS512 => Family::Hmac,
            ES256 => Family::P256,
            ES384 => Family::P384,
            EdDSA => Family::Ed25519,
            _ => Family::Rsa,
        }
    }

    /// The family of a JWKS `kid`.
    pub fn of_kid(kid: &str) -> Option<Family> {
        Some(match kid {
            "rsa-1" => Family::Rsa,
            "p256-1" => Family::P256,
            "p384-1" => Family::P384,
            "ed-1" => Family::Ed25519,
            "hs-1" => Family::Hmac,
            _ => return None,
        })
    }

    /// This family's default algorithm.
    pub fn default_alg(self) -> Algorithm {
        match self {
            Family::Hmac => Algorithm::HS256,
            Family::Rsa => Algorithm::RS256,
            Family::P256 => Algorithm::ES256,
            Family::P384 => Algorithm::ES384,
            Family::Ed25519 => Algorithm::EdDSA,
        }
    }

    /// The private (signing) key.
    pub fn signing_key(self) -> Option<EncodingKey> {
        match self {
            Family::Hmac => Some(EncodingKey::from_secret(&hmac_secret())),
            Family::Rsa => EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).ok(),
            Family::P256 => EncodingKey::from_ec_pem(P256_PRIVATE.as_bytes()).ok(),
            Family::P384 => EncodingKey::from_ec_pem(P384_PRIVATE.as_bytes()).ok(),
            Family::Ed25519 => EncodingKey::from_ed_pem(ED25519_PRIVATE.as_bytes()).ok(),
        }
    }
}

/// Number of verification key setups ([`setup`]).
pub const SETUPS: u8 = 11;

/// Verification key setup `i % SETUPS`: the key source, the algorithms pinned, and the
/// family whose private key signs for it (`None`: chosen per token, for the JWKS).
pub fn setup(i: u8, secret: &[u8]) -> (KeySource<'_>, Vec<Algorithm>, Option<Family>) {
    use Algorithm::*;
    let rsa = vec![RS256, RS384, RS512, PS256, PS384, PS512];
    match i % SETUPS {
        0 => (
            KeySource::Secret(secret),
            vec![HS256, HS384, HS512],
            Some(Family::Hmac),
        ),
        1 => (
            KeySource::Pem(RSA_PUBLIC.as_bytes()),
            rsa,
            Some(Family::Rsa),
        ),
        2 => (
            KeySource::Pem(P256_PUBLIC.as_bytes()),
            vec![ES256],
            Some(Family::P256),
        ),
        3 => (
            KeySource::Pem(P384_PUBLIC.as_bytes()),
            vec![ES384],
            Some(Family::P384),
        ),
        4 => (
            KeySource::Pem(ED25519_PUBLIC.as_bytes()),
            vec![EdDSA],
            Some(Family::Ed25519),
        ),
        5 => (KeySource::Jwks(JWKS), Algorithm::ALL.to_vec(), None),
        6 => (KeySource::Jwk(JWK_RSA), rsa, Some(Family::Rsa)),
        7 => (KeySource::Jwk(JWK_P256), vec![ES256], Some(Family::P256)),
        8 => (KeySource::Jwk(JWK_P384), vec![ES384], Some(Family::P384)),
        9 => (KeySource::Jwk(JWK_ED), vec![EdDSA], Some(Family::Ed25519)),
        _ => (KeySource::Jwk(JWK_HS), vec![HS256], Some(Family::Hmac)),
    }
}

/// Signs `message` (`header.payload`) with `family`'s private key under `alg`; the base64url
/// signature segment.
/// Setup `i` of [`setup`] as a binding loads it: the key's form and its file under the
/// repository (op traces, `super::trace`).
pub fn setup_file(i: u8) -> (&'static str, &'static str) {
    match i % SETUPS {
        0 => ("secret_hex", "fuzz/harness/keys/hmac-secret.hex"),
        1 => ("pem", "fuzz/harness/keys/rsa-public.pem"),
        2 => ("pem", "fuzz/harness/keys/p256-public.pem"),
        3 => ("pem", "fuzz/harness/keys/p384-public.pem"),
        4 => ("pem", "fuzz/harness/keys/ed25519-public.pem"),
        5 => ("jwks", "fuzz/harness/keys/jwks.json"),
        6 => ("jwk", "fuzz/harness/keys/jwk-rsa-1.json"),
        7 => ("jwk", "fuzz/harness/keys/jwk-p256-1.json"),
        8 => ("jwk", "fuzz/harness/keys/jwk-p384-1.json"),
        9 => ("jwk", "fuzz/harness/keys/jwk-ed-1.json"),
        _ => ("jwk", "fuzz/harness/keys/jwk-hs-1.json"),
    }
}

pub fn sign(message: &str, family: Family, alg: Algorithm) -> Option<String> {
    let key = family.signing_key()?;
    let jwt_alg: jsonwebtoken::Algorithm = alg.as_str().parse().ok()?;
    jsonwebtoken::crypto::sign(message.as_bytes(), &key, jwt_alg).ok()
}
