"""Subscribing and unsubscribing from a real browser (headless Chromium driven by Playwright)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.conftest import SQLITE_ONLY
from tests.web.test_browser import chromium, chromium_process  # noqa: F401 - fixtures
from tests.web.test_status_subscriptions import World, link, world  # noqa: F401 - fixture
from tocsin.store.models import StatusSubscriber

# On SQLite only: the same flows run over HTTP on both databases in test_status_subscriptions.
pytestmark = SQLITE_ONLY


def test_subscribe_with_a_component_choice_then_leave_with_one_click(
    chromium: Any,  # noqa: F811
    world: World,  # noqa: F811
) -> None:
    page = chromium.new_context().new_page()
    page.goto(f"{world.server.url}/status")
    form = page.locator("#subscribe-form")
    form.get_by_label("Email address").fill("jane@example.com")
    form.get_by_label("Website").uncheck()
    form.get_by_role("button", name="Subscribe").click()
    page.wait_for_url("**/status/subscribe")
    assert "a confirmation link is on its way" in page.locator("#subscription-message").inner_text()
    assert "jane@example.com" not in page.content()

    assert world.run() == 1
    page.goto(link(world.mail_to("jane@example.com")[0], "/status/subscribe/confirm/"))
    page.get_by_role("button", name="Confirm my subscription").click()
    assert "Your subscription is confirmed." in page.locator("#subscription-message").inner_text()
    with world.sessions() as session:
        [subscriber] = session.scalars(select(StatusSubscriber))
        assert (subscriber.components, subscriber.confirmed_at is not None) == (["api"], True)

    page.get_by_role("link", name="Manage your subscription").click()
    assert page.get_by_label("Public API").is_checked()
    assert not page.get_by_label("Website").is_checked()
    page.get_by_role("button", name="Unsubscribe").click()
    assert "You are unsubscribed" in page.locator("#subscription-message").inner_text()
    with world.sessions() as session:
        assert session.scalars(select(StatusSubscriber)).all() == []
