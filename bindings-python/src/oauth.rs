//! OAuth 2.0 pieces (core `oauth`): grants with their client authentication, token requests
//! as data, PKCE, `state`, the authorization URL and the redirect check.

use pyo3::prelude::*;
use tokenclock::oauth as core_oauth;
use tokenclock::oauth::{ClientAuth, Secret};

use crate::convert::{self, Int, Secs};
use crate::errors::{guard, Error};

/// What a `Session` uses to get tokens: the token endpoint, the client authentication and the
/// grant. Made by `client_credentials`, `refresh_token_grant`, `authorization_code_grant`
/// or `jwt_bearer_grant`. `repr` shows no secret.
#[pyclass(frozen, module = "tokenclock._native", name = "Grant")]
pub struct Grant {
    pub token_url: String,
    pub auth: ClientAuth,
    pub grant: core_oauth::Grant,
    /// `allow_insecure_http=True`: plain http to a host that is not loopback (core
    /// `RequestOptions`).
    pub allow_insecure_http: bool,
}

impl Grant {
    /// The core request options this grant was made with.
    pub fn request_options(&self) -> core_oauth::RequestOptions {
        core_oauth::RequestOptions {
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}

#[pymethods]
impl Grant {
    /// `client_credentials`, `refresh_token`, `authorization_code` or the JWT bearer URN.
    #[getter]
    fn grant_type(&self) -> &'static str {
        self.grant.grant_type()
    }

    /// The token endpoint.
    #[getter]
    fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The client identifier, if the authentication method sends one.
    #[getter]
    fn client_id(&self) -> Option<&str> {
        self.auth.client_id()
    }

    /// `client_secret_basic`, `client_secret_post`, `client_secret_jwt`, `private_key_jwt`,
    /// `none` or `anonymous`.
    #[getter]
    fn auth_method(&self) -> &'static str {
        self.auth.method_name()
    }

    /// Whether plain `http://` to a host that is not loopback was allowed
    /// (`allow_insecure_http=True`).
    #[getter]
    fn allow_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    fn __repr__(&self) -> String {
        format!(
            "Grant(grant_type={}, token_url={}, client_id={}, auth_method='{}')",
            convert::py_str(self.grant.grant_type()),
            convert::py_str(&self.token_url),
            convert::py_opt_str(self.auth.client_id()),
            self.auth.method_name()
        )
    }
}

/// A signing key from PEM text for `alg` (JOSE name).
fn signing_key(pem: &str, alg: &str, kid: Option<String>) -> Result<core_oauth::SigningKey, Error> {
    let alg = core_oauth::SigningAlg::parse(alg).ok_or_else(|| {
        Error::Arg("key_algorithm must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA".into())
    })?;
    core_oauth::SigningKey::from_pem(&Secret::new(pem), alg, kid).map_err(Error::Grant)
}

/// Client authentication from the keyword arguments. `method=None` picks
/// `client_secret_basic` when a secret is given, else `none` when a client id is given, else
/// `anonymous`.
#[allow(clippy::too_many_arguments)]
fn client_auth(
    method: Option<&str>,
    client_id: Option<String>,
    client_secret: Option<String>,
    private_key: Option<String>,
    key_algorithm: &str,
    key_id: Option<String>,
    assertion_audience: Option<String>,
) -> Result<ClientAuth, Error> {
    let method = match method {
        Some(m) => m,
        None if client_secret.is_some() => "client_secret_basic",
        None if client_id.is_some() => "none",
        None => "anonymous",
    };
    let need_id = |id: Option<String>| {
        id.ok_or_else(|| Error::Arg(format!("client_id is required for {method}")))
    };
    let need_secret = |s: Option<String>| {
        s.ok_or_else(|| Error::Arg(format!("client_secret is required for {method}")))
    };
    Ok(match method {
        "client_secret_basic" => ClientAuth::SecretBasic {
            client_id: need_id(client_id)?,
            client_secret: Secret::new(need_secret(client_secret)?),
        },
        "client_secret_post" => ClientAuth::SecretPost {
            client_id: need_id(client_id)?,
            client_secret: Secret::new(need_secret(client_secret)?),
        },
        "private_key_jwt" => {
            let pem = private_key
                .ok_or_else(|| Error::Arg("private_key is required for private_key_jwt".into()))?;
            ClientAuth::PrivateKeyJwt {
                client_id: need_id(client_id)?,
                key: signing_key(&pem, key_algorithm, key_id)?,
                audience: assertion_audience,
            }
        }
        "client_secret_jwt" => ClientAuth::client_secret_jwt(
            need_id(client_id)?,
            Secret::new(need_secret(client_secret)?),
            assertion_audience,
        )
        .map_err(Error::Grant)?,
        "none" => ClientAuth::None { client_id: need_id(client_id)? },
        "anonymous" => ClientAuth::Anonymous,
        _ => {
            return Err(Error::Arg(
                "auth_method must be one of client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, none, anonymous"
                    .into(),
            ))
        }
    })
}

/// Extra form parameters from a mapping or `(name, value)` pairs.
fn extra(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    convert::headers(obj)
}

/// The client credentials grant (RFC 6749 §4.4). `auth_method` is `client_secret_basic`
/// (default), `client_secret_post`, `client_secret_jwt` (an HS256 assertion keyed by
/// `client_secret`, at least 32 bytes; `assertion_audience`) or `private_key_jwt` (with
/// `private_key` PEM, `key_algorithm`, `key_id`, `assertion_audience`).
/// `allow_insecure_http=True` (every grant builder): accept plain `http://` to a host that is
/// not loopback (in-cluster identity providers; credentials travel in clear). `extra`: more form parameters (e.g.
/// `audience`, `resource`).
#[pyfunction]
#[pyo3(signature = (token_url, client_id, client_secret=None, *, scope=None, auth_method="client_secret_basic",
    extra=None, private_key=None, key_algorithm="RS256", key_id=None, assertion_audience=None,
    allow_insecure_http=false))]
#[allow(clippy::too_many_arguments)]
pub fn client_credentials(
    token_url: String,
    client_id: String,
    client_secret: Option<String>,
    scope: Option<String>,
    auth_method: &str,
    extra: Option<&Bound<'_, PyAny>>,
    private_key: Option<String>,
    key_algorithm: &str,
    key_id: Option<String>,
    assertion_audience: Option<String>,
    allow_insecure_http: bool,
) -> PyResult<Grant> {
    guard(|| {
        let auth = client_auth(
            Some(auth_method),
            Some(client_id),
            client_secret,
            private_key,
            key_algorithm,
            key_id,
            assertion_audience,
        )?;
        let grant = core_oauth::Grant::ClientCredentials {
            scope,
            extra: self::extra(extra)?,
        };
        Ok(Grant {
            token_url,
            auth,
            grant,
            allow_insecure_http,
        })
    })
}

/// The refresh token grant (RFC 6749 §6), for a refresh token the host already holds.
/// `auth_method=None`: `client_secret_basic` with a secret, else `none`.
#[pyfunction]
#[pyo3(signature = (token_url, client_id, refresh_token, *, client_secret=None, scope=None, auth_method=None,
    private_key=None, key_algorithm="RS256", key_id=None, assertion_audience=None, allow_insecure_http=false))]
#[allow(clippy::too_many_arguments)]
pub fn refresh_token_grant(
    token_url: String,
    client_id: String,
    refresh_token: String,
    client_secret: Option<String>,
    scope: Option<String>,
    auth_method: Option<&str>,
    private_key: Option<String>,
    key_algorithm: &str,
    key_id: Option<String>,
    assertion_audience: Option<String>,
    allow_insecure_http: bool,
) -> PyResult<Grant> {
    guard(|| {
        let auth = client_auth(
            auth_method,
            Some(client_id),
            client_secret,
            private_key,
            key_algorithm,
            key_id,
            assertion_audience,
        )?;
        let grant = core_oauth::Grant::RefreshToken {
            refresh_token: Secret::new(refresh_token),
            scope,
        };
        Ok(Grant {
            token_url,
            auth,
            grant,
            allow_insecure_http,
        })
    })
}

/// The authorization code grant with PKCE (RFC 6749 §4.1.3, RFC 7636 §4.5): `code` from the
/// redirect, the exact `redirect_uri`, and the PKCE `code_verifier`.
#[pyfunction]
#[pyo3(signature = (token_url, client_id, code, redirect_uri, code_verifier, *, client_secret=None,
    auth_method=None, private_key=None, key_algorithm="RS256", key_id=None, assertion_audience=None,
    allow_insecure_http=false))]
#[allow(clippy::too_many_arguments)]
pub fn authorization_code_grant(
    token_url: String,
    client_id: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
    client_secret: Option<String>,
    auth_method: Option<&str>,
    private_key: Option<String>,
    key_algorithm: &str,
    key_id: Option<String>,
    assertion_audience: Option<String>,
    allow_insecure_http: bool,
) -> PyResult<Grant> {
    guard(|| {
        let auth = client_auth(
            auth_method,
            Some(client_id),
            client_secret,
            private_key,
            key_algorithm,
            key_id,
            assertion_audience,
        )?;
        let grant = core_oauth::Grant::AuthorizationCode {
            code: Secret::new(code),
            redirect_uri,
            code_verifier: Secret::new(code_verifier),
        };
        Ok(Grant {
            token_url,
            auth,
            grant,
            allow_insecure_http,
        })
    })
}

/// The JWT bearer grant (RFC 7523 §2.1): an assertion signed with `private_key` (PEM) for
/// `issuer`. `subject`, `audience` (default: the token URL), `scope` (a form parameter, or a
/// claim with `scope_in_assertion=True`), `lifetime` (seconds, 60..3600). Client
/// authentication is optional (`client_id` / `client_secret` / `auth_method`; default
/// `anonymous`).
#[pyfunction]
#[pyo3(signature = (token_url, issuer, private_key, *, algorithm="RS256", key_id=None, subject=None,
    audience=None, scope=None, scope_in_assertion=false, lifetime=Int(core_oauth::DEFAULT_ASSERTION_LIFETIME_S),
    client_id=None, client_secret=None, auth_method=None, allow_insecure_http=false),
    text_signature = "(token_url, issuer, private_key, *, algorithm='RS256', key_id=None, subject=None, audience=None, scope=None, scope_in_assertion=False, lifetime=3600, client_id=None, client_secret=None, auth_method=None, allow_insecure_http=False)")]
#[allow(clippy::too_many_arguments)]
pub fn jwt_bearer_grant(
    token_url: String,
    issuer: String,
    private_key: String,
    algorithm: &str,
    key_id: Option<String>,
    subject: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
    scope_in_assertion: bool,
    lifetime: Int<u32>,
    client_id: Option<String>,
    client_secret: Option<String>,
    auth_method: Option<&str>,
    allow_insecure_http: bool,
) -> PyResult<Grant> {
    guard(|| {
        let key = signing_key(&private_key, algorithm, key_id)?;
        let auth = match auth_method {
            Some("private_key_jwt" | "client_secret_jwt") => {
                return Err(Error::Arg(
                    "jwt_bearer_grant supports client_secret_basic, client_secret_post, none or anonymous client authentication"
                        .into(),
                )
                .into())
            }
            m => client_auth(m, client_id, client_secret, None, "RS256", None, None)?,
        };
        let mut g = core_oauth::JwtBearerGrant::new(issuer, key);
        g.subject = subject;
        g.audience = audience;
        g.scope = scope;
        g.scope_placement = if scope_in_assertion {
            core_oauth::ScopePlacement::AssertionClaim
        } else {
            core_oauth::ScopePlacement::FormParameter
        };
        g.lifetime_s = lifetime.0;
        Ok(Grant {
            token_url,
            auth,
            grant: core_oauth::Grant::JwtBearer(g),
            allow_insecure_http,
        })
    })
}

/// A token request as data (core `TokenRequest`): POST `body` to `url` with `headers`.
/// `repr` redacts the `Authorization` header and the body.
#[pyclass(frozen, module = "tokenclock._native", name = "TokenRequest")]
pub struct TokenRequest(pub core_oauth::TokenRequest);

#[pymethods]
impl TokenRequest {
    /// Always `"POST"`.
    #[getter]
    fn method(&self) -> &'static str {
        self.0.method
    }

    /// The token endpoint.
    #[getter]
    fn url(&self) -> &str {
        &self.0.url
    }

    /// Header `(name, value)` pairs, in order (may carry `Authorization: Basic ...`).
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.0.headers.clone()
    }

    /// Form `(name, value)` pairs, in order (credentials included).
    #[getter]
    fn form(&self) -> Vec<(String, String)> {
        self.0
            .form
            .iter()
            .map(|(n, v)| (n.clone(), v.expose().to_owned()))
            .collect()
    }

    /// The `application/x-www-form-urlencoded` body (contains credentials: don't log it).
    #[getter]
    fn body(&self) -> String {
        self.0.body()
    }

    fn __repr__(&self) -> String {
        request_repr("TokenRequest", &self.0, None)
    }
}

/// A redacted `repr` of a token request: header names only, form field names only.
pub fn request_repr(name: &str, r: &core_oauth::TokenRequest, prefix: Option<String>) -> String {
    let form: Vec<&str> = r.form.iter().map(|(n, _)| n.as_str()).collect();
    let grant = r
        .form_value("grant_type")
        .map(|v| v.expose().to_owned())
        .unwrap_or_default();
    format!(
        "{name}({}method='POST', url={}, grant_type={}, form_fields={})",
        prefix.map(|p| format!("{p}, ")).unwrap_or_default(),
        convert::py_str(&r.url),
        convert::py_str(&grant),
        convert::py_list(&form)
    )
}

/// The issuer-clock interval for an assertion: `(low, high)` Unix seconds, one number for an
/// exact time, or `None` for the local wall clock now.
fn issuer_now(py: Python<'_>, v: Option<&Bound<'_, PyAny>>) -> PyResult<core_oauth::IssuerNow> {
    match v {
        None => {
            let now = convert::system_reading(py)?.wall.as_millis();
            Ok(core_oauth::IssuerNow::exact(now))
        }
        Some(v) if v.is_none() => issuer_now(py, None),
        Some(v) => {
            if let Ok((lo, hi)) = v.extract::<(Secs, Secs)>() {
                Ok(core_oauth::IssuerNow {
                    low_ms: lo.ms("issuer_now[0]")?,
                    high_ms: hi.ms("issuer_now[1]")?,
                })
            } else {
                let t: Secs = v.extract()?;
                Ok(core_oauth::IssuerNow::exact(t.ms("issuer_now")?))
            }
        }
    }
}

/// Builds the token request for `grant` (core `build_token_request`). `issuer_now`: the
/// issuer's clock as `(low, high)` seconds, one number, or `None` (local wall clock) — used
/// only to sign assertions. `seed`: a deterministic RNG for `jti` (default: the OS's).
#[pyfunction]
#[pyo3(signature = (grant, *, issuer_now=None, seed=None))]
pub fn build_token_request(
    py: Python<'_>,
    grant: &Bound<'_, Grant>,
    issuer_now: Option<&Bound<'_, PyAny>>,
    seed: Option<Int<u64>>,
) -> PyResult<TokenRequest> {
    guard(|| {
        let g = grant.get();
        let now = self::issuer_now(py, issuer_now)?;
        let mut rng = convert::rng(seed);
        let r = core_oauth::build_token_request_with(
            &g.token_url,
            &g.auth,
            &g.grant,
            now,
            rng.as_mut(),
            g.request_options(),
        )
        .map_err(Error::Grant)?;
        Ok(TokenRequest(r))
    })
}

/// The NumericDate claims of an assertion valid for `lifetime` seconds when the issuer's
/// clock lies in `issuer_now` (`(low, high)` seconds or one number): `{"iat", "nbf", "exp"}`
/// in whole Unix seconds.
#[pyfunction]
pub fn assertion_times(
    py: Python<'_>,
    issuer_now: &Bound<'_, PyAny>,
    lifetime: Int<u32>,
) -> PyResult<std::collections::BTreeMap<&'static str, f64>> {
    guard(|| {
        let now = self::issuer_now(py, Some(issuer_now))?;
        let t = core_oauth::AssertionTimes::compute(now, lifetime.0).map_err(Error::Grant)?;
        Ok([
            ("iat", t.iat_s as f64),
            ("nbf", t.nbf_s as f64),
            ("exp", t.exp_s as f64),
        ]
        .into_iter()
        .collect())
    })
}

// ----- PKCE, state, authorization URL, redirect ----------------------------------------------

/// A PKCE verifier and its `S256` challenge (RFC 7636). `Pkce(verifier)` checks a known
/// verifier; `Pkce.generate()` draws a fresh one. `repr` hides the verifier.
#[pyclass(frozen, module = "tokenclock._native", name = "Pkce")]
pub struct Pkce(pub core_oauth::Pkce);

#[pymethods]
impl Pkce {
    #[new]
    fn new(verifier: &str) -> PyResult<Self> {
        guard(|| {
            Ok(Pkce(
                core_oauth::Pkce::from_verifier(verifier).map_err(Error::Grant)?,
            ))
        })
    }

    /// A fresh verifier from 32 random bytes (`seed`: deterministic, tests only).
    #[staticmethod]
    #[pyo3(signature = (seed=None))]
    fn generate(seed: Option<Int<u64>>) -> PyResult<Self> {
        guard(|| {
            Ok(Pkce(core_oauth::Pkce::generate(
                convert::rng(seed).as_mut(),
            )))
        })
    }

    /// The verifier (secret until the code is exchanged).
    #[getter]
    fn verifier(&self) -> &str {
        self.0.verifier().expose()
    }

    /// The `S256` challenge.
    #[getter]
    fn challenge(&self) -> &str {
        self.0.challenge()
    }

    /// Always `"S256"`.
    #[getter]
    fn method(&self) -> &'static str {
        self.0.method()
    }

    fn __repr__(&self) -> String {
        format!(
            "Pkce(method='S256', challenge={})",
            crate::convert::py_str(self.0.challenge())
        )
    }
}

/// The `state` that ties a redirect to its authorization request. `repr` hides it.
#[pyclass(frozen, module = "tokenclock._native", name = "State")]
pub struct State(pub core_oauth::State);

#[pymethods]
impl State {
    #[new]
    fn new(value: &str) -> PyResult<Self> {
        guard(|| {
            Ok(State(
                core_oauth::State::from_value(value).map_err(Error::Grant)?,
            ))
        })
    }

    /// A fresh state from 16 random bytes (`seed`: deterministic, tests only).
    #[staticmethod]
    #[pyo3(signature = (seed=None))]
    fn generate(seed: Option<Int<u64>>) -> PyResult<Self> {
        guard(|| {
            Ok(State(core_oauth::State::generate(
                convert::rng(seed).as_mut(),
            )))
        })
    }

    /// The value.
    #[getter]
    fn value(&self) -> &str {
        self.0.as_str()
    }

    /// Whether `received` is this state (constant time in the content).
    fn matches(&self, received: &str) -> bool {
        self.0.matches(received)
    }

    fn __repr__(&self) -> &'static str {
        "State(<redacted>)"
    }
}

/// The URL to send the user's browser to (RFC 6749 §4.1.1 with PKCE).
#[pyfunction]
#[pyo3(signature = (authorize_endpoint, client_id, redirect_uri, pkce, state, *, scope=None, extra=None))]
pub fn authorization_url(
    authorize_endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    pkce: &Bound<'_, Pkce>,
    state: &Bound<'_, State>,
    scope: Option<&str>,
    extra: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    guard(|| {
        let extra = self::extra(extra)?;
        Ok(core_oauth::authorization_url(
            authorize_endpoint,
            client_id,
            redirect_uri,
            scope,
            &pkce.get().0,
            &state.get().0,
            &extra,
        )
        .map_err(Error::Grant)?)
    })
}

/// Reads the authorization response from the redirect (a URL, a request target or a query)
/// and returns the code; checks `state` first. Raises `RedirectError`.
#[pyfunction]
pub fn parse_redirect(redirect: &str, expected_state: &Bound<'_, State>) -> PyResult<String> {
    guard(|| {
        let code = core_oauth::parse_redirect(redirect, &expected_state.get().0)
            .map_err(Error::Redirect)?;
        Ok(code.expose().to_owned())
    })
}

/// The `S256` challenge of a verifier: `BASE64URL(SHA256(verifier))`.
#[pyfunction]
pub fn s256_challenge(verifier: &str) -> PyResult<String> {
    guard(|| Ok(core_oauth::s256_challenge(verifier)))
}

/// Registers this module's functions and classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Grant>()?;
    m.add_class::<TokenRequest>()?;
    m.add_class::<Pkce>()?;
    m.add_class::<State>()?;
    m.add_function(wrap_pyfunction!(client_credentials, m)?)?;
    m.add_function(wrap_pyfunction!(refresh_token_grant, m)?)?;
    m.add_function(wrap_pyfunction!(authorization_code_grant, m)?)?;
    m.add_function(wrap_pyfunction!(jwt_bearer_grant, m)?)?;
    m.add_function(wrap_pyfunction!(build_token_request, m)?)?;
    m.add_function(wrap_pyfunction!(assertion_times, m)?)?;
    m.add_function(wrap_pyfunction!(authorization_url, m)?)?;
    m.add_function(wrap_pyfunction!(parse_redirect, m)?)?;
    m.add_function(wrap_pyfunction!(s256_challenge, m)?)?;
    Ok(())
}
