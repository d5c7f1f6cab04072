"""structlog set-up: console lines on a terminal, JSON lines otherwise or on request.

Every value of every event passes through `redact_event` before it is rendered: no URL secret
(user-info, token parameters) reaches the logs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Literal

import structlog

from crawler import redact

if TYPE_CHECKING:
    from crawler.config import RedactConfig


def configure_logging(
    log_format: Literal["auto", "console", "json"] = "auto",
    *,
    verbose: bool = False,
    redaction: RedactConfig | None = None,
) -> None:
    """`redaction` (config.redact) also becomes the process's redactor, for the reports and the
    terminal too (crawler.redact.use)."""
    if redaction is not None:
        redact.use(redact.redactor_from(redaction))
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_event,  # after format_exc_info: a traceback's text is redacted too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if verbose else logging.INFO
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: every value of the event with its URL secrets masked."""
    redactor = redact.active()
    return {key: _redacted(redactor, value) for key, value in event_dict.items()}


def _redacted(redactor: redact.Redactor, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {key: _redacted(redactor, item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(redactor, item) for item in value]
    # an exception, a yarl.URL, a Path...: as the renderers show it (repr), if that held a secret
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not take the log line down
        return f"<unprintable {type(value).__name__}>"
    shown = redactor.text(text)
    return value if shown == text else shown
