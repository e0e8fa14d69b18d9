//! `Lifetime` and `TokenState` (core `lifetime`), and the expiry-policy keyword arguments
//! shared with `Session`.

use pyo3::prelude::*;
use tokenclock::lifetime as core_lt;
use tokenclock::skew::Estimate as CoreEstimate;

use crate::convert::{opt_ms, opt_seconds, rng, seconds, Clock, Int, Secs};
use crate::errors::{guard, Error};
use crate::skew::{explanation_from, Estimate};
use crate::time::Reading;

/// The expiry-policy keyword arguments; `None` keeps core's default.
#[derive(Default)]
pub struct PolicyArgs {
    pub margin: Option<Secs>,
    pub margin_cap: Option<Secs>,
    pub refresh_window: Option<(Secs, Secs)>,
    pub refresh_before: Option<Secs>,
    pub assumed_lifetime: Option<Secs>,
    pub max_wait: Option<Secs>,
    pub not_before: Option<String>,
}

impl PolicyArgs {
    /// The core policy (core validates the ranges when it is used).
    pub fn build(&self) -> Result<core_lt::LifetimePolicy, Error> {
        let mut p = core_lt::LifetimePolicy::default();
        match (self.margin, self.margin_cap) {
            (Some(_), Some(_)) => {
                return Err(Error::Arg("give margin or margin_cap, not both".into()))
            }
            (Some(m), None) => {
                p.margin = core_lt::Margin::Fixed {
                    ms: m.ms("margin")?,
                }
            }
            (None, Some(c)) => {
                p.margin = core_lt::Margin::TenthOfLifetime {
                    cap_ms: c.ms("margin_cap")?,
                }
            }
            (None, None) => {}
        }
        match (self.refresh_window, self.refresh_before) {
            (Some(_), Some(_)) => {
                return Err(Error::Arg(
                    "give refresh_window or refresh_before, not both".into(),
                ))
            }
            (Some((low, high)), None) => {
                p.refresh_at = core_lt::RefreshAt::Fraction {
                    low: low.0,
                    high: high.0,
                }
            }
            (None, Some(b)) => {
                p.refresh_at = core_lt::RefreshAt::Before {
                    ms: b.ms("refresh_before")?,
                }
            }
            (None, None) => {}
        }
        if let Some(a) = self.assumed_lifetime {
            p.assumed_lifetime_ms = a.ms("assumed_lifetime")?;
        }
        if let Some(w) = self.max_wait {
            p.max_wait_ms = w.ms("max_wait")?;
        }
        if let Some(nb) = &self.not_before {
            p.not_before = match nb.as_str() {
                "nbf" => core_lt::NotBefore::Nbf,
                "nbf_and_iat" => core_lt::NotBefore::NbfAndIat,
                _ => {
                    return Err(Error::Arg(
                        "not_before must be \"nbf\" or \"nbf_and_iat\"".into(),
                    ))
                }
            };
        }
        Ok(p)
    }
}

/// A token's state at one reading.
#[pyclass(frozen, module = "tokenclock._native", name = "TokenState")]
pub struct TokenState(pub core_lt::TokenState);

#[pymethods]
impl TokenState {
    /// `fresh`, `stale`, `expired` or `not_yet_valid`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.as_str()
    }

    /// For `not_yet_valid`: seconds to wait.
    #[getter]
    fn wait(&self) -> Option<f64> {
        match self.0 {
            core_lt::TokenState::NotYetValid { wait_ms, .. } => Some(seconds(wait_ms)),
            _ => None,
        }
    }

    /// For `not_yet_valid`: the reading at which the token is usable.
    #[getter]
    fn until(&self) -> Option<Reading> {
        match self.0 {
            core_lt::TokenState::NotYetValid { until, .. } => Some(Reading(until)),
            _ => None,
        }
    }

    /// `fresh` or `stale`.
    #[getter]
    fn is_usable(&self) -> bool {
        self.0.is_usable()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<TokenState>() {
            Ok(o) => o.get().0 == self.0,
            Err(_) => other
                .extract::<String>()
                .is_ok_and(|s| s == self.0.as_str()),
        }
    }

    fn __hash__(&self) -> u64 {
        // Equal to the kind string's hash is not required; a stable value per kind suffices.
        self.0
            .as_str()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
    }

    fn __repr__(&self) -> String {
        match self.wait() {
            Some(w) => format!("TokenState(kind='not_yet_valid', wait={w:.3})"),
            None => format!("TokenState(kind='{}')", self.0.as_str()),
        }
    }
}

fn deadline(d: core_lt::Deadline) -> Reading {
    Reading(tokenclock::time::Reading {
        wall: d.wall,
        mono: d.mono,
    })
}

/// The timeline of one token (core `Lifetime`): its deadline on both clocks, hard expiry and
/// refresh time, judged against a server clock estimate.
#[pyclass(frozen, module = "tokenclock._native", name = "Lifetime")]
pub struct Lifetime {
    pub inner: core_lt::Lifetime,
    pub policy: core_lt::LifetimePolicy,
    pub clock: Clock,
}

impl Lifetime {
    fn est(e: Option<Estimate>) -> CoreEstimate {
        e.map_or(CoreEstimate::UNKNOWN, |e| e.0)
    }
}

#[pymethods]
impl Lifetime {
    /// Computes a token's timeline. `sent`/`received` bracket the token request;
    /// `issuer_estimate` is the offset estimate of the clock that stamped `exp` (`None`:
    /// unknown). Token times in seconds: `expires_in` (from the token response), `exp`, `nbf`,
    /// `iat` (Unix seconds, issuer clock).
    #[new]
    #[pyo3(signature = (sent, received, issuer_estimate=None, *, expires_in=None, exp=None, nbf=None, iat=None,
        margin=None, margin_cap=None, refresh_window=None, refresh_before=None, assumed_lifetime=None,
        max_wait=None, not_before=None, seed=None, clock=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        sent: Reading,
        received: Reading,
        issuer_estimate: Option<Estimate>,
        expires_in: Option<Secs>,
        exp: Option<Secs>,
        nbf: Option<Secs>,
        iat: Option<Secs>,
        margin: Option<Secs>,
        margin_cap: Option<Secs>,
        refresh_window: Option<(Secs, Secs)>,
        refresh_before: Option<Secs>,
        assumed_lifetime: Option<Secs>,
        max_wait: Option<Secs>,
        not_before: Option<String>,
        seed: Option<Int<u64>>,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let policy = PolicyArgs {
                margin,
                margin_cap,
                refresh_window,
                refresh_before,
                assumed_lifetime,
                max_wait,
                not_before,
            }
            .build()?;
            let times = core_lt::TokenTimes {
                expires_in_ms: opt_ms(expires_in, "expires_in")?,
                exp_ms: opt_ms(exp, "exp")?,
                nbf_ms: opt_ms(nbf, "nbf")?,
                iat_ms: opt_ms(iat, "iat")?,
            };
            let mut rng = rng(seed);
            let inner = core_lt::Lifetime::new(
                &times,
                sent.0,
                received.0,
                &Self::est(issuer_estimate),
                &policy,
                rng.as_mut(),
            )
            .map_err(Error::Lifetime)?;
            Ok(Lifetime {
                inner,
                policy,
                clock: Clock::from_arg(clock)?,
            })
        })
    }

    /// When the token request was sent.
    #[getter]
    fn sent(&self) -> Reading {
        Reading(self.inner.sent)
    }

    /// When the token response was received.
    #[getter]
    fn received(&self) -> Reading {
        Reading(self.inner.received)
    }

    /// The deadline (earliest of `sent + expires_in` and `exp` under the worst-case offset).
    #[getter]
    fn deadline(&self) -> Reading {
        deadline(self.inner.deadline)
    }

    /// Deadline − margin: never handed out from then on.
    #[getter]
    fn hard_expiry(&self) -> Reading {
        deadline(self.inner.hard_expiry)
    }

    /// When a refresh becomes due.
    #[getter]
    fn refresh_at(&self) -> Reading {
        deadline(self.inner.refresh_at)
    }

    /// Which term bound the deadline: `expires_in`, `exp`, `assumed` or `record`.
    #[getter]
    fn basis(&self) -> &'static str {
        self.inner.basis.as_str()
    }

    /// Deadline − sent, seconds.
    #[getter]
    fn lifetime(&self) -> f64 {
        seconds(self.inner.lifetime_ms)
    }

    /// The margin kept before the deadline, seconds.
    #[getter]
    fn margin(&self) -> f64 {
        seconds(self.inner.margin_ms)
    }

    /// The token's `exp` (issuer clock), Unix seconds.
    #[getter]
    fn exp(&self) -> Option<f64> {
        opt_seconds(self.inner.exp_ms)
    }

    /// The latest "not before" claim the policy counts (issuer clock), Unix seconds.
    #[getter]
    fn not_before(&self) -> Option<f64> {
        opt_seconds(self.inner.not_before_ms)
    }

    /// The state at `now` judged against `server_estimate` (the offset estimate of the server
    /// that will check the token; `None`: unknown).
    #[pyo3(signature = (now=None, server_estimate=None))]
    fn state(
        &self,
        py: Python<'_>,
        now: Option<Reading>,
        server_estimate: Option<Estimate>,
    ) -> PyResult<TokenState> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            Ok(TokenState(self.inner.state(
                now,
                &Self::est(server_estimate),
                &self.policy,
            )))
        })
    }

    /// Seconds until hard expiry (≤ 0: expired).
    #[pyo3(signature = (now=None, server_estimate=None))]
    fn until_hard_expiry(
        &self,
        py: Python<'_>,
        now: Option<Reading>,
        server_estimate: Option<Estimate>,
    ) -> PyResult<f64> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            Ok(seconds(
                self.inner
                    .until_hard_expiry_ms(now, &Self::est(server_estimate)),
            ))
        })
    }

    /// Seconds until `not_before` has surely passed on the server's clock (≤ 0: passed).
    #[pyo3(signature = (now=None, server_estimate=None))]
    fn until_valid(
        &self,
        py: Python<'_>,
        now: Option<Reading>,
        server_estimate: Option<Estimate>,
    ) -> PyResult<f64> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            Ok(seconds(
                self.inner.until_valid_ms(now, &Self::est(server_estimate)),
            ))
        })
    }

    /// Seconds until the state next changes on its own; `None` once expired.
    #[pyo3(signature = (now=None, server_estimate=None))]
    fn next_change(
        &self,
        py: Python<'_>,
        now: Option<Reading>,
        server_estimate: Option<Estimate>,
    ) -> PyResult<Option<f64>> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            Ok(opt_seconds(self.inner.next_change_ms(
                now,
                &Self::est(server_estimate),
                &self.policy,
            )))
        })
    }

    /// This lifetime re-based after a local clock discontinuity noticed at reading `at` was
    /// explained (core `Lifetime::rebase`; the keys of `SkewEstimator.take_resolutions()`):
    /// `wall_excess` seconds (wall elapsed minus monotonic elapsed), `explanation`
    /// `"wall_stepped"` (the wall deadlines move with the step) or `"monotonic_paused"` (the
    /// monotonic deadlines move back by the pause). A token received after `at` is left as it
    /// is. Returns a new `Lifetime`; this one is unchanged.
    fn rebase(
        &self,
        py: Python<'_>,
        at: Reading,
        wall_excess: Secs,
        explanation: &str,
    ) -> PyResult<Lifetime> {
        guard(|| {
            let res = tokenclock::skew::Resolution {
                at: at.0,
                discontinuity: tokenclock::time::Discontinuity {
                    wall_excess_ms: wall_excess.ms("wall_excess")?,
                },
                explanation: explanation_from(explanation)?,
            };
            let mut inner = self.inner;
            inner.rebase(&res);
            let clock = match &self.clock {
                Clock::System => Clock::System,
                Clock::Callable(f) => Clock::Callable(f.clone_ref(py)),
            };
            Ok(Lifetime {
                inner,
                policy: self.policy,
                clock,
            })
        })
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.clock.traverse(&visit)
    }

    fn __repr__(&self) -> String {
        format!(
            "Lifetime(basis='{}', lifetime={:.3}, margin={:.3}, hard_expiry={})",
            self.basis(),
            self.lifetime(),
            self.margin(),
            self.hard_expiry().__repr__()
        )
    }
}
