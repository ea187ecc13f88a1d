"""The schedule page in the viewer's time zone or the schedule's, with a legend and tooltips.

A viewer in Tokyo looks at a Berlin schedule: a daily rotation of alice and bob handing off at
09:00 Berlin time (16:00 in Tokyo), and a half-hour override for carol. The seed's clock stands
at Thursday 2024-06-20 10:30 UTC: 19:30 in Tokyo, 12:30 in Berlin.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

from tests.conftest import T0
from tests.web.conftest import Browser
from tocsin.config import parse
from tocsin.services import schedules, swaps
from tocsin.store import schedules as schedule_store
from tocsin.store import users
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.web.svg import PALETTE

CONFIG = """
schedules:
  - name: follow
    time_zone: Europe/Berlin
    layers:
      - name: daily
        rotation: 1 day
        start: 2024-06-17T09:00
        participants: [alice, bob]
"""


def _set_up(db_url: str, viewer_zone: str = "Asia/Tokyo") -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        schedules.put(session, parse(CONFIG).spec.schedules[0], actor="root", now=T0)
        schedule_store.add_override(
            session,
            "follow",
            user="carol",
            start=datetime(2024, 6, 21, 2, 0, tzinfo=UTC),  # Fri 04:00 Berlin, 11:00 Tokyo
            end=datetime(2024, 6, 21, 2, 30, tzinfo=UTC),
            note="dentist cover",
            actor="alice",
            now=T0,
        )
        users.update(session, users.get_by_handle(session, "alice"), time_zone=viewer_zone)
    engine.dispose()


def _text(html: str) -> str:
    """Return the page's text as a reader sees it: tags dropped, entities decoded."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _svg(html: str) -> str:
    return html[html.index("<svg") : html.index("</svg>")]


def _labels(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<text x="([0-9.]+)" y="14" class="axis">([^<]+)</text>', _svg(html))


def test_times_are_in_the_viewers_zone_with_a_switch_to_the_schedules(browser: Browser) -> None:
    _set_up(browser.db_url)
    browser.login("alice")
    page = browser.get("/schedules/follow")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Times in Asia/Tokyo (yours) · show in Europe/Berlin (the schedule's)" in text
    assert '<a href="?zone=schedule">' in page.text
    # Who is on call, until when and who is next, in Tokyo time.
    assert (
        "On call now: @bob until Fri 2024-06-21 11:00 JST · next: @carol from Fri 2024-06-21 11:00"
        in text
    )
    assert "@carol Fri 2024-06-21 11:00 JST Fri 2024-06-21 11:30 JST dentist cover" in text
    # The layer's rotation stays as defined, in its zone; its next handoff is in Tokyo time.
    assert "every 1 day from 2024-06-17 09:00 (Europe/Berlin)" in text
    assert "Fri 2024-06-21 16:00 JST to @alice" in text
    # The picture's days begin at Tokyo's midnights: Friday's five hours after 19:00 Thursday.
    labels = _labels(page.text)
    assert labels[0] == ("182.3", "Fri 21 Jun")  # Thursday's 5 hours are too narrow for a name
    assert [day for _, day in labels] == [
        "Fri 21 Jun",
        "Sat 22 Jun",
        "Sun 23 Jun",
        "Mon 24 Jun",
        "Tue 25 Jun",
        "Wed 26 Jun",
        "Thu 27 Jun",
    ]
    assert "<title>alice: Fri 16:00 - Sat 16:00 Asia/Tokyo</title>" in page.text

    page = browser.get("/schedules/follow?zone=schedule")
    text = _text(page.text)
    assert "Times in Europe/Berlin (the schedule's) · show in Asia/Tokyo (yours)" in text
    assert '<a href="?zone=mine">' in page.text
    assert "On call now: @bob until Fri 2024-06-21 04:00 CEST" in text
    assert "@carol Fri 2024-06-21 04:00 CEST Fri 2024-06-21 04:30 CEST dentist cover" in text
    assert "every 1 day from 2024-06-17 09:00 (Europe/Berlin)" in text
    assert "Fri 2024-06-21 09:00 CEST to @alice" in text
    labels = _labels(page.text)
    assert labels[0] == ("221.9", "Fri 21 Jun")  # Berlin's midnight is 12 hours in
    assert labels[-1][1] == "Wed 26 Jun"  # Thursday's last 12 hours leave no room for its name
    assert "<title>alice: Fri 09:00 - Sat 09:00 Europe/Berlin</title>" in page.text


def test_the_legend_names_everyone_and_short_blocks_have_tooltips(browser: Browser) -> None:
    _set_up(browser.db_url)
    browser.login("alice")
    page = browser.get("/schedules/follow").text
    legend = page[page.index("<figcaption") : page.index("</figcaption>")]
    for handle, name, colour in (
        ("alice", "Alice", PALETTE[0]),
        ("bob", "Bob", PALETTE[1]),
        ("carol", "Carol", PALETTE[2]),
    ):
        item = re.search(rf'<li data-person="{handle}">(.*?)</li>', legend)
        assert item is not None, handle
        assert f'fill="{colour}"' in item.group(1)
        assert f"<strong>@{handle}</strong>" in item.group(1)
        assert name in item.group(1)
    # Carol's half hour is about three units wide: no room for text, but a tooltip in Tokyo time.
    carol = re.findall(
        r'<g class="shift"><title>carol: ([^<]+)</title><rect [^>]*fill="([^"]+)"/>(.*?)</g>',
        _svg(page),
    )
    assert carol == [
        ("Fri 11:00 - Fri 11:30 Asia/Tokyo", PALETTE[2], ""),  # the overrides row
        ("Fri 11:00 - Fri 11:30 Asia/Tokyo", PALETTE[2], ""),  # the final schedule
    ]


def test_no_switch_when_the_zones_agree_and_a_clear_refusal_of_other_zones(
    browser: Browser,
) -> None:
    _set_up(browser.db_url, viewer_zone="Europe/Berlin")
    browser.login("alice")
    page = browser.get("/schedules/follow")
    assert "Times in Europe/Berlin (yours and the schedule's)" in _text(page.text)
    assert "?zone=" not in page.text
    refused = browser.get("/schedules/follow?zone=theirs")
    assert refused.status_code == 400
    assert "zone must be 'mine' or 'schedule', not 'theirs'" in unescape(refused.text)


def test_a_viewer_in_the_rota_is_offered_no_swap_to_accept(browser: Browser) -> None:
    # vera is in the rota but only views: accepting would be refused, so no Accept button.
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        spec = parse(CONFIG.replace("[alice, bob]", "[alice, bob, vera]")).spec.schedules[0]
        schedules.put(session, spec, actor="root", now=T0)
        asked = swaps.request(
            session,
            "follow",
            requester="alice",  # her day: Thu 09:00 to Fri 09:00 Berlin
            start=datetime(2024, 6, 20, 12, 0, tzinfo=UTC),
            end=datetime(2024, 6, 20, 14, 0, tzinfo=UTC),
            now=T0,
        )
    engine.dispose()
    browser.login("bob")
    assert f'action="/swaps/{asked.id}/accept"' in browser.get("/schedules/follow").text
    browser.login("vera")
    page = browser.get("/schedules/follow")
    assert page.status_code == 200
    assert f'id="swap-{asked.id}"' in page.text
    assert f'action="/swaps/{asked.id}/accept"' not in page.text
