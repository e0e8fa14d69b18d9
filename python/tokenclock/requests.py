"""``tokenclock.requests.OAuth2Auth``: a ``requests`` auth that keeps an OAuth 2 access token
fresh across clock skew. Same behaviour as :mod:`tokenclock.httpx`.

::

    session = requests.Session()
    session.auth = OAuth2Auth(token_url, client_id, client_secret, scope="read")
    session.get("https://api.example/things")

* Thread-safe: one auth object may serve many threads (one refresh at a time; callers with a
  still-valid token go on, the others wait for it).
* The ``Authorization`` header is set when the request is prepared; a response hook reports
  every response to the session and, on a 401 the session says to retry, re-sends the prepared
  request once through the same connection adapter (as ``requests.auth.HTTPDigestAuth`` does),
  after the wait the session asks for. A repeated 401 that the clocks explain raises
  :class:`tokenclock.ClockSkewError`; any other 401 is returned.
* Token requests go through a short-lived ``requests.Session`` of their own (never following
  redirects, no ``.netrc``, bounded by ``token_timeout``), or through ``token_session=``.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Dict, Optional

import requests
from requests.cookies import extract_cookies_to_jar
from requests.utils import rewind_body

from tokenclock._driver import Credential, Driver, Headers, TokenResponse, TokenTransportError, make_session

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


class _Sent:
    """Per-request state, carried by the response hook (one request, its redirects and its
    one retry)."""

    __slots__ = ("credential", "sent", "retried")

    def __init__(self, credential: Credential, sent: Any) -> None:
        self.credential = credential
        self.sent = sent
        self.retried = False


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
        session: Any = None,
        clock: Optional[Callable[[], Any]] = None,
        token_session: Optional[requests.Session] = None,
        token_timeout: float = 10.0,
        store: Any = None,
        **policy: Any,
    ) -> None:
        sess = make_session(
            token_url,
            client_id,
            client_secret,
            scope=scope,
            auth_method=auth_method,
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
        kwargs: Dict[str, Any] = dict(
            headers=dict(headers), data=body, timeout=timeout, allow_redirects=False,
            auth=_no_auth,
        )
        try:
            if self._token_session is not None:
                r = self._token_session.request(method, url, **kwargs)
            else:
                with requests.Session() as s:
                    r = s.request(method, url, **kwargs)
            content = r.content
        except requests.Timeout as exc:
            raise TokenTransportError("timeout") from exc
        except requests.RequestException as exc:
            raise TokenTransportError("connect") from exc
        return r.status_code, list(r.headers.items()), content

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        driver = self._driver
        credential = driver.acquire()
        r.headers["Authorization"] = credential.header
        state = _Sent(credential, driver.now())
        r.register_hook("response", functools.partial(self._on_response, state))
        return r

    def _on_response(
        self, state: _Sent, r: requests.Response, **kwargs: Any
    ) -> requests.Response:
        driver = self._driver
        received = driver.now()
        request = r.request
        # A redirect to another host drops our header: that response is not the API's answer
        # to our token.
        if request is None or request.headers.get("Authorization") != state.credential.header:
            return r
        status = r.status_code
        wait = driver.report(
            state.credential, status, r.headers, state.sent, received,
            can_retry=status == 401 and not state.retried and _replayable(request),
        )
        if wait is None:
            return r
        state.retried = True
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
        state.credential = credential
        sent = driver.now()
        state.sent = sent
        retry = r.connection.send(prep, **kwargs)
        received = driver.now()
        retry.history.append(r)
        retry.request = prep
        try:
            driver.report(
                credential, retry.status_code, retry.headers, sent, received, can_retry=False
            )
        except BaseException:
            retry.close()
            raise
        return retry
