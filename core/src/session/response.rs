//! The resource server's answers: accepting, retrying or diagnosing a refusal.

use super::{
    header, AfterResponse, Attempt, Diagnosis, Origin, Resend, Session, SessionEvent, SkewEvidence,
    SkewFinding, Standing, TokenId, Verdict, MAX_SENDS_PER_CALL,
};
use crate::httpdate::parse_http_date;
use crate::lifetime::Lifetime;
use crate::skew::{Estimate, Sample};
use crate::time::Reading;

impl Session {
    /// Takes every API response made with a token from this session. Rules:
    ///
    /// * the `Date` header feeds the resource server's estimate, unless the response came from a
    ///   cache (an `Age` header other than `0`: its `Date` is when the origin made it);
    /// * a non-401 marks the token accepted and is accepted;
    /// * 401 on a token that is no longer current: retry (with the newer token);
    /// * 401 on the current token that came after a rejection: `Fail` with a diagnosis, and the
    ///   token is kept (another refresh would not help; no refresh storm);
    /// * 401 that the resource server's clock explains as "not yet valid" within
    ///   `max_401_wait_ms`: retry after that wait, token kept;
    /// * otherwise: the token is invalidated (the next `authorize` refreshes) and retry.
    pub fn on_response(
        &mut self,
        token_id: TokenId,
        status: u16,
        headers: &[(String, String)],
        sent: Reading,
        received: Reading,
    ) -> Verdict {
        // Unusable readings: judge the status alone, at the latest reading we trust.
        let (sent, received, readings_ok) = match self.last_reading {
            _ if sent.is_valid() && received.is_valid() => (sent, received, true),
            Some(last) => (last, last, false),
            None => (Reading::default(), Reading::default(), false),
        };
        if readings_ok {
            self.observe(received);
        }
        // A response served from a cache (`Age` other than 0, RFC 9111 §5.1) carries the
        // origin's `Date` of when it was generated, not the resource server's clock now.
        let from_cache = header(headers, "age").is_some_and(|a| a.trim() != "0");
        if let Some(date) = header(headers, "date")
            .filter(|_| readings_ok && !from_cache)
            .and_then(|d| parse_http_date(d, received.wall).ok())
        {
            if let Ok(s) = Sample::from_date_header(date, sent, received) {
                self.add_sample(Origin::Resource, s);
            }
        }
        let is_current = self.current.as_ref().is_some_and(|t| t.id == token_id);
        if status != 401 {
            if let Some(t) = self.current.as_mut().filter(|t| t.id == token_id) {
                // A condemned token accepted: the resource server's clock caught up, the token
                // is good again, and a later 401 means something new (a refresh may help).
                t.standing = t.standing.accepted();
            }
            return Verdict::Accept;
        }
        self.stats.unauthorized += 1;
        let verdict = if !is_current {
            // An older token: never serve it again; the retry gets the newer one.
            if let Some(p) = self.previous.as_mut().filter(|p| p.id == token_id) {
                p.standing = Standing::Rejected;
            }
            Verdict::Retry { wait_ms: 0 }
        } else {
            let judge = self.judge_estimate(received);
            let (issuer_est, resource_est) = self.estimates(received);
            let max_wait = self.config.max_401_wait_ms;
            let t = self.current.as_mut().expect("is_current");
            if matches!(
                t.standing,
                Standing::Condemned
                    | Standing::Untried {
                        after_rejection: true
                    }
            ) {
                t.standing = Standing::Condemned;
                Verdict::Fail {
                    diagnosis: diagnose(
                        &t.lifetime,
                        t.nbf_ms,
                        t.iat_ms,
                        received,
                        &issuer_est,
                        &resource_est,
                    ),
                }
            } else if t.standing == Standing::Rejected {
                // Already invalidated by a concurrent 401.
                Verdict::Retry { wait_ms: 0 }
            } else {
                let wait = t.lifetime.until_valid_ms(received, &judge);
                let best_wait = t.lifetime.not_before_ms.map_or(0, |nb| {
                    nb.saturating_sub(received.wall.0.saturating_add(judge.offset_ms))
                });
                if best_wait > -1_000 && wait > 0 && wait <= max_wait {
                    Verdict::Retry { wait_ms: wait }
                } else {
                    t.standing = Standing::Rejected;
                    self.refreshing_after_rejection = true;
                    Verdict::Retry { wait_ms: 0 }
                }
            }
        };
        if matches!(verdict, Verdict::Retry { .. }) {
            self.stats.retries += 1;
        }
        let name = match &verdict {
            Verdict::Fail { diagnosis } => diagnosis.as_str(),
            other => other.as_str(),
        };
        self.push(SessionEvent::Rejected {
            at: received,
            token: token_id,
            verdict: name,
        });
        verdict
    }

    /// The decision after an API response, for adapters: [`on_response`](Self::on_response)
    /// (same inputs, same effect on the session) and then what the host does with the
    /// response, given which send of the call it answers. Rules:
    ///
    /// * accepted: `Return`;
    /// * a retry advised on a send that is not the last one (`attempt.number` below
    ///   [`MAX_SENDS_PER_CALL`] and the request can be sent again): `Retry` with its wait;
    /// * a repeated refusal diagnosed as clock skew: `Raise` (on any send);
    /// * any other refusal: `ReturnRefusal`.
    pub fn after_response(
        &mut self,
        token_id: TokenId,
        status: u16,
        headers: &[(String, String)],
        sent: Reading,
        received: Reading,
        attempt: Attempt,
    ) -> AfterResponse {
        let may_resend = attempt.number < MAX_SENDS_PER_CALL && attempt.resend == Resend::Possible;
        match self.on_response(token_id, status, headers, sent, received) {
            Verdict::Accept => AfterResponse::Return,
            Verdict::Retry { wait_ms } if may_resend => AfterResponse::Retry { wait_ms },
            Verdict::Fail {
                diagnosis: diagnosis @ Diagnosis::ClockSkew(_),
            } => AfterResponse::Raise { diagnosis },
            Verdict::Retry { .. } | Verdict::Fail { .. } => AfterResponse::ReturnRefusal,
        }
    }
}

/// Explains a repeated 401 through the resource server's estimated clock.
fn diagnose(
    lt: &Lifetime,
    nbf_claim: Option<i64>,
    iat_ms: Option<i64>,
    at: Reading,
    issuer: &Estimate,
    resource: &Estimate,
) -> Diagnosis {
    let (low, high) = resource.server_time_bounds(at.wall);
    let (low, high) = (low.map(|t| t.0), high.map(|t| t.0));
    let nbf = lt.not_before_ms;
    // In order: past exp on its latest possible clock; before iat (when iat is the later
    // "not before"); before nbf on its earliest possible clock.
    let expired = matches!((lt.exp_ms, high), (Some(exp), Some(h)) if h >= exp);
    let before_iat =
        matches!((iat_ms, low), (Some(iat), Some(l)) if l < iat && nbf.is_none_or(|n| n <= iat));
    let before_nbf = matches!((nbf, low), (Some(n), Some(l)) if l < n);
    let finding = if expired {
        Some(SkewFinding::Expired)
    } else if before_iat {
        Some(SkewFinding::IssuedInFuture)
    } else if before_nbf {
        Some(SkewFinding::NotYetValid)
    } else {
        None
    };
    match finding {
        Some(finding) => Diagnosis::ClockSkew(Box::new(SkewEvidence {
            finding,
            resource: *resource,
            issuer: *issuer,
            resource_now_ms: (low, high),
            exp_ms: lt.exp_ms,
            nbf_ms: nbf_claim,
            iat_ms,
        })),
        None => Diagnosis::Unauthorized,
    }
}
