"""The account chart is an inline SVG drawn by our own code: no script, every text escaped."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from amanat.activity.chart import LEFT, sign_in_chart, value_ticks
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
    assert "2026-11-01: 1 failure<" in svg
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


SVG = "{http://www.w3.org/2000/svg}"


def _axis(svg: str) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """The horizontal gridlines (y, value) and the vertical axis's labels (y, text)."""
    root = ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted input
    lines = [
        (float(line.attrib["y1"]), line.attrib["data-value"])
        for line in root.iter(f"{SVG}line")
        if line.attrib["y1"] == line.attrib["y2"]
    ]
    labels = [
        (float(text.attrib["y"]), text.text or "")
        for text in root.iter(f"{SVG}text")
        if text.attrib.get("text-anchor") == "end" and float(text.attrib["x"]) < LEFT
    ]
    return lines, labels


@pytest.mark.parametrize("largest", [0, 1, 2, 3, 5, 7, 9, 11, 13, 37, 99, 101, 250, 999, 1234])
def test_the_axis_labels_sit_on_gridlines_of_the_same_value(largest: int) -> None:
    svg = str(sign_in_chart(_days([(largest, 0), (0, largest // 2)])))
    lines, labels = _axis(svg)
    assert len(lines) >= 2
    # Each label is on a gridline (same y) and names that gridline's value; none is left over.
    assert sorted(labels) == sorted(lines)
    values = [int(value) for _, value in sorted(lines, reverse=True)]
    assert values[0] == 0
    assert values[-1] >= largest
    steps = {b - a for a, b in itertools.pairwise(values)}
    assert len(steps) == 1  # evenly spaced
    heights = sorted(y for y, _ in lines)
    gaps = {round(b - a, 1) for a, b in itertools.pairwise(heights)}
    assert max(gaps) - min(gaps) <= 0.2  # evenly drawn (rounded to tenths)
    assert "dominant-baseline" in svg


def test_the_tallest_bar_reaches_the_gridline_of_its_value() -> None:
    svg = str(sign_in_chart(_days([(10, 0)])))
    root = ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted input
    lines, _ = _axis(svg)
    top_line = min(y for y, value in lines if value == "10")
    bar = next(
        rect for rect in root.iter(f"{SVG}rect") if "10 sign-ins" in "".join(rect.itertext())
    )
    assert float(bar.attrib["y"]) == pytest.approx(top_line, abs=0.1)


def test_value_ticks_are_round_whole_steps() -> None:
    assert value_ticks(0) == [0, 1]
    assert value_ticks(1) == [0, 1]
    assert value_ticks(3) == [0, 1, 2, 3]
    assert value_ticks(7) == [0, 2, 4, 6, 8]
    assert value_ticks(10) == [0, 2, 4, 6, 8, 10]
    assert value_ticks(11) == [0, 5, 10, 15]
    assert value_ticks(1234) == [0, 500, 1000, 1500]
    for largest in range(0, 2000, 7):
        ticks = value_ticks(largest)
        assert ticks[-1] >= largest
        assert 2 <= len(ticks) <= 6
