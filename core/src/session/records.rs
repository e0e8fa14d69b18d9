//! Shared records: exporting the held token for a fleet and adopting a peer's.

use super::refresh::late_refresh_at;
use super::{HeldToken, Origin, Session, SessionError, SessionEvent, Standing, TicketId, TokenId};
use crate::httpdate::parse_http_date;
use crate::lifetime::{Lifetime, TokenTimes};
use crate::oauth::{Secret, TokenRequest};
use crate::skew::Sample;
use crate::time::{Reading, UnixMillis};

impl Session {
    /// The held token's id ([`crate::record::token_id`]) and its earliest deadline on the
    /// issuer's clock (ms) — what a shared record is compared with. `None` without a token,
    /// or when the resource server rejected it.
    /// A held token whose issuer-clock deadline is unknown reports `i64::MIN` (any other
    /// token counts as newer).
    pub fn held_token_deadline(&self) -> Option<(&str, i64)> {
        self.current
            .as_ref()
            .filter(|t| !t.standing.is_refused())
            .map(|t| {
                (
                    t.token_id.as_str(),
                    t.issuer_deadline.map_or(i64::MIN, |d| d.0),
                )
            })
    }

    /// Feeds a `Date` header from the token endpoint that was not part of a refresh (e.g. a
    /// `HEAD` probe before adopting a record, when the issuer's clock is still unknown).
    pub fn add_issuer_date(
        &mut self,
        date: &str,
        sent: Reading,
        received: Reading,
    ) -> Result<(), SessionError> {
        if !sent.is_valid() || !received.is_valid() {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        self.observe(received);
        let date = parse_http_date(date, received.wall)
            .map_err(|_| SessionError::InvalidArgument("date"))?;
        let sample = Sample::from_date_header(date, sent, received)
            .map_err(|_| SessionError::InvalidArgument("readings"))?;
        self.add_sample(Origin::Issuer, sample);
        Ok(())
    }

    /// The current token as a record another process can adopt, with its deadlines on the
    /// issuer's clock; `None` without a token that has not expired (or one the resource
    /// server rejected), and `None` when nothing bounds the token's deadline on the issuer's
    /// clock (an opaque token or no `exp`, and no lower bound on the issuer's offset: a
    /// deadline built on a guessed offset could let a reader use the token past its real
    /// expiry). `fencing` is the writer's lease token. For user-delegated grants the record
    /// carries the current refresh token ([`shares_refresh_token`](Self::shares_refresh_token)).
    pub fn export_record(&self, now: Reading, fencing: u64) -> Option<crate::record::TokenRecord> {
        let judge = self.judge_estimate(now);
        let t = self.current.as_ref().filter(|t| !t.standing.is_refused())?;
        let (deadline_ms, deadline_slack_ms) = match t.issuer_deadline {
            Some(d) => d,
            // The refresh token must reach the fleet all the same; an access-token deadline of
            // 0 makes every reader refuse the access token (expired on arrival) and take only
            // the refresh token.
            None if self.shares_refresh_token() => (0, 0),
            None => return None,
        };
        // Only an expired token is kept back. One not yet valid on the resource server's clock
        // (a fresh token and a slow resource server) is exported: each reader judges `nbf`
        // itself, and withholding it would send every waiting peer to the token endpoint.
        if t.lifetime.until_hard_expiry_ms(now, &judge) <= 0 {
            return None;
        }
        Some(crate::record::TokenRecord {
            token_id: t.token_id.clone(),
            access_token: Secret::new(
                t.header
                    .expose()
                    .strip_prefix("Bearer ")
                    .unwrap_or_default(),
            ),
            identity: self.identity.to_string(),
            refresh_token: if self.shares_refresh_token() {
                self.refresh_token.clone()
            } else {
                None
            },
            deadline_ms,
            deadline_slack_ms,
            exp_ms: t.lifetime.exp_ms,
            nbf_ms: t.nbf_ms,
            iat_ms: t.iat_ms,
            fencing,
        })
    }

    /// Adopts a token another process obtained. Its issuer-clock deadline is mapped into local
    /// time through *our* estimate of the issuer's clock, worst case (the issuer's clock as far
    /// ahead as the estimate allows). Rules: a record of another credential identity is
    /// refused (`record_identity_mismatch`), and so is a token the resource server rejected
    /// here; a record's refresh token replaces ours (user-delegated grants); the
    /// token we already hold is kept (same id); without an upper bound on the issuer's offset
    /// the record cannot be placed (`issuer_clock_unknown`: probe the token endpoint's `Date`
    /// with [`add_issuer_date`](Self::add_issuer_date) and try again); a record already past hard
    /// expiry for us is refused (`expired_on_arrival`, no backoff). If `ticket` is given it is
    /// closed by the adoption (a peer refreshed for us).
    pub fn adopt_record(
        &mut self,
        record: &crate::record::TokenRecord,
        ticket: Option<TicketId>,
        now: Reading,
    ) -> Result<TokenId, SessionError> {
        if !now.is_valid() {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        self.observe(now);
        // Grant, endpoint, client, scope, every parameter and the partition: a token issued
        // to another principal (a record moved under our key) is never ours to use.
        self.check_identity(record)?;
        // A token the resource server rejected here is not taken back from the store (the
        // peer that published it may not have been told yet): adopting it again would only
        // be rejected again, a refresh loop without a single token request.
        if self
            .current
            .iter()
            .chain(self.previous.iter())
            .any(|t| t.standing.is_refused() && t.token_id == record.token_id)
        {
            return Err(SessionError::InvalidArgument(
                "record holds a token the resource server rejected",
            ));
        }
        if let Some(t) = ticket {
            if self.ticket.map(|o| o.id) != Some(t) {
                return Err(SessionError::StaleTicket);
            }
        }
        if let Some(cur) = self
            .current
            .as_ref()
            .filter(|c| c.token_id == record.token_id && !c.standing.is_refused())
        {
            let id = cur.id;
            self.take_refresh_token(record);
            if ticket.is_some() {
                self.ticket = None;
            }
            return Ok(id);
        }
        let issuer = self.issuer.estimate(now);
        let Some(high) = issuer.high_ms else {
            return Err(SessionError::IssuerClockUnknown);
        };
        let local_wall = record.deadline_ms.saturating_sub(high);
        let deadline = crate::lifetime::Deadline {
            wall: UnixMillis(local_wall),
            mono: now.mono.plus(local_wall.saturating_sub(now.wall.0)),
        };
        let times = TokenTimes {
            expires_in_ms: None,
            exp_ms: record.exp_ms,
            nbf_ms: record.nbf_ms,
            iat_ms: record.iat_ms,
        };
        let mut lifetime = Lifetime::from_deadline(
            deadline,
            now,
            &times,
            &self.config.policy,
            self.rng.as_mut(),
        )
        .map_err(SessionError::Lifetime)?;
        let judge = self.judge_estimate(now);
        if lifetime.until_hard_expiry_ms(now, &judge) <= 0 {
            return Err(SessionError::ExpiredOnArrival { retry_at: None });
        }
        if self.issuer_reuses_tokens {
            lifetime.refresh_at = late_refresh_at(&lifetime);
        }
        if ticket.is_some() {
            self.ticket = None;
        }
        self.take_refresh_token(record);
        let id = TokenId(self.next_token);
        self.next_token += 1;
        let held = HeldToken {
            id,
            header: Secret::new(format!("Bearer {}", record.access_token.expose())),
            lifetime,
            iat_ms: record.iat_ms,
            nbf_ms: record.nbf_ms,
            issuer_deadline: Some((record.deadline_ms, record.deadline_slack_ms)),
            token_id: record.token_id.clone(),
            standing: Standing::Untried {
                after_rejection: false,
            },
        };
        let old = self.current.replace(held);
        self.previous = old.filter(|t| !t.standing.is_refused());
        self.failures_in_row = 0;
        self.backoff = None;
        self.push(SessionEvent::TokenAdopted { at: now, token: id });
        Ok(id)
    }

    /// Takes the refresh token of a record, for the outstanding `ticket`, before this process
    /// presents its own: under the fleet lease the record holds the fleet's latest refresh
    /// token (a peer may have rotated the one we hold). Returns the ticket's token request
    /// rebuilt with it when it differs from ours (send that one instead), `None` when ours is
    /// current or the session does not share refresh tokens. A record of another identity is
    /// refused (`record_identity_mismatch`).
    pub fn adopt_refresh_token(
        &mut self,
        record: &crate::record::TokenRecord,
        ticket: TicketId,
        now: Reading,
    ) -> Result<Option<TokenRequest>, SessionError> {
        if !now.is_valid() {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        self.check_identity(record)?;
        let Some(out) = self.ticket.filter(|o| o.id == ticket) else {
            return Err(SessionError::StaleTicket);
        };
        if !self.take_refresh_token(record) || !out.uses_refresh_token {
            return Ok(None);
        }
        let (request, _) = self.token_request(now)?;
        Ok(Some(request))
    }

    fn check_identity(&self, record: &crate::record::TokenRecord) -> Result<(), SessionError> {
        if crate::oauth::constant_time_eq(
            record.identity.as_bytes(),
            self.identity.to_string().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(SessionError::ForeignRecord)
        }
    }

    /// Replaces our refresh token with the record's (user-delegated grants only). Returns
    /// whether it changed.
    fn take_refresh_token(&mut self, record: &crate::record::TokenRecord) -> bool {
        match &record.refresh_token {
            Some(rt) if self.shares_refresh_token() && self.refresh_token.as_ref() != Some(rt) => {
                self.refresh_token = Some(rt.clone());
                true
            }
            _ => false,
        }
    }
}
