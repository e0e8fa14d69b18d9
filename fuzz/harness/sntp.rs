//! Target `sntp`: `build_request(transmit, entropy)` then `parse_reply(reply, &request,
//! received)`, and `Sample::from_sntp` of a good reply.
//!
//! Input: `transmit_ms` (i64 LE, 8 bytes), `entropy` (u32 LE, 4), `received_ms` (i64 LE, 8),
//! `flags` (1 byte), then the reply bytes. Flags: bit 0 — copy the request's transmit
//! timestamp into the reply's origin field (bytes 24..32) so the anti-spoofing check passes;
//! bit 1 — set the reply's mode to 4 and version to 4 (keeping the leap bits); bit 2 —
//! `received_ms` is `transmit_ms + (received_ms mod 2^32)` instead of absolute.
//! Binding call: Python `tokenclock.sntp_request(transmit, entropy)` /
//! `tokenclock.parse_sntp_reply(reply, request, received)`, JS `sntpRequest` / `parseSntpReply`.
//!
//! Invariants: no panic; the request is 48 bytes, `0x23` then zeros, with the transmit
//! timestamp at 40..48, never zero, reading back as the same millisecond; a good reply has
//! `delay ≥ 0`, version `1..=4`, stratum `1..=15`, and its SNTP sample has `low ≤ high`.

use tokenclock::skew::Sample;
use tokenclock::sntp::{build_request, parse_reply};
use tokenclock::time::{MonoMillis, Reading, UnixMillis, MAX_UNIX_MILLIS};

const NTP_TO_UNIX_S: i128 = 2_208_988_800;

pub fn run(data: &[u8]) {
    let mut b = super::Bytes(data);
    let transmit = b.i64();
    let entropy = b.u32();
    let received_raw = b.i64();
    let flags = b.u8();
    let mut reply = b.rest().to_vec();

    let req = build_request(UnixMillis(transmit), entropy);
    let packet = req.packet();
    assert_eq!(packet[0], 0x23);
    assert!(packet[1..40].iter().all(|&x| x == 0));
    assert_eq!(packet[40..48], req.transmit_timestamp().to_be_bytes());
    assert_ne!(req.transmit_timestamp(), 0);
    if (0..=MAX_UNIX_MILLIS).contains(&transmit) {
        let ts = i128::from(req.transmit_timestamp());
        let secs = (i128::from(transmit).div_euclid(1_000) + NTP_TO_UNIX_S).rem_euclid(1 << 32);
        let ms = ((ts & 0xFFFF_FFFF) * 1_000) >> 32;
        assert_eq!(ts >> 32, secs, "seconds of the transmit timestamp");
        assert_eq!(
            ms,
            i128::from(transmit).rem_euclid(1_000),
            "ms of the transmit timestamp"
        );
    }

    if flags & 1 != 0 && reply.len() >= 32 {
        reply[24..32].copy_from_slice(&req.transmit_timestamp().to_be_bytes());
    }
    if flags & 2 != 0 {
        if let Some(first) = reply.first_mut() {
            *first = (*first & 0xC0) | (4 << 3) | 4;
        }
    }
    let received = if flags & 4 != 0 {
        transmit.saturating_add(i64::from(received_raw as u32))
    } else {
        received_raw
    };
    match parse_reply(&reply, &req, UnixMillis(received)) {
        Ok(r) => {
            assert!(r.delay_us >= 0, "negative delay");
            assert!((1..=4).contains(&r.version));
            assert!((1..=15).contains(&r.stratum));
            assert!(r.error_bound_us() >= 0);
            let at = Reading {
                wall: UnixMillis(received),
                mono: MonoMillis(received),
            };
            if let Ok(s) = Sample::from_sntp(&r, at) {
                assert!(
                    s.high_ms.is_some_and(|h| s.low_ms <= h),
                    "sntp sample {s:?}"
                );
            }
        }
        Err(e) => super::check_error(&e, ""),
    }
}
