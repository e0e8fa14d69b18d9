//! Credential identity: which sessions would receive the same token from the identity provider.
//!
//! A shared token store must never hand one principal's token to another. Two sessions may
//! share a token only when everything that changes *which* token the identity provider issues
//! is the same. [`CredentialIdentity::of`] is the one function that decides it: a SHA-256 over a
//! canonical, versioned encoding of
//!
//! * the grant type and the token URL;
//! * the client id and the client-authentication method (never a secret or a key);
//! * the scope, normalised (split on spaces, sorted, de-duplicated), for every grant;
//! * every extra form parameter, all names and all values, sorted and de-duplicated
//!   (`audience`, `resource` — RFC 8707 allows it to repeat —, `organization`, ...);
//! * for the JWT bearer grant (RFC 7523): the assertion's issuer, subject and audience (the
//!   token URL when none is set): the principal is the subject, or the issuer without one;
//! * the caller's `partition` (e.g. a user or tenant id), when given.
//!
//! Secrets are left out on purpose: two sessions that differ only in a client secret, a
//! signing key, a refresh token or an authorization code are the same principal and share.
//!
//! **User-delegated grants** (authorization code, refresh token) act for a *user* whom
//! nothing above names — the refresh token is a secret that rotates, so it cannot itself be
//! the identity. Sharing them needs an explicit partition ([`CredentialIdentity::for_store`]
//! refuses without one), and the shared record then carries the current refresh token, sealed.
//!
//! The encoding is versioned ([`IDENTITY_VERSION`]): a change of what is hashed gets a new
//! version, so old and new processes never mistake each other's records for their own.

use core::fmt;

use sha2::{Digest, Sha256};

use crate::oauth::Grant;
use crate::session::SessionConfig;
use crate::ErrorCode;

/// The version of the canonical encoding.
pub const IDENTITY_VERSION: u8 = 1;

/// Longest partition accepted, bytes.
pub const MAX_PARTITION_LEN: usize = 1024;

/// The identity of a credential: a SHA-256 over its canonical encoding. `Display` is lower-case
/// hex (64 characters); it reveals nothing secret (no secret is hashed).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialIdentity([u8; 32]);

/// Why a credential has no identity fit for sharing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityError {
    /// A user-delegated grant (authorization code, refresh token) without a partition: which
    /// user the token belongs to is unknown, so it may not be shared (`partition_required`).
    PartitionRequired,
    /// The partition is empty, longer than [`MAX_PARTITION_LEN`] or has control characters
    /// (`invalid_partition`).
    InvalidPartition,
}

impl ErrorCode for IdentityError {
    fn code(&self) -> &'static str {
        match self {
            IdentityError::PartitionRequired => "partition_required",
            IdentityError::InvalidPartition => "invalid_partition",
        }
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::PartitionRequired => f.write_str(
                "a token store needs a partition (e.g. the user id) for authorization-code and \
                 refresh-token grants: their tokens belong to a user the configuration does not name",
            ),
            IdentityError::InvalidPartition => write!(
                f,
                "partition must be a non-empty string of at most {MAX_PARTITION_LEN} bytes without control characters"
            ),
        }
    }
}

impl std::error::Error for IdentityError {}

/// Checks a caller-given partition.
pub fn check_partition(partition: &str) -> Result<(), IdentityError> {
    if partition.is_empty()
        || partition.len() > MAX_PARTITION_LEN
        || partition.chars().any(char::is_control)
    {
        Err(IdentityError::InvalidPartition)
    } else {
        Ok(())
    }
}

/// Whether the grant acts for a user (its tokens may be shared only within a partition, and
/// its refresh token rotates).
pub const fn is_user_delegated(grant: &Grant) -> bool {
    matches!(
        grant,
        Grant::RefreshToken { .. } | Grant::AuthorizationCode { .. }
    )
}

/// Space-separated scope tokens, sorted and de-duplicated.
fn normalise_scope(scope: Option<&str>) -> Option<String> {
    let scope = scope?;
    let mut parts: Vec<&str> = scope.split(' ').filter(|p| !p.is_empty()).collect();
    parts.sort_unstable();
    parts.dedup();
    Some(parts.join(" "))
}

/// The canonical encoding: tagged, length-prefixed fields in a fixed order.
struct Encoder(Sha256);

impl Encoder {
    fn field(&mut self, tag: u8, value: Option<&str>) {
        match value {
            Some(v) => {
                self.0.update([tag, 1]);
                self.0.update((v.len() as u64).to_be_bytes());
                self.0.update(v.as_bytes());
            }
            None => self.0.update([tag, 0]),
        }
    }
}

impl CredentialIdentity {
    /// The identity of a session's credential (see the module docs for what is hashed).
    /// The partition is checked ([`check_partition`]).
    pub fn of(config: &SessionConfig) -> Result<CredentialIdentity, IdentityError> {
        if let Some(p) = &config.partition {
            check_partition(p)?;
        }
        let mut e = Encoder(Sha256::new());
        e.0.update(b"tokenclock credential identity");
        e.0.update([IDENTITY_VERSION]);
        e.field(1, Some(config.grant.grant_type()));
        e.field(2, Some(&config.token_url));
        e.field(3, config.auth.client_id());
        e.field(4, Some(config.auth.method_name()));
        let (scope, extra): (Option<&str>, &[(String, String)]) = match &config.grant {
            Grant::ClientCredentials { scope, extra } => (scope.as_deref(), extra),
            Grant::RefreshToken { scope, .. } => (scope.as_deref(), &[]),
            Grant::AuthorizationCode { .. } => (None, &[]),
            #[cfg(feature = "sign")]
            Grant::JwtBearer(g) => (g.scope.as_deref(), &[]),
        };
        e.field(5, normalise_scope(scope).as_deref());
        let mut pairs: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        e.0.update([6]);
        e.0.update((pairs.len() as u64).to_be_bytes());
        for (k, v) in pairs {
            e.field(7, Some(k));
            e.field(8, Some(v));
        }
        match &config.grant {
            #[cfg(feature = "sign")]
            Grant::JwtBearer(g) => {
                e.field(9, Some(&g.issuer));
                e.field(10, g.subject.as_deref());
                e.field(11, Some(g.audience.as_deref().unwrap_or(&config.token_url)));
            }
            _ => {
                e.field(9, None);
                e.field(10, None);
                e.field(11, None);
            }
        }
        e.field(12, config.partition.as_deref());
        Ok(CredentialIdentity(e.0.finalize().into()))
    }

    /// The identity a shared store may use: as [`of`](Self::of), and refused for a
    /// user-delegated grant without a partition.
    pub fn for_store(config: &SessionConfig) -> Result<CredentialIdentity, IdentityError> {
        if is_user_delegated(&config.grant) && config.partition.is_none() {
            return Err(IdentityError::PartitionRequired);
        }
        CredentialIdentity::of(config)
    }

    /// The 32 bytes of the hash.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for CredentialIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CredentialIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialIdentity({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{ClientAuth, Secret};

    fn cc(scope: Option<&str>, extra: &[(&str, &str)]) -> SessionConfig {
        SessionConfig::new(
            "https://idp.example/token",
            ClientAuth::SecretBasic {
                client_id: "app".into(),
                client_secret: Secret::new("s1"),
            },
            Grant::ClientCredentials {
                scope: scope.map(str::to_owned),
                extra: extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            },
        )
    }

    fn id(c: &SessionConfig) -> CredentialIdentity {
        CredentialIdentity::of(c).unwrap()
    }

    #[test]
    fn scope_order_and_duplicates_do_not_matter_values_do() {
        assert_eq!(id(&cc(Some("b a"), &[])), id(&cc(Some("a  b a"), &[])));
        assert_ne!(id(&cc(Some("a"), &[])), id(&cc(Some("a b"), &[])));
        assert_ne!(id(&cc(None, &[])), id(&cc(Some(""), &[])));
    }

    #[test]
    fn every_extra_parameter_counts() {
        let a = id(&cc(None, &[("organization", "org_A")]));
        assert_ne!(a, id(&cc(None, &[("organization", "org_B")])));
        assert_ne!(a, id(&cc(None, &[])));
        let r1 = id(&cc(None, &[("audience", "a"), ("resource", "r1")]));
        assert_ne!(r1, id(&cc(None, &[("audience", "a"), ("resource", "r2")])));
        // Order of the pairs does not matter.
        assert_eq!(r1, id(&cc(None, &[("resource", "r1"), ("audience", "a")])));
        // ("ab","c") and ("a","bc") differ (length-prefixed).
        assert_ne!(id(&cc(None, &[("ab", "c")])), id(&cc(None, &[("a", "bc")])));
    }

    #[test]
    fn secrets_do_not_count_partition_does() {
        let mut other_secret = cc(Some("read"), &[]);
        other_secret.auth = ClientAuth::SecretBasic {
            client_id: "app".into(),
            client_secret: Secret::new("s2"),
        };
        assert_eq!(id(&cc(Some("read"), &[])), id(&other_secret));
        let mut post = cc(Some("read"), &[]);
        post.auth = ClientAuth::SecretPost {
            client_id: "app".into(),
            client_secret: Secret::new("s1"),
        };
        assert_ne!(id(&cc(Some("read"), &[])), id(&post));
        let mut part = cc(Some("read"), &[]);
        part.partition = Some("tenant-1".into());
        assert_ne!(id(&cc(Some("read"), &[])), id(&part));
        let text = id(&part).to_string();
        assert_eq!(text.len(), 64);
        assert!(!text.contains("s1"));
    }

    #[test]
    fn user_delegated_grants_need_a_partition_for_a_store() {
        let rt = |t: &str, p: Option<&str>| {
            let mut c = SessionConfig::new(
                "https://idp.example/token",
                ClientAuth::None {
                    client_id: "app".into(),
                },
                Grant::RefreshToken {
                    refresh_token: Secret::new(t),
                    scope: None,
                },
            );
            c.partition = p.map(str::to_owned);
            c
        };
        assert_eq!(
            CredentialIdentity::for_store(&rt("rt-alice", None)),
            Err(IdentityError::PartitionRequired)
        );
        let alice = CredentialIdentity::for_store(&rt("rt-alice", Some("alice"))).unwrap();
        let bob = CredentialIdentity::for_store(&rt("rt-bob", Some("bob"))).unwrap();
        assert_ne!(alice, bob);
        // The refresh token rotates: it is not part of the identity.
        assert_eq!(
            alice,
            CredentialIdentity::for_store(&rt("rt-alice-2", Some("alice"))).unwrap()
        );
        assert_eq!(
            CredentialIdentity::of(&rt("x", Some(""))),
            Err(IdentityError::InvalidPartition)
        );
        assert_eq!(
            CredentialIdentity::of(&rt("x", Some("a\nb"))),
            Err(IdentityError::InvalidPartition)
        );
        // Client credentials share without a partition.
        assert!(CredentialIdentity::for_store(&cc(None, &[])).is_ok());
    }
}
