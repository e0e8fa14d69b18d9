//! OAuth 2.0 as data (core `oauth`): grants, token requests, token responses, PKCE, `state`,
//! the authorization URL and the redirect check.
//!
//! A [`Grant`] is what a `Session` is built from: the token endpoint, the client
//! authentication and the grant (core `ClientAuth` + `Grant`). The grant constructors check it
//! at once with core's `build_token_request`, so a bad URL or scope fails where it is written,
//! not at the first refresh.

use tokenclock::oauth::{
    self as core_oauth, build_token_request_with, ClientAuth, Grant as CoreGrant, IssuerNow,
    RequestOptions, Secret,
};
use tokenclock::rng::SplitMix64;
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{endpoint_error, grant_error, redirect_error, type_error};
use crate::host::{self, Clock};

// ----- grants ------------------------------------------------------------------------------------

/// Endpoint + client authentication + grant: everything a token request is built from.
#[derive(Clone)]
pub struct GrantSpec {
    pub token_url: String,
    pub auth: ClientAuth,
    pub grant: CoreGrant,
    /// `allowInsecureRequests: true`: plain `http://` to a host that is not loopback (core
    /// `RequestOptions::allow_insecure_http`).
    pub allow_insecure_http: bool,
}

/// The `allowInsecureRequests` option (default `false`).
fn insecure_arg(options: &JsValue) -> Result<bool, JsValue> {
    Ok(edge::opt_bool(
        "allowInsecureRequests",
        &edge::get(options, "allowInsecureRequests")?,
    )?
    .unwrap_or(false))
}

fn opt(options: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    edge::opt_string(key, &edge::get(options, key)?)
}

fn req(options: &JsValue, key: &str) -> Result<String, JsValue> {
    edge::string(key, &edge::get(options, key)?)
}

/// The client authentication options: `authMethod` (`client_secret_basic`,
/// `client_secret_post`, `none`, `anonymous`, and in the full build `private_key_jwt` and
/// `client_secret_jwt` (HS256 keyed by `clientSecret`, at least 32 bytes; `audience?`)),
/// `clientId`, `clientSecret`, and for `private_key_jwt` `privateKeyPem`, `alg`, `kid?`,
/// `audience?`. `default_method` applies when `authMethod` is absent.
fn auth_arg(options: &JsValue, default_method: &str) -> Result<ClientAuth, JsValue> {
    let method = opt(options, "authMethod")?.unwrap_or_else(|| default_method.to_owned());
    Ok(match method.as_str() {
        "client_secret_basic" => ClientAuth::SecretBasic {
            client_id: req(options, "clientId")?,
            client_secret: Secret::new(req(options, "clientSecret")?),
        },
        "client_secret_post" => ClientAuth::SecretPost {
            client_id: req(options, "clientId")?,
            client_secret: Secret::new(req(options, "clientSecret")?),
        },
        "none" => ClientAuth::None {
            client_id: req(options, "clientId")?,
        },
        "anonymous" => ClientAuth::Anonymous,
        #[cfg(feature = "full")]
        "private_key_jwt" => ClientAuth::PrivateKeyJwt {
            client_id: req(options, "clientId")?,
            key: signing::key_arg(options)?,
            audience: opt(options, "audience")?,
        },
        #[cfg(feature = "full")]
        "client_secret_jwt" => ClientAuth::client_secret_jwt(
            req(options, "clientId")?,
            Secret::new(req(options, "clientSecret")?),
            opt(options, "audience")?,
        )
        .map_err(|e| grant_error(&e))?,
        #[cfg(not(feature = "full"))]
        "private_key_jwt" => {
            return Err(type_error(
                "authMethod \"private_key_jwt\" signs assertions: import it from \"tokenclock/full\"",
            ))
        }
        #[cfg(not(feature = "full"))]
        "client_secret_jwt" => {
            return Err(type_error(
                "authMethod \"client_secret_jwt\" signs assertions: import it from \"tokenclock/full\"",
            ))
        }
        _ => {
            return Err(type_error(
                "authMethod must be \"client_secret_basic\", \"client_secret_post\", \"client_secret_jwt\", \"none\", \"anonymous\" or \"private_key_jwt\"",
            ))
        }
    })
}

/// The default `authMethod`: `client_secret_basic` with a secret, `none` without.
fn default_method(options: &JsValue) -> Result<&'static str, JsValue> {
    Ok(if edge::is_absent(&edge::get(options, "clientSecret")?) {
        "none"
    } else {
        "client_secret_basic"
    })
}

fn options_object(v: &JsValue) -> Result<(), JsValue> {
    if v.is_object() {
        Ok(())
    } else {
        Err(type_error("options must be an object"))
    }
}

impl GrantSpec {
    /// The core request options this grant was made with.
    pub fn request_options(&self) -> RequestOptions {
        RequestOptions {
            allow_insecure_http: self.allow_insecure_http,
        }
    }

    /// Checks the whole configuration once with core's request builder (the request itself is
    /// discarded; signing grants sign one throwaway assertion).
    fn checked(self) -> Result<Grant, JsValue> {
        let now = Clock::Host.read()?.wall.as_millis();
        build_token_request_with(
            &self.token_url,
            &self.auth,
            &self.grant,
            IssuerNow::exact(now),
            &mut SplitMix64::new(0),
            self.request_options(),
        )
        .map_err(|e| grant_error(&e))?;
        Ok(Grant { spec: self })
    }
}

/// A configured grant: token endpoint, client authentication and grant. Build one with
/// `clientCredentials`, `refreshTokenGrant`, `authorizationCodeGrant` (or `jwtBearerGrant` in
/// the full build) and hand it to `new Session(grant)`.
#[wasm_bindgen]
pub struct Grant {
    pub(crate) spec: GrantSpec,
}

#[wasm_bindgen]
impl Grant {
    /// The `grant_type` sent.
    #[wasm_bindgen(getter = grantType)]
    pub fn grant_type(&self) -> String {
        self.spec.grant.grant_type().to_owned()
    }

    /// The token endpoint.
    #[wasm_bindgen(getter = tokenUrl)]
    pub fn token_url(&self) -> String {
        self.spec.token_url.clone()
    }

    /// The client authentication method (`client_secret_basic`, ..., `anonymous`).
    #[wasm_bindgen(getter = authMethod)]
    pub fn auth_method(&self) -> String {
        self.spec.auth.method_name().to_owned()
    }

    /// Whether plain `http://` to a host that is not loopback was allowed
    /// (`allowInsecureRequests: true`).
    #[wasm_bindgen(getter = allowInsecureRequests)]
    pub fn allow_insecure_requests(&self) -> bool {
        self.spec.allow_insecure_http
    }

    /// The client id, or `null` for anonymous clients.
    #[wasm_bindgen(getter = clientId)]
    pub fn client_id(&self) -> JsValue {
        edge::opt_str(self.spec.auth.client_id())
    }

    /// The token request for this grant, with the issuer's clock known to lie in
    /// `issuerNow = { lowMs, highMs }` (only signed assertions use it). `seed` fixes the
    /// assertion `jti` (tests only).
    #[wasm_bindgen(js_name = tokenRequest)]
    pub fn token_request(
        &self,
        issuer_now: JsValue,
        options: JsValue,
    ) -> Result<TokenRequest, JsValue> {
        let issuer_now = issuer_now_arg(&issuer_now)?;
        edge::options("options", &options)?;
        let mut rng = host::rng(edge::opt_seed(&edge::get(&options, "seed")?)?)?;
        let s = &self.spec;
        let inner = build_token_request_with(
            &s.token_url,
            &s.auth,
            &s.grant,
            issuer_now,
            rng.rng.as_mut(),
            s.request_options(),
        )
        .map_err(|e| grant_error(&e))?;
        rng.check()?;
        Ok(TokenRequest { inner })
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!(
            "Grant({}, {}, {})",
            self.spec.grant.grant_type(),
            self.spec.auth.method_name(),
            self.spec.token_url
        )
    }

    /// `{ grantType, authMethod, tokenUrl }`: never a secret, code or token.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        Out::new()
            .str("grantType", self.spec.grant.grant_type())
            .str("authMethod", self.spec.auth.method_name())
            .str("tokenUrl", &self.spec.token_url)
            .build()
    }
}

/// `issuerNow = { lowMs, highMs }`, Unix ms (core checks the order and range).
fn issuer_now_arg(v: &JsValue) -> Result<IssuerNow, JsValue> {
    if !v.is_object() {
        return Err(type_error("issuerNow must be { lowMs, highMs }"));
    }
    Ok(IssuerNow {
        low_ms: edge::uint("issuerNow.lowMs", &edge::get(v, "lowMs")?)?,
        high_ms: edge::uint("issuerNow.highMs", &edge::get(v, "highMs")?)?,
    })
}

/// `clientCredentials({ tokenUrl, clientId, clientSecret, scope?, extra?, authMethod? })`:
/// the client credentials grant (RFC 6749 §4.4); `authMethod` defaults to
/// `client_secret_basic`; `extra` is `[[name, value], ...]` (e.g. `audience`, `resource`).
#[wasm_bindgen(js_name = clientCredentials)]
pub fn client_credentials(options: JsValue) -> Result<Grant, JsValue> {
    options_object(&options)?;
    GrantSpec {
        token_url: req(&options, "tokenUrl")?,
        allow_insecure_http: insecure_arg(&options)?,
        auth: auth_arg(&options, "client_secret_basic")?,
        grant: CoreGrant::ClientCredentials {
            scope: opt(&options, "scope")?,
            extra: edge::pairs("extra", &edge::get(&options, "extra")?)?,
        },
    }
    .checked()
}

/// `refreshTokenGrant({ tokenUrl, clientId, clientSecret?, refreshToken, scope?, authMethod? })`:
/// a refresh token the host already holds (RFC 6749 §6). `authMethod` defaults to
/// `client_secret_basic` with a secret, `none` without.
#[wasm_bindgen(js_name = refreshTokenGrant)]
pub fn refresh_token_grant(options: JsValue) -> Result<Grant, JsValue> {
    options_object(&options)?;
    GrantSpec {
        token_url: req(&options, "tokenUrl")?,
        allow_insecure_http: insecure_arg(&options)?,
        auth: auth_arg(&options, default_method(&options)?)?,
        grant: CoreGrant::RefreshToken {
            refresh_token: Secret::new(req(&options, "refreshToken")?),
            scope: opt(&options, "scope")?,
        },
    }
    .checked()
}

/// `authorizationCodeGrant({ tokenUrl, clientId, clientSecret?, code, redirectUri,
/// codeVerifier, authMethod? })`: an authorization code with PKCE (RFC 6749 §4.1.3,
/// RFC 7636 §4.5), used once; the refresh token it yields keeps the session going.
#[wasm_bindgen(js_name = authorizationCodeGrant)]
pub fn authorization_code_grant(options: JsValue) -> Result<Grant, JsValue> {
    options_object(&options)?;
    GrantSpec {
        token_url: req(&options, "tokenUrl")?,
        allow_insecure_http: insecure_arg(&options)?,
        auth: auth_arg(&options, default_method(&options)?)?,
        grant: CoreGrant::AuthorizationCode {
            code: Secret::new(req(&options, "code")?),
            redirect_uri: req(&options, "redirectUri")?,
            code_verifier: Secret::new(req(&options, "codeVerifier")?),
        },
    }
    .checked()
}

/// Signing keys and the JWT bearer grant (full build only: links jsonwebtoken).
#[cfg(feature = "full")]
mod signing {
    use super::*;
    use tokenclock::oauth::{JwtBearerGrant, ScopePlacement, SigningAlg, SigningKey};

    /// `privateKeyPem`, `alg` (`RS256`, ..., `EdDSA`), `kid?` → a checked signing key.
    pub fn key_arg(options: &JsValue) -> Result<SigningKey, JsValue> {
        let pem = Secret::new(req(options, "privateKeyPem")?);
        let alg_name = req(options, "alg")?;
        let alg = SigningAlg::parse(&alg_name).ok_or_else(|| {
            type_error(
                "alg must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
            )
        })?;
        SigningKey::from_pem(&pem, alg, opt(options, "kid")?).map_err(|e| grant_error(&e))
    }

    /// `jwtBearerGrant({ tokenUrl, issuer, subject?, audience?, scope?, scopePlacement?:
    /// "form" | "claim", privateKeyPem, alg, kid?, lifetimeS?, authMethod? })`: the JWT bearer
    /// grant (RFC 7523 §2.1), e.g. a Google service account. `authMethod` defaults to
    /// `anonymous` (the assertion says who is asking).
    #[wasm_bindgen(js_name = jwtBearerGrant)]
    pub fn jwt_bearer_grant(options: JsValue) -> Result<Grant, JsValue> {
        options_object(&options)?;
        let token_url = req(&options, "tokenUrl")?;
        let auth = auth_arg(&options, "anonymous")?;
        let mut g = JwtBearerGrant::new(req(&options, "issuer")?, key_arg(&options)?);
        g.subject = opt(&options, "subject")?;
        g.audience = opt(&options, "audience")?;
        g.scope = opt(&options, "scope")?;
        g.scope_placement = match opt(&options, "scopePlacement")?.as_deref() {
            None | Some("form") => ScopePlacement::FormParameter,
            Some("claim") => ScopePlacement::AssertionClaim,
            Some(_) => return Err(type_error("scopePlacement must be \"form\" or \"claim\"")),
        };
        if let Some(s) = edge::opt_uint_as::<u32>("lifetimeS", &edge::get(&options, "lifetimeS")?)?
        {
            g.lifetime_s = s;
        }
        GrantSpec {
            token_url,
            auth,
            grant: CoreGrant::JwtBearer(g),
            allow_insecure_http: insecure_arg(&options)?,
        }
        .checked()
    }
}

#[cfg(feature = "full")]
pub use signing::jwt_bearer_grant;

// ----- token requests ----------------------------------------------------------------------------

/// A token request as data (core `oauth::TokenRequest`): POST `body` to `url` with `headers`.
/// `toString()`/`toJSON()` redact the `Authorization` header and every credential.
#[wasm_bindgen]
pub struct TokenRequest {
    pub(crate) inner: core_oauth::TokenRequest,
}

impl TokenRequest {
    pub(crate) fn redacted(r: &core_oauth::TokenRequest) -> JsValue {
        let headers = r.headers.iter().map(|(n, v)| {
            let shown = if n.eq_ignore_ascii_case("authorization") {
                "<redacted>"
            } else {
                v.as_str()
            };
            (n.as_str(), shown)
        });
        let form = r.form.iter().map(|(n, v)| {
            let shown = if v.is_secret() {
                "<redacted>"
            } else {
                v.expose()
            };
            (n.as_str(), shown)
        });
        Out::new()
            .str("method", r.method)
            .str("url", &r.url)
            .set("headers", edge::pairs_js(headers))
            .set("form", edge::pairs_js(form))
            .build()
    }
}

#[wasm_bindgen]
impl TokenRequest {
    /// Always `"POST"`.
    #[wasm_bindgen(getter)]
    pub fn method(&self) -> String {
        self.inner.method.to_owned()
    }

    /// The token endpoint.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// `[[name, value], ...]` in order (includes `Authorization: Basic ...` for
    /// `client_secret_basic`).
    #[wasm_bindgen(getter)]
    pub fn headers(&self) -> JsValue {
        edge::pairs_js(
            self.inner
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        )
    }

    /// The form fields `[[name, value], ...]` in order (credentials included).
    #[wasm_bindgen(getter)]
    pub fn form(&self) -> JsValue {
        edge::pairs_js(
            self.inner
                .form
                .iter()
                .map(|(n, v)| (n.as_str(), v.expose())),
        )
    }

    /// The `application/x-www-form-urlencoded` body (contains credentials: don't log it).
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> String {
        self.inner.body()
    }

    /// The first header named `name` (ASCII case-insensitive), or `null`.
    pub fn header(&self, name: JsValue) -> Result<JsValue, JsValue> {
        let name = edge::string("name", &name)?;
        Ok(edge::opt_str(self.inner.header(&name)))
    }

    /// The first form field named `name`, or `null`.
    #[wasm_bindgen(js_name = formValue)]
    pub fn form_value(&self, name: JsValue) -> Result<JsValue, JsValue> {
        let name = edge::string("name", &name)?;
        Ok(edge::opt_str(
            self.inner.form_value(&name).map(|v| v.expose()),
        ))
    }

    /// Method, URL, headers and form with credentials redacted.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        TokenRequest::redacted(&self.inner)
    }

    /// Method and URL only (the headers and form may carry credentials).
    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!("TokenRequest({} {})", self.inner.method, self.inner.url)
    }
}

/// `assertionTimes({ lowMs, highMs }, lifetimeS)`: the `iat`/`nbf`/`exp` (seconds, issuer
/// clock) of an assertion every issuer time in the interval accepts: `{ iatS, nbfS, expS }`.
#[wasm_bindgen(js_name = assertionTimes)]
pub fn assertion_times(issuer_now: JsValue, lifetime_s: JsValue) -> Result<JsValue, JsValue> {
    let now = issuer_now_arg(&issuer_now)?;
    let lifetime = edge::uint_as::<u32>("lifetimeS", &lifetime_s)?;
    let t = core_oauth::AssertionTimes::compute(now, lifetime).map_err(|e| grant_error(&e))?;
    Ok(Out::new()
        .num("iatS", t.iat_s)
        .num("nbfS", t.nbf_s)
        .num("expS", t.exp_s)
        .build())
}

// ----- PKCE, state, authorization URL, redirect ------------------------------------------------

/// A PKCE verifier and its `S256` challenge (core `oauth::Pkce`). `toString()` shows only the
/// challenge (which is public).
#[wasm_bindgen]
pub struct Pkce {
    inner: core_oauth::Pkce,
}

#[wasm_bindgen]
impl Pkce {
    /// A fresh verifier from 32 random bytes (`crypto.getRandomValues`; `seed` for tests only).
    pub fn generate(options: JsValue) -> Result<Pkce, JsValue> {
        edge::options("options", &options)?;
        let mut rng = host::rng(edge::opt_seed(&edge::get(&options, "seed")?)?)?;
        let inner = core_oauth::Pkce::generate(rng.rng.as_mut());
        rng.check()?;
        Ok(Pkce { inner })
    }

    /// A known verifier (e.g. restored after the redirect); 43–128 unreserved characters.
    #[wasm_bindgen(js_name = fromVerifier)]
    pub fn from_verifier(verifier: JsValue) -> Result<Pkce, JsValue> {
        let verifier = edge::string("verifier", &verifier)?;
        core_oauth::Pkce::from_verifier(&verifier)
            .map(|inner| Pkce { inner })
            .map_err(|e| grant_error(&e))
    }

    /// The verifier (secret: sent only with the code to the token endpoint).
    #[wasm_bindgen(getter)]
    pub fn verifier(&self) -> String {
        self.inner.verifier().expose().to_owned()
    }

    /// The `S256` challenge (sent in the authorization URL).
    #[wasm_bindgen(getter)]
    pub fn challenge(&self) -> String {
        self.inner.challenge().to_owned()
    }

    /// Always `"S256"`.
    #[wasm_bindgen(getter)]
    pub fn method(&self) -> String {
        self.inner.method().to_owned()
    }

    /// `{ challenge, method }` (no verifier).
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        Out::new()
            .str("challenge", self.inner.challenge())
            .str("method", self.inner.method())
            .build()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!("Pkce(S256, challenge {})", self.inner.challenge())
    }
}

/// `s256Challenge(verifier)`: `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
#[wasm_bindgen(js_name = s256Challenge)]
pub fn s256_challenge(verifier: JsValue) -> Result<String, JsValue> {
    Ok(core_oauth::s256_challenge(&edge::string(
        "verifier", &verifier,
    )?))
}

/// The `state` parameter (core `oauth::State`). `toString()` redacts it.
#[wasm_bindgen]
pub struct State {
    inner: core_oauth::State,
}

#[wasm_bindgen]
impl State {
    /// A fresh state from 16 random bytes (`seed` for tests only).
    pub fn generate(options: JsValue) -> Result<State, JsValue> {
        edge::options("options", &options)?;
        let mut rng = host::rng(edge::opt_seed(&edge::get(&options, "seed")?)?)?;
        let inner = core_oauth::State::generate(rng.rng.as_mut());
        rng.check()?;
        Ok(State { inner })
    }

    /// A known state (e.g. restored after the redirect): 1–512 printable ASCII characters.
    #[wasm_bindgen(js_name = fromValue)]
    pub fn from_value(value: JsValue) -> Result<State, JsValue> {
        let value = edge::string("value", &value)?;
        core_oauth::State::from_value(&value)
            .map(|inner| State { inner })
            .map_err(|e| grant_error(&e))
    }

    /// The value.
    #[wasm_bindgen(getter)]
    pub fn value(&self) -> String {
        self.inner.as_str().to_owned()
    }

    /// Whether `received` is this state (constant time in the content).
    pub fn matches(&self, received: JsValue) -> Result<bool, JsValue> {
        Ok(self.inner.matches(&edge::string("received", &received)?))
    }

    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        "State(<redacted>)".to_owned()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        "State(<redacted>)".to_owned()
    }
}

/// A `Pkce`/`State` argument: the instance's `verifier`/`value` string (read through its
/// getter), or that string itself; core re-checks it.
fn secret_field(param: &str, v: &JsValue, field: &str) -> Result<String, JsValue> {
    if v.is_string() {
        edge::string(param, v)
    } else if v.is_object() {
        edge::string(&format!("{param}.{field}"), &edge::get(v, field)?)
    } else {
        Err(type_error(&format!(
            "{param} must be an object with {field} or a string"
        )))
    }
}

fn pkce_arg(v: &JsValue) -> Result<core_oauth::Pkce, JsValue> {
    core_oauth::Pkce::from_verifier(&secret_field("pkce", v, "verifier")?)
        .map_err(|e| grant_error(&e))
}

fn state_arg(param: &str, v: &JsValue) -> Result<core_oauth::State, JsValue> {
    core_oauth::State::from_value(&secret_field(param, v, "value")?).map_err(|e| grant_error(&e))
}

/// `authorizationUrl({ authorizeEndpoint, clientId, redirectUri, scope?, pkce, state, extra? })`:
/// the URL to send the browser to (RFC 6749 §4.1.1 with PKCE). `pkce` is a `Pkce` (or its
/// verifier), `state` a `State` (or its value).
#[wasm_bindgen(js_name = authorizationUrl)]
pub fn authorization_url(options: JsValue) -> Result<String, JsValue> {
    options_object(&options)?;
    let endpoint = req(&options, "authorizeEndpoint")?;
    let client_id = req(&options, "clientId")?;
    let redirect_uri = req(&options, "redirectUri")?;
    let scope = opt(&options, "scope")?;
    let pkce = pkce_arg(&edge::get(&options, "pkce")?)?;
    let state = state_arg("state", &edge::get(&options, "state")?)?;
    let extra = edge::pairs("extra", &edge::get(&options, "extra")?)?;
    core_oauth::authorization_url(
        &endpoint,
        &client_id,
        &redirect_uri,
        scope.as_deref(),
        &pkce,
        &state,
        &extra,
    )
    .map_err(|e| grant_error(&e))
}

/// `parseRedirect(redirect, expectedState)`: checks the redirect's `state` first, then an
/// `error` (`authorization_error` with `.oauthError`, `.description`), and returns the code.
#[wasm_bindgen(js_name = parseRedirect)]
pub fn parse_redirect(redirect: JsValue, expected_state: JsValue) -> Result<String, JsValue> {
    let redirect = edge::string("redirect", &redirect)?;
    let state = state_arg("expectedState", &expected_state)?;
    core_oauth::parse_redirect(&redirect, &state)
        .map(|code| code.expose().to_owned())
        .map_err(|e| redirect_error(&e))
}

// ----- token responses ---------------------------------------------------------------------------

/// A successful token response (core `oauth::TokenResponse`). `toString()`/`toJSON()` redact
/// the tokens.
#[wasm_bindgen]
pub struct TokenResponse {
    inner: core_oauth::TokenResponse,
}

#[wasm_bindgen]
impl TokenResponse {
    /// The access token.
    #[wasm_bindgen(getter = accessToken)]
    pub fn access_token(&self) -> String {
        self.inner.access_token.expose().to_owned()
    }

    /// Always `"Bearer"`.
    #[wasm_bindgen(getter = tokenType)]
    pub fn token_type(&self) -> String {
        self.inner.token_type.as_str().to_owned()
    }

    /// `expires_in` in ms, or `null`.
    #[wasm_bindgen(getter = expiresInMs)]
    pub fn expires_in_ms(&self) -> JsValue {
        edge::opt_num(self.inner.expires_in_ms)
    }

    /// A new refresh token, or `null`.
    #[wasm_bindgen(getter = refreshToken)]
    pub fn refresh_token(&self) -> JsValue {
        edge::opt_str(self.inner.refresh_token.as_ref().map(Secret::expose))
    }

    /// The granted scope, or `null`.
    #[wasm_bindgen(getter)]
    pub fn scope(&self) -> JsValue {
        edge::opt_str(self.inner.scope.as_deref())
    }

    /// An OpenID Connect ID token (not verified), or `null`.
    #[wasm_bindgen(getter = idToken)]
    pub fn id_token(&self) -> JsValue {
        edge::opt_str(self.inner.id_token.as_ref().map(Secret::expose))
    }

    /// `Bearer <access token>`.
    #[wasm_bindgen(getter = authorizationHeader)]
    pub fn authorization_header(&self) -> String {
        self.inner.authorization_header().expose().to_owned()
    }

    /// The non-secret fields.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        Out::new()
            .str("tokenType", self.inner.token_type.as_str())
            .opt_num("expiresInMs", self.inner.expires_in_ms)
            .opt_str("scope", self.inner.scope.as_deref())
            .set(
                "hasRefreshToken",
                JsValue::from_bool(self.inner.refresh_token.is_some()),
            )
            .set(
                "hasIdToken",
                JsValue::from_bool(self.inner.id_token.is_some()),
            )
            .build()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        match self.inner.expires_in_ms {
            Some(ms) => format!("TokenResponse(Bearer, expires in {ms} ms)"),
            None => "TokenResponse(Bearer)".to_owned(),
        }
    }
}

/// `parseTokenResponse(status, headers, body)`: reads a token endpoint response. Throws
/// `TokenClockError` with the code (`invalid_grant`, `invalid_json`, `http_error`, ...) and
/// `.errorClass` (`permanent`, `invalid_grant`, `transient`), `.kind`, `.status`,
/// `.oauthError`, `.description`, `.retryAfter`.
#[wasm_bindgen(js_name = parseTokenResponse)]
pub fn parse_token_response(
    status: JsValue,
    headers: JsValue,
    body: JsValue,
) -> Result<TokenResponse, JsValue> {
    let status = edge::uint_as::<u16>("status", &status)?;
    let headers = edge::pairs("headers", &headers)?;
    let body = edge::body("body", &body)?;
    core_oauth::parse_token_response(status, &headers, &body)
        .map(|inner| TokenResponse { inner })
        .map_err(|e| endpoint_error(&e))
}

/// `refreshTokenToKeep(previous, response)`: the new refresh token when the response has one,
/// else `previous` (rotation, RFC 6749 §6).
#[wasm_bindgen(js_name = refreshTokenToKeep)]
pub fn refresh_token_to_keep(
    previous: JsValue,
    response: &TokenResponse,
) -> Result<JsValue, JsValue> {
    let previous = edge::opt_string("previous", &previous)?.map(Secret::new);
    let kept = core_oauth::refresh_token_to_keep(previous.as_ref(), &response.inner);
    Ok(edge::opt_str(kept.as_ref().map(Secret::expose)))
}
