//! Credential identity: two credentials that would receive different tokens never share a
//! store key; two that differ only in a secret do.
//!
//! The cases of the cross-tenant table (jwt-bearer subjects, refresh tokens of two users,
//! authorization codes of two users, an `organization` parameter, a second `resource`) are
//! pinned below, then a property test mutates one identity field at a time.
#![cfg(feature = "sign")]

use proptest::prelude::*;
use tokenclock::fleet::{Sealing, StoreKeys};
use tokenclock::identity::CredentialIdentity;
use tokenclock::oauth::{
    ClientAuth, Grant, JwtBearerGrant, ScopePlacement, Secret, SigningAlg, SigningKey,
    RESERVED_PARAMETERS,
};
use tokenclock::rng::SplitMix64;
use tokenclock::session::{Session, SessionConfig};
use tokenclock::ErrorCode;

const URL: &str = "https://idp.example/token";

fn key(kid: &str) -> SigningKey {
    let pem = include_str!("keys/rsa-private.pem");
    SigningKey::from_pem(&Secret::new(pem), SigningAlg::Rs256, Some(kid.into())).unwrap()
}

fn session(config: SessionConfig) -> Session {
    Session::new(config, Box::new(SplitMix64::new(1))).unwrap()
}

/// The record key a sealed store would use, or the error code.
fn store_key(config: SessionConfig) -> Result<String, &'static str> {
    StoreKeys::for_session("tc", &session(config), Sealing::Sealed)
        .map(|k| k.record)
        .map_err(|e| e.code())
}

fn basic(secret: &str) -> ClientAuth {
    ClientAuth::SecretBasic {
        client_id: "app".into(),
        client_secret: Secret::new(secret),
    }
}

fn cc(extra: &[(&str, &str)]) -> SessionConfig {
    SessionConfig::new(
        URL,
        basic("s"),
        Grant::ClientCredentials {
            scope: None,
            extra: extra
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        },
    )
}

fn jwt_bearer(subject: &str, kid: &str) -> SessionConfig {
    let mut g = JwtBearerGrant::new("sa@x", key(kid));
    g.subject = Some(subject.into());
    SessionConfig::new(URL, ClientAuth::Anonymous, Grant::JwtBearer(g))
}

fn refresh(rt: &str, partition: Option<&str>) -> SessionConfig {
    let mut c = SessionConfig::new(
        URL,
        basic("s"),
        Grant::RefreshToken {
            refresh_token: Secret::new(rt),
            scope: None,
        },
    );
    c.partition = partition.map(str::to_owned);
    c
}

fn code(code: &str, partition: Option<&str>) -> SessionConfig {
    let mut c = SessionConfig::new(
        URL,
        basic("s"),
        Grant::AuthorizationCode {
            code: Secret::new(code),
            redirect_uri: "https://app.example/cb".into(),
            code_verifier: Secret::new("v".repeat(43)),
        },
    );
    c.partition = partition.map(str::to_owned);
    c
}

#[test]
fn the_cross_tenant_pairs_never_share_a_key() {
    // Domain-wide delegation: one service account acting for two users.
    assert_ne!(
        store_key(jwt_bearer("alice@x", "k1")),
        store_key(jwt_bearer("bob@x", "k1"))
    );
    // Two users of one client: refused without a partition, distinct with one.
    assert_eq!(
        store_key(refresh("rt-alice", None)),
        Err("partition_required")
    );
    assert_eq!(store_key(code("c-alice", None)), Err("partition_required"));
    assert_ne!(
        store_key(refresh("rt-alice", Some("alice"))),
        store_key(refresh("rt-bob", Some("bob")))
    );
    assert_ne!(
        store_key(code("c-alice", Some("alice"))),
        store_key(code("c-bob", Some("bob")))
    );
    // Tenants and resources named by extra parameters.
    assert_ne!(
        store_key(cc(&[("organization", "org_A")])),
        store_key(cc(&[("organization", "org_B")]))
    );
    assert_ne!(
        store_key(cc(&[("audience", "a"), ("resource", "r1")])),
        store_key(cc(&[("audience", "a"), ("resource", "r2")]))
    );
    // A refresh-token session's records carry its refresh token: sealed stores only.
    assert_eq!(
        StoreKeys::for_session("tc", &session(refresh("rt", Some("u"))), Sealing::Clear)
            .unwrap_err()
            .code(),
        "encryption_required"
    );
}

#[test]
fn secrets_are_not_part_of_the_identity() {
    // Another signing key of the same service account and subject: the same principal.
    assert_eq!(
        store_key(jwt_bearer("alice@x", "k1")),
        store_key(jwt_bearer("alice@x", "k2"))
    );
    // A rotated refresh token of the same user.
    assert_eq!(
        store_key(refresh("rt-alice-1", Some("alice"))),
        store_key(refresh("rt-alice-2", Some("alice")))
    );
    let mut a = cc(&[]);
    a.auth = basic("old-secret");
    let mut b = cc(&[]);
    b.auth = basic("new-secret");
    assert_eq!(store_key(a), store_key(b));
}

/// One credential as plain values, so a test can change exactly one field.
#[derive(Clone, Debug)]
struct Model {
    token_url: String,
    client_id: String,
    post: bool,
    scope: Option<Vec<String>>,
    extra: Vec<(String, String)>,
    partition: Option<String>,
    bearer: Option<(String, Option<String>, Option<String>)>,
    secret: String,
}

fn word() -> impl Strategy<Value = String> {
    "[a-z0-9_.:/-]{1,12}"
}

fn model() -> impl Strategy<Value = Model> {
    (
        prop_oneof![
            Just(URL.to_owned()),
            Just("https://other.example/t".to_owned())
        ],
        word(),
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(word(), 1..4)),
        proptest::collection::vec((word(), word()), 0..4),
        proptest::option::of(word()),
        proptest::option::of((
            word(),
            proptest::option::of(word()),
            proptest::option::of(word()),
        )),
        word(),
    )
        .prop_map(
            |(token_url, client_id, post, scope, extra, partition, bearer, secret)| Model {
                token_url,
                client_id,
                post,
                scope,
                extra: extra
                    .into_iter()
                    .filter(|(k, _)| !RESERVED_PARAMETERS.contains(&k.as_str()))
                    .collect(),
                partition,
                bearer,
                secret,
            },
        )
}

impl Model {
    fn config(&self) -> SessionConfig {
        let scope = self.scope.as_ref().map(|s| s.join(" "));
        let (auth, grant) = match &self.bearer {
            Some((iss, sub, aud)) => {
                let mut g = JwtBearerGrant::new(iss.clone(), key(&self.secret));
                g.subject = sub.clone();
                g.audience = aud.clone();
                g.scope = scope;
                g.scope_placement = ScopePlacement::FormParameter;
                (ClientAuth::Anonymous, Grant::JwtBearer(g))
            }
            None => {
                let secret = Secret::new(self.secret.clone());
                let client_id = self.client_id.clone();
                let auth = if self.post {
                    ClientAuth::SecretPost {
                        client_id,
                        client_secret: secret,
                    }
                } else {
                    ClientAuth::SecretBasic {
                        client_id,
                        client_secret: secret,
                    }
                };
                (
                    auth,
                    Grant::ClientCredentials {
                        scope,
                        extra: self.extra.clone(),
                    },
                )
            }
        };
        let mut c = SessionConfig::new(self.token_url.clone(), auth, grant);
        c.partition = self.partition.clone();
        c
    }

    fn identity(&self) -> CredentialIdentity {
        CredentialIdentity::of(&self.config()).unwrap()
    }
}

/// Changes exactly one field that decides which token the identity provider issues.
fn mutate(m: &Model, which: u8, v: &str) -> Option<Model> {
    let mut n = m.clone();
    let fresh = format!("{v}~x");
    match which % 8 {
        0 => n.token_url = format!("https://{v}.example/token"),
        1 if m.bearer.is_none() => n.client_id = fresh,
        2 if m.bearer.is_none() => n.post = !m.post,
        3 => {
            let mut s = m.scope.clone().unwrap_or_default();
            if s.contains(&fresh) {
                return None;
            }
            s.push(fresh);
            n.scope = Some(s);
        }
        4 if m.bearer.is_none() => n.extra.push(("organization".into(), fresh)),
        5 => {
            n.partition = Some(match &m.partition {
                Some(p) => format!("{p}~"),
                None => fresh,
            })
        }
        6 => match &mut n.bearer {
            Some((_, sub, _)) => *sub = Some(format!("{}~", sub.clone().unwrap_or_default())),
            None => return None,
        },
        7 => match &mut n.bearer {
            Some((iss, _, _)) => *iss = fresh,
            None => return None,
        },
        _ => return None,
    }
    Some(n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn credentials_that_differ_in_any_identity_field_never_share_a_key(
        m in model(), which in 0u8..8, v in "[a-z]{1,6}"
    ) {
        if let Some(n) = mutate(&m, which, &v) {
            prop_assert_ne!(m.identity(), n.identity(), "{:?} vs {:?}", m, n);
        }
    }

    #[test]
    fn credentials_that_differ_only_in_a_secret_share_a_key(m in model(), s in "[a-z]{1,6}") {
        let mut n = m.clone();
        n.secret = format!("{}~{s}", m.secret);
        prop_assert_eq!(m.identity(), n.identity());
    }

    #[test]
    fn scope_order_and_repetition_do_not_matter(m in model()) {
        let mut n = m.clone();
        if let Some(s) = &mut n.scope {
            s.reverse();
            s.push(s[0].clone());
        }
        prop_assert_eq!(m.identity(), n.identity());
    }
}
