//! [`SkewProbe`]: the sans-I/O measurement of one origin's clock (HTTP `Date` or SNTP) for
//! `skew` and `inspect --server`.

use super::*;

/// Default `--samples` for a URL (`Date` header) origin.
pub const DEFAULT_DATE_SAMPLES: u32 = 8;
/// Default `--samples` for an SNTP origin.
pub const DEFAULT_SNTP_SAMPLES: u32 = 1;
/// Most `--samples` accepted.
pub const MAX_PROBE_SAMPLES: u32 = 64;
/// A `Date` origin stops early once its interval is at most this wide.
pub const DATE_TARGET_WIDTH_MS: i64 = 20;
/// Time allowed for one exchange before the front-end gives up (`timeout`).
pub const PROBE_TIMEOUT_MS: i64 = 5_000;
/// Spacing of SNTP requests to one server: RFC 4330 §10 ("A client MUST NOT under any
/// conditions use a poll interval less than 15 seconds").
pub const SNTP_INTERVAL_MS: i64 = 15_000;

/// What a [`SkewProbe`] wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum ProbeAction {
    /// Sleep `wait_ms` (until `send_at`), then perform one exchange, giving up after
    /// `timeout_ms` ([`SkewProbe::on_error`] with `"timeout"`):
    /// * a `Date` origin: an HTTP `HEAD` to the URL with `Cache-Control: no-cache`, redirects
    ///   not followed (any status is fine); read both clocks just before sending (`sent`) and
    ///   on receipt (`received`), then [`SkewProbe::on_date_response`];
    /// * an SNTP origin: read the clocks, [`SkewProbe::sntp_request`], send the 48 bytes by
    ///   UDP, read the clocks on receipt, then [`SkewProbe::on_sntp_reply`].
    Send {
        /// Milliseconds to wait first.
        wait_ms: i64,
        /// The same instant as a reading.
        send_at: Reading,
        /// Give up on the exchange after this long.
        timeout_ms: i64,
    },
    /// Measurement over: report [`SkewProbe::origin`].
    Done,
}

/// A sans-I/O driver that measures one origin for `skew`, so both front-ends send the same
/// requests at the same moments.
///
/// Loop: `poll(now)` → `Send` (sleep, exchange, feed the result) or `Done` → `origin(now)`.
/// A `Date` origin sends the first request at once, then times each next one with
/// [`SkewEstimator::next_date_probe`] so that the server's next second boundary is expected
/// in the middle of the current interval (each sample about halves it), and stops after
/// `samples` exchanges or once the interval is at most [`DATE_TARGET_WIDTH_MS`] wide. An SNTP
/// origin sends `samples` requests [`SNTP_INTERVAL_MS`] apart. Any error ends the
/// measurement; a response with `Age > 0` (served from a cache, its `Date` is old) or one
/// during which the local clocks jumped is discarded but counts as an exchange.
#[derive(Clone, Debug)]
pub struct SkewProbe {
    name: String,
    source: OriginSource,
    samples: u32,
    estimator: SkewEstimator,
    exchanges: u32,
    discarded: u32,
    error: Option<OriginError>,
    last_sent: Option<Reading>,
    in_flight: Option<(SntpRequest, Reading)>,
}

impl SkewProbe {
    /// A probe for `name` (as given on the command line). `samples` is `--samples`
    /// (`None`: [`DEFAULT_DATE_SAMPLES`] or [`DEFAULT_SNTP_SAMPLES`]); it must be
    /// `1..=MAX_PROBE_SAMPLES`.
    pub fn new(
        name: &str,
        source: OriginSource,
        samples: Option<u32>,
    ) -> Result<SkewProbe, ReportError> {
        let samples = match (samples, source) {
            (Some(n), _) if (1..=MAX_PROBE_SAMPLES).contains(&n) => n,
            (Some(_), _) => return Err(invalid("--samples", "an integer from 1 to 64")),
            (None, OriginSource::Date) => DEFAULT_DATE_SAMPLES,
            (None, OriginSource::Sntp) => DEFAULT_SNTP_SAMPLES,
        };
        Ok(SkewProbe {
            name: name.to_owned(),
            source,
            samples,
            estimator: SkewEstimator::new(),
            exchanges: 0,
            discarded: 0,
            error: None,
            last_sent: None,
            in_flight: None,
        })
    }

    /// What to do next at `now`.
    pub fn poll(&mut self, now: Reading) -> ProbeAction {
        self.estimator.observe(now);
        if self.error.is_some() || self.exchanges >= self.samples {
            return ProbeAction::Done;
        }
        let send = |wait_ms: i64| ProbeAction::Send {
            wait_ms,
            send_at: now.advanced(wait_ms),
            timeout_ms: PROBE_TIMEOUT_MS,
        };
        match self.source {
            OriginSource::Date => {
                if self.estimator.is_empty() {
                    return send(0);
                }
                let rtt = self
                    .estimator
                    .last_rtt_ms(SampleSource::DateHeader)
                    .unwrap_or(0);
                match self
                    .estimator
                    .next_date_probe(now, rtt, DATE_TARGET_WIDTH_MS)
                {
                    Some(probe) => send(probe.wait_ms.max(0)),
                    None => ProbeAction::Done,
                }
            }
            OriginSource::Sntp => match self.last_sent {
                None => send(0),
                Some(last) => {
                    let due = last.mono.plus(SNTP_INTERVAL_MS);
                    send(due.since(now.mono).max(0))
                }
            },
        }
    }

    /// For an SNTP origin: the 48-byte request to send now (`now` read just before sending,
    /// `entropy` 32 random bits from the OS). Remembered to check the reply against.
    pub fn sntp_request(&mut self, now: Reading, entropy: u32) -> [u8; PACKET_LEN] {
        let request = build_request(now.wall, entropy);
        self.last_sent = Some(now);
        self.in_flight = Some((request, now));
        request.packet()
    }

    fn fail(&mut self, code: &str, message: String) {
        if self.error.is_none() {
            self.error = Some(OriginError {
                code: code.to_owned(),
                message,
            });
        }
    }

    fn take_sample(&mut self, sample: Result<Sample, SkewError>) {
        match sample {
            Ok(s) => self.estimator.add(s),
            Err(SkewError::ClockDiscontinuity) => self.discarded = self.discarded.saturating_add(1),
            Err(e) => self.fail(e.code(), e.to_string()),
        }
    }

    /// A `Date` origin's response: its `Date` and `Age` header values (`None` when absent)
    /// and the readings just before sending and on receipt.
    pub fn on_date_response(
        &mut self,
        date: Option<&str>,
        age: Option<&str>,
        sent: Reading,
        received: Reading,
    ) {
        self.exchanges = self.exchanges.saturating_add(1);
        self.last_sent = Some(sent);
        let Some(date) = date else {
            self.fail(
                "no_date_header",
                "the response has no Date header".to_owned(),
            );
            return;
        };
        if age
            .and_then(|a| a.trim().parse::<u64>().ok())
            .is_some_and(|a| a > 0)
        {
            self.discarded = self.discarded.saturating_add(1);
            return;
        }
        match parse_http_date(date, received.wall) {
            Ok(server) => self.take_sample(Sample::from_date_header(server, sent, received)),
            Err(e) => self.fail(e.code(), format!("the Date header is unusable: {e}")),
        }
    }

    /// An SNTP origin's reply bytes and the reading on receipt.
    pub fn on_sntp_reply(&mut self, reply: &[u8], received: Reading) {
        self.exchanges = self.exchanges.saturating_add(1);
        let Some((request, sent)) = self.in_flight.take() else {
            self.fail(
                "unexpected_reply",
                "an SNTP reply arrived with no request outstanding".to_owned(),
            );
            return;
        };
        if received.discontinuity_since(&sent).is_some() {
            self.discarded = self.discarded.saturating_add(1);
            return;
        }
        match parse_reply(reply, &request, received.wall) {
            Ok(r) => self.take_sample(Sample::from_sntp(&r, received)),
            Err(e) => self.fail(e.code(), e.to_string()),
        }
    }

    /// The exchange failed in transport: `code` is one of the codes of
    /// [`transport_error_message`] (others are reported as `io_error`).
    pub fn on_error(&mut self, code: &str) {
        self.exchanges = self.exchanges.saturating_add(1);
        self.in_flight = None;
        let (code, message) = transport_error_message(code);
        self.fail(code, message.to_owned());
    }

    /// True once [`poll`](Self::poll) would say `Done` (an error, or every exchange made).
    pub fn is_done(&self) -> bool {
        self.error.is_some() || self.exchanges >= self.samples
    }

    /// The estimator (for a host that wants to keep it).
    pub fn estimator(&self) -> &SkewEstimator {
        &self.estimator
    }

    /// The result at `now`, for [`skew`].
    pub fn origin(&self, now: Reading) -> SkewOrigin {
        let estimate = self.estimator.estimate(now);
        let sample_source = match self.source {
            OriginSource::Date => SampleSource::DateHeader,
            OriginSource::Sntp => SampleSource::Sntp,
        };
        let error = match (&self.error, estimate.samples, self.discarded) {
            (Some(e), _, _) => Some(e.clone()),
            (None, 0, d) if d > 0 => Some(OriginError {
                code: "all_samples_discarded".to_owned(),
                message:
                    "every response was discarded (served from a cache, or the local clock jumped)"
                        .to_owned(),
            }),
            (None, 0, _) => Some(OriginError {
                code: "no_samples".to_owned(),
                message: "no sample was taken".to_owned(),
            }),
            _ => None,
        };
        SkewOrigin {
            name: self.name.clone(),
            source: self.source,
            estimate,
            rtt_ms: self.estimator.last_rtt_ms(sample_source),
            discarded: self.discarded,
            error,
        }
    }
}

/// The transport error codes the front-ends report, and the message for each: `timeout`,
/// `dns_error`, `connect_error`, `tls_error`, `http_error`, `io_error`. Any other code becomes
/// `io_error`.
pub fn transport_error_message(code: &str) -> (&'static str, &'static str) {
    match code {
        "timeout" => ("timeout", "no response within the timeout"),
        "dns_error" => ("dns_error", "the host name could not be resolved"),
        "connect_error" => ("connect_error", "the connection could not be made"),
        "tls_error" => ("tls_error", "the TLS handshake failed"),
        "http_error" => ("http_error", "the HTTP exchange failed"),
        _ => ("io_error", "a network error occurred"),
    }
}
