//! Closing a ticket: the token endpoint's answer or a transport failure, the backoff it
//! starts, and building the token request.

use super::{
    header, Backoff, BackoffKind, HeldToken, Origin, Outstanding, RefreshReason, Session,
    SessionError, SessionEvent, Standing, Ticket, TicketId, TokenId, TransportFailure,
};
use crate::httpdate::{parse_http_date, parse_retry_after, RetryAfter};
use crate::lifetime::{Lifetime, TokenTimes};
use crate::oauth::{
    build_token_request_with, parse_token_response_capped, ErrorClass, Grant, IssuerNow, Secret,
    TokenRequest,
};
use crate::peek::peek;
use crate::rng::below;
use crate::skew::Sample;
use crate::time::Reading;
use crate::ErrorCode;

impl Session {
    /// Closes the ticket with the token endpoint's answer. `sent`/`received` bracket the
    /// token request. Rules:
    ///
    /// * a ticket that is not the outstanding one is rejected (`StaleTicket`), never applied;
    /// * the response's `Date` feeds the issuer's estimate, the new token's `iat` a lower bound;
    /// * success: the token becomes current (the old one is kept as `previous` while the new
    ///   one is not yet valid on the resource server's clock); a rotated refresh token replaces
    ///   the old one, otherwise the old one is kept; a token already past hard expiry is a
    ///   transient failure (`ExpiredOnArrival`) — unless only the resource server's estimate
    ///   says so: then that estimate is dropped and the token used, so that the next response
    ///   samples that clock again (at most once per `config_retry_ms`;
    ///   [`SessionEvent::ResourceEstimateReset`]): no single sample locks the session;
    /// * `invalid_grant` on a refresh token: the refresh token is dropped; with a reusable
    ///   primary grant the next caller gets a `Fallback` ticket, else `ReauthorizationRequired`
    ///   is permanent (no credential is left to retry with). On an authorization code: the
    ///   code is spent, `ReauthorizationRequired` too;
    /// * configuration errors ([`ErrorClass::Permanent`]: `invalid_client`,
    ///   `unauthorized_client`, `invalid_scope`, `invalid_request`, `unsupported_grant_type`,
    ///   unknown codes on other than 408/429/5xx; and `invalid_grant` on a client-credentials
    ///   or JWT-bearer grant) start the configuration backoff: `config_retry_ms` (or a longer
    ///   `Retry-After`, up to `max_retry_after_ms`), not jittered. A still-valid token is
    ///   served meanwhile; callers without one fail at once with the error; after the wait
    ///   the next caller gets a ticket, so a fixed server is picked up without a restart;
    /// * everything else is transient and starts a backoff (full jitter, honouring
    ///   `Retry-After`): 408, 429, 5xx, any HTTP error without an OAuth `error` (a WAF's HTML
    ///   403, a redirect, a 404), every malformed response (no `access_token`, `token_type:
    ///   DPoP`, ...), a token past hard expiry on arrival, unusable token times.
    pub fn complete_refresh(
        &mut self,
        ticket: TicketId,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        sent: Reading,
        received: Reading,
    ) -> Result<TokenId, SessionError> {
        if !sent.is_valid() || !received.is_valid() {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        let outstanding = self.take_ticket(ticket)?;
        if received.mono < sent.mono {
            self.ticket = Some(outstanding);
            return Err(SessionError::InvalidArgument(
                "received is earlier than sent",
            ));
        }
        self.observe(received);
        if let Some(date) =
            header(headers, "date").and_then(|d| parse_http_date(d, received.wall).ok())
        {
            if let Ok(s) = Sample::from_date_header(date, sent, received) {
                self.add_sample(Origin::Issuer, s);
            }
        }
        match parse_token_response_capped(status, headers, body, self.config.max_token_response_len)
        {
            Ok(resp) => {
                let claims = peek(resp.access_token.expose()).ok();
                let times = TokenTimes {
                    expires_in_ms: resp.expires_in_ms,
                    exp_ms: claims.as_ref().and_then(|c| c.times.exp_ms),
                    nbf_ms: claims.as_ref().and_then(|c| c.times.nbf_ms),
                    iat_ms: claims.as_ref().and_then(|c| c.times.iat_ms),
                };
                if let Some(iat) = times.iat_ms {
                    if let Ok(s) = Sample::from_iat(iat, received) {
                        self.add_sample(Origin::Issuer, s);
                    }
                }
                let judge = self.judge_estimate(received);
                let mut lifetime = match Lifetime::new(
                    &times,
                    sent,
                    received,
                    &judge,
                    &self.config.policy,
                    self.rng.as_mut(),
                ) {
                    Ok(l) => l,
                    Err(error) => {
                        let e = SessionError::InvalidTokenTimes {
                            error,
                            retry_at: None,
                        };
                        return Err(self.transient_failure(received, e, None));
                    }
                };
                let header = Secret::new(format!("Bearer {}", resp.access_token.expose()));
                // The same token again: the issuer caches. Keep ours (its id, its history)
                // and ask again only shortly before hard expiry.
                if let Some(cur) = self
                    .current
                    .as_mut()
                    .filter(|c| c.header == header && !c.standing.is_refused())
                {
                    self.issuer_reuses_tokens = true;
                    if cur.lifetime.until_hard_expiry_ms(received, &judge) <= 0 {
                        // We judge it expired, the issuer does not: asking again at once would
                        // only get it again. Back off.
                        return Err(self.transient_failure(
                            received,
                            SessionError::ExpiredOnArrival { retry_at: None },
                            None,
                        ));
                    }
                    cur.lifetime.refresh_at = late_refresh_at(&cur.lifetime);
                    let id = cur.id;
                    if let Some(rt) = resp.refresh_token {
                        self.refresh_token = Some(rt);
                    }
                    self.failures_in_row = 0;
                    self.backoff = None;
                    self.stats.refreshes += 1;
                    self.push(SessionEvent::TokenReused {
                        at: received,
                        token: id,
                    });
                    return Ok(id);
                }
                // Expired on arrival by the resource server's estimate alone: that estimate
                // may rest on a sample that no longer holds, and it can only be sampled again
                // by sending. Drop it and use the token (the issuer's clock judges it), at
                // most once per config_retry_ms: never refuse forever, never storm.
                let mut judge = judge;
                let mut reset = false;
                if lifetime.until_hard_expiry_ms(received, &judge) <= 0
                    && self.may_reset_resource(received)
                {
                    let by_issuer = self.issuer.estimate(received);
                    if let Ok(l) = Lifetime::new(
                        &times,
                        sent,
                        received,
                        &by_issuer,
                        &self.config.policy,
                        self.rng.as_mut(),
                    ) {
                        if l.until_hard_expiry_ms(received, &by_issuer) > 0 {
                            self.resource.clear();
                            self.resource_reset_at = Some(received);
                            lifetime = l;
                            judge = by_issuer;
                            reset = true;
                        }
                    }
                }
                if lifetime.until_hard_expiry_ms(received, &judge) <= 0 {
                    return Err(self.transient_failure(
                        received,
                        SessionError::ExpiredOnArrival { retry_at: None },
                        None,
                    ));
                }
                if self.issuer_reuses_tokens {
                    lifetime.refresh_at = late_refresh_at(&lifetime);
                }
                if let Some(rt) = resp.refresh_token {
                    self.refresh_token = Some(rt);
                }
                let id = TokenId(self.next_token);
                self.next_token += 1;
                let held = HeldToken {
                    id,
                    header,
                    lifetime,
                    iat_ms: times.iat_ms,
                    nbf_ms: times.nbf_ms,
                    issuer_deadline: self.issuer_deadline(&times, sent, received),
                    token_id: crate::record::token_id(resp.access_token.expose()),
                    standing: Standing::Untried {
                        after_rejection: self.refreshing_after_rejection,
                    },
                };
                self.refreshing_after_rejection = false;
                let old = self.current.replace(held);
                self.previous = old.filter(|t| !t.standing.is_refused());
                if matches!(self.config.grant, Grant::AuthorizationCode { .. })
                    && !outstanding.uses_refresh_token
                {
                    self.primary_available = false;
                }
                self.failures_in_row = 0;
                self.backoff = None;
                self.fallback_pending = false;
                self.stats.refreshes += 1;
                if reset {
                    self.push(SessionEvent::ResourceEstimateReset {
                        at: received,
                        token: id,
                    });
                }
                self.push(SessionEvent::TokenReceived {
                    at: received,
                    token: id,
                    lifetime_ms: lifetime.lifetime_ms,
                    usable_ms: lifetime.until_hard_expiry_ms(received, &judge),
                });
                Ok(id)
            }
            Err(err) => {
                let retry_after = err.retry_after().map(str::to_owned);
                match err.class() {
                    ErrorClass::InvalidGrant if outstanding.uses_refresh_token => {
                        self.refresh_token = None;
                        self.stats.failures += 1;
                        self.failures_in_row = 0;
                        let code = err.code();
                        if self.primary_available {
                            self.fallback_pending = true;
                            self.push(SessionEvent::RefreshFailed {
                                at: received,
                                code,
                                backoff_ms: 0,
                            });
                            Err(SessionError::TokenEndpoint {
                                error: err,
                                retry_at: Some(received.wall),
                            })
                        } else {
                            self.push(SessionEvent::RefreshFailed {
                                at: received,
                                code,
                                backoff_ms: 0,
                            });
                            self.permanent = Some(SessionError::ReauthorizationRequired);
                            Err(SessionError::ReauthorizationRequired)
                        }
                    }
                    ErrorClass::Transient => {
                        let e = SessionError::TokenEndpoint {
                            error: err,
                            retry_at: None,
                        };
                        Err(self.backoff_failure(
                            received,
                            e,
                            retry_after.as_deref(),
                            BackoffKind::Transient,
                        ))
                    }
                    // An authorization code is used once: refused, nothing is left to try.
                    ErrorClass::InvalidGrant
                        if matches!(self.config.grant, Grant::AuthorizationCode { .. }) =>
                    {
                        self.stats.failures += 1;
                        self.failures_in_row = 0;
                        self.primary_available = false;
                        self.push(SessionEvent::RefreshFailed {
                            at: received,
                            code: err.code(),
                            backoff_ms: 0,
                        });
                        self.permanent = Some(SessionError::ReauthorizationRequired);
                        Err(SessionError::ReauthorizationRequired)
                    }
                    // A client-credentials or JWT-bearer grant refused, or the client itself:
                    // the configuration (or the server's) needs a fix. Ask again much later.
                    ErrorClass::InvalidGrant | ErrorClass::Permanent => {
                        let e = SessionError::TokenEndpoint {
                            error: err,
                            retry_at: None,
                        };
                        Err(self.backoff_failure(
                            received,
                            e,
                            retry_after.as_deref(),
                            BackoffKind::Configuration,
                        ))
                    }
                }
            }
        }
    }

    /// Closes the ticket after a transport failure (or an abort). Returns the error callers
    /// will see. A stale ticket is rejected. An abort imposes no backoff.
    pub fn fail_refresh(
        &mut self,
        ticket: TicketId,
        failure: TransportFailure,
        now: Reading,
    ) -> Result<SessionError, SessionError> {
        if !now.is_valid() {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        let _ = self.take_ticket(ticket)?;
        self.observe(now);
        if failure == TransportFailure::Aborted {
            return Ok(SessionError::Transport {
                failure,
                retry_at: None,
            });
        }
        Ok(self.transient_failure(
            now,
            SessionError::Transport {
                failure,
                retry_at: None,
            },
            None,
        ))
    }

    /// The token's deadline on the issuer's clock: `min(exp, issuer time at sent +
    /// expires_in)`, earliest (the issuer minted it no earlier than our request left), with the
    /// slack up to the latest. Without a lower bound on the issuer's offset only `exp` can
    /// say (`None` without one): a deadline from `sent + expires_in` on a guessed offset could
    /// be later than the real one.
    fn issuer_deadline(
        &self,
        times: &TokenTimes,
        sent: Reading,
        received: Reading,
    ) -> Option<(i64, i64)> {
        let est = self.issuer.estimate(received);
        let Some(low_offset) = est.low_ms else {
            return times.exp_ms.map(|exp| (exp, 0));
        };
        let low = sent.wall.0.saturating_add(low_offset);
        let high = est.server_now(received.wall).1 .0;
        let span = high.saturating_sub(low).max(0);
        let lifetime = times.expires_in_ms.or(if times.exp_ms.is_none() {
            Some(self.config.policy.assumed_lifetime_ms)
        } else {
            None
        });
        Some(
            match (lifetime.map(|l| low.saturating_add(l)), times.exp_ms) {
                (Some(d), Some(exp)) if exp <= d => (exp, 0),
                (Some(d), _) => (d, span),
                (None, Some(exp)) => (exp, 0),
                (None, None) => (low, span),
            },
        )
    }

    /// The token request to send now: the refresh token while we hold one, else the primary
    /// grant while it is usable (an authorization code only once). Says whether it presents
    /// the refresh token.
    pub(super) fn token_request(
        &mut self,
        now: Reading,
    ) -> Result<(TokenRequest, bool), SessionError> {
        let (grant, uses_refresh_token) = match &self.refresh_token {
            Some(rt) => {
                let scope = match &self.config.grant {
                    Grant::RefreshToken { scope, .. } => scope.clone(),
                    _ => None,
                };
                (
                    Grant::RefreshToken {
                        refresh_token: rt.clone(),
                        scope,
                    },
                    true,
                )
            }
            None if self.primary_available => (self.config.grant.clone(), false),
            None => {
                let e = SessionError::ReauthorizationRequired;
                self.permanent = Some(e.clone());
                return Err(e);
            }
        };
        // The issuer's clock now lies in [low, high]; unknown bounds fall back to the best guess.
        let (low, high) = self.issuer.estimate(now).server_now(now.wall);
        let issuer_now = IssuerNow {
            low_ms: low.0,
            high_ms: high.0,
        };
        let request = build_token_request_with(
            &self.config.token_url,
            &self.config.auth,
            &grant,
            issuer_now,
            self.rng.as_mut(),
            self.config.request_options(),
        )
        .map_err(SessionError::Grant)?;
        Ok((request, uses_refresh_token))
    }

    pub(super) fn issue_ticket(
        &mut self,
        now: Reading,
        reason: RefreshReason,
    ) -> Result<Ticket, SessionError> {
        let (request, uses_refresh_token) = self.token_request(now)?;
        let reason = if !uses_refresh_token && self.fallback_pending {
            RefreshReason::Fallback
        } else {
            reason
        };
        let id = TicketId(self.next_ticket);
        self.next_ticket += 1;
        self.ticket = Some(Outstanding {
            id,
            issued: now,
            uses_refresh_token,
        });
        self.stats.token_requests += 1;
        self.push(SessionEvent::TicketIssued {
            at: now,
            ticket: id,
            reason,
        });
        Ok(Ticket {
            id,
            request,
            reason,
        })
    }

    /// Records a transient failure: backoff with full jitter (or `Retry-After` if longer).
    fn transient_failure(
        &mut self,
        now: Reading,
        error: SessionError,
        retry_after: Option<&str>,
    ) -> SessionError {
        self.backoff_failure(now, error, retry_after, BackoffKind::Transient)
    }

    /// Records a failure and the backoff it starts; returns the error callers will see, with
    /// the backoff's end as its `retry_at`. Transient: full jitter in `[0, min(cap, base ·
    /// 2^(n-1))]` for the n-th failure in a row. Configuration: `config_retry_ms`. Either way a
    /// longer `Retry-After` wins, cut to `max_retry_after_ms`.
    fn backoff_failure(
        &mut self,
        now: Reading,
        error: SessionError,
        retry_after: Option<&str>,
        kind: BackoffKind,
    ) -> SessionError {
        self.stats.failures += 1;
        self.failures_in_row = self.failures_in_row.saturating_add(1);
        let b = self.config.backoff;
        let mut delay = match kind {
            BackoffKind::Transient => {
                let exp = b
                    .base_ms
                    .saturating_mul(1_i64 << (self.failures_in_row - 1).min(30));
                below(self.rng.as_mut(), exp.min(b.cap_ms).saturating_add(1))
            }
            BackoffKind::Configuration => b.config_retry_ms,
        };
        if let Some(ra) = retry_after.and_then(|v| parse_retry_after(v, now.wall).ok()) {
            let ra_ms = match ra {
                RetryAfter::Delay { ms } => ms,
                // An HTTP-date on the server's clock: wait until the server's clock surely
                // reached it (lowest offset).
                RetryAfter::Date(server) => {
                    let (earliest, _) = self.issuer.estimate(now).server_now(now.wall);
                    server.0.saturating_sub(earliest.0)
                }
            };
            delay = delay.max(ra_ms.clamp(0, b.max_retry_after_ms));
        }
        let until = crate::lifetime::Deadline {
            wall: now.wall.plus(delay),
            mono: now.mono.plus(delay),
        };
        let error = match error {
            SessionError::TokenEndpoint { error, .. } => SessionError::TokenEndpoint {
                error,
                retry_at: Some(until.wall),
            },
            SessionError::Transport { failure, .. } => SessionError::Transport {
                failure,
                retry_at: Some(until.wall),
            },
            SessionError::ExpiredOnArrival { .. } => SessionError::ExpiredOnArrival {
                retry_at: Some(until.wall),
            },
            SessionError::InvalidTokenTimes { error, .. } => SessionError::InvalidTokenTimes {
                error,
                retry_at: Some(until.wall),
            },
            other => other,
        };
        self.push(SessionEvent::RefreshFailed {
            at: now,
            code: error.code(),
            backoff_ms: delay,
        });
        self.backoff = Some(Backoff {
            until,
            error: error.clone(),
            kind,
        });
        error
    }
}

/// The refresh time used once the issuer is known to re-serve cached tokens: shortly before
/// hard expiry (`min(5 s, a tenth of the usable span)` ahead), when a caching issuer will have
/// minted a new token.
pub(super) fn late_refresh_at(l: &Lifetime) -> crate::lifetime::Deadline {
    let span = l.hard_expiry.remaining_ms(l.received).max(0);
    let lead = (span / 10).min(5_000);
    let late = crate::lifetime::Deadline {
        wall: l.hard_expiry.wall.minus(lead),
        mono: l.hard_expiry.mono.minus(lead),
    };
    crate::lifetime::Deadline {
        wall: late.wall.max(l.refresh_at.wall),
        mono: late.mono.max(l.refresh_at.mono),
    }
}
