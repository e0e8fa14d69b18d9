//! A token the session holds, and what the resource server has said about it.

use super::TokenId;
use crate::lifetime::Lifetime;
use crate::oauth::Secret;

/// What the resource server has said about a held token. One value instead of four flags:
/// every combination that can occur is named, and none that cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Standing {
    /// Not yet accepted. `after_rejection`: obtained because the resource server refused the
    /// token before it, so a refusal of this one too is not cured by another refresh.
    Untried {
        /// Obtained because the previous token was refused.
        after_rejection: bool,
    },
    /// Accepted at least once.
    Accepted,
    /// Refused: never handed out again (the next caller refreshes).
    Rejected,
    /// Refused right after a refresh that a refusal caused: a further refresh would not help
    /// (the resource server's clock disagrees), so it stays in use until it expires, and an
    /// acceptance (that clock caught up) clears it.
    Condemned,
}

impl Standing {
    /// Whether the token may be handed out to callers.
    pub(super) fn is_served(self) -> bool {
        !matches!(self, Standing::Rejected)
    }

    /// Whether the resource server refused it (rejected or condemned): never exported,
    /// adopted again or kept as the previous token.
    pub(super) fn is_refused(self) -> bool {
        matches!(self, Standing::Rejected | Standing::Condemned)
    }

    /// After a response other than 401.
    pub(super) fn accepted(self) -> Standing {
        match self {
            Standing::Rejected => Standing::Rejected,
            _ => Standing::Accepted,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct HeldToken {
    pub(super) id: TokenId,
    pub(super) header: Secret,
    pub(super) lifetime: Lifetime,
    pub(super) iat_ms: Option<i64>,
    pub(super) nbf_ms: Option<i64>,
    /// The earliest deadline on the issuer's clock and how much later it may be (for records);
    /// `None` when nothing bounds it safely (no `exp`, and the issuer's clock unknown).
    pub(super) issuer_deadline: Option<(i64, i64)>,
    /// The access token's id ([`crate::record::token_id`]).
    pub(super) token_id: String,
    pub(super) standing: Standing,
}
