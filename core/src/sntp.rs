//! SNTP client packets (RFC 4330, with RFC 5905's packet format): build the 48-byte request,
//! check and read the server's reply.
//!
//! The host sends [`SntpRequest::packet`] over UDP (port 123) and hands back the reply bytes
//! together with its wall clock at receipt. Nothing here reads a clock or touches a socket.
//!
//! # Timestamps
//!
//! With `t1` our transmit time (local), `t2` the server's receive time, `t3` the server's
//! transmit time and `t4` our receive time (local), RFC 5905 §8:
//!
//! * offset `θ = ((t2 − t1) + (t3 − t4)) / 2` (server − local), floored to the microsecond;
//! * delay `δ = (t4 − t1) − (t3 − t2)`, clamped at 0 (a server whose clock runs fast between
//!   `t2` and `t3` can make it negative), and the offset is within `δ / 2` of the truth.
//!
//! `t1` and `t4` are the host's millisecond readings; `t2`/`t3` are converted from NTP's
//! 32.32 fixed point to microseconds by flooring.
//!
//! # Era
//!
//! NTP timestamps carry 32 bits of seconds since 1900 and wrap on 2036-02-07T06:28:16Z (the
//! start of era 1). Each server timestamp is read in the era that puts it closest to `t1`
//! (within ±68 years), so replies straddling the rollover come out right.
//!
//! # Request entropy
//!
//! The request's transmit timestamp is `t1` in NTP format with the fraction set to the first
//! 2^-32 s unit at or after the millisecond, plus `entropy mod 4_294_967` (fewer units than
//! one millisecond holds): the timestamp still reads back as the same millisecond, but two
//! requests in one millisecond differ and an off-path attacker cannot guess the origin
//! timestamp a reply must echo. Pass 32 bits from an OS-backed RNG. If the result would be
//! the all-zero timestamp (which NTP reserves for "unset"), the lowest fraction bit is set.
//!
//! # Checks on a reply, in order (each its own error)
//!
//! 1. our own readings: `t1` and `t4` within `0..=MAX_UNIX_MILLIS`, and `t4 ≥ t1`;
//! 2. length `48..=1024` bytes (extension fields and a MAC after byte 48 are allowed, unread);
//! 3. mode 4 (server);
//! 4. version `1..=4` (we send 4; servers answering with an older version are accepted as
//!    RFC 4330 §5 allows; 0 and 5–7 are not NTP versions we know);
//! 5. origin timestamp equals our transmit timestamp, all 64 bits (anti-spoofing; checked
//!    before the kiss code, so a forged kiss-o'-death cannot make us back off);
//! 6. stratum 0: kiss-o'-death, with the 4-character kiss code when it is printable ASCII;
//! 7. leap indicator 3: server unsynchronized;
//! 8. stratum 16..=255: server unsynchronized;
//! 9. transmit timestamp (`t3`) not zero; then receive timestamp (`t2`) not zero.

use core::fmt;

use crate::time::{UnixMillis, MAX_UNIX_MILLIS};
use crate::ErrorCode;

/// Length of an NTP packet without extension fields, in bytes.
pub const PACKET_LEN: usize = 48;

/// Longest reply accepted, in bytes (header plus extension fields / MAC).
pub const MAX_REPLY_LEN: usize = 1024;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
const NTP_TO_UNIX_SECONDS: i128 = 2_208_988_800;

/// One second in NTP fraction units (2^32).
const NTP_ONE_SECOND: i128 = 1 << 32;

/// Whole 2^-32 s units in one millisecond (2^32 / 1000 = 4 294 967.296).
const UNITS_PER_MS: u64 = 4_294_967;

const MODE_CLIENT: u8 = 3;
const MODE_SERVER: u8 = 4;
const VERSION: u8 = 4;

/// A client request ready to send, remembering the exact timestamp the reply must echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SntpRequest {
    packet: [u8; PACKET_LEN],
    transmit: UnixMillis,
    transmit_timestamp: u64,
}

impl SntpRequest {
    /// The 48 bytes to send.
    pub fn packet(&self) -> [u8; PACKET_LEN] {
        self.packet
    }

    /// The local wall time the request was built for (`t1`).
    pub fn transmit(&self) -> UnixMillis {
        self.transmit
    }

    /// The 64-bit NTP transmit timestamp written into the packet (era-less, as on the wire),
    /// which the reply's origin timestamp must equal.
    pub fn transmit_timestamp(&self) -> u64 {
        self.transmit_timestamp
    }
}

/// Builds the 48-byte client request: LI = 0, VN = 4, mode = 3, every other field zero
/// except the transmit timestamp, which is `transmit` in NTP format with `entropy` in its
/// sub-millisecond bits (see the module docs).
pub fn build_request(transmit: UnixMillis, entropy: u32) -> SntpRequest {
    let ms = i128::from(transmit.0);
    let ntp_seconds = (ms.div_euclid(1_000) + NTP_TO_UNIX_SECONDS).rem_euclid(NTP_ONE_SECOND);
    let ms_in_second = ms.rem_euclid(1_000);
    // ceil(ms_in_second · 2^32 / 1000): the first fraction unit that floors back to this
    // millisecond; adding fewer than UNITS_PER_MS units stays inside it (max 2^32 − 1).
    let first_unit = (ms_in_second * NTP_ONE_SECOND + 999) / 1_000;
    let fraction = first_unit + i128::from(u64::from(entropy) % UNITS_PER_MS);
    let combined = (ntp_seconds << 32) | fraction.min(NTP_ONE_SECOND - 1);
    let mut transmit_timestamp = u64::try_from(combined).unwrap_or(1);
    if transmit_timestamp == 0 {
        transmit_timestamp = 1;
    }
    let mut packet = [0u8; PACKET_LEN];
    packet[0] = (VERSION << 3) | MODE_CLIENT;
    packet[40..48].copy_from_slice(&transmit_timestamp.to_be_bytes());
    SntpRequest {
        packet,
        transmit,
        transmit_timestamp,
    }
}

/// The leap indicator of a usable reply (indicator 3, "unsynchronized", is an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leap {
    /// 0: no leap second announced.
    NoWarning,
    /// 1: the last minute of the day has 61 seconds.
    InsertSecond,
    /// 2: the last minute of the day has 59 seconds.
    DeleteSecond,
}

impl Leap {
    /// The 2-bit wire value (0, 1 or 2).
    pub const fn indicator(self) -> u8 {
        match self {
            Leap::NoWarning => 0,
            Leap::InsertSecond => 1,
            Leap::DeleteSecond => 2,
        }
    }
}

/// A checked server reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SntpReply {
    /// `((t2 − t1) + (t3 − t4)) / 2`: server − local, in microseconds (floored).
    pub offset_us: i64,
    /// Round-trip delay `(t4 − t1) − (t3 − t2)` in microseconds, clamped at 0.
    pub delay_us: i64,
    /// The server's stratum, `1..=15`.
    pub stratum: u8,
    /// Leap-second warning.
    pub leap: Leap,
    /// The version the server answered with, `1..=4`.
    pub version: u8,
    /// `t3`, the server's transmit time on its own clock (floored to the millisecond).
    pub server_transmit: UnixMillis,
}

impl SntpReply {
    /// Half the round-trip delay, rounded up: the true offset lies within
    /// `offset_us ± error_bound_us()` (for a symmetric-or-not path, RFC 5905 §8).
    pub const fn error_bound_us(&self) -> i64 {
        self.delay_us / 2 + self.delay_us % 2
    }
}

/// Why a reply was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SntpError {
    /// `t1` or `t4` is outside `0..=MAX_UNIX_MILLIS` (code `sntp_time_out_of_range`).
    TimeOutOfRange,
    /// `t4 < t1`: we received before we sent, so the local wall clock stepped back during the
    /// exchange (code `sntp_received_before_sent`).
    ReceivedBeforeSent,
    /// Fewer than 48 bytes (code `sntp_reply_too_short`).
    TooShort {
        /// Length received.
        len: usize,
    },
    /// More than [`MAX_REPLY_LEN`] bytes (code `sntp_reply_too_long`).
    TooLong {
        /// Length received.
        len: usize,
    },
    /// Mode is not 4 (server) (code `sntp_bad_mode`).
    BadMode {
        /// The mode received.
        mode: u8,
    },
    /// Version not in `1..=4` (code `sntp_bad_version`).
    BadVersion {
        /// The version received.
        version: u8,
    },
    /// The origin timestamp does not echo our transmit timestamp: a stale, duplicated or
    /// spoofed reply (code `sntp_origin_mismatch`).
    OriginMismatch,
    /// Stratum 0: a kiss-o'-death packet (code `sntp_kiss_of_death`). RFC 4330 §8: on `DENY`
    /// or `RSTR` stop querying this server; on `RATE` reduce the query rate.
    KissOfDeath {
        /// The 4-character kiss code (e.g. `RATE`, `DENY`, `RSTR`) when all four bytes are
        /// printable ASCII, else `None`. See [`SntpError::kiss_code`].
        kiss_code: Option<[u8; 4]>,
    },
    /// Leap indicator 3: the server's clock is not synchronized (code `sntp_unsynchronized`).
    Unsynchronized,
    /// Stratum above 15: the server's clock is not synchronized (code `sntp_bad_stratum`).
    BadStratum {
        /// The stratum received.
        stratum: u8,
    },
    /// The server's transmit timestamp is zero (code `sntp_zero_transmit`).
    ZeroTransmit,
    /// The server's receive timestamp is zero (code `sntp_zero_receive`).
    ZeroReceive,
}

impl SntpError {
    /// The kiss code of a [`SntpError::KissOfDeath`] as text, when it was printable ASCII.
    pub fn kiss_code(&self) -> Option<&str> {
        match self {
            SntpError::KissOfDeath {
                kiss_code: Some(code),
            } => core::str::from_utf8(code).ok(),
            _ => None,
        }
    }
}

impl ErrorCode for SntpError {
    fn code(&self) -> &'static str {
        match self {
            SntpError::TimeOutOfRange => "sntp_time_out_of_range",
            SntpError::ReceivedBeforeSent => "sntp_received_before_sent",
            SntpError::TooShort { .. } => "sntp_reply_too_short",
            SntpError::TooLong { .. } => "sntp_reply_too_long",
            SntpError::BadMode { .. } => "sntp_bad_mode",
            SntpError::BadVersion { .. } => "sntp_bad_version",
            SntpError::OriginMismatch => "sntp_origin_mismatch",
            SntpError::KissOfDeath { .. } => "sntp_kiss_of_death",
            SntpError::Unsynchronized => "sntp_unsynchronized",
            SntpError::BadStratum { .. } => "sntp_bad_stratum",
            SntpError::ZeroTransmit => "sntp_zero_transmit",
            SntpError::ZeroReceive => "sntp_zero_receive",
        }
    }
}

impl fmt::Display for SntpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SntpError::TimeOutOfRange => write!(f, "local send or receive time out of range"),
            SntpError::ReceivedBeforeSent => {
                write!(
                    f,
                    "SNTP reply received before the request was sent (local clock stepped back)"
                )
            }
            SntpError::TooShort { len } => {
                write!(f, "SNTP reply too short: {len} bytes (need {PACKET_LEN})")
            }
            SntpError::TooLong { len } => {
                write!(
                    f,
                    "SNTP reply too long: {len} bytes (limit {MAX_REPLY_LEN})"
                )
            }
            SntpError::BadMode { mode } => write!(f, "SNTP reply has mode {mode}, not 4 (server)"),
            SntpError::BadVersion { version } => {
                write!(f, "SNTP reply has unsupported version {version}")
            }
            SntpError::OriginMismatch => {
                write!(
                    f,
                    "SNTP reply does not echo our transmit timestamp (stale or spoofed)"
                )
            }
            SntpError::KissOfDeath { .. } => match self.kiss_code() {
                Some(code) => write!(f, "SNTP server sent kiss-o'-death {code}"),
                None => write!(f, "SNTP server sent kiss-o'-death"),
            },
            SntpError::Unsynchronized => {
                write!(f, "SNTP server is unsynchronized (leap indicator 3)")
            }
            SntpError::BadStratum { stratum } => {
                write!(f, "SNTP server is unsynchronized (stratum {stratum})")
            }
            SntpError::ZeroTransmit => write!(f, "SNTP reply has a zero transmit timestamp"),
            SntpError::ZeroReceive => write!(f, "SNTP reply has a zero receive timestamp"),
        }
    }
}

impl std::error::Error for SntpError {}

/// Checks a server reply to `request` received at local wall time `received` (`t4`) and
/// computes offset and delay. See the module docs for the checks and their order.
pub fn parse_reply(
    reply: &[u8],
    request: &SntpRequest,
    received: UnixMillis,
) -> Result<SntpReply, SntpError> {
    let valid = 0..=MAX_UNIX_MILLIS;
    if !valid.contains(&request.transmit.0) || !valid.contains(&received.0) {
        return Err(SntpError::TimeOutOfRange);
    }
    if received < request.transmit {
        return Err(SntpError::ReceivedBeforeSent);
    }
    if reply.len() > MAX_REPLY_LEN {
        return Err(SntpError::TooLong { len: reply.len() });
    }
    let header: [u8; PACKET_LEN] = reply
        .get(..PACKET_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(SntpError::TooShort { len: reply.len() })?;
    let [first, stratum, ..] = header;
    let leap_indicator = first >> 6;
    let version = (first >> 3) & 0b111;
    let mode = first & 0b111;
    if mode != MODE_SERVER {
        return Err(SntpError::BadMode { mode });
    }
    if !(1..=4).contains(&version) {
        return Err(SntpError::BadVersion { version });
    }
    if be_u64(&header, 24) != request.transmit_timestamp {
        return Err(SntpError::OriginMismatch);
    }
    if stratum == 0 {
        let code = [header[12], header[13], header[14], header[15]];
        let printable = code.iter().all(|b| (0x20..=0x7e).contains(b));
        return Err(SntpError::KissOfDeath {
            kiss_code: printable.then_some(code),
        });
    }
    let leap = match leap_indicator {
        0 => Leap::NoWarning,
        1 => Leap::InsertSecond,
        2 => Leap::DeleteSecond,
        _ => return Err(SntpError::Unsynchronized),
    };
    if stratum > 15 {
        return Err(SntpError::BadStratum { stratum });
    }
    let server_transmit_ts = be_u64(&header, 40);
    if server_transmit_ts == 0 {
        return Err(SntpError::ZeroTransmit);
    }
    let server_receive_ts = be_u64(&header, 32);
    if server_receive_ts == 0 {
        return Err(SntpError::ZeroReceive);
    }

    // All in i128 microseconds: inputs are bounded (t1, t4 ≤ year 9999; t2, t3 within
    // ±68 years of t1), so nothing below can overflow, and the results fit i64 easily.
    let t1 = i128::from(request.transmit.0) * 1_000;
    let t4 = i128::from(received.0) * 1_000;
    let t1_ntp = (t1 + NTP_TO_UNIX_SECONDS * 1_000_000) * NTP_ONE_SECOND / 1_000_000;
    let t2 = ntp_to_unix_us(unfold_era(server_receive_ts, t1_ntp));
    let t3 = ntp_to_unix_us(unfold_era(server_transmit_ts, t1_ntp));
    let offset = ((t2 - t1) + (t3 - t4)).div_euclid(2);
    let delay = ((t4 - t1) - (t3 - t2)).max(0);
    let to_i64 = |v: i128| i64::try_from(v).map_err(|_| SntpError::TimeOutOfRange);
    Ok(SntpReply {
        offset_us: to_i64(offset)?,
        delay_us: to_i64(delay)?,
        stratum,
        leap,
        version,
        server_transmit: UnixMillis(to_i64(t3.div_euclid(1_000))?),
    })
}

fn be_u64(header: &[u8; PACKET_LEN], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    if let Some(field) = header.get(at..at + 8) {
        bytes.copy_from_slice(field);
    }
    u64::from_be_bytes(bytes)
}

/// The full (era-resolved) NTP time, in 2^-32 s units since 1900, of the wire timestamp
/// `ts` that lies closest to `near` (same units): the 64-bit difference, read as signed,
/// is the distance to the nearest candidate (±2^63 units = ±68 years).
fn unfold_era(ts: u64, near: i128) -> i128 {
    let near_wire = near.rem_euclid(1 << 64) as u64;
    // Intentional two's-complement reinterpretation of the wrapped difference.
    let distance = ts.wrapping_sub(near_wire) as i64;
    near + i128::from(distance)
}

/// NTP 2^-32 s units since 1900 to Unix microseconds, floored.
fn ntp_to_unix_us(units: i128) -> i128 {
    (units * 1_000_000).div_euclid(NTP_ONE_SECOND) - NTP_TO_UNIX_SECONDS * 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reply to `req` with the given server times (Unix µs), stratum 2, LI 0, VN 4.
    fn reply_for(req: &SntpRequest, t2_us: i64, t3_us: i64) -> [u8; PACKET_LEN] {
        let to_ntp = |us: i64| {
            let units = (i128::from(us) + NTP_TO_UNIX_SECONDS * 1_000_000) * NTP_ONE_SECOND;
            // Ceil so that flooring back gives `us` exactly.
            let units = (units + 999_999).div_euclid(1_000_000);
            units.rem_euclid(1 << 64) as u64
        };
        let mut p = [0u8; PACKET_LEN];
        p[0] = (VERSION << 3) | MODE_SERVER;
        p[1] = 2;
        p[24..32].copy_from_slice(&req.transmit_timestamp.to_be_bytes());
        p[32..40].copy_from_slice(&to_ntp(t2_us).to_be_bytes());
        p[40..48].copy_from_slice(&to_ntp(t3_us).to_be_bytes());
        p
    }

    #[test]
    fn request_layout() {
        let req = build_request(UnixMillis(0), 0);
        let p = req.packet();
        assert_eq!(p[0], 0x23);
        assert!(p[1..40].iter().all(|b| *b == 0));
        assert_eq!(
            u64::from_be_bytes(p[40..48].try_into().unwrap()),
            2_208_988_800u64 << 32
        );
        assert_eq!(req.transmit_timestamp(), 2_208_988_800u64 << 32);
        assert_eq!(req.transmit(), UnixMillis(0));
    }

    #[test]
    fn era_boundary_timestamp_is_never_zero() {
        // 2036-02-07T06:28:16.000Z is NTP second 2^32 ≡ 0 on the wire.
        let req = build_request(UnixMillis(2_085_978_496_000), 0);
        assert_eq!(req.transmit_timestamp(), 1);
        let req = build_request(UnixMillis(2_085_978_496_000), 5);
        assert_eq!(req.transmit_timestamp(), 5);
    }

    #[test]
    fn symmetric_path_gives_exact_offset() {
        let t1 = 1_700_000_000_000;
        let req = build_request(UnixMillis(t1), 12_345);
        let p = reply_for(&req, (t1 + 2_320) * 1_000, (t1 + 2_321) * 1_000);
        let r = parse_reply(&p, &req, UnixMillis(t1 + 41)).unwrap();
        assert_eq!(r.offset_us, 2_300_000);
        assert_eq!(r.delay_us, 40_000);
        assert_eq!(r.error_bound_us(), 20_000);
        assert_eq!(r.server_transmit, UnixMillis(t1 + 2_321));
        assert_eq!((r.stratum, r.leap, r.version), (2, Leap::NoWarning, 4));
    }

    #[test]
    fn kiss_code_is_exposed_only_when_printable() {
        let req = build_request(UnixMillis(1_700_000_000_000), 1);
        let mut p = reply_for(&req, 1_700_000_000_000_000, 1_700_000_000_000_000);
        p[0] = 0xE4; // LI 3, VN 4, mode 4: a typical kiss-o'-death
        p[1] = 0;
        p[12..16].copy_from_slice(b"RATE");
        let e = parse_reply(&p, &req, UnixMillis(1_700_000_000_010)).unwrap_err();
        assert_eq!(e.code(), "sntp_kiss_of_death");
        assert_eq!(e.kiss_code(), Some("RATE"));
        assert_eq!(e.to_string(), "SNTP server sent kiss-o'-death RATE");
        p[12..16].copy_from_slice(&[b'R', 0, 0xFF, b'E']);
        let e = parse_reply(&p, &req, UnixMillis(1_700_000_000_010)).unwrap_err();
        assert_eq!(e, SntpError::KissOfDeath { kiss_code: None });
        assert_eq!(e.kiss_code(), None);
    }

    proptest! {
        #[test]
        fn request_timestamp_reads_back_as_the_same_millisecond(
            t in 0..=MAX_UNIX_MILLIS, entropy in any::<u32>()
        ) {
            let req = build_request(UnixMillis(t), entropy);
            let ts = req.transmit_timestamp();
            let full = unfold_era(ts, (i128::from(t) * 1_000 + NTP_TO_UNIX_SECONDS * 1_000_000)
                * NTP_ONE_SECOND / 1_000_000);
            prop_assert_eq!(ntp_to_unix_us(full).div_euclid(1_000), i128::from(t));
        }

        #[test]
        fn offset_and_delay_follow_the_formula(
            t1 in 0..=MAX_UNIX_MILLIS - 10_000_000,
            entropy in any::<u32>(),
            offset_ms in -3_000_000_000i64..3_000_000_000,
            out_ms in 0i64..5_000, back_ms in 0i64..5_000, hold_us in 0i64..1_000_000,
        ) {
            let req = build_request(UnixMillis(t1), entropy);
            let t2 = (t1 + out_ms + offset_ms) * 1_000;
            let t3 = t2 + hold_us;
            let t4 = t1 + out_ms + back_ms + hold_us / 1_000 + 1;
            let p = reply_for(&req, t2, t3);
            let r = parse_reply(&p, &req, UnixMillis(t4)).unwrap();
            let (t1, t4) = (t1 * 1_000, t4 * 1_000);
            prop_assert_eq!(r.offset_us, ((t2 - t1) + (t3 - t4)).div_euclid(2));
            prop_assert_eq!(r.delay_us, ((t4 - t1) - (t3 - t2)).max(0));
            prop_assert_eq!(r.server_transmit, UnixMillis(t3.div_euclid(1_000)));
        }

        #[test]
        fn never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..1100),
            t1 in any::<i64>(), t4 in any::<i64>(), entropy in any::<u32>()
        ) {
            let req = build_request(UnixMillis(t1), entropy);
            let _ = parse_reply(&bytes, &req, UnixMillis(t4));
        }

        #[test]
        fn never_panics_on_echoing_replies(
            mut bytes in proptest::collection::vec(any::<u8>(), 48..60),
            t1 in 0..=MAX_UNIX_MILLIS, dt in 0i64..100_000, entropy in any::<u32>()
        ) {
            let req = build_request(UnixMillis(t1), entropy);
            bytes[0] = (bytes[0] & 0b1111_1000) | MODE_SERVER;
            bytes[24..32].copy_from_slice(&req.transmit_timestamp().to_be_bytes());
            let _ = parse_reply(&bytes, &req, UnixMillis(t1.saturating_add(dt)));
        }
    }
}
