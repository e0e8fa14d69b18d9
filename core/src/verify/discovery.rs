//! Issuer discovery: OpenID Connect Discovery 1.0 §4 and RFC 8414 (OAuth 2.0 Authorization
//! Server Metadata) — which URL to ask, and what of the answer may be trusted.
//!
//! The one rule that matters (OpenID Connect Discovery §4.3, RFC 8414 §3.3): the document's
//! `issuer` must equal the configured issuer **exactly** (no case folding, no trailing-slash
//! repair). Otherwise an attacker who can make one issuer's discovery document name another
//! issuer's keys gets tokens verified that the configured issuer never signed. The `jwks_uri`
//! is then taken from the document, and must be `https` (plain `http` only to a loopback host,
//! or with an explicit opt-in for in-cluster traffic).

use serde_json::Value;

use super::remote::{KeySetError, MAX_FETCH_BYTES};
use crate::oauth::GrantError;

/// Which well-known document to ask the issuer for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscoveryKind {
    /// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).
    OpenIdConnect,
    /// `https://host/.well-known/oauth-authorization-server{path}` (RFC 8414 §3.1).
    OAuthServer,
}

impl DiscoveryKind {
    /// Stable name: `openid` or `oauth`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DiscoveryKind::OpenIdConnect => "openid",
            DiscoveryKind::OAuthServer => "oauth",
        }
    }

    /// From [`DiscoveryKind::as_str`]'s names.
    pub fn from_name(name: &str) -> Option<DiscoveryKind> {
        match name {
            "openid" => Some(DiscoveryKind::OpenIdConnect),
            "oauth" => Some(DiscoveryKind::OAuthServer),
            _ => None,
        }
    }
}

/// What this crate takes from an issuer's metadata document.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuerMetadata {
    /// The document's `issuer` (equal to the configured one).
    pub issuer: String,
    /// Where the issuer's JSON Web Key Set is (checked like every endpoint URL).
    pub jwks_uri: String,
    /// The token endpoint, when the document names one (not checked; informational).
    pub token_endpoint: Option<String>,
}

/// Checks a URL this crate will fetch or compare: an absolute `https` URL (or `http` to a
/// loopback host, or to any host with `allow_plain_http`), no credentials, no fragment.
pub fn check_url(url: &str, what: &'static str, allow_plain_http: bool) -> Result<(), KeySetError> {
    match crate::oauth::validate_endpoint(url, what) {
        Ok(()) => Ok(()),
        Err(GrantError::InsecureUrl { .. }) if allow_plain_http => Ok(()),
        Err(GrantError::InsecureUrl { what }) => Err(KeySetError::InsecureUrl { what }),
        Err(_) => Err(KeySetError::InvalidUrl { what }),
    }
}

/// Checks an issuer identifier: a URL as [`check_url`] accepts, without query or fragment
/// (RFC 8414 §2).
pub fn check_issuer(issuer: &str, allow_plain_http: bool) -> Result<(), KeySetError> {
    check_url(issuer, "issuer", allow_plain_http)?;
    if issuer.contains('?') {
        return Err(KeySetError::InvalidUrl { what: "issuer" });
    }
    Ok(())
}

/// The URL of `issuer`'s metadata document.
///
/// * OpenID Connect: the issuer without a trailing `/`, then `/.well-known/openid-configuration`;
/// * RFC 8414: `/.well-known/oauth-authorization-server` inserted between the host and the
///   issuer's path (`https://as.example/tenant` →
///   `https://as.example/.well-known/oauth-authorization-server/tenant`).
pub fn discovery_url(
    issuer: &str,
    kind: DiscoveryKind,
    allow_plain_http: bool,
) -> Result<String, KeySetError> {
    check_issuer(issuer, allow_plain_http)?;
    match kind {
        DiscoveryKind::OpenIdConnect => Ok(format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )),
        DiscoveryKind::OAuthServer => {
            // check_issuer guarantees "scheme://" and an authority.
            let after_scheme = issuer.find("://").map_or(0, |i| i + 3);
            let path_start = issuer
                .get(after_scheme..)
                .and_then(|rest| rest.find('/'))
                .map_or(issuer.len(), |i| after_scheme + i);
            let (origin, path) = issuer.split_at(path_start);
            let path = path.trim_end_matches('/');
            Ok(format!(
                "{origin}/.well-known/oauth-authorization-server{path}"
            ))
        }
    }
}

/// Parses a metadata document and checks it against the configured `expected_issuer`.
///
/// Errors: `too_large` (over [`MAX_FETCH_BYTES`]), `invalid_metadata` (not a JSON object, no
/// string `issuer` or `jwks_uri`), `issuer_mismatch` (the document's `issuer` is not exactly
/// `expected_issuer`), `invalid_url` / `insecure_url` (the `jwks_uri`).
pub fn parse_metadata(
    body: &[u8],
    expected_issuer: &str,
    allow_plain_http: bool,
) -> Result<IssuerMetadata, KeySetError> {
    if body.len() > MAX_FETCH_BYTES {
        return Err(KeySetError::TooLarge {
            limit: MAX_FETCH_BYTES,
        });
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| KeySetError::InvalidMetadata {
        reason: "not valid JSON",
    })?;
    let obj = value.as_object().ok_or(KeySetError::InvalidMetadata {
        reason: "not a JSON object",
    })?;
    let issuer = obj
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or(KeySetError::InvalidMetadata {
            reason: "no string \"issuer\"",
        })?;
    if issuer != expected_issuer {
        return Err(KeySetError::IssuerMismatch);
    }
    let jwks_uri =
        obj.get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or(KeySetError::InvalidMetadata {
                reason: "no string \"jwks_uri\"",
            })?;
    check_url(jwks_uri, "jwks_uri", allow_plain_http)?;
    Ok(IssuerMetadata {
        issuer: issuer.to_owned(),
        jwks_uri: jwks_uri.to_owned(),
        token_endpoint: obj
            .get("token_endpoint")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_urls() {
        let oidc = DiscoveryKind::OpenIdConnect;
        let oauth = DiscoveryKind::OAuthServer;
        assert_eq!(
            discovery_url("https://as.example", oidc, false).unwrap(),
            "https://as.example/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://as.example/tenant/", oidc, false).unwrap(),
            "https://as.example/tenant/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://as.example/tenant", oauth, false).unwrap(),
            "https://as.example/.well-known/oauth-authorization-server/tenant"
        );
        assert_eq!(
            discovery_url("https://as.example:8443", oauth, false).unwrap(),
            "https://as.example:8443/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            discovery_url("http://127.0.0.1:9000/t", oidc, false).unwrap(),
            "http://127.0.0.1:9000/t/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("http://issuer.svc", oidc, false),
            Err(KeySetError::InsecureUrl { what: "issuer" })
        );
        assert!(discovery_url("http://issuer.svc", oidc, true).is_ok());
        for bad in [
            "as.example",
            "https://u:p@as.example",
            "https://as.example/?x=1",
            "ftp://a",
        ] {
            assert_eq!(
                discovery_url(bad, oidc, true),
                Err(KeySetError::InvalidUrl { what: "issuer" }),
                "{bad}"
            );
        }
    }

    #[test]
    fn metadata_issuer_must_match_exactly() {
        let doc = |iss: &str, jwks: &str| {
            format!(
                r#"{{"issuer":"{iss}","jwks_uri":"{jwks}","token_endpoint":"https://as.example/t"}}"#
            )
        };
        let ok = parse_metadata(
            doc("https://as.example", "https://as.example/jwks").as_bytes(),
            "https://as.example",
            false,
        )
        .unwrap();
        assert_eq!(ok.jwks_uri, "https://as.example/jwks");
        assert_eq!(ok.token_endpoint.as_deref(), Some("https://as.example/t"));
        for other in [
            "https://as.example/",
            "https://AS.example",
            "https://evil.example",
        ] {
            assert_eq!(
                parse_metadata(
                    doc(other, "https://as.example/jwks").as_bytes(),
                    "https://as.example",
                    false
                ),
                Err(KeySetError::IssuerMismatch),
                "{other}"
            );
        }
        assert_eq!(
            parse_metadata(
                doc("https://as.example", "http://keys.example/jwks").as_bytes(),
                "https://as.example",
                false
            ),
            Err(KeySetError::InsecureUrl { what: "jwks_uri" })
        );
        assert!(matches!(
            parse_metadata(b"[1]", "https://as.example", false),
            Err(KeySetError::InvalidMetadata { .. })
        ));
        assert!(matches!(
            parse_metadata(
                br#"{"issuer":"https://as.example"}"#,
                "https://as.example",
                false
            ),
            Err(KeySetError::InvalidMetadata { .. })
        ));
        assert!(matches!(
            parse_metadata(&[0xff, 0xfe], "https://as.example", false),
            Err(KeySetError::InvalidMetadata { .. })
        ));
    }
}
