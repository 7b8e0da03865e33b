"""Text messages the identity domain sends to phone numbers, the SMS sibling of `mail`.

Short on purpose: one segment where possible, no links but our own, no personal data but the
code a message exists to carry. Placeholders are filled from our own values (username, code,
minutes, page addresses), never from free text.
"""

from __future__ import annotations

from amanat.comms.sms import TextMessage, TextMessageSender

TEXTS = {
    "phone_change_confirm": (
        "Amanat: {code} is your code to use this number for the account {username}. "
        "It works once, for {minutes} minutes. Not you? Ignore this message."
    ),
    "phone_change_notice": (
        "Amanat: someone signed in to the account {username} asked to change its phone "
        "number. Not you? Change your password at {password_page} now."
    ),
    "phone_changed": (
        "Amanat: the phone number of the account {username} was changed; this number gets "
        "no more messages about it. Not you? Reset your password at {reset_page}."
    ),
    "phone_removed": (
        "Amanat: this number was removed from the account {username} and gets no more "
        "messages about it. Not you? Reset your password at {reset_page}."
    ),
}


async def send_identity_text(
    sender: TextMessageSender, *, template: str, to: str, **context: str | int
) -> None:
    await sender.send(
        TextMessage(to=to, body=TEXTS[template].format(**context), category=f"identity.{template}")
    )
