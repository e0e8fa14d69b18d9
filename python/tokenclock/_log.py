"""Logging of session events (pure Python; the core never logs).

``Session.events()`` drains what happened; :func:`log_events` sends it to the
``tokenclock`` logger: local clock discontinuities, refresh failures and abandoned tickets at
WARNING, everything else at DEBUG. Events never contain a token or secret.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Union

from tokenclock._native import Session

logger = logging.getLogger("tokenclock")

Event = Dict[str, Any]


def _describe(event: Event) -> "tuple[int, str, tuple[Any, ...]]":
    kind = event.get("kind")
    if kind == "clock_discontinuity":
        return (
            logging.WARNING,
            "local clock discontinuity: the wall clock moved %+.3f s more than the "
            "monotonic clock (clock step or suspend); token deadlines are kept on both clocks",
            (event["wall_excess"],),
        )
    if kind == "refresh_failed":
        return (
            logging.WARNING,
            "token refresh failed: %s (next attempt in %.3f s)",
            (event["code"], event["backoff"]),
        )
    if kind == "ticket_abandoned":
        return (
            logging.WARNING,
            "refresh ticket %d abandoned: not closed within the ticket timeout",
            (event["ticket"],),
        )
    if kind == "rejected":
        return (
            logging.INFO,
            "resource server rejected token %d (verdict: %s)",
            (event["token"], event["verdict"]),
        )
    details = ", ".join(f"{k}={v!r}" for k, v in event.items() if k not in ("kind", "at"))
    return (logging.DEBUG, "session event %s: %s", (kind, details))


def log_events(
    source: Union[Session, List[Event]], logger_: Optional[logging.Logger] = None
) -> List[Event]:
    """Drain ``source.events()`` (or take a list of event dicts) and log each event to the
    ``tokenclock`` logger (or ``logger_``). Returns the events."""
    events = source.events() if isinstance(source, Session) else list(source)
    log = logger_ or logger
    for event in events:
        level, msg, args = _describe(event)
        if log.isEnabledFor(level):
            log.log(level, msg, *args)
    return events
