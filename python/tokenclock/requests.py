"""``tokenclock.requests.OAuth2Auth``: a ``requests`` auth that keeps an OAuth 2 access token
fresh across clock skew. Same behaviour as :mod:`tokenclock.httpx`.

::

    session = requests.Session()
    session.auth = OAuth2Auth(token_url, client_id, client_secret, scope="read")
    session.get("https://api.example/things")

* Thread-safe: one auth object may serve many threads (one refresh at a time; callers with a
  still-valid token go on, the others wait for it). A refresh due while the token is still
  valid runs in a background thread; its caller is not held up.
* The ``Authorization`` header is set when the request is prepared (once: ``requests`` does
  not run the auth again for redirects, and drops the header on a redirect to another host,
  port or scheme — except the same host's http -> https upgrade on default ports). A response
  hook reports the responses to requests that carried our header, from the origin it was
  set for, to the session (the response from another origin after a redirect is left alone:
  no invalidation, no clock sample) and, on a 401 the session says to retry, re-sends the
  prepared request once through the same connection adapter (as
  ``requests.auth.HTTPDigestAuth`` does), after the wait the session asks for. A repeated 401
  that the clocks explain raises :class:`tokenclock.ClockSkewError`; any other 401 is returned.
* Token requests go through a short-lived ``requests.Session`` of their own (never following
  redirects, no ``.netrc``), or through ``token_session=``. They are bounded by
  ``token_timeout`` in total (connect, send and every byte; the request runs in a worker
  thread the caller stops waiting for at the deadline), and the body is streamed and read up
  to 1 MiB after decoding (longer: the session's ``body_too_large``).
"""

from __future__ import annotations

import functools
import http.client
import socket
import time
from typing import Any, Callable, Dict, Optional

import requests
import urllib3
from requests.cookies import extract_cookies_to_jar
from requests.utils import rewind_body

from tokenclock._driver import (
    READ_CHUNK,
    BodyReader,
    Credential,
    Driver,
    Headers,
    TokenResponse,
    TokenTransportError,
    make_session,
    reportable,
    with_identity_encoding,
)

__all__ = ["OAuth2Auth"]


def _no_auth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    """Keeps ``requests`` from adding ``.netrc`` or session credentials to token requests
    (the ticket's headers already carry the client authentication)."""
    return r


def _replayable(request: requests.PreparedRequest) -> bool:
    """Can the prepared request be sent again? Bodies in memory can; file bodies whose start
    position was recorded are rewound; iterators cannot."""
    body = request.body
    if body is None or isinstance(body, (bytes, str)):
        return True
    try:
        rewind_body(request)
    except requests.exceptions.UnrewindableBodyError:
        return False
    return True


def _read_raw(r: requests.Response, deadline: float, cap: int) -> bytes:
    """The body of a ``stream=True`` token response through a BodyReader (1 MiB after
    decoding, the deadline between reads). ``read1``: one read from the connection at a time
    (urllib3 >= 2.3), so a server trickling bytes cannot keep a read going past the deadline;
    older urllib3: the http.client response's own ``read1``."""
    raw = r.raw
    if raw is None or getattr(r, "_content", False) is not False:
        # Built in memory by a transport adapter (a test double): the decoded content is held,
        # there is no stream. Cut to the cap (the session then answers body_too_large).
        return (r.content or b"")[: cap + 1]
    reader = BodyReader(r.headers.get("Content-Encoding"), deadline, cap)
    read1 = getattr(raw, "read1", None)
    if read1 is not None:

        def read() -> bytes:
            return read1(READ_CHUNK, decode_content=False)  # type: ignore[no-any-return]

    else:
        fp = getattr(raw, "_fp", None)
        if fp is not None and hasattr(fp, "read1"):

            def read() -> bytes:
                return fp.read1(READ_CHUNK)  # type: ignore[no-any-return]

        else:

            def read() -> bytes:
                return raw.read(READ_CHUNK, decode_content=False)  # type: ignore[no-any-return]

    while True:
        chunk = read()
        if not chunk or reader.feed(chunk):
            break
    return reader.body()


class _Sent:
    """Per-request state, carried by the response hook (one request, its redirects and its
    one retry)."""

    __slots__ = ("credential", "sent", "url")

    def __init__(self, credential: Credential, sent: Any, url: str) -> None:
        self.credential = credential
        self.sent = sent
        #: The URL the credential was set for (the origin its responses must come from).
        self.url = url


class OAuth2Auth(requests.auth.AuthBase):
    """Client-credentials OAuth 2 for ``requests``; the constructor is that of
    :class:`tokenclock.httpx.OAuth2Auth` with ``token_session=`` (a ``requests.Session``)
    for token requests."""

    def __init__(
        self,
        token_url: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        *,
        scope: Optional[str] = None,
        auth_method: str = "client_secret_basic",
        allow_insecure_http: bool = False,
        session: Any = None,
        clock: Optional[Callable[[], Any]] = None,
        token_session: Optional[requests.Session] = None,
        token_timeout: Optional[float] = None,
        store: Any = None,
        **policy: Any,
    ) -> None:
        sess = make_session(
            token_url,
            client_id,
            client_secret,
            scope=scope,
            auth_method=auth_method,
            allow_insecure_http=allow_insecure_http,
            session=session,
            clock=clock,
            policy=policy,
        )
        self._token_session = token_session
        self._driver = Driver(
            sess,
            clock=clock,
            send_sync=self._send_token,
            token_timeout=token_timeout,
            store=store,
        )

    def __repr__(self) -> str:
        return f"<tokenclock.requests.OAuth2Auth {self._driver.describe()}>"

    def stats(self) -> Dict[str, Any]:
        """Counters and estimates (see :meth:`tokenclock.httpx.OAuth2Auth.stats`)."""
        return self._driver.stats()

    def _send_token(
        self, method: str, url: str, headers: Headers, body: bytes, timeout: float
    ) -> TokenResponse:
        deadline = time.monotonic() + timeout
        cap = self._driver.max_token_response_len
        kwargs: Dict[str, Any] = dict(
            headers=dict(with_identity_encoding(headers)), data=body, timeout=timeout,
            allow_redirects=False, auth=_no_auth, stream=True,
        )

        def exchange(session: requests.Session) -> TokenResponse:
            r = session.request(method, url, **kwargs)
            try:
                return r.status_code, list(r.headers.items()), _read_raw(r, deadline, cap)
            finally:
                if r.raw is not None:
                    r.close()

        try:
            if self._token_session is not None:
                return exchange(self._token_session)
            with requests.Session() as s:
                return exchange(s)
        except (
            requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError, socket.timeout
        ) as exc:
            raise TokenTransportError("timeout") from exc
        except (
            requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
            OSError,
        ) as exc:
            raise TokenTransportError("connect") from exc

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        driver = self._driver
        credential = driver.acquire()
        r.headers["Authorization"] = credential.header
        state = _Sent(credential, driver.now(), r.url or "")
        r.register_hook("response", functools.partial(self._on_response, state))
        return r

    def _on_response(
        self, state: _Sent, r: requests.Response, **kwargs: Any
    ) -> requests.Response:
        driver = self._driver
        received = driver.now()
        request = r.request
        # The hook runs for every hop of a redirect chain. A hop to another origin carries no
        # header of ours (requests drops it): its response is not the API's answer to our
        # token, and its Date is not the API's clock.
        header = request.headers.get("Authorization") if request is not None else None
        if request is None or not reportable(
            state.credential, state.url, request.url or "",
            header if isinstance(header, str) else None,
        ):
            driver.not_reported()
            return r
        wait = driver.report(
            state.credential, r.status_code, r.headers, state.sent, received,
            attempt=1, replayable=_replayable(request),
        )
        if wait is None:
            return r
        # Release the connection (the retry may reuse it), then wait as the session asked.
        r.content
        r.close()
        if wait > 0:
            time.sleep(wait)
        prep = request.copy()
        _replayable(prep)  # rewinds a file body
        jar = prep._cookies
        if jar is not None:  # cookies the 401 set go with the retry, as HTTPDigestAuth does
            extract_cookies_to_jar(jar, request, r.raw)
            prep.prepare_cookies(jar)
        credential = driver.acquire()
        prep.headers["Authorization"] = credential.header
        # requests builds the redirects of the retry's answer (same origin only: it drops the
        # header elsewhere) from this request: they carry the new token too.
        request.headers["Authorization"] = credential.header
        state.credential = credential
        sent = driver.now()
        state.sent = sent
        retry = r.connection.send(prep, **kwargs)
        received = driver.now()
        retry.history.append(r)
        retry.request = prep
        try:
            driver.report(
                credential, retry.status_code, retry.headers, sent, received,
                attempt=2, replayable=False,
            )
        except BaseException:
            retry.close()
            raise
        return retry
