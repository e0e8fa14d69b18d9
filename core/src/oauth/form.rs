//! `application/x-www-form-urlencoded` encoding and decoding, and endpoint URL checks.
//!
//! Encoding follows what RFC 6749 Appendix B asks for and what Python's
//! `urllib.parse.quote_plus(s, safe="")` produces (the generator of our vectors uses it):
//! the UTF-8 bytes of the value, with `A–Z a–z 0–9 - . _ ~` kept, space written as `+`, and
//! every other byte as `%XX` with upper-case hex. (The WHATWG serializer differs only in
//! keeping `*` and escaping `~`; every form decoder reads both the same way.)

use super::error::GrantError;

/// Encodes one name or value as `application/x-www-form-urlencoded` (see the module docs).
pub fn form_urlencode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0F)]));
            }
        }
    }
    out
}

/// Decodes one form-encoded component: `+` is a space, `%XX` a byte; the result must be UTF-8.
/// `None` on a bad escape or invalid UTF-8.
pub(crate) fn form_urldecode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = hex_value(*bytes.get(i + 1)?)?;
                let lo = hex_value(*bytes.get(i + 2)?)?;
                out.push((hi << 4) | lo);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks an authorization-server endpoint URL (token endpoint, authorization endpoint).
///
/// * at most [`MAX_URL_LEN`](super::MAX_URL_LEN) bytes, visible ASCII only (no spaces,
///   controls or raw non-ASCII: the caller percent-encodes) → `too_large` / `invalid_url`;
/// * scheme `https`, or `http` only for the loopback hosts `127.0.0.1`, `localhost` and
///   `[::1]` (RFC 6749 §3.1, §3.2 require TLS; loopback is for local test servers)
///   → `insecure_url`; any other scheme → `invalid_url`;
/// * a non-empty host, an optional port of 1–5 digits in `1..=65535`, no userinfo
///   (`user:pass@` would put a credential in logs) and no fragment (RFC 6749 §3.1, §3.2)
///   → `invalid_url`.
pub(crate) fn validate_endpoint(url: &str, what: &'static str) -> Result<(), GrantError> {
    validate_endpoint_with(url, what, false)
}

/// [`validate_endpoint`], with `allow_insecure_http` lifting the loopback-only rule for plain
/// `http` (the explicit opt-in for in-cluster identity providers; every other check stays).
pub(crate) fn validate_endpoint_with(
    url: &str,
    what: &'static str,
    allow_insecure_http: bool,
) -> Result<(), GrantError> {
    if url.len() > super::MAX_URL_LEN {
        return Err(GrantError::TooLarge {
            what,
            limit: super::MAX_URL_LEN,
        });
    }
    if url.is_empty() {
        return Err(GrantError::EmptyParameter { what });
    }
    if !url.bytes().all(|b| (0x21..=0x7E).contains(&b)) || url.contains('#') {
        return Err(GrantError::InvalidUrl { what });
    }
    let (secure, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (true, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        (false, rest)
    } else {
        return Err(GrantError::InvalidUrl { what });
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or_default();
    if authority.contains('@') {
        return Err(GrantError::InvalidUrl { what });
    }
    let (host, port) = split_host_port(authority).ok_or(GrantError::InvalidUrl { what })?;
    if let Some(port) = port {
        let valid = (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65_535).contains(&p));
        if !valid {
            return Err(GrantError::InvalidUrl { what });
        }
    }
    if !secure && !allow_insecure_http && !is_loopback(host) {
        return Err(GrantError::InsecureUrl { what });
    }
    Ok(())
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Splits `host[:port]` / `[v6][:port]`; `None` when the host is empty or has characters a
/// host name or IP literal cannot have.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let host = authority.get(..=close)?;
        let inner = host.get(1..close)?;
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        let after = authority.get(close + 1..)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (host, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'%'))
        {
            return None;
        }
        (host, port)
    };
    Some((host, port))
}

fn is_loopback(host: &str) -> bool {
    host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost") || host == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_quote_plus() {
        assert_eq!(form_urlencode("a b+c:d%e"), "a+b%2Bc%3Ad%25e");
        assert_eq!(form_urlencode("~-._*"), "~-._%2A");
        assert_eq!(form_urlencode("é"), "%C3%A9");
        assert_eq!(form_urlencode(""), "");
    }

    #[test]
    fn decodes() {
        assert_eq!(form_urldecode("a+b%2Bc%3ad").as_deref(), Some("a b+c:d"));
        assert_eq!(form_urldecode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(form_urldecode("%"), None);
        assert_eq!(form_urldecode("%4"), None);
        assert_eq!(form_urldecode("%zz"), None);
        assert_eq!(form_urldecode("%FF"), None);
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_round_trip(s in "\\PC{0,40}") {
            let encoded = form_urlencode(&s);
            proptest::prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+%".contains(&b)));
            proptest::prop_assert_eq!(form_urldecode(&encoded), Some(s));
        }

        #[test]
        fn endpoint_check_never_panics(s in "\\PC{0,60}") {
            let _ = validate_endpoint(&s, "token_url");
        }
    }

    #[test]
    fn endpoints() {
        let ok = [
            "https://as.example.com/token",
            "HTTPS://as.example.com:8443/oauth2/token?x=1",
            "https://as.example.com",
            "http://127.0.0.1:8080/token",
            "http://localhost/token",
            "http://LOCALHOST:9/token",
            "http://[::1]:8080/token",
            "https://[2001:db8::1]/token",
        ];
        for u in ok {
            assert_eq!(validate_endpoint(u, "token_url"), Ok(()), "{u}");
        }
        let insecure = [
            "http://as.example.com/token",
            "http://127.0.0.2/token",
            "http://localhost.evil.com/",
        ];
        for u in insecure {
            assert_eq!(
                validate_endpoint(u, "token_url"),
                Err(GrantError::InsecureUrl { what: "token_url" }),
                "{u}"
            );
            // The opt-in accepts plain http to any host, and nothing else.
            assert_eq!(validate_endpoint_with(u, "token_url", true), Ok(()), "{u}");
        }
        let invalid = [
            "ftp://as.example.com/token",
            "https://",
            "https:///token",
            "https://user:pw@as.example.com/token",
            "https://as.example.com/token#frag",
            "https://as.example.com/to ken",
            "https://as.example.com/token\r\nX: y",
            "https://as.example.com:0/token",
            "https://as.example.com:65536/token",
            "https://as.example.com:/token",
            "https://as.example.com:80a/token",
            "https://[::1/token",
            "https://[]/token",
            "https://exämple.com/token",
            "as.example.com/token",
        ];
        for u in invalid {
            assert_eq!(
                validate_endpoint_with(u, "token_url", true),
                Err(GrantError::InvalidUrl { what: "token_url" }),
                "{u}"
            );
            assert_eq!(
                validate_endpoint(u, "token_url"),
                Err(GrantError::InvalidUrl { what: "token_url" }),
                "{u}"
            );
        }
        assert_eq!(
            validate_endpoint("", "token_url"),
            Err(GrantError::EmptyParameter { what: "token_url" })
        );
        let long = format!(
            "https://a.example/{}",
            "a".repeat(super::super::MAX_URL_LEN)
        );
        assert!(matches!(
            validate_endpoint(&long, "token_url"),
            Err(GrantError::TooLarge { .. })
        ));
    }
}
