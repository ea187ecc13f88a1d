"""The on-call hours page: the form, the table and the chart, for anyone logged in."""

from __future__ import annotations

import re

from tests.cli.test_report_oncall_cli import SPRING
from tests.conftest import SQLITE_ONLY
from tests.web.conftest import Browser
from tocsin import config
from tocsin.services import config_apply as applier
from tocsin.store.db import make_engine, make_sessionmaker

# The figures' queries run on both databases in the CLI and API tests; this is the page.
pytestmark = SQLITE_ONLY


def _apply(browser: Browser) -> None:
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        applier.apply(session, config.parse(SPRING, "tocsin.yaml"), now=browser.clock.now())
    engine.dispose()


def test_the_page_shows_the_table_and_the_chart(browser: Browser) -> None:
    _apply(browser)
    assert browser.login("vera").status_code == 303  # a viewer may read reports
    reports = browser.get("/reports")
    assert 'href="/reports/oncall"' in reports.text
    page = browser.get(
        "/reports/oncall", params={"from": "2024-03-29", "to": "2024-04-01", "schedule": "primary"}
    )
    assert page.status_code == 200
    html = page.text
    table = html[html.index('id="oncall-hours"') : html.index("</table>")]
    rows = re.findall(r"<tr><th scope=\"row\">@?(\w+).*?</th>((?:<td>[^<]*</td>)+)</tr>", table)
    cells = {who: re.findall(r"<td>([^<]*)</td>", tds) for who, tds in rows}
    # The range in the viewer's zone (vera's is UTC): the schedule's local midnight.
    assert "From Thu 2024-03-28 23:00 UTC to Sun 2024-03-31 22:00 UTC" in html
    # Same figures as the API's test: alice 39 h, bob 23 h of weekend.
    assert cells["alice"] == ["Europe/Berlin", "39", "8", "5", "2", "24", "0", "0"]
    assert cells["bob"] == ["America/New_York", "23", "0", "0", "0", "23", "0", "0"]
    assert cells["Total"] == ["", "62", "8", "5", "2", "47", "0", "0"]
    assert '<option value="primary" selected>' in html
    chart = html[html.index("<svg", html.index('id="oncall-chart"')) : html.index("</svg>")]
    assert 'role="img"' in chart and '<title id="oncall-chart-title">Hours on call' in chart
    titles = re.findall(r"<g class=\"segment [a-z_]+\"><title>([^<]+)</title>", chart)
    assert titles == [
        "alice: 8 h business hours",
        "alice: 5 h evenings",
        "alice: 2 h nights",
        "alice: 24 h weekends",
        "bob: 23 h weekends",
    ]
    # alice's bar is the longest: its four segments span the whole width; bob's 23/39 of it.
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', chart)]
    assert abs(sum(widths[:4]) - 690) < 0.5 and abs(widths[4] - 690 * 23 / 39) < 0.1
    assert "Weekends</li>" in html  # the legend


def test_bad_dates_are_listed_and_nothing_is_shown(browser: Browser) -> None:
    _apply(browser)
    browser.login("alice")
    page = browser.get("/reports/oncall", params={"from": "2024-04-02", "to": "2024-03-29"})
    assert page.status_code == 400
    assert "to &#39;2024-03-29&#39; must be after from &#39;2024-04-02&#39;" in page.text
    assert 'id="oncall-hours"' not in page.text


def test_it_needs_a_login(browser: Browser) -> None:
    page = browser.client.get("/reports/oncall", follow_redirects=False)
    assert page.status_code in (302, 303)
