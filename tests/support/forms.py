"""Reading the HTML forms in tests: an input of a form, whether it is required, and the refusal
shown beside it (`identity/person_fields.html`)."""

from __future__ import annotations

import re

# The identity fields in a form, by their input names.
IDENTITY_INPUTS = ("phone", "cnic", "line1", "line2", "city", "province", "postal_code", "country")


def input_tag(html: str, name: str) -> str:
    """The `<input>` tag named `name` (the test fails when the form has none)."""
    found = re.search(rf'<input\b[^>]*\bname="{re.escape(name)}"[^>]*>', html)
    assert found is not None, f"no input named {name}"
    return found.group(0)


def is_required(html: str, name: str) -> bool:
    return re.search(r"\srequired[\s>]", input_tag(html, name)) is not None


def error_beside(html: str, name: str) -> str:
    """The refusal shown right after the input named `name`, "" when there is none."""
    tag = input_tag(html, name)
    after = html[html.index(tag) + len(tag) :]
    found = re.match(
        rf'\s*<span class="field-error" id="{re.escape(name)}-error">([^<]*)</span>', after
    )
    return found.group(1) if found else ""
