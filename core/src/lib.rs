//! # tokenclock
//!
//! When is an access token safe to use, when should it be refreshed, and are a JWT's time
//! claims valid? This crate answers those questions across clock skew, sans-I/O:
//!
//! * it never reads a clock — every function that depends on time takes a [`time::Reading`]
//!   (wall + monotonic milliseconds) or a time value as an argument;
//! * it never does I/O — hosts send the HTTP requests and UDP packets it describes and hand the
//!   responses back as plain data;
//! * it has no randomness of its own — jitter, PKCE verifiers and `jti`s come from a
//!   [`rand_core::RngCore`] passed in.
//!
//! Offsets are always `server − local` (RFC 5905 sign): positive means the server's clock is
//! ahead of ours.
//!
//! Every error type implements [`ErrorCode`]: a stable, `snake_case` machine-readable code
//! that the Python and JavaScript bindings expose unchanged.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(clippy::module_name_repetitions)]

pub mod cli;
pub mod fleet;
pub mod httpdate;
pub mod identity;
pub mod lifetime;
pub mod monitor;
pub mod oauth;
pub mod peek;
pub mod record;
pub mod report;
pub mod rng;
pub mod rules;
pub mod session;
#[cfg(feature = "sim")]
pub mod sim;
pub mod skew;
pub mod sntp;
pub mod time;
#[cfg(feature = "verify")]
pub mod verify;

pub use rand_core::RngCore;

/// Makes sure jsonwebtoken has a crypto provider before any signature is made or checked.
///
/// With only RustCrypto compiled in (the default), jsonwebtoken picks it by itself. With the
/// `aws-lc` feature both backends are compiled in, and jsonwebtoken would panic at first use
/// unless one is installed: install aws-lc (idempotent; a provider installed earlier by the
/// host stays).
#[cfg(any(feature = "verify", feature = "sign"))]
pub(crate) fn ensure_crypto_provider() {
    #[cfg(feature = "aws-lc")]
    {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    }
}

/// A stable machine-readable error code, shared with the bindings.
///
/// Codes are `snake_case`, never change meaning once published, and never contain data
/// from the input (messages may name the offending field, never echo a token or secret).
pub trait ErrorCode {
    /// The code, e.g. `"invalid_base64"`.
    fn code(&self) -> &'static str;
}
