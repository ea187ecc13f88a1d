"""The schedule picture's day labels, measured in a real browser (headless Chromium).

The reported bug: a week starting at 23:00 drew "Sun 29 Nov" and "Mon 30 Nov" an hour apart,
one over the other. The server only estimates text widths; Chromium lays the text out for real.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SQLITE_ONLY, LiveServer, _serve
from tests.web import test_browser as whole
from tests.web.conftest import set_passwords
from tocsin.clock import FixedClock
from tocsin.config import parse
from tocsin.services import schedules
from tocsin.store import users
from tocsin.store.db import make_engine, make_sessionmaker

pytestmark = SQLITE_ONLY

# One Chromium per module, started by the whole-incident test's fixtures.
chromium_process = whole.chromium_process
chromium = whole.chromium

# Sunday 29 November 2026, 23:30 in Berlin: the picture's week starts at 23:00 local time.
NOW = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)

CONFIG = """
schedules:
  - name: primary
    time_zone: Europe/Berlin
    layers:
      - name: daily
        rotation: 1 day
        start: 2026-11-23T09:00
        participants: [alice, bob]
"""


@pytest.fixture
def late_site(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A Berlin schedule served at 23:30 Berlin time, to alice who lives in Berlin."""
    set_passwords(db_url)
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        schedules.put(session, parse(CONFIG).spec.schedules[0], actor="root", now=NOW)
        users.update(session, users.get_by_handle(session, "alice"), time_zone="Europe/Berlin")
    engine.dispose()
    yield from _serve(db_url, tmp_path, tls=False, seed=False, clock=FixedClock(NOW))


def _apart(one: dict[str, float], other: dict[str, float]) -> bool:
    """Return whether two boxes do not intersect."""
    return (
        one["x"] + one["width"] <= other["x"]
        or other["x"] + other["width"] <= one["x"]
        or one["y"] + one["height"] <= other["y"]
        or other["y"] + other["height"] <= one["y"]
    )


@pytest.mark.parametrize("width", [1400, 800])
def test_day_labels_of_a_week_starting_at_23h_do_not_overlap(
    chromium: Any, late_site: LiveServer, width: int
) -> None:
    page = whole.open_page(chromium, viewport={"width": width, "height": 900})
    whole.log_in(page, late_site.url, "alice")
    page.goto(f"{late_site.url}/schedules/primary")
    labels = page.locator("svg.schedule text.axis")
    first, second = labels.nth(0).bounding_box(), labels.nth(1).bounding_box()
    assert first is not None and second is not None
    assert _apart(first, second), (labels.nth(0).text_content(), first, second)
    assert labels.nth(0).text_content() == "Mon 30 Nov"  # Sunday's one hour has no room
    # Every label, laid out by the browser, stays clear of the next and inside the picture.
    picture = page.locator("svg.schedule").bounding_box()
    assert picture is not None
    boxes = [labels.nth(n).bounding_box() for n in range(labels.count())]
    assert len(boxes) == 7
    for box in boxes:
        assert box is not None
        assert (
            picture["x"] <= box["x"] and box["x"] + box["width"] <= picture["x"] + picture["width"]
        )
    for left, right in itertools.pairwise(boxes):
        assert left is not None and right is not None
        assert _apart(left, right)
    # The legend names who the colours are.
    legend = page.locator("figure.schedule-picture figcaption ul.legend li")
    assert legend.all_text_contents() == ["@alice Alice", "@bob Bob"]
    whole.shot(page, f"schedule-23h-{width}", late_site.db_url)
