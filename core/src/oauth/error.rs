//! Why a token request, authorization URL or assertion could not be built ([`GrantError`]),
//! the size limits, and the checks every builder applies to the values it is given. Kept apart
//! from the builders so that every module of `oauth` can use them without importing another
//! builder.

use core::fmt;

use crate::ErrorCode;

/// Largest endpoint URL accepted, bytes.
pub const MAX_URL_LEN: usize = 4 * 1024;
/// Largest plain parameter (client id, scope, redirect URI, extra values, ...), bytes.
pub const MAX_PARAM_LEN: usize = 8 * 1024;
/// Largest credential (client secret, refresh token, authorization code), bytes.
pub const MAX_CREDENTIAL_LEN: usize = 16 * 1024;
/// Most extra parameters on one grant.
pub const MAX_EXTRA_PARAMS: usize = 32;
/// Largest form body built, bytes.
pub const MAX_REQUEST_BODY_LEN: usize = 64 * 1024;

/// Parameter names this module writes itself; an extra parameter may not use one.
pub const RESERVED_PARAMETERS: [&str; 11] = [
    "grant_type",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "refresh_token",
    "code",
    "redirect_uri",
    "code_verifier",
    "assertion",
];

/// A token request (or authorization URL, or assertion) could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantError {
    /// An endpoint URL is not an absolute `http(s)` URL we accept (`invalid_url`).
    InvalidUrl {
        /// Which URL.
        what: &'static str,
    },
    /// An endpoint URL is plain `http` to a non-loopback host (`insecure_url`).
    InsecureUrl {
        /// Which URL.
        what: &'static str,
    },
    /// A required value is empty (`empty_parameter`).
    EmptyParameter {
        /// Which value.
        what: &'static str,
    },
    /// A value has characters or a shape it may not have (`invalid_parameter`).
    InvalidParameter {
        /// Which value.
        what: &'static str,
    },
    /// A value or the whole body is too long (`too_large`).
    TooLarge {
        /// Which value.
        what: &'static str,
        /// The limit, bytes (or a count for extra parameters).
        limit: usize,
    },
    /// An extra parameter uses a name this module writes itself (`reserved_parameter`).
    ReservedParameter {
        /// The reserved name.
        name: &'static str,
    },
    /// The grant needs client authentication, the client is public (`client_auth_required`).
    ClientAuthRequired,
    /// The issuer-time interval is out of range or inverted (`invalid_issuer_time`).
    InvalidIssuerTime,
    /// An assertion lifetime outside `60..=3600` s (`invalid_lifetime`).
    InvalidLifetime {
        /// The lifetime given, seconds.
        lifetime_s: u32,
    },
    /// The issuer's time is too uncertain to write an assertion every possible issuer time
    /// accepts (`issuer_time_too_uncertain`).
    IssuerTimeTooUncertain {
        /// `high_ms − low_ms` of the interval.
        uncertainty_ms: i64,
    },
    /// The private key could not be read or does not fit the algorithm (`invalid_key`).
    InvalidKey,
    /// Signing failed (`signing_failed`).
    SigningFailed,
    /// A `client_secret_jwt` secret shorter than HS256 allows (RFC 7518 §3.2: at least as
    /// long as the hash, 32 bytes) (`weak_secret`).
    WeakSecret {
        /// The least length accepted, bytes.
        min_bytes: usize,
    },
}

impl ErrorCode for GrantError {
    fn code(&self) -> &'static str {
        match self {
            GrantError::InvalidUrl { .. } => "invalid_url",
            GrantError::InsecureUrl { .. } => "insecure_url",
            GrantError::EmptyParameter { .. } => "empty_parameter",
            GrantError::InvalidParameter { .. } => "invalid_parameter",
            GrantError::TooLarge { .. } => "too_large",
            GrantError::ReservedParameter { .. } => "reserved_parameter",
            GrantError::ClientAuthRequired => "client_auth_required",
            GrantError::InvalidIssuerTime => "invalid_issuer_time",
            GrantError::InvalidLifetime { .. } => "invalid_lifetime",
            GrantError::IssuerTimeTooUncertain { .. } => "issuer_time_too_uncertain",
            GrantError::InvalidKey => "invalid_key",
            GrantError::SigningFailed => "signing_failed",
            GrantError::WeakSecret { .. } => "weak_secret",
        }
    }
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrantError::InvalidUrl { what } => {
                write!(f, "{what} must be an absolute https URL without credentials or fragment")
            }
            GrantError::InsecureUrl { what } => {
                write!(f, "{what} uses plain http to a host that is not loopback; use https")
            }
            GrantError::EmptyParameter { what } => write!(f, "{what} must not be empty"),
            GrantError::InvalidParameter { what } => write!(f, "{what} has characters or a shape it may not have"),
            GrantError::TooLarge { what, limit } => write!(f, "{what} is larger than {limit}"),
            GrantError::ReservedParameter { name } => {
                write!(f, "extra parameter {name} is set by the grant itself")
            }
            GrantError::ClientAuthRequired => {
                f.write_str("the client credentials grant needs client authentication (a secret or a key)")
            }
            GrantError::InvalidIssuerTime => f.write_str("issuer time interval is out of range or inverted"),
            GrantError::InvalidLifetime { lifetime_s } => {
                write!(f, "assertion lifetime {lifetime_s} s is outside 60..=3600 s")
            }
            GrantError::IssuerTimeTooUncertain { uncertainty_ms } => write!(
                f,
                "issuer clock uncertainty of {uncertainty_ms} ms is too large to write an assertion every possible issuer time accepts"
            ),
            GrantError::InvalidKey => f.write_str("private key cannot be read or does not fit the algorithm"),
            GrantError::SigningFailed => f.write_str("signing the assertion failed"),
            GrantError::WeakSecret { min_bytes } => write!(
                f,
                "client_secret is shorter than {min_bytes} bytes, too short for an HS256 client assertion (RFC 7518 section 3.2)"
            ),
        }
    }
}

impl std::error::Error for GrantError {}

/// Checks a value: at most `max` bytes, non-empty, no control characters.
pub(crate) fn check_text(value: &str, what: &'static str, max: usize) -> Result<(), GrantError> {
    if value.len() > max {
        return Err(GrantError::TooLarge { what, limit: max });
    }
    if value.is_empty() {
        return Err(GrantError::EmptyParameter { what });
    }
    if value.chars().any(char::is_control) {
        return Err(GrantError::InvalidParameter { what });
    }
    Ok(())
}

/// RFC 6749 §3.3: `scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B /
/// %x5D-7E )`. Repeated spaces are tolerated (servers split on whitespace).
pub(crate) fn check_scope(scope: &str) -> Result<(), GrantError> {
    check_text(scope, "scope", MAX_PARAM_LEN)?;
    let valid = scope.bytes().all(|b| {
        b == b' ' || (b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    });
    if !valid || scope.trim_matches(' ').is_empty() {
        return Err(GrantError::InvalidParameter { what: "scope" });
    }
    Ok(())
}

/// An absolute URI (`scheme:` per RFC 3986 §3.1), no fragment (RFC 6749 §3.1.2), no spaces
/// or controls.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), GrantError> {
    const WHAT: &str = "redirect_uri";
    check_text(uri, WHAT, MAX_PARAM_LEN)?;
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, _)| {
        let mut bytes = scheme.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    });
    if !scheme_ok || uri.contains('#') || uri.chars().any(char::is_whitespace) {
        return Err(GrantError::InvalidParameter { what: WHAT });
    }
    Ok(())
}

/// RFC 7636 §4.1: 43–128 characters of `A–Z a–z 0–9 - . _ ~`.
pub(crate) fn check_code_verifier(verifier: &str) -> Result<(), GrantError> {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if valid {
        Ok(())
    } else {
        Err(GrantError::InvalidParameter {
            what: "code_verifier",
        })
    }
}

/// Extra parameters: count, names (printable ASCII, no space, not reserved), values.
pub(crate) fn check_extra(
    extra: &[(String, String)],
    reserved: &[&'static str],
) -> Result<(), GrantError> {
    if extra.len() > MAX_EXTRA_PARAMS {
        return Err(GrantError::TooLarge {
            what: "extra parameters",
            limit: MAX_EXTRA_PARAMS,
        });
    }
    for (name, value) in extra {
        check_text(name, "extra parameter name", MAX_PARAM_LEN)?;
        if !name.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
            return Err(GrantError::InvalidParameter {
                what: "extra parameter name",
            });
        }
        if let Some(r) = reserved.iter().find(|r| **r == name.as_str()) {
            return Err(GrantError::ReservedParameter { name: r });
        }
        check_text(value, "extra parameter value", MAX_PARAM_LEN)?;
    }
    Ok(())
}
