"""The privacy policy the pages link to is served, in the provider's own words, as an escaped
HTML page (the contract every other test proves a promise of)."""

from __future__ import annotations

import html

import httpx
import pytest

from amanat.web.privacy_policy import POLICY_FILE, parse_policy

pytestmark = pytest.mark.policy("§5 third parties")


async def test_the_policy_page_answers_with_the_policy(bare_client: httpx.AsyncClient) -> None:
    page = await bare_client.get("/privacy-policy")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Privacy Policy</h1>" in page.text
    assert "We do not sell" in page.text
    assert "<h2>5. Do we share information with any third party?</h2>" in page.text


async def test_every_line_of_the_policy_is_on_the_page_verbatim(
    bare_client: httpx.AsyncClient,
) -> None:
    page = (await bare_client.get("/privacy-policy")).text
    lines = [line.strip() for line in POLICY_FILE.read_text(encoding="utf-8").splitlines()]
    assert len([line for line in lines if line]) > 20
    for line in filter(None, lines):
        assert html.escape(line.removeprefix("- "), quote=False) in page, line


async def test_the_footer_link_leads_to_the_policy(bare_client: httpx.AsyncClient) -> None:
    start = await bare_client.get("/")
    assert 'href="/privacy-policy"' in start.text
    assert (await bare_client.get("/privacy-policy")).status_code == 200


def test_the_policy_text_is_shaped_into_sections_lists_and_paragraphs() -> None:
    document = parse_policy(
        "Policy\nUpdated on: today\nIntro.\n1. First\n- one\n- two\nAfter.\n2. Second\n"
    )
    assert document.title == "Policy"
    assert [(block.kind, block.text, block.items) for block in document.blocks] == [
        ("date", "Updated on: today", ()),
        ("paragraph", "Intro.", ()),
        ("section", "1. First", ()),
        ("list", "", ("one", "two")),
        ("paragraph", "After.", ()),
        ("section", "2. Second", ()),
    ]


@pytest.mark.asvs("V1.2.1")
async def test_markup_in_the_text_is_escaped(
    bare_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from amanat.web import privacy_policy

    hostile = parse_policy("Policy <b>\n- <script>alert(1)</script>\nA & B\n")
    monkeypatch.setattr(privacy_policy, "privacy_policy", lambda: hostile)
    page = (await bare_client.get("/privacy-policy")).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h1>Policy &lt;b&gt;</h1>" in page
    assert "A &amp; B" in page
