"""Plain-text mail rendered from a folder of templates and queued in the outbox.

Each domain that sends mail keeps its own templates and subjects next to its code and makes
one `MailTemplates` for them; this module is the one place that renders and queues.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.comms.outbox import EmailToQueue, queue_emails
from amanat.core.crypto import MasterKeyring


class MailTemplates:
    """The mails `<folder>/<template>.txt` renders, with `subjects[template]` as subject and
    `<category_prefix>.<template>` as outbox category."""

    def __init__(self, folder: Path, subjects: Mapping[str, str], *, category_prefix: str) -> None:
        self._environment = Environment(
            loader=FileSystemLoader(str(folder)),
            autoescape=False,  # noqa: S701  (plain-text mail; nothing here is rendered as HTML)
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._subjects = subjects
        self._category_prefix = category_prefix

    def __repr__(self) -> str:
        return f"MailTemplates(category_prefix={self._category_prefix!r})"

    def email(
        self, template: str, *, to: str, account_id: str | None, **context: Any
    ) -> EmailToQueue:
        """The mail `template` renders for `to`, ready for the outbox."""
        body = self._environment.get_template(f"{template}.txt").render(**context)
        return EmailToQueue(
            to=to,
            subject=self._subjects[template],
            body=body,
            category=f"{self._category_prefix}.{template}",
            account_id=account_id,
        )

    async def send(
        self,
        session: AsyncSession,
        ring: MasterKeyring,
        *,
        template: str,
        to: str,
        account_id: str | None,
        **context: Any,
    ) -> str:
        """Render `template` for `to` and queue it; the outbox message's id."""
        email = self.email(template, to=to, account_id=account_id, **context)
        [message_id] = await queue_emails(session, ring, [email])
        return message_id
