"""The README's pictures are there, and docs/screenshots/ holds exactly what
docs/take_screenshots.py takes: each page at a desktop's and a phone's width, none left
over from an older name."""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"


@functools.cache
def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("take_screenshots",
                                                  ROOT / "docs" / "take_screenshots.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_pictures_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]*\]\((docs/screenshots/[^)]+)\)", readme)
    assert len(shown) == 4, shown
    missing = [path for path in shown if not (ROOT / path).is_file()]
    assert not missing, missing


def test_every_page_is_taken_at_both_sizes_and_nothing_else_lies_there():
    script = _script()
    names = [item.name for item in script.PLAN if isinstance(item, script.Shot)]
    assert len(names) == len(set(names)), names
    assert set(script.SIZES) == {"desktop", "phone"}
    assert script.SIZES["phone"][0] == 390
    expected = {f"{name}-{size}.png" for name in names for size in script.SIZES}
    present = {p.name for p in SCREENSHOTS.iterdir()}
    assert present - expected == set(), "not taken by docs/take_screenshots.py"
    assert expected - present == set(), "not yet taken: run docs/take_screenshots.py"
    # The main pages of issue 15 are among them.
    for page in ("login", "workbench-officer", "calls", "applications", "reviews",
                 "review-queue", "experts", "finance-queue", "ledger", "inbox",
                 "notifications", "objections", "integrity", "application-applicant",
                 "score-form", "call-builder", "public-notice"):
        assert page in names, page


def test_the_pictures_stay_small():
    """At most three screens tall, reduced to a palette: the repository stays light."""
    script = _script()
    for png in SCREENSHOTS.glob("*.png"):
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), png.name
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        size = "phone" if png.stem.endswith("-phone") else "desktop"
        screen_width, screen_height = script.SIZES[size]
        assert width == screen_width, (png.name, width)
        assert height <= screen_height * script.MAX_SCREENS, (png.name, height)
        assert len(data) < 200_000, (png.name, len(data))
