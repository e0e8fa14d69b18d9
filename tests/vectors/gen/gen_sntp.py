#!/usr/bin/env python3
"""Generates tests/vectors/sntp.json, independently of the Rust code under test.

Packets are packed with `struct` and expected values are computed here with exact rational
arithmetic (`fractions.Fraction`) from RFC 5905 §8, so the vectors do not come from the
implementation they check. Run from anywhere:

    python3 tests/vectors/gen/gen_sntp.py

The rules encoded here (the contract of core/src/sntp.rs):
* request: byte 0 = LI 0 | VN 4 | mode 3 (0x23), all else zero but the transmit timestamp,
  which is t1 in NTP 32.32 format, era-wrapped, fraction = ceil(ms * 2^32 / 1000)
  + (entropy mod 4294967); an all-zero timestamp becomes 1;
* reply: each server timestamp is read in the NTP era closest to t1, converted to Unix
  microseconds by flooring; offset = floor(((t2-t1)+(t3-t4))/2), delay = max(0, (t4-t1)-(t3-t2));
  server_transmit_ms = floor(t3 / 1000).
"""
import json
import struct
from fractions import Fraction
from math import ceil, floor
from pathlib import Path

NTP_UNIX = 2_208_988_800  # seconds 1900-01-01 -> 1970-01-01
UNITS_PER_MS = 4_294_967  # whole 2^-32 s units in one millisecond
ERA1_UNIX_MS = (2**32 - NTP_UNIX) * 1000  # 2036-02-07T06:28:16Z
MAX_UNIX_MS = 253_402_300_799_999
HEADER = struct.Struct("!BBbbII4sQQQQ")  # RFC 5905 figure 8, 48 bytes

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z, a plain era-0 time


def request_timestamp(t1_ms, entropy):
    sec, ms = divmod(t1_ms, 1000)
    ntp_sec = (sec + NTP_UNIX) % 2**32
    frac = ceil(Fraction(ms * 2**32, 1000)) + entropy % UNITS_PER_MS
    assert frac < 2**32
    return ((ntp_sec << 32) | frac) or 1


def request_packet(t1_ms, entropy):
    return HEADER.pack(0x23, 0, 0, 0, 0, 0, b"\0" * 4, 0, 0, 0, request_timestamp(t1_ms, entropy))


def wire(unix_us):
    """A server timestamp for a Unix time in µs (ceil, so that flooring back is exact)."""
    units = ceil(Fraction(unix_us + NTP_UNIX * 10**6, 10**6) * 2**32)
    return units % 2**64


def reply(origin, t2_us, t3_us, li=0, vn=4, mode=4, stratum=2, refid=b"\xc0\x00\x02\x01",
          extra=b"", t2_wire=None, t3_wire=None):
    first = (li << 6) | (vn << 3) | mode
    rec = wire(t2_us) if t2_wire is None else t2_wire
    xmt = wire(t3_us) if t3_wire is None else t3_wire
    ref = wire(t2_us - 30_000_000)  # reference time: last set 30 s before
    # poll 6, precision -20, root delay 0x00000123, root dispersion 0x00000456 (16.16 s)
    return HEADER.pack(first, stratum, 6, -20, 0x123, 0x456, refid, ref, origin, rec, xmt) + extra


def decode_expected(packet, t1_ms, t4_ms):
    """Independent reading of a good reply."""
    first, stratum, _poll, _prec, _rd, _rdisp, _refid, _ref, _org, rec, xmt = HEADER.unpack(packet[:48])
    t1_units = Fraction(t1_ms * 1000 + NTP_UNIX * 10**6, 10**6) * 2**32

    def unix_us(ts):
        best = min((ts + era * 2**64 for era in range(-1, 3)), key=lambda u: abs(u - t1_units))
        return floor(Fraction(best * 10**6, 2**32)) - NTP_UNIX * 10**6

    t1, t4 = t1_ms * 1000, t4_ms * 1000
    t2, t3 = unix_us(rec), unix_us(xmt)
    return {
        "offset_us": ((t2 - t1) + (t3 - t4)) // 2,
        "delay_us": max(0, (t4 - t1) - (t3 - t2)),
        "stratum": stratum,
        "leap": first >> 6,
        "version": (first >> 3) & 7,
        "server_transmit_ms": t3 // 1000,
    }


cases = []


def build_case(cid, comment, t1_ms, entropy, flags=()):
    cases.append({
        "id": cid, "comment": comment, "flags": list(flags),
        "input": {"kind": "build", "transmit_ms": t1_ms, "entropy": entropy},
        "expected": {"request_hex": request_packet(t1_ms, entropy).hex()},
    })


def parse_case(cid, comment, t1_ms, entropy, packet, t4_ms, error=None, flags=(), **extra_expected):
    expected = decode_expected(packet, t1_ms, t4_ms) if error is None else {"error": error, **extra_expected}
    cases.append({
        "id": cid, "comment": comment, "flags": list(flags),
        "input": {"kind": "parse", "transmit_ms": t1_ms, "entropy": entropy,
                  "reply_hex": packet.hex(), "received_ms": t4_ms},
        "expected": expected,
    })


def us(ms):
    return ms * 1000


# ---- request bytes ----------------------------------------------------------------------
build_case("sntp-build-unix-epoch", "1970-01-01: NTP seconds 2208988800, fraction 0", 0, 0)
build_case("sntp-build-typical", "entropy lands in the sub-millisecond bits only",
           T0 + 123, 0xDEADBEEF)
build_case("sntp-build-last-unit-of-second", "ms 999 plus the largest entropy step gives fraction 0xFFFFFFFF",
           T0 + 999, UNITS_PER_MS - 1, ["boundary"])
build_case("sntp-build-entropy-wraps", "entropy 0xFFFFFFFF is reduced mod 4294967 (= 295)",
           T0 + 999, 0xFFFFFFFF, ["boundary"])
build_case("sntp-build-era1-start-never-zero", "2036-02-07T06:28:16.000Z is all-zero on the wire: lowest bit set",
           ERA1_UNIX_MS, 0, ["boundary", "era"])
build_case("sntp-build-era1", "2040-01-01T00:00:00.500Z: seconds wrap modulo 2^32",
           2_208_988_800_500, 7, ["era"])

# ---- good replies -----------------------------------------------------------------------
t1, e = T0, 0x1234_5678
org = request_timestamp(t1, e)
parse_case("sntp-ok-plus-2300ms", "symmetric 20 ms paths, 1 ms hold, server 2.3 s ahead: offset exactly +2.3 s, delay 40 ms",
           t1, e, reply(org, us(t1 + 2_320), us(t1 + 2_321)), t1 + 41)

t1, e = T0 + 5_000, 99
org = request_timestamp(t1, e)
parse_case("sntp-ok-minus-600s", "server 600 s behind, asymmetric path (30 ms out, 10 ms back, 250 us hold)",
           t1, e, reply(org, us(t1 + 30 - 600_000), us(t1 + 30 - 600_000) + 250), t1 + 41)

t1, e = T0, 3
org = request_timestamp(t1, e)
parse_case("sntp-ok-floor-negative-half", "sum (t2-t1)+(t3-t4) = -3 us: offset floors to -2 us, not -1",
           t1, e, reply(org, us(t1) + 4_998, us(t1) + 4_999), t1 + 10, flags=["rounding"])

t1, e = T0 + 777, 0x0F0F_0F0F
org = request_timestamp(t1, e)
parse_case("sntp-ok-submicro-fractions", "server fractions that are not whole microseconds are floored",
           t1, e, reply(org, us(t1 + 5), us(t1 + 6), t2_wire=wire(us(t1 + 5)) + 2_000,
                        t3_wire=wire(us(t1 + 6)) + 4_000), t1 + 12,
           flags=["rounding"])

t1, e = ERA1_UNIX_MS - 100, 0xABCDEF
org = request_timestamp(t1, e)
parse_case("sntp-ok-era-rollover", "sent 100 ms before the 2036 rollover (era 0), server 0.5 s ahead answers in era 1",
           t1, e, reply(org, us(t1 + 510), us(t1 + 511)), t1 + 20, flags=["era"])

t1, e = ERA1_UNIX_MS + 200, 42
org = request_timestamp(t1, e)
parse_case("sntp-ok-era-rollover-server-behind", "sent in era 1 just after the rollover, server 1 s behind still in era 0",
           t1, e, reply(org, us(t1 + 5 - 1_000), us(t1 + 6 - 1_000)), t1 + 11, flags=["era"])

t1, e = 2_208_988_800_000, 1
org = request_timestamp(t1, e)
parse_case("sntp-ok-era1", "2040-01-01, both sides in era 1, server 1.5 s behind",
           t1, e, reply(org, us(t1 + 8 - 1_500), us(t1 + 9 - 1_500)), t1 + 17, flags=["era"])

t1, e = T0, 5
org = request_timestamp(t1, e)
parse_case("sntp-ok-extension-fields", "20 bytes of key id + digest after the header are allowed and ignored",
           t1, e, reply(org, us(t1 + 10), us(t1 + 11), extra=bytes(range(20))), t1 + 21)
parse_case("sntp-ok-max-length", "exactly 1024 bytes is accepted",
           t1, e, reply(org, us(t1 + 10), us(t1 + 11), extra=b"\0" * (1024 - 48)), t1 + 21, flags=["boundary"])
parse_case("sntp-ok-version3", "an NTPv3 server answering a v4 request is accepted",
           t1, e, reply(org, us(t1 + 10), us(t1 + 11), vn=3), t1 + 21)
parse_case("sntp-ok-version1", "version 1 is the lowest accepted",
           t1, e, reply(org, us(t1 + 10), us(t1 + 11), vn=1), t1 + 21, flags=["boundary"])
parse_case("sntp-ok-leap-insert-stratum1", "LI=1 (insert second) at stratum 1 with refid GPS is a good reply",
           t1, e, reply(org, us(t1 + 10), us(t1 + 11), li=1, stratum=1, refid=b"GPS\0"), t1 + 21)
parse_case("sntp-ok-stratum15", "stratum 15 is the highest synchronised stratum",
           t1, e, reply(org, us(t1 + 10), us(t1 + 11), li=2, stratum=15), t1 + 21, flags=["boundary"])
parse_case("sntp-ok-delay-clamped", "server hold (50 ms) longer than our round trip (20 ms): delay clamps to 0",
           t1, e, reply(org, us(t1 + 10), us(t1 + 60)), t1 + 20)
parse_case("sntp-ok-same-millisecond", "t4 == t1 is possible with a millisecond clock",
           t1, e, reply(org, us(t1) + 100, us(t1) + 200), t1)

# ---- malformed or refused replies -------------------------------------------------------
good = reply(org, us(t1 + 10), us(t1 + 11))
parse_case("sntp-err-received-before-sent", "local wall clock stepped back during the exchange",
           t1, e, good, t1 - 1, "sntp_received_before_sent", ["malformed"])
parse_case("sntp-err-received-out-of-range", "receive time beyond 9999-12-31",
           t1, e, good, MAX_UNIX_MS + 1, "sntp_time_out_of_range", ["malformed"])
parse_case("sntp-err-transmit-negative", "send time before 1970",
           -1, e, reply(request_timestamp(-1, e), us(10), us(11)), 20, "sntp_time_out_of_range", ["malformed"])
parse_case("sntp-err-empty", "no bytes", t1, e, b"", t1 + 21, "sntp_reply_too_short", ["malformed"])
parse_case("sntp-err-47-bytes", "one byte short of a header", t1, e, good[:47], t1 + 21,
           "sntp_reply_too_short", ["malformed", "boundary"])
parse_case("sntp-err-1025-bytes", "one byte over the length cap", t1, e, good + b"\0" * (1025 - 48), t1 + 21,
           "sntp_reply_too_long", ["malformed", "boundary"])
parse_case("sntp-err-mode-client", "our own request reflected back (mode 3)", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), mode=3), t1 + 21, "sntp_bad_mode", ["malformed"])
parse_case("sntp-err-mode-broadcast", "mode 5 (broadcast) is not an answer", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), mode=5), t1 + 21, "sntp_bad_mode", ["malformed"])
parse_case("sntp-err-version0", "version 0", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), vn=0), t1 + 21, "sntp_bad_version", ["malformed"])
parse_case("sntp-err-version5", "version 5", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), vn=5), t1 + 21, "sntp_bad_version", ["malformed"])
parse_case("sntp-err-origin-without-entropy", "origin echoes the millisecond but not our entropy bits (guessed)",
           t1, e, reply(request_timestamp(t1, 0), us(t1 + 10), us(t1 + 11)), t1 + 21, "sntp_origin_mismatch",
           ["malformed", "spoofing"])
parse_case("sntp-err-origin-zero", "origin timestamp zero", t1, e,
           reply(0, us(t1 + 10), us(t1 + 11)), t1 + 21, "sntp_origin_mismatch", ["malformed", "spoofing"])
parse_case("sntp-err-origin-other-era", "origin equal to ours except the top bit of the seconds field",
           t1, e, reply((org + (1 << 63)) % 2**64, us(t1 + 10), us(t1 + 11)), t1 + 21, "sntp_origin_mismatch",
           ["malformed", "spoofing"])
kod = dict(li=3, stratum=0)
parse_case("sntp-err-kod-rate", "kiss-o'-death RATE: back off", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), refid=b"RATE", **kod), t1 + 21, "sntp_kiss_of_death",
           ["malformed"], kiss_code="RATE")
parse_case("sntp-err-kod-deny", "kiss-o'-death DENY: stop", t1, e,
           reply(org, 0, 0, t2_wire=0, t3_wire=0, refid=b"DENY", **kod), t1 + 21, "sntp_kiss_of_death",
           ["malformed"], kiss_code="DENY")
parse_case("sntp-err-kod-rstr-li0", "kiss-o'-death RSTR with LI 0: stratum 0 alone decides", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), li=0, stratum=0, refid=b"RSTR"), t1 + 21, "sntp_kiss_of_death",
           ["malformed"], kiss_code="RSTR")
parse_case("sntp-err-kod-unprintable", "kiss code with a NUL and a high byte: no code reported", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), refid=b"R\x00\xffE", **kod), t1 + 21, "sntp_kiss_of_death",
           ["malformed"], kiss_code=None)
parse_case("sntp-err-kod-spoofed", "a kiss-o'-death that does not echo our origin is treated as spoofed",
           t1, e, reply(request_timestamp(t1, 0), us(t1 + 10), us(t1 + 11), refid=b"DENY", **kod), t1 + 21,
           "sntp_origin_mismatch", ["malformed", "spoofing"])
parse_case("sntp-err-leap-unsync", "LI 3 at stratum 2: server clock not synchronised", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), li=3), t1 + 21, "sntp_unsynchronized", ["malformed"])
parse_case("sntp-err-stratum16", "stratum 16 with LI 0: unsynchronised", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), stratum=16), t1 + 21, "sntp_bad_stratum", ["malformed"])
parse_case("sntp-err-stratum16-li3", "stratum 16 and LI 3 (typical unsynchronised server): LI is checked first",
           t1, e, reply(org, us(t1 + 10), us(t1 + 11), li=3, stratum=16), t1 + 21, "sntp_unsynchronized",
           ["malformed"])
parse_case("sntp-err-stratum255", "stratum 255", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), stratum=255), t1 + 21, "sntp_bad_stratum", ["malformed"])
parse_case("sntp-err-zero-transmit", "server transmit timestamp zero", t1, e,
           reply(org, us(t1 + 10), 0, t3_wire=0), t1 + 21, "sntp_zero_transmit", ["malformed"])
parse_case("sntp-err-zero-receive", "server receive timestamp zero", t1, e,
           reply(org, us(t1 + 10), us(t1 + 11), t2_wire=0), t1 + 21, "sntp_zero_receive", ["malformed"])
parse_case("sntp-err-zero-both", "both zero: transmit is checked first", t1, e,
           reply(org, us(t1 + 10), 0, t2_wire=0, t3_wire=0), t1 + 21, "sntp_zero_transmit", ["malformed"])

doc = {
    "suite": "sntp",
    "description": "SNTP (RFC 4330 / RFC 5905) client request bytes and reply checks. "
                   "Generated by tests/vectors/gen/gen_sntp.py; edit the generator, not this file.",
    "cases": cases,
}
ids = [c["id"] for c in cases]
assert len(ids) == len(set(ids)), "duplicate id"
out = Path(__file__).resolve().parent.parent / "sntp.json"
out.write_text(json.dumps(doc, indent=2) + "\n")
print(f"wrote {out} ({len(cases)} cases)")
