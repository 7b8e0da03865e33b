"""Sign-ins and failures per day as an inline SVG bar chart, drawn on the server.

No script and no third-party code: plain SVG elements with presentation attributes (no `style`,
so the page's CSP needs nothing more). Every piece of text is escaped here, so the result is
safe to place in a page as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from amanat.activity.service import DayCount

WIDTH = 760
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 28, 36
SUCCESS_COLOUR = "#2e7d32"
FAILURE_COLOUR = "#c62828"
GRID_COLOUR = "#d0d0d0"
TEXT_COLOUR = "#333333"
MAX_X_LABELS = 10
MAX_Y_STEPS = 5


def value_ticks(largest: int) -> list[int]:
    """The values the vertical axis marks: 0 up to at least `largest`, in a round step
    (1, 2 or 5 × a power of ten) with at most `MAX_Y_STEPS` steps. Whole numbers only, since
    the chart counts sign-ins. Gridlines and their labels are both drawn from this one list."""
    largest = max(largest, 1)
    step = 1
    while True:
        for factor in (1, 2, 5):
            candidate = step * factor
            if math.ceil(largest / candidate) <= MAX_Y_STEPS:
                top = math.ceil(largest / candidate) * candidate
                return list(range(0, top + 1, candidate))
        step *= 10


def _text(x: float, y: float, content: str, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="11" '
        f'fill="{TEXT_COLOUR}"{extra}>{escape(content)}</text>'
    )


def _y_of(value: int, top: int) -> float:
    plot_height = HEIGHT - TOP - BOTTOM
    return TOP + plot_height * (1 - value / top)


def _bar(x: float, width: float, value: int, top: int, colour: str, label: str) -> str:
    plot_height = HEIGHT - TOP - BOTTOM
    height = plot_height * value / top if top else 0.0
    y = TOP + plot_height - height
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{colour}"><title>{escape(label)}</title></rect>'
    )


def sign_in_chart(days: Sequence[DayCount], *, title: str = "Sign-ins per day") -> Markup:
    """An accessible SVG of successful sign-ins (green) and failures (red) for each day."""
    ticks = value_ticks(max([1, *(d.successes for d in days), *(d.failures for d in days)]))
    top = ticks[-1]
    plot_width = WIDTH - LEFT - RIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" '
        'class="chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_description(days))}</desc>',
    ]
    for tick in ticks:
        # The label sits on its gridline: same value, same y, centred on it vertically.
        y = _y_of(tick, top)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1" class="gridline" data-value="{tick}"/>'
        )
        parts.append(
            _text(LEFT - 6, y, str(tick), anchor="end", extra=' dominant-baseline="middle"')
        )
    if days:
        group = plot_width / len(days)
        bar = max(group * 0.38, 1.0)
        every = max(1, math.ceil(len(days) / MAX_X_LABELS))
        for index, day in enumerate(days):
            x = LEFT + index * group + group * 0.1
            stamp = day.day.isoformat()
            ok_label = f"{stamp}: {_count(day.successes, 'sign-in')}"
            failed_label = f"{stamp}: {_count(day.failures, 'failure')}"
            parts.append(_bar(x, bar, day.successes, top, SUCCESS_COLOUR, ok_label))
            parts.append(_bar(x + bar, bar, day.failures, top, FAILURE_COLOUR, failed_label))
            if index % every == 0:
                parts.append(_text(LEFT + (index + 0.5) * group, HEIGHT - BOTTOM + 16, stamp[5:]))
    for offset, colour, label in (
        (0, SUCCESS_COLOUR, "sign-ins"),
        (90, FAILURE_COLOUR, "failures"),
    ):
        parts.append(f'<rect x="{LEFT + offset}" y="5" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(LEFT + offset + 14, 14, label, anchor="start"))
    parts.append("</svg>")
    # Every value above is a number we formatted or text passed through `escape`.
    return Markup("".join(parts))  # noqa: S704


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _description(days: Sequence[DayCount]) -> str:
    if not days:
        return "No days to show."
    total = sum(d.successes for d in days)
    failed = sum(d.failures for d in days)
    return (
        f"From {days[0].day.isoformat()} to {days[-1].day.isoformat()}: "
        f"{_count(total, 'sign-in')} and {_count(failed, 'failure')}."
    )
