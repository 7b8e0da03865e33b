"""Observers that feed the running test's `LeakGuard`, installed once per test process.

They observe and never replace: each wraps the real function, which still runs.

- Seeding: the people registry's `create_people` (which `create_person` calls), `update_person`,
  `enter_people` and `correct_person` (which they call, and the admins' doors directly) and
  `request_contact_change` record the plaintext they are given, wherever they are imported.
- Log lines: every line structlog renders (JSON or console, for structlog's own loggers and for
  stdlib records through `ProcessorFormatter`), and every stdlib record handed to handlers.
- HTTP: every URL an httpx client requests (redirect hops and `Location` too) and every error
  body (status >= 400) it receives, for the in-process ASGI clients and real ones alike.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import structlog

from amanat.people.personal_data import PERSON_FIELDS
from tests.support.leak_guard import ERROR_BODY, LOG_LINE, LeakGuard, active_guard, seed

_MARK = "__observes_personal_data__"
_installed = False

Seeder = Callable[[Mapping[str, Any]], None]


def _seed_entries(arguments: Mapping[str, Any]) -> None:
    for entry in arguments.get("entries") or ():
        seed({name: getattr(entry, name, None) for name in PERSON_FIELDS})


def _seed_changes(arguments: Mapping[str, Any]) -> None:
    changes = arguments.get("changes")
    if isinstance(changes, Mapping):
        seed(dict(changes))


def _seed_contact_change(arguments: Mapping[str, Any]) -> None:
    field = arguments.get("field")
    if isinstance(field, str):
        seed({field: arguments.get("new_value")})


def _observing(original: Callable[..., Awaitable[Any]], seeder: Seeder) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    async def observed(*args: Any, **kwargs: Any) -> Any:
        if active_guard() is not None:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                pass  # a wrong call: the real function says so below
            else:
                seeder(bound.arguments)
        return await original(*args, **kwargs)

    setattr(observed, _MARK, True)
    return observed


def _observe_everywhere(module_name: str, name: str, seeder: Seeder) -> None:
    """Wrap `module.name`, and every reference an already imported module took by name."""
    module = importlib.import_module(module_name)
    original = getattr(module, name)
    observed = _observing(original, seeder)
    for loaded in list(sys.modules.values()):
        loaded_name = getattr(loaded, "__name__", "")
        if not loaded_name.startswith(("amanat.", "tests.")):
            continue
        if vars(loaded).get(name) is original:
            setattr(loaded, name, observed)


def _observe_people_service() -> None:
    _observe_everywhere("amanat.people.registry", "create_people", _seed_entries)
    _observe_everywhere("amanat.people.registry", "update_person", _seed_changes)
    # What those two call, and what the admins' doors call directly (held claims).
    _observe_everywhere("amanat.people.registry", "enter_people", _seed_entries)
    _observe_everywhere("amanat.people.registry", "correct_person", _seed_changes)
    _observe_everywhere("amanat.people.profile", "request_contact_change", _seed_contact_change)


def _observe_renderer(renderer: type[Any]) -> None:
    original = renderer.__call__

    @functools.wraps(original)
    def observed(self: Any, logger: Any, name: str, event_dict: Any) -> Any:
        rendered = original(self, logger, name, event_dict)
        guard = active_guard()
        if guard is not None:
            text = rendered.decode(errors="replace") if isinstance(rendered, bytes) else rendered
            guard.see(LOG_LINE, str(text))
        return rendered

    renderer.__call__ = observed


def _observe_stdlib_logging() -> None:
    original = logging.Logger.callHandlers

    @functools.wraps(original)
    def observed(self: logging.Logger, record: logging.LogRecord) -> None:
        guard = active_guard()
        if guard is not None:
            # A malformed record is the logging module's to report, not ours.
            with contextlib.suppress(Exception):
                guard.see(LOG_LINE, record.getMessage())
            if record.exc_info and record.exc_info[1] is not None:
                guard.see(LOG_LINE, str(record.exc_info[1]))
        original(self, record)

    logging.Logger.callHandlers = observed  # type: ignore[method-assign]


# A form shown again after an error gives back, in its fields, what the person typed or their
# own stored data; that goes only to whoever filled it in. The rest of the page is checked.
_FIELD_VALUE = re.compile(r"(<input\b[^>]*?\bvalue=)(\"[^\"]*\"|'[^']*')", re.IGNORECASE)
_TEXTAREA = re.compile(r"(<textarea\b[^>]*>).*?(</textarea>)", re.IGNORECASE | re.DOTALL)


def error_body_text(response: httpx.Response) -> str:
    """The body of an error response as the guard checks it: form fields emptied in HTML."""
    text = response.text
    if "html" in response.headers.get("content-type", ""):
        text = _TEXTAREA.sub(r"\1\2", _FIELD_VALUE.sub(r'\1""', text))
    return text


def _see_response(guard: LeakGuard, response: httpx.Response) -> None:
    for hop in [*response.history, response]:
        guard.see_url(hop.request.url)
        location = hop.headers.get("location")
        if location:
            guard.see_url(location)
        if hop.status_code >= 400:
            try:
                guard.see(ERROR_BODY, error_body_text(hop))
            except httpx.ResponseNotRead:
                continue  # a streamed body the test reads itself


def _observe_http_clients() -> None:
    async_send = httpx.AsyncClient.send
    sync_send = httpx.Client.send

    @functools.wraps(async_send)
    async def observed_async(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        guard = active_guard()
        if guard is not None:
            guard.see_url(request.url)
        response = await async_send(self, request, **kwargs)
        if guard is not None:
            _see_response(guard, response)
        return response

    @functools.wraps(sync_send)
    def observed_sync(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        guard = active_guard()
        if guard is not None:
            guard.see_url(request.url)
        response = sync_send(self, request, **kwargs)
        if guard is not None:
            _see_response(guard, response)
        return response

    httpx.AsyncClient.send = observed_async  # type: ignore[method-assign]
    httpx.Client.send = observed_sync  # type: ignore[method-assign]


def install_observers() -> None:
    """Install every observer, once per process (pytester's inner runs share the process)."""
    global _installed
    if _installed:
        return
    _installed = True
    _observe_people_service()
    _observe_renderer(structlog.processors.JSONRenderer)
    _observe_renderer(structlog.dev.ConsoleRenderer)
    _observe_stdlib_logging()
    _observe_http_clients()


def is_observed(function: object) -> bool:
    return bool(getattr(function, _MARK, False))
