"""Layout checks for end-to-end tests: full-page screenshots at a desktop and a phone width, and
no horizontal overflow (issue 11: "pages work on a 390-pixel phone screen").

A page overflows when the document is wider than the window, or when an element's right edge
passes the viewport. Wide tables may scroll inside a `.table-scroll` box: what is inside one is
not counted (the box itself is).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, ViewportSize

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
WIDTHS = (DESKTOP, PHONE)
SCREENSHOT_DIR_VARIABLE = "AMANAT_SCREENSHOT_DIR"

# Half a pixel of slack: sub-pixel layout rounds either way.
_OVERFLOW_SCRIPT = """
() => {
  const limit = document.documentElement.clientWidth + 0.5;
  const found = [];
  const page = document.documentElement.scrollWidth;
  if (page > window.innerWidth) {
    found.push(`document is ${page}px wide in a ${window.innerWidth}px window`);
  }
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += `#${el.id}`;
    if (typeof el.className === "string" && el.className.trim()) {
      name += "." + el.className.trim().split(/\\s+/).join(".");
    }
    const testid = el.getAttribute("data-testid");
    if (testid) name += `[data-testid=${testid}]`;
    return name;
  };
  for (const el of document.body.querySelectorAll("*")) {
    const parent = el.parentElement;
    if (parent && parent.closest(".table-scroll")) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.right + window.scrollX > limit) {
      found.push(`${describe(el)} reaches ${Math.round(box.right)}px`);
    }
    if (found.length >= 20) break;
  }
  return found;
}
"""


def overflow_problems(page: Page) -> list[str]:
    """What passes the right edge of the viewport on the page as it is now laid out."""
    found: list[str] = page.evaluate(_OVERFLOW_SCRIPT)
    return found


def check_no_overflow(page: Page) -> None:
    """Fails when the page is wider than the window or an element passes its right edge."""
    problems = overflow_problems(page)
    width = page.viewport_size["width"] if page.viewport_size else "?"
    assert not problems, f"{page.url} overflows at {width}px: {problems}"


def screenshot_dir(fallback: Path) -> Path:
    """`AMANAT_SCREENSHOT_DIR` when set (to keep the pictures), else `fallback` (a tmp_path)."""
    chosen = os.environ.get(SCREENSHOT_DIR_VARIABLE)
    directory = Path(chosen) if chosen else fallback
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot_name(url_path: str) -> str:
    """A file name for a page: `/admin/users/abc` becomes `admin-users-abc`."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", url_path).strip("-")
    return cleaned or "start"


def screenshot_both_widths(
    page: Page, name: str, directory: Path, *, check: bool = True
) -> dict[int, list[str]]:
    """Full-page screenshots of the current page at 1280 and 390 px wide, saved in `directory`
    as `<name>-1280.png` and `<name>-390.png`. Returns the overflow found at each width, and,
    with `check`, fails on any. The page is left at the desktop width."""
    found: dict[int, list[str]] = {}
    for size in WIDTHS:
        page.set_viewport_size(size)
        page.evaluate("() => new Promise(requestAnimationFrame)")  # one frame: laid out again
        page.screenshot(path=str(directory / f"{name}-{size['width']}.png"), full_page=True)
        found[size["width"]] = overflow_problems(page)
    page.set_viewport_size(DESKTOP)
    if check:
        failing = {width: problems for width, problems in found.items() if problems}
        assert not failing, f"{page.url} overflows: {failing}"
    return found
