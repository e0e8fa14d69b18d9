//! Client authentication, grants, and the token request built from them (RFC 6749 §3.2, §4).
//!
//! # Decisions
//!
//! * **Form order** is fixed: `grant_type`, the grant's parameters, its extra parameters, then
//!   the client-authentication parameters. Vectors pin it.
//! * **Headers**: `Content-Type: application/x-www-form-urlencoded`, `Accept:
//!   application/json`, and for `client_secret_basic` `Authorization: Basic …`, in that order.
//!   The host adds transport headers (`Host`, `Content-Length`, `User-Agent`) itself.
//! * **`client_secret_basic`** (RFC 6749 §2.3.1): client id and secret are each form-encoded
//!   ([`form_urlencode`](super::form_urlencode)) *before* they are joined with `:` and
//!   base64-encoded, so a secret with `:`, `%`, `+`, a space or non-ASCII survives. Servers that
//!   skip the decoding step only get it wrong for secrets outside `A–Z a–z 0–9 - . _ ~`; use
//!   `client_secret_post` for those servers.
//! * **`private_key_jwt`** (RFC 7523 §2.2, §3): `iss = sub = client_id`, `aud` = the token URL
//!   unless overridden (some issuers now want their issuer identifier), a random `jti`
//!   (16 bytes from the RNG, base64url), `iat = nbf` and `exp` from
//!   [`AssertionTimes`](super::AssertionTimes) with a 300 s lifetime. `client_id` is also sent in
//!   the form (optional in RFC 7521 §4.2, expected by Azure AD and Auth0).
//! * **`client_secret_jwt`** (RFC 7523 §2.2, OIDC Core §9): the same claims, times and form
//!   fields as `private_key_jwt`, signed HS256 with the client secret, which must be at least
//!   [`MIN_CLIENT_SECRET_JWT_BYTES`] (32) bytes (RFC 7518 §3.2; the verifier refuses shorter
//!   HMAC secrets too) → `weak_secret`.
//! * **Plain `http`** to a host that is not loopback is refused (`insecure_url`) unless
//!   [`RequestOptions::allow_insecure_http`] is set: the explicit opt-in for identity providers
//!   inside a cluster (docker-compose, Kubernetes). The hosts warn once when it is used.
//! * **Client credentials need client authentication** (RFC 6749 §4.4: confidential clients
//!   only): with [`ClientAuth::None`] or [`ClientAuth::Anonymous`] → `client_auth_required`.
//! * **Validation** (before anything is built): URL as in
//!   [`validate_endpoint`](super::form); `client_id` non-empty; every value at most
//!   [`MAX_PARAM_LEN`] bytes (credentials [`MAX_CREDENTIAL_LEN`]) and free of control characters
//!   (CR/LF included); `scope` in RFC 6749 §3.3 syntax (printable ASCII except `"` and `\`,
//!   space-separated); `code_verifier` as RFC 7636 §4.1 requires (43–128 unreserved
//!   characters); `redirect_uri` absolute (`scheme:`), without a fragment, spaces or controls;
//!   extra parameters at most [`MAX_EXTRA_PARAMS`], names printable ASCII and not one this
//!   module writes (`reserved_parameter`); the whole body at most [`MAX_REQUEST_BODY_LEN`]. An
//!   empty optional value (`scope: Some("")`) is an error, not silently dropped.
//! * **Issuer time** is only looked at when an assertion is signed; other grants ignore it.

use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand_core::RngCore;

use super::assertion::IssuerNow;
use super::error::{
    check_code_verifier, check_extra, check_redirect_uri, check_scope, check_text, GrantError,
    MAX_CREDENTIAL_LEN, MAX_PARAM_LEN, MAX_REQUEST_BODY_LEN, RESERVED_PARAMETERS,
};
use super::form::{form_urlencode, validate_endpoint_with};
use super::Secret;

#[cfg(feature = "sign")]
use super::assertion::{
    AssertionTimes, SigningKey, CLIENT_ASSERTION_LIFETIME_S, DEFAULT_ASSERTION_LIFETIME_S,
};

/// `grant_type` of the JWT bearer grant (RFC 7523 §2.1).
pub const GRANT_TYPE_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Shortest client secret accepted for `client_secret_jwt`, bytes (RFC 7518 §3.2: an HS256 key
/// at least as long as the hash output).
pub const MIN_CLIENT_SECRET_JWT_BYTES: usize = 32;

/// Options of [`build_token_request_with`] beyond the grant and its client authentication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestOptions {
    /// Accept a plain `http://` token URL to any host, not only loopback (default `false`).
    /// Credentials and tokens then travel in clear: only for identity providers reached over
    /// a private network (docker-compose, Kubernetes).
    pub allow_insecure_http: bool,
}

/// A form field value: plain, or a credential that `Debug` redacts.
#[derive(Clone, PartialEq, Eq)]
pub enum FormValue {
    /// Not secret (grant type, scope, client id, redirect URI, ...).
    Plain(String),
    /// A credential (client secret, refresh token, code, verifier, assertion).
    Secret(Secret),
}

impl FormValue {
    /// The value as sent.
    pub fn expose(&self) -> &str {
        match self {
            FormValue::Plain(s) => s,
            FormValue::Secret(s) => s.expose(),
        }
    }

    /// Whether the value is a credential.
    pub const fn is_secret(&self) -> bool {
        matches!(self, FormValue::Secret(_))
    }
}

impl fmt::Debug for FormValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormValue::Plain(s) => fmt::Debug::fmt(s, f),
            FormValue::Secret(_) => f.write_str("<redacted>"),
        }
    }
}

/// A token request as data: the host POSTs [`TokenRequest::body`] to [`TokenRequest::url`]
/// with [`TokenRequest::headers`].
///
/// `Debug` redacts the `Authorization` header and every credential form field.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// Always `"POST"` (RFC 6749 §3.2).
    pub method: &'static str,
    /// The token endpoint.
    pub url: String,
    /// Header name/value pairs, in order. Values are printable ASCII (no CR/LF).
    pub headers: Vec<(String, String)>,
    /// Form fields, in order.
    pub form: Vec<(String, FormValue)>,
}

impl TokenRequest {
    /// The `application/x-www-form-urlencoded` body (contains credentials: don't log it).
    pub fn body(&self) -> String {
        let mut out = String::new();
        for (i, (name, value)) in self.form.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(&form_urlencode(name));
            out.push('=');
            out.push_str(&form_urlencode(value.expose()));
        }
        out
    }

    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first form field named `name`.
    pub fn form_value(&self, name: &str) -> Option<&FormValue> {
        self.form.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let shown = if n.eq_ignore_ascii_case("authorization") {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (n.as_str(), shown)
            })
            .collect();
        f.debug_struct("TokenRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("form", &self.form)
            .finish()
    }
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret (§2.3.1).
    SecretBasic {
        /// The client identifier.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the form body (§2.3.1).
    SecretPost {
        /// The client identifier.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
    /// `private_key_jwt`: a signed client assertion (RFC 7523 §2.2). Feature `sign`.
    #[cfg(feature = "sign")]
    PrivateKeyJwt {
        /// The client identifier (`iss` and `sub` of the assertion).
        client_id: String,
        /// The client's private key.
        key: SigningKey,
        /// The assertion's `aud`; `None` means the token URL.
        audience: Option<String>,
    },
    /// `client_secret_jwt`: a client assertion signed HS256 with the client secret (RFC 7523
    /// §2.2, OIDC Core §9). Feature `sign`. Build it with [`ClientAuth::client_secret_jwt`],
    /// which checks the secret's length up front.
    #[cfg(feature = "sign")]
    SecretJwt {
        /// The client identifier (`iss` and `sub` of the assertion).
        client_id: String,
        /// The client secret (the HMAC key): at least [`MIN_CLIENT_SECRET_JWT_BYTES`] bytes.
        client_secret: Secret,
        /// The assertion's `aud`; `None` means the token URL.
        audience: Option<String>,
    },
    /// A public client (`none`): sends only `client_id` (§4.1.3).
    None {
        /// The client identifier.
        client_id: String,
    },
    /// No client identification at all: for the JWT bearer grant, whose assertion already says
    /// who is asking (e.g. Google service accounts).
    Anonymous,
}

impl ClientAuth {
    /// `client_secret_jwt` authentication; `weak_secret` when the secret is shorter than
    /// [`MIN_CLIENT_SECRET_JWT_BYTES`], and the checks of `client_secret` (`empty_parameter`,
    /// `too_large`, `invalid_parameter`). Feature `sign`.
    #[cfg(feature = "sign")]
    pub fn client_secret_jwt(
        client_id: impl Into<String>,
        client_secret: Secret,
        audience: Option<String>,
    ) -> Result<Self, GrantError> {
        check_hs256_secret(&client_secret)?;
        Ok(ClientAuth::SecretJwt {
            client_id: client_id.into(),
            client_secret,
            audience,
        })
    }

    /// The client identifier, if this method sends one.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientAuth::SecretBasic { client_id, .. }
            | ClientAuth::SecretPost { client_id, .. }
            | ClientAuth::None { client_id } => Some(client_id),
            #[cfg(feature = "sign")]
            ClientAuth::PrivateKeyJwt { client_id, .. }
            | ClientAuth::SecretJwt { client_id, .. } => Some(client_id),
            ClientAuth::Anonymous => None,
        }
    }

    /// The RFC 7591 `token_endpoint_auth_method` name (`"anonymous"` for [`ClientAuth::Anonymous`]).
    pub const fn method_name(&self) -> &'static str {
        match self {
            ClientAuth::SecretBasic { .. } => "client_secret_basic",
            ClientAuth::SecretPost { .. } => "client_secret_post",
            #[cfg(feature = "sign")]
            ClientAuth::PrivateKeyJwt { .. } => "private_key_jwt",
            #[cfg(feature = "sign")]
            ClientAuth::SecretJwt { .. } => "client_secret_jwt",
            ClientAuth::None { .. } => "none",
            ClientAuth::Anonymous => "anonymous",
        }
    }
}

/// Where the JWT bearer grant puts `scope`. Feature `sign`.
#[cfg(feature = "sign")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ScopePlacement {
    /// A `scope` form parameter (RFC 7523 §2.1, RFC 6749 §3.3).
    #[default]
    FormParameter,
    /// A `scope` claim in the assertion (Google service accounts).
    AssertionClaim,
}

/// The JWT bearer grant (RFC 7523 §2.1): an assertion signed with a service-account key.
/// Feature `sign`.
#[cfg(feature = "sign")]
#[derive(Clone, Debug)]
pub struct JwtBearerGrant {
    /// `iss`: who signs (e.g. a service account's e-mail address).
    pub issuer: String,
    /// `sub`: on whose behalf (e.g. a user for domain-wide delegation); omitted when `None`.
    pub subject: Option<String>,
    /// `aud`; `None` means the token URL.
    pub audience: Option<String>,
    /// Requested scope, space-separated.
    pub scope: Option<String>,
    /// Where `scope` goes.
    pub scope_placement: ScopePlacement,
    /// The signing key.
    pub key: SigningKey,
    /// Assertion lifetime, seconds: `60..=3600`, default 3600. See
    /// [`AssertionTimes`](super::AssertionTimes).
    pub lifetime_s: u32,
}

#[cfg(feature = "sign")]
impl JwtBearerGrant {
    /// A grant for `issuer` signed with `key`: no subject, audience = token URL, no scope,
    /// lifetime 3600 s.
    pub fn new(issuer: impl Into<String>, key: SigningKey) -> Self {
        JwtBearerGrant {
            issuer: issuer.into(),
            subject: None,
            audience: None,
            scope: None,
            scope_placement: ScopePlacement::FormParameter,
            key,
            lifetime_s: DEFAULT_ASSERTION_LIFETIME_S,
        }
    }
}

/// What the client presents to get a token (RFC 6749 §4).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Grant {
    /// `client_credentials` (§4.4).
    ClientCredentials {
        /// Requested scope, space-separated.
        scope: Option<String>,
        /// Extra form parameters, e.g. `audience` (Auth0) or `resource` (RFC 8707; may repeat).
        extra: Vec<(String, String)>,
    },
    /// `refresh_token` (§6).
    RefreshToken {
        /// The refresh token.
        refresh_token: Secret,
        /// Requested scope (must not exceed the original grant's).
        scope: Option<String>,
    },
    /// `authorization_code` with PKCE (§4.1.3, RFC 7636 §4.5).
    AuthorizationCode {
        /// The code from the redirect.
        code: Secret,
        /// The redirect URI of the authorization request, exactly.
        redirect_uri: String,
        /// The PKCE verifier.
        code_verifier: Secret,
    },
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1). Feature `sign`.
    #[cfg(feature = "sign")]
    JwtBearer(JwtBearerGrant),
}

impl Grant {
    /// The `grant_type` value.
    pub const fn grant_type(&self) -> &'static str {
        match self {
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::RefreshToken { .. } => "refresh_token",
            Grant::AuthorizationCode { .. } => "authorization_code",
            #[cfg(feature = "sign")]
            Grant::JwtBearer(_) => GRANT_TYPE_JWT_BEARER,
        }
    }
}

fn plain(name: &str, value: &str) -> (String, FormValue) {
    (name.to_owned(), FormValue::Plain(value.to_owned()))
}

fn secret(name: &str, value: &Secret) -> (String, FormValue) {
    (name.to_owned(), FormValue::Secret(value.clone()))
}

/// Builds the token request for `grant`, authenticated with `auth`, to `token_url`.
///
/// `issuer_now` (the issuer's clock, from the skew estimate) and `rng` (for `jti`) are used
/// only when an assertion is signed (`private_key_jwt`, `client_secret_jwt`, the JWT bearer
/// grant). See the module docs for every check; errors are [`GrantError`]s. Default
/// [`RequestOptions`]; see [`build_token_request_with`].
pub fn build_token_request(
    token_url: &str,
    auth: &ClientAuth,
    grant: &Grant,
    issuer_now: IssuerNow,
    rng: &mut dyn RngCore,
) -> Result<TokenRequest, GrantError> {
    build_token_request_with(
        token_url,
        auth,
        grant,
        issuer_now,
        rng,
        RequestOptions::default(),
    )
}

/// [`build_token_request`] with [`RequestOptions`] (plain `http` to any host).
pub fn build_token_request_with(
    token_url: &str,
    auth: &ClientAuth,
    grant: &Grant,
    issuer_now: IssuerNow,
    rng: &mut dyn RngCore,
    options: RequestOptions,
) -> Result<TokenRequest, GrantError> {
    validate_endpoint_with(token_url, "token_url", options.allow_insecure_http)?;
    if let Some(client_id) = auth.client_id() {
        check_text(client_id, "client_id", MAX_PARAM_LEN)?;
    }
    #[cfg(not(feature = "sign"))]
    let _ = (issuer_now, rng);

    let mut form = vec![plain("grant_type", grant.grant_type())];
    match grant {
        Grant::ClientCredentials { scope, extra } => {
            if matches!(auth, ClientAuth::None { .. } | ClientAuth::Anonymous) {
                return Err(GrantError::ClientAuthRequired);
            }
            if let Some(scope) = scope {
                check_scope(scope)?;
                form.push(plain("scope", scope));
            }
            check_extra(extra, &RESERVED_PARAMETERS)?;
            form.extend(extra.iter().map(|(n, v)| plain(n, v)));
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => {
            check_text(refresh_token.expose(), "refresh_token", MAX_CREDENTIAL_LEN)?;
            form.push(secret("refresh_token", refresh_token));
            if let Some(scope) = scope {
                check_scope(scope)?;
                form.push(plain("scope", scope));
            }
        }
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            check_text(code.expose(), "code", MAX_CREDENTIAL_LEN)?;
            check_redirect_uri(redirect_uri)?;
            check_code_verifier(code_verifier.expose())?;
            form.push(secret("code", code));
            form.push(plain("redirect_uri", redirect_uri));
            form.push(secret("code_verifier", code_verifier));
        }
        #[cfg(feature = "sign")]
        Grant::JwtBearer(g) => {
            let assertion = jwt_bearer_assertion(g, token_url, issuer_now, rng)?;
            form.push(secret("assertion", &assertion));
            if let (Some(scope), ScopePlacement::FormParameter) = (&g.scope, g.scope_placement) {
                form.push(plain("scope", scope));
            }
        }
    }

    let mut headers = vec![
        (
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("Accept".to_owned(), "application/json".to_owned()),
    ];
    match auth {
        ClientAuth::SecretBasic {
            client_id,
            client_secret,
        } => {
            check_text(client_secret.expose(), "client_secret", MAX_CREDENTIAL_LEN)?;
            let joined = Secret::new(format!(
                "{}:{}",
                form_urlencode(client_id),
                form_urlencode(client_secret.expose())
            ));
            headers.push((
                "Authorization".to_owned(),
                format!("Basic {}", STANDARD.encode(joined.expose())),
            ));
        }
        ClientAuth::SecretPost {
            client_id,
            client_secret,
        } => {
            check_text(client_secret.expose(), "client_secret", MAX_CREDENTIAL_LEN)?;
            form.push(plain("client_id", client_id));
            form.push(secret("client_secret", client_secret));
        }
        #[cfg(feature = "sign")]
        ClientAuth::PrivateKeyJwt {
            client_id,
            key,
            audience,
        } => {
            let claims = client_assertion_claims(
                client_id,
                audience.as_deref(),
                token_url,
                issuer_now,
                rng,
            )?;
            let assertion = super::assertion::sign(key, &claims)?;
            form.push(plain("client_id", client_id));
            form.push(plain(
                "client_assertion_type",
                CLIENT_ASSERTION_TYPE_JWT_BEARER,
            ));
            form.push(secret("client_assertion", &assertion));
        }
        #[cfg(feature = "sign")]
        ClientAuth::SecretJwt {
            client_id,
            client_secret,
            audience,
        } => {
            check_hs256_secret(client_secret)?;
            let claims = client_assertion_claims(
                client_id,
                audience.as_deref(),
                token_url,
                issuer_now,
                rng,
            )?;
            let assertion = super::assertion::sign_hs256(client_secret, &claims)?;
            form.push(plain("client_id", client_id));
            form.push(plain(
                "client_assertion_type",
                CLIENT_ASSERTION_TYPE_JWT_BEARER,
            ));
            form.push(secret("client_assertion", &assertion));
        }
        ClientAuth::None { client_id } => form.push(plain("client_id", client_id)),
        ClientAuth::Anonymous => {}
    }

    // Defence in depth: every header value is printable ASCII, so no CR/LF can split it.
    if !headers
        .iter()
        .all(|(_, v)| v.bytes().all(|b| (0x20..=0x7E).contains(&b)))
    {
        return Err(GrantError::InvalidParameter { what: "header" });
    }
    let request = TokenRequest {
        method: "POST",
        url: token_url.to_owned(),
        headers,
        form,
    };
    if request.body().len() > MAX_REQUEST_BODY_LEN {
        return Err(GrantError::TooLarge {
            what: "request body",
            limit: MAX_REQUEST_BODY_LEN,
        });
    }
    Ok(request)
}

/// The `client_secret_jwt` key checks: a valid credential of at least 32 bytes.
#[cfg(feature = "sign")]
fn check_hs256_secret(secret: &Secret) -> Result<(), GrantError> {
    check_text(secret.expose(), "client_secret", MAX_CREDENTIAL_LEN)?;
    if secret.len() < MIN_CLIENT_SECRET_JWT_BYTES {
        return Err(GrantError::WeakSecret {
            min_bytes: MIN_CLIENT_SECRET_JWT_BYTES,
        });
    }
    Ok(())
}

/// RFC 7523 §2.2 / §3 client assertion claims for `private_key_jwt` and `client_secret_jwt`:
/// one path, so both get the same skew-corrected times.
#[cfg(feature = "sign")]
fn client_assertion_claims(
    client_id: &str,
    audience: Option<&str>,
    token_url: &str,
    issuer_now: IssuerNow,
    rng: &mut dyn RngCore,
) -> Result<serde_json::Map<String, serde_json::Value>, GrantError> {
    use serde_json::{Map, Value};
    let audience = audience.unwrap_or(token_url);
    check_text(audience, "audience", MAX_PARAM_LEN)?;
    let times = AssertionTimes::compute(issuer_now, CLIENT_ASSERTION_LIFETIME_S)?;
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from(client_id));
    claims.insert("sub".into(), Value::from(client_id));
    claims.insert("aud".into(), Value::from(audience));
    claims.insert(
        "jti".into(),
        Value::from(super::pkce::random_b64url(rng, 16)),
    );
    claims.insert("iat".into(), Value::from(times.iat_s));
    claims.insert("nbf".into(), Value::from(times.nbf_s));
    claims.insert("exp".into(), Value::from(times.exp_s));
    Ok(claims)
}

/// RFC 7523 §2.1 / §3 grant assertion.
#[cfg(feature = "sign")]
fn jwt_bearer_assertion(
    g: &JwtBearerGrant,
    token_url: &str,
    issuer_now: IssuerNow,
    rng: &mut dyn RngCore,
) -> Result<Secret, GrantError> {
    use serde_json::{Map, Value};
    check_text(&g.issuer, "issuer", MAX_PARAM_LEN)?;
    if let Some(subject) = &g.subject {
        check_text(subject, "subject", MAX_PARAM_LEN)?;
    }
    let audience = g.audience.as_deref().unwrap_or(token_url);
    check_text(audience, "audience", MAX_PARAM_LEN)?;
    if let Some(scope) = &g.scope {
        check_scope(scope)?;
    }
    let times = AssertionTimes::compute(issuer_now, g.lifetime_s)?;
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from(g.issuer.as_str()));
    if let Some(subject) = &g.subject {
        claims.insert("sub".into(), Value::from(subject.as_str()));
    }
    claims.insert("aud".into(), Value::from(audience));
    if let (Some(scope), ScopePlacement::AssertionClaim) = (&g.scope, g.scope_placement) {
        claims.insert("scope".into(), Value::from(scope.as_str()));
    }
    claims.insert(
        "jti".into(),
        Value::from(super::pkce::random_b64url(rng, 16)),
    );
    claims.insert("iat".into(), Value::from(times.iat_s));
    claims.insert("nbf".into(), Value::from(times.nbf_s));
    claims.insert("exp".into(), Value::from(times.exp_s));
    super::assertion::sign(&g.key, &claims)
}

#[cfg(test)]
mod tests {
    use super::super::MAX_EXTRA_PARAMS;
    use super::*;
    use crate::rng::SplitMix64;
    use crate::ErrorCode;

    fn build(auth: &ClientAuth, grant: &Grant) -> Result<TokenRequest, GrantError> {
        build_token_request(
            "https://as.example/token",
            auth,
            grant,
            IssuerNow::exact(0),
            &mut SplitMix64::new(1),
        )
    }

    fn cc() -> Grant {
        Grant::ClientCredentials {
            scope: None,
            extra: vec![],
        }
    }

    #[test]
    fn debug_redacts() {
        let auth = ClientAuth::SecretBasic {
            client_id: "id".into(),
            client_secret: Secret::new("s3cr3t"),
        };
        let grant = Grant::RefreshToken {
            refresh_token: Secret::new("rt-value"),
            scope: Some("a b".into()),
        };
        let req = build(&auth, &grant).unwrap();
        let dbg = format!("{req:?}");
        assert!(
            !dbg.contains("s3cr3t") && !dbg.contains("rt-value"),
            "{dbg}"
        );
        assert!(!dbg.contains(&STANDARD.encode("id:s3cr3t")), "{dbg}");
        assert_eq!(
            dbg,
            "TokenRequest { method: \"POST\", url: \"https://as.example/token\", headers: [(\"Content-Type\", \
             \"application/x-www-form-urlencoded\"), (\"Accept\", \"application/json\"), (\"Authorization\", \
             \"<redacted>\")], form: [(\"grant_type\", \"refresh_token\"), (\"refresh_token\", <redacted>), \
             (\"scope\", \"a b\")] }"
        );
        assert_eq!(
            req.body(),
            "grant_type=refresh_token&refresh_token=rt-value&scope=a+b"
        );
        assert_eq!(req.header("authorization"), Some("Basic aWQ6czNjcjN0"));
        assert!(req
            .form_value("refresh_token")
            .is_some_and(FormValue::is_secret));
        let dbg_auth = format!("{auth:?}");
        assert!(!dbg_auth.contains("s3cr3t"), "{dbg_auth}");
    }

    #[test]
    fn public_clients_cannot_use_client_credentials() {
        for auth in [
            ClientAuth::None {
                client_id: "x".into(),
            },
            ClientAuth::Anonymous,
        ] {
            assert_eq!(
                build(&auth, &cc()).unwrap_err(),
                GrantError::ClientAuthRequired
            );
        }
    }

    #[test]
    fn limits() {
        let auth = ClientAuth::SecretPost {
            client_id: "id".into(),
            client_secret: Secret::new("s"),
        };
        let many: Vec<(String, String)> = (0..=MAX_EXTRA_PARAMS)
            .map(|i| (format!("p{i}"), "v".into()))
            .collect();
        let g = Grant::ClientCredentials {
            scope: None,
            extra: many,
        };
        assert_eq!(
            build(&auth, &g).unwrap_err(),
            GrantError::TooLarge {
                what: "extra parameters",
                limit: MAX_EXTRA_PARAMS
            }
        );
        // Thirty-two 8 KiB values pass one by one but not as a body.
        let big: Vec<(String, String)> = (0..9)
            .map(|i| (format!("p{i}"), "v".repeat(MAX_PARAM_LEN)))
            .collect();
        let g = Grant::ClientCredentials {
            scope: None,
            extra: big,
        };
        assert_eq!(
            build(&auth, &g).unwrap_err(),
            GrantError::TooLarge {
                what: "request body",
                limit: MAX_REQUEST_BODY_LEN
            }
        );
        let g = Grant::RefreshToken {
            refresh_token: Secret::new("r".repeat(MAX_CREDENTIAL_LEN + 1)),
            scope: None,
        };
        assert_eq!(
            build(&auth, &g).unwrap_err(),
            GrantError::TooLarge {
                what: "refresh_token",
                limit: MAX_CREDENTIAL_LEN
            }
        );
        let auth = ClientAuth::SecretPost {
            client_id: "i".repeat(MAX_PARAM_LEN + 1),
            client_secret: Secret::new("s"),
        };
        assert_eq!(
            build(&auth, &cc()).unwrap_err(),
            GrantError::TooLarge {
                what: "client_id",
                limit: MAX_PARAM_LEN
            }
        );
    }

    #[test]
    fn error_codes_and_messages() {
        let e = GrantError::InvalidParameter { what: "scope" };
        assert_eq!(e.code(), "invalid_parameter");
        assert_eq!(
            e.to_string(),
            "scope has characters or a shape it may not have"
        );
        assert_eq!(
            GrantError::ReservedParameter { name: "scope" }.code(),
            "reserved_parameter"
        );
    }
}
