"""A loopback OpenID issuer for the resource-server tests: discovery + JWKS over real HTTP on
127.0.0.1, RS256 keys that rotate, and the failures a real issuer has (down, stalled, garbage,
oversized, a clock that is off). Counts every request it serves."""

from __future__ import annotations

import base64
import email.utils
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def b64u_int(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


class Key:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> Dict[str, Any]:
        pub = self.private.public_key().public_numbers()
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                "n": b64u_int(pub.n), "e": b64u_int(pub.e)}

    def sign(self, claims: Dict[str, Any], kid: Optional[str] = None) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


class Issuer:
    """``mode``: "ok", "garbage" (200 with HTML), "500", "stall" (hold the request
    ``stall_s``), "huge" (a 1 MiB body); ``clock_offset_s`` moves its ``Date``;
    ``cache_control`` for the JWKS response."""

    def __init__(self) -> None:
        self.keys: List[Key] = []
        self.mode = "ok"
        self.stall_s = 10.0
        self.clock_offset_s = 0.0
        self.cache_control: Optional[str] = "max-age=600"
        self.jwks_requests = 0
        self.discovery_requests = 0
        self.lock = threading.Lock()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                issuer.serve(self)

            def date_time_string(self, timestamp: Optional[float] = None) -> str:
                # send_response's own Date header: the issuer's clock.
                return email.utils.formatdate(time.time() + issuer.clock_offset_s, usegmt=True)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that stops reading an oversized body resets the connection

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def jwks_uri(self) -> str:
        return self.url + "/jwks"

    def token(self, key: Key, *, kid: Optional[str] = None, lifetime: int = 3600, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": "user-1", "aud": "api://orders", "iat": now,
                "exp": now + lifetime, **claims}
        return key.sign(body, kid)

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        with self.lock:
            if path == "/.well-known/openid-configuration":
                self.discovery_requests += 1
            elif path == "/jwks":
                self.jwks_requests += 1
            mode = self.mode
        if mode == "stall":
            time.sleep(self.stall_s)
        headers = {"Content-Type": "application/json"}
        if path == "/.well-known/openid-configuration":
            body = json.dumps({"issuer": self.url, "jwks_uri": self.jwks_uri,
                               "token_endpoint": self.url + "/token"}).encode()
            status = 200
        elif path == "/jwks":
            status = 200
            if mode == "garbage":
                body = b"<html>maintenance</html>"
            elif mode == "500":
                status, body = 500, b'{"error":"oops"}'
            elif mode == "huge":
                body = b'{"keys":[' + b" " * (1 << 20) + b"]}"
            else:
                body = json.dumps({"keys": [k.jwk() for k in self.keys]}).encode()
                if self.cache_control:
                    headers["Cache-Control"] = self.cache_control
        else:
            status, body = 404, b"{}"
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
