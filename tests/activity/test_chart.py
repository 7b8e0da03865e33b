"""The account chart is an inline SVG drawn by our own code: no script, every text escaped."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from amanat.activity.chart import sign_in_chart
from amanat.activity.service import DayCount

pytestmark = pytest.mark.asvs("V1.2.1")


def _days(values: list[tuple[int, int]]) -> list[DayCount]:
    start = date(2026, 11, 1)
    return [DayCount(start + timedelta(days=n), ok, bad) for n, (ok, bad) in enumerate(values)]


def test_the_chart_draws_two_bars_a_day_with_labels() -> None:
    svg = str(sign_in_chart(_days([(3, 1), (0, 0), (7, 2)])))
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert svg.count("<rect") == 3 * 2 + 2  # two bars a day and two legend swatches
    assert "2026-11-03: 7 sign-ins" in svg
    assert "2026-11-01: 1 failures" in svg
    assert "From 2026-11-01 to 2026-11-03: 10 sign-ins and 3 failures." in svg
    for banned in ("<script", "style=", "href", "javascript:", "<foreignObject"):
        assert banned not in svg


def test_text_in_the_chart_is_escaped() -> None:
    svg = str(sign_in_chart(_days([(1, 0)]), title='<script>alert("x")</script> & co'))
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in svg


def test_an_empty_or_quiet_period_still_draws() -> None:
    assert "No days to show." in str(sign_in_chart([]))
    quiet = str(sign_in_chart(_days([(0, 0)] * 30)))
    assert 'height="0.0"' in quiet
