"""JSON log lines (structlog), one per event, with the request id bound by the web middleware.

Rule of the house: log ids and outcomes, never personal data, bodies, tokens or passwords.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _rename_logger_name(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    # get_logger() binds `logger_name` (`logger` is taken by structlog's own arguments).
    if "logger_name" in event:
        event["logger"] = event.pop("logger_name")
    return event


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging (uvicorn, alembic) as JSON lines to `stream`."""
    # Every value is JSON-encoded, so CR/LF in a value cannot forge a second line (V16.4.1).
    shared: list[Any] = [
        _rename_logger_name,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # Uvicorn's access log prints raw paths and client addresses; our middleware logs requests.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Alembic narrates every migration step at INFO; database drivers and HTTP clients log
    # statements with their parameters at DEBUG. None of that belongs in our logs.
    for noisy in (
        "alembic",
        "aiosqlite",
        "asyncpg",
        "sqlalchemy",
        "httpx",
        "httpcore",
        "aiosmtplib",
        "mail.log",
    ):
        logging.getLogger(noisy).setLevel(max(_LEVELS[level], logging.WARNING))


def get_logger(name: str) -> Any:
    """A structlog logger whose lines carry `logger=name`."""
    # Initial values keep the proxy lazy, so configure_logging() applies to module-level loggers.
    return structlog.get_logger(logger_name=name)
