//! Assertion time claims in the issuer's clock, and (feature `sign`) signing assertions.
//!
//! # Choosing `iat`, `nbf` and `exp` (RFC 7523 §3)
//!
//! The issuer checks an assertion against *its* clock, which we only know to lie in an
//! interval [`IssuerNow`] `[low_ms, high_ms]` (local wall time plus the skew estimate's
//! offset bounds). The assertion must be accepted whatever the true issuer time `T` in that
//! interval is:
//!
//! * `iat = nbf = ⌊low_ms⌋` (whole seconds, rounded down): never in the issuer's future, so
//!   neither "issued in the future" nor "not yet valid" can happen. The price is that the
//!   assertion is back-dated by up to the uncertainty `high_ms − low_ms` (+ < 1 s).
//! * `exp = ⌊high_ms + lifetime⌋`: never *longer* than `lifetime` after any possible `T`, and at
//!   least `lifetime − 1 s` after the latest one.
//! * **Clamp.** Issuers cap an assertion's span: Google rejects `exp − iat > 3600 s`, and
//!   RFC 7523 §3 lets any issuer "reject JWTs with an exp claim value that is unreasonably far
//!   in the future". Back-dating `iat` by the uncertainty `U` would make the span
//!   `lifetime + U`, so `exp` is clamped to `iat + MAX_ASSERTION_SPAN_S` (3600 s). The
//!   trade-off: the assertion's remaining validity at the issuer shrinks by up to `U`
//!   (for the default lifetime of 3600 s it is at least `3600 s − U − 1 s` instead of 3600 s).
//!   That is harmless — an assertion is spent on one request right after it is made — as
//!   long as something is left: when the worst case (`exp − high_ms`) would be below
//!   [`MIN_ASSERTION_VALIDITY_MS`] (30 s), the issuer's time is too uncertain to write an
//!   assertion every possible issuer accepts → `issuer_time_too_uncertain` (about
//!   `U > 59 min` for the default lifetime). Shortening the span rather than moving `iat`
//!   forward is deliberate: a late `iat` fails outright on a slow issuer clock, a short `exp`
//!   only costs validity we don't need.
//!
//! Issuers that also limit how *old* `iat` may be (a few minutes at some) see the back-dating;
//! keep the skew estimate narrow (a `Date` header from the issuer is enough) and it stays at
//! about a second.

use crate::time::{UnixMillis, MAX_UNIX_MILLIS};

use super::error::GrantError;

/// Default lifetime of a JWT bearer grant assertion, seconds (Google's maximum and default).
pub const DEFAULT_ASSERTION_LIFETIME_S: u32 = 3_600;
/// Largest lifetime accepted for an assertion, seconds.
pub const MAX_ASSERTION_LIFETIME_S: u32 = 3_600;
/// Smallest lifetime accepted for an assertion, seconds.
pub const MIN_ASSERTION_LIFETIME_S: u32 = 60;
/// Largest `exp − iat` written, seconds (see the module docs: the clamp).
pub const MAX_ASSERTION_SPAN_S: i64 = 3_600;
/// Least validity an assertion must keep at the latest possible issuer time, milliseconds.
pub const MIN_ASSERTION_VALIDITY_MS: i64 = 30_000;
/// Lifetime of a `private_key_jwt` client assertion, seconds: short, it authenticates one
/// request (Azure AD and Okta examples use 5–10 minutes).
#[cfg(feature = "sign")]
pub const CLIENT_ASSERTION_LIFETIME_S: u32 = 300;

/// The interval in which the issuer's clock reads right now, Unix milliseconds.
///
/// The session builds it from the local wall clock and the issuer's skew estimate:
/// `[wall + low offset, wall + high offset]` (offsets are `server − local`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IssuerNow {
    /// Earliest time the issuer's clock may read.
    pub low_ms: i64,
    /// Latest time the issuer's clock may read.
    pub high_ms: i64,
}

impl IssuerNow {
    /// An issuer clock known exactly (no uncertainty).
    pub const fn exact(ms: i64) -> Self {
        IssuerNow {
            low_ms: ms,
            high_ms: ms,
        }
    }

    /// The issuer's clock from the local wall clock and the bounds of the offset
    /// (`server − local`, milliseconds). Saturating; [`IssuerNow::validate`] rejects results
    /// out of range.
    pub const fn from_local(wall: UnixMillis, low_offset_ms: i64, high_offset_ms: i64) -> Self {
        IssuerNow {
            low_ms: wall.as_millis().saturating_add(low_offset_ms),
            high_ms: wall.as_millis().saturating_add(high_offset_ms),
        }
    }

    /// Checks `0 <= low_ms <= high_ms <= MAX_UNIX_MILLIS` → `invalid_issuer_time`.
    pub fn validate(&self) -> Result<(), GrantError> {
        let in_range = |t: i64| (0..=MAX_UNIX_MILLIS).contains(&t);
        if in_range(self.low_ms) && in_range(self.high_ms) && self.low_ms <= self.high_ms {
            Ok(())
        } else {
            Err(GrantError::InvalidIssuerTime)
        }
    }

    /// `high_ms − low_ms` (saturating).
    pub const fn uncertainty_ms(&self) -> i64 {
        self.high_ms.saturating_sub(self.low_ms)
    }
}

/// The NumericDate claims (whole seconds, issuer clock) of one assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AssertionTimes {
    /// `iat`: back-dated to the earliest possible issuer time.
    pub iat_s: i64,
    /// `nbf`: equal to `iat`.
    pub nbf_s: i64,
    /// `exp`: `lifetime` after the latest possible issuer time, clamped to
    /// `iat + MAX_ASSERTION_SPAN_S`.
    pub exp_s: i64,
}

impl AssertionTimes {
    /// The claims for an assertion valid for `lifetime_s` seconds (see the module docs).
    ///
    /// Errors: `invalid_issuer_time` ([`IssuerNow::validate`]), `invalid_lifetime` (outside
    /// `MIN_ASSERTION_LIFETIME_S..=MAX_ASSERTION_LIFETIME_S`), `issuer_time_too_uncertain`.
    pub fn compute(now: IssuerNow, lifetime_s: u32) -> Result<Self, GrantError> {
        now.validate()?;
        if !(MIN_ASSERTION_LIFETIME_S..=MAX_ASSERTION_LIFETIME_S).contains(&lifetime_s) {
            return Err(GrantError::InvalidLifetime { lifetime_s });
        }
        // Both bounds are within 0..=MAX_UNIX_MILLIS (checked), far from overflow.
        let iat_s = now.low_ms.div_euclid(1_000);
        let wanted_exp_s = now
            .high_ms
            .saturating_add(i64::from(lifetime_s) * 1_000)
            .div_euclid(1_000);
        let exp_s = wanted_exp_s.min(iat_s.saturating_add(MAX_ASSERTION_SPAN_S));
        let worst_validity_ms = exp_s.saturating_mul(1_000).saturating_sub(now.high_ms);
        if worst_validity_ms < MIN_ASSERTION_VALIDITY_MS {
            return Err(GrantError::IssuerTimeTooUncertain {
                uncertainty_ms: now.uncertainty_ms(),
            });
        }
        Ok(AssertionTimes {
            iat_s,
            nbf_s: iat_s,
            exp_s,
        })
    }
}

#[cfg(feature = "sign")]
pub use signing::{SigningAlg, SigningKey, MAX_KEY_PEM_LEN};

#[cfg(feature = "sign")]
pub(crate) use signing::{sign, sign_hs256};

#[cfg(feature = "sign")]
mod signing {
    use core::fmt;

    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use serde_json::{Map, Value};

    use super::super::error::GrantError;
    use super::super::Secret;

    /// Largest PEM accepted for a private key, bytes (a 8192-bit RSA key is about 6.5 KB).
    pub const MAX_KEY_PEM_LEN: usize = 16 * 1024;
    /// Largest `kid` accepted, bytes.
    const MAX_KID_LEN: usize = 256;

    /// An asymmetric JWS algorithm for assertions (RFC 7518 §3). Shared-secret HS256 is only
    /// for `client_secret_jwt` (`ClientAuth::SecretJwt`, keyed by the client secret); a grant
    /// assertion needs a key pair.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum SigningAlg {
        /// RSASSA-PKCS1-v1_5 with SHA-256 (Google service accounts).
        Rs256,
        /// RSASSA-PKCS1-v1_5 with SHA-384.
        Rs384,
        /// RSASSA-PKCS1-v1_5 with SHA-512.
        Rs512,
        /// RSASSA-PSS with SHA-256.
        Ps256,
        /// RSASSA-PSS with SHA-384.
        Ps384,
        /// RSASSA-PSS with SHA-512.
        Ps512,
        /// ECDSA P-256 with SHA-256.
        Es256,
        /// ECDSA P-384 with SHA-384.
        Es384,
        /// Ed25519.
        EdDsa,
    }

    impl SigningAlg {
        /// The JOSE name (`"RS256"`, `"ES256"`, `"EdDSA"`, ...).
        pub const fn as_str(self) -> &'static str {
            match self {
                SigningAlg::Rs256 => "RS256",
                SigningAlg::Rs384 => "RS384",
                SigningAlg::Rs512 => "RS512",
                SigningAlg::Ps256 => "PS256",
                SigningAlg::Ps384 => "PS384",
                SigningAlg::Ps512 => "PS512",
                SigningAlg::Es256 => "ES256",
                SigningAlg::Es384 => "ES384",
                SigningAlg::EdDsa => "EdDSA",
            }
        }

        /// Parses a JOSE name (exact case, as RFC 7518 writes it).
        pub fn parse(name: &str) -> Option<Self> {
            [
                SigningAlg::Rs256,
                SigningAlg::Rs384,
                SigningAlg::Rs512,
                SigningAlg::Ps256,
                SigningAlg::Ps384,
                SigningAlg::Ps512,
                SigningAlg::Es256,
                SigningAlg::Es384,
                SigningAlg::EdDsa,
            ]
            .into_iter()
            .find(|a| a.as_str() == name)
        }

        const fn jwt(self) -> Algorithm {
            match self {
                SigningAlg::Rs256 => Algorithm::RS256,
                SigningAlg::Rs384 => Algorithm::RS384,
                SigningAlg::Rs512 => Algorithm::RS512,
                SigningAlg::Ps256 => Algorithm::PS256,
                SigningAlg::Ps384 => Algorithm::PS384,
                SigningAlg::Ps512 => Algorithm::PS512,
                SigningAlg::Es256 => Algorithm::ES256,
                SigningAlg::Es384 => Algorithm::ES384,
                SigningAlg::EdDsa => Algorithm::EdDSA,
            }
        }
    }

    /// A private key ready to sign assertions, with its algorithm and optional key ID.
    ///
    /// `Debug` shows the algorithm and `kid`, never the key (which `jsonwebtoken` zeroes on
    /// drop).
    #[derive(Clone)]
    pub struct SigningKey {
        key: EncodingKey,
        alg: SigningAlg,
        kid: Option<String>,
    }

    impl SigningKey {
        /// Loads a PEM private key for `alg`: PKCS#1 or PKCS#8 for RSA, PKCS#8 for EC and
        /// Ed25519 (what `jsonwebtoken` reads). The key is tried once by signing an empty
        /// claim set, so a key of the wrong type or curve fails here, not at refresh time.
        ///
        /// Errors: `too_large` (PEM over 16 KiB), `invalid_parameter` (`kid` empty, over 256
        /// bytes or not printable ASCII), `invalid_key`.
        pub fn from_pem(
            pem: &Secret,
            alg: SigningAlg,
            kid: Option<String>,
        ) -> Result<Self, GrantError> {
            crate::ensure_crypto_provider();
            if pem.len() > MAX_KEY_PEM_LEN {
                return Err(GrantError::TooLarge {
                    what: "private key",
                    limit: MAX_KEY_PEM_LEN,
                });
            }
            if let Some(kid) = &kid {
                if kid.is_empty()
                    || kid.len() > MAX_KID_LEN
                    || !kid.bytes().all(|b| (0x20..=0x7E).contains(&b))
                {
                    return Err(GrantError::InvalidParameter { what: "kid" });
                }
            }
            let bytes = pem.expose().as_bytes();
            let key = match alg {
                SigningAlg::Rs256
                | SigningAlg::Rs384
                | SigningAlg::Rs512
                | SigningAlg::Ps256
                | SigningAlg::Ps384
                | SigningAlg::Ps512 => EncodingKey::from_rsa_pem(bytes),
                SigningAlg::Es256 | SigningAlg::Es384 => EncodingKey::from_ec_pem(bytes),
                SigningAlg::EdDsa => EncodingKey::from_ed_pem(bytes),
            }
            .map_err(|_| GrantError::InvalidKey)?;
            encode(&Header::new(alg.jwt()), &Map::new(), &key)
                .map_err(|_| GrantError::InvalidKey)?;
            Ok(SigningKey { key, alg, kid })
        }

        /// The signing algorithm.
        pub const fn alg(&self) -> SigningAlg {
            self.alg
        }

        /// The key ID written into the JWS header, if any.
        pub fn kid(&self) -> Option<&str> {
            self.kid.as_deref()
        }
    }

    impl fmt::Debug for SigningKey {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SigningKey")
                .field("alg", &self.alg)
                .field("kid", &self.kid)
                .field("key", &"<redacted>")
                .finish()
        }
    }

    /// Signs `claims` HS256 with `secret` (`client_secret_jwt`), header
    /// `{"typ":"JWT","alg":"HS256"}`. The caller has checked the secret's length.
    pub(crate) fn sign_hs256(
        secret: &Secret,
        claims: &Map<String, Value>,
    ) -> Result<Secret, GrantError> {
        crate::ensure_crypto_provider();
        let key = EncodingKey::from_secret(secret.expose().as_bytes());
        encode(&Header::new(Algorithm::HS256), claims, &key)
            .map(Secret::from)
            .map_err(|_| GrantError::SigningFailed)
    }

    /// Signs `claims` as a compact JWS with header `{"typ":"JWT","alg":..,"kid":..}`.
    pub(crate) fn sign(
        key: &SigningKey,
        claims: &Map<String, Value>,
    ) -> Result<Secret, GrantError> {
        let mut header = Header::new(key.alg.jwt());
        header.kid = key.kid.clone();
        encode(&header, claims, &key.key)
            .map(Secret::from)
            .map_err(|_| GrantError::SigningFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_issuer_time() {
        let t = AssertionTimes::compute(IssuerNow::exact(1_700_000_000_500), 3_600).unwrap();
        assert_eq!(
            t,
            AssertionTimes {
                iat_s: 1_700_000_000,
                nbf_s: 1_700_000_000,
                exp_s: 1_700_003_600
            }
        );
    }

    #[test]
    fn uncertainty_back_dates_iat_and_clamps_span() {
        // 2.5 s of uncertainty: iat from low, exp would be high + 3600 but the span is clamped.
        let now = IssuerNow {
            low_ms: 1_700_000_000_700,
            high_ms: 1_700_000_003_200,
        };
        let t = AssertionTimes::compute(now, 3_600).unwrap();
        assert_eq!(t.iat_s, 1_700_000_000);
        assert_eq!(t.exp_s, 1_700_003_600);
        // A short lifetime is not clamped: exp = floor(high + 300 s).
        let t = AssertionTimes::compute(now, 300).unwrap();
        assert_eq!((t.iat_s, t.exp_s), (1_700_000_000, 1_700_000_303));
    }

    #[test]
    fn too_uncertain() {
        // 59 min 40 s of uncertainty leaves 20 s at the latest issuer time: refused.
        let now = IssuerNow {
            low_ms: 1_700_000_000_000,
            high_ms: 1_700_000_000_000 + 3_580_000,
        };
        assert_eq!(
            AssertionTimes::compute(now, 3_600),
            Err(GrantError::IssuerTimeTooUncertain {
                uncertainty_ms: 3_580_000
            })
        );
        // 59 min 30 s leaves exactly 30 s: accepted.
        let now = IssuerNow {
            low_ms: 1_700_000_000_000,
            high_ms: 1_700_000_000_000 + 3_570_000,
        };
        assert_eq!(
            AssertionTimes::compute(now, 3_600).unwrap().exp_s,
            1_700_003_600
        );
    }

    #[test]
    fn bad_inputs() {
        assert_eq!(
            AssertionTimes::compute(
                IssuerNow {
                    low_ms: 2,
                    high_ms: 1
                },
                60
            ),
            Err(GrantError::InvalidIssuerTime)
        );
        assert_eq!(
            AssertionTimes::compute(IssuerNow::exact(-1), 60),
            Err(GrantError::InvalidIssuerTime)
        );
        assert_eq!(
            AssertionTimes::compute(IssuerNow::exact(MAX_UNIX_MILLIS + 1), 60),
            Err(GrantError::InvalidIssuerTime)
        );
        assert_eq!(
            AssertionTimes::compute(IssuerNow::exact(0), 59),
            Err(GrantError::InvalidLifetime { lifetime_s: 59 })
        );
        assert_eq!(
            AssertionTimes::compute(IssuerNow::exact(0), 3_601),
            Err(GrantError::InvalidLifetime { lifetime_s: 3_601 })
        );
        assert!(AssertionTimes::compute(IssuerNow::exact(MAX_UNIX_MILLIS), 3_600).is_ok());
        assert_eq!(
            IssuerNow::from_local(UnixMillis(1_000), -200, 300),
            IssuerNow {
                low_ms: 800,
                high_ms: 1_300
            }
        );
    }

    proptest::proptest! {
        /// For every interval and lifetime: either an error, or claims every issuer time in
        /// the interval accepts, within the span cap and never longer than asked.
        #[test]
        fn times_fit_every_issuer_time(
            low in 0..=MAX_UNIX_MILLIS,
            width in 0i64..4_000_000,
            lifetime in 0u32..4_000,
        ) {
            let high = low.saturating_add(width).min(MAX_UNIX_MILLIS);
            let now = IssuerNow { low_ms: low, high_ms: high };
            match AssertionTimes::compute(now, lifetime) {
                Ok(t) => {
                    proptest::prop_assert!(t.iat_s * 1_000 <= low && t.nbf_s == t.iat_s);
                    proptest::prop_assert!(low - t.iat_s * 1_000 < 1_000);
                    proptest::prop_assert!(t.exp_s - t.iat_s <= MAX_ASSERTION_SPAN_S);
                    proptest::prop_assert!(t.exp_s * 1_000 - high >= MIN_ASSERTION_VALIDITY_MS);
                    proptest::prop_assert!(t.exp_s * 1_000 <= high + i64::from(lifetime) * 1_000);
                }
                Err(GrantError::InvalidLifetime { .. }) => {
                    proptest::prop_assert!(!(MIN_ASSERTION_LIFETIME_S..=MAX_ASSERTION_LIFETIME_S).contains(&lifetime));
                }
                Err(GrantError::IssuerTimeTooUncertain { .. }) => {
                    // Only the clamped exp (iat + 3600 s) can leave less than 30 s, and only
                    // when high is more than 3570 s after the second low falls in.
                    proptest::prop_assert!(high - low.div_euclid(1_000) * 1_000 > 3_570_000);
                }
                Err(e) => proptest::prop_assert!(false, "unexpected {e:?}"),
            }
        }
    }

    #[cfg(feature = "sign")]
    mod signing_tests {
        use super::super::*;
        use crate::oauth::Secret;
        use jsonwebtoken::{decode, DecodingKey, Validation};
        use serde_json::{json, Map, Value};

        const RSA_PRIVATE: &str = include_str!("../../tests/keys/rsa-private.pem");
        const RSA_PUBLIC: &str = include_str!("../../tests/keys/rsa-public.pem");
        const EC_PRIVATE: &str = include_str!("../../tests/keys/ec-private.pem");
        const EC_PUBLIC: &str = include_str!("../../tests/keys/ec-public.pem");

        fn claims(now: IssuerNow) -> Map<String, Value> {
            let t = AssertionTimes::compute(now, 3_600).unwrap();
            let v = json!({"iss": "svc@example.iam", "aud": "https://as.example/token",
                           "iat": t.iat_s, "nbf": t.nbf_s, "exp": t.exp_s, "jti": "j1"});
            v.as_object().unwrap().clone()
        }

        fn check(
            token: &Secret,
            public: DecodingKey,
            alg: jsonwebtoken::Algorithm,
            now: IssuerNow,
        ) {
            let mut v = Validation::new(alg);
            v.validate_exp = false;
            v.validate_nbf = false;
            v.validate_aud = false;
            v.required_spec_claims.clear();
            let data = decode::<Value>(token.expose(), &public, &v).unwrap();
            assert_eq!(data.header.kid.as_deref(), Some("key-1"));
            assert_eq!(data.header.typ.as_deref(), Some("JWT"));
            let c = data.claims;
            let (iat, nbf, exp) = (
                c["iat"].as_i64().unwrap(),
                c["nbf"].as_i64().unwrap(),
                c["exp"].as_i64().unwrap(),
            );
            // Accepted for every issuer time in the interval, span within the hour.
            assert!(iat * 1_000 <= now.low_ms && nbf == iat);
            assert!(exp * 1_000 - now.high_ms >= MIN_ASSERTION_VALIDITY_MS);
            assert!(exp - iat <= MAX_ASSERTION_SPAN_S);
            assert_eq!(iat, now.low_ms / 1_000);
        }

        #[test]
        fn rs256_round_trip() {
            let key = SigningKey::from_pem(
                &Secret::new(RSA_PRIVATE),
                SigningAlg::Rs256,
                Some("key-1".into()),
            )
            .unwrap();
            let now = IssuerNow {
                low_ms: 1_700_000_000_250,
                high_ms: 1_700_000_001_750,
            };
            let jwt = sign(&key, &claims(now)).unwrap();
            let public = DecodingKey::from_rsa_pem(RSA_PUBLIC.as_bytes()).unwrap();
            check(&jwt, public, jsonwebtoken::Algorithm::RS256, now);
            assert_eq!(
                format!("{key:?}"),
                "SigningKey { alg: Rs256, kid: Some(\"key-1\"), key: \"<redacted>\" }"
            );
        }

        #[test]
        fn es256_round_trip() {
            let key = SigningKey::from_pem(
                &Secret::new(EC_PRIVATE),
                SigningAlg::Es256,
                Some("key-1".into()),
            )
            .unwrap();
            let now = IssuerNow {
                low_ms: 1_700_000_000_999,
                high_ms: 1_700_000_060_000,
            };
            let jwt = sign(&key, &claims(now)).unwrap();
            let public = DecodingKey::from_ec_pem(EC_PUBLIC.as_bytes()).unwrap();
            check(&jwt, public, jsonwebtoken::Algorithm::ES256, now);
        }

        #[test]
        fn wrong_keys_are_refused_at_load() {
            let err =
                |pem: &str, alg| SigningKey::from_pem(&Secret::new(pem), alg, None).unwrap_err();
            assert_eq!(err(EC_PRIVATE, SigningAlg::Rs256), GrantError::InvalidKey);
            assert_eq!(err(RSA_PRIVATE, SigningAlg::Es256), GrantError::InvalidKey);
            assert_eq!(err(EC_PRIVATE, SigningAlg::Es384), GrantError::InvalidKey);
            assert_eq!(err(RSA_PUBLIC, SigningAlg::Rs256), GrantError::InvalidKey);
            assert_eq!(err("not a pem", SigningAlg::EdDsa), GrantError::InvalidKey);
            assert_eq!(err("", SigningAlg::Ps256), GrantError::InvalidKey);
            let big = "A".repeat(MAX_KEY_PEM_LEN + 1);
            assert!(matches!(
                err(&big, SigningAlg::Rs256),
                GrantError::TooLarge { .. }
            ));
            let bad_kid = SigningKey::from_pem(
                &Secret::new(EC_PRIVATE),
                SigningAlg::Es256,
                Some("a\nb".into()),
            );
            assert_eq!(
                bad_kid.unwrap_err(),
                GrantError::InvalidParameter { what: "kid" }
            );
            assert_eq!(SigningAlg::parse("EdDSA"), Some(SigningAlg::EdDsa));
            assert_eq!(SigningAlg::parse("rs256"), None);
            assert_eq!(SigningAlg::parse("HS256"), None);
        }
    }
}
