"""The new-device alert: a plain-text mail naming the time, browser, OS and network (never the
full address) of a sign-in from a device not seen before, with a "this was not me" link."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.context import RequestContext
from amanat.comms.outbox import queue_email
from amanat.core.clock import UTC
from amanat.core.crypto import MasterKeyring

TEMPLATE_DIR = Path(__file__).parent / "templates"
NEW_DEVICE_SUBJECT = "Amanat: a sign-in from a new device"
NEW_DEVICE_CATEGORY = "activity.new_device"

_mail = Environment(
    loader=FileSystemLoader(str(TEMPLATE_DIR / "email")),
    autoescape=False,  # noqa: S701  (plain-text mail; nothing here is rendered as HTML)
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


async def send_new_device_alert(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    to: str,
    account_id: str,
    username: str,
    context: RequestContext,
    at: datetime,
    link: str,
    valid_hours: int,
) -> str:
    """Queue the alert for the person; the outbox id. The address appears only shortened."""
    body = _mail.get_template("new_device.txt").render(
        username=username,
        time=at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        browser=context.agent.browser_label,
        os=context.agent.os_label,
        device_type=context.agent.device_type,
        network=context.network or "unknown",
        link=link,
        valid_hours=valid_hours,
    )
    return await queue_email(
        session,
        ring,
        to=to,
        subject=NEW_DEVICE_SUBJECT,
        body=body,
        category=NEW_DEVICE_CATEGORY,
        account_id=account_id,
    )
