"""Failed logins slow the next ones down: 429 with Retry-After, no password check meanwhile.

On SQLite only: the throttle is kept in the server's memory, not in the database.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import SQLITE_ONLY
from tests.web.conftest import PASSWORD, Browser
from tocsin.web.throttle import PER_ACCOUNT, PER_ACCOUNT_CLIENT, PER_CLIENT, client_key


def _attempt(client: TestClient, handle: str, password: str) -> tuple[int, str | None, str]:
    client.get("/login")
    answer = client.post(
        "/login",
        data={
            "handle": handle,
            "password": password,
            "csrf_token": client.cookies.get("tocsin_login_csrf", ""),
        },
        follow_redirects=False,
    )
    return answer.status_code, answer.headers.get("retry-after"), answer.text


@SQLITE_ONLY
def test_wrong_passwords_make_each_next_attempt_wait_longer(browser: Browser) -> None:
    client = browser.client
    for _ in range(PER_ACCOUNT_CLIENT.free):
        assert _attempt(client, "alice", "wrong password")[0] == 401
    status, retry_after, page = _attempt(client, "alice", "wrong password")
    assert (status, retry_after) == (429, "1")
    assert "Too many failed logins. Wait 1 second before trying again." in page
    # Throttled means refused before the password is checked: the right one fails too.
    assert _attempt(client, "alice", PASSWORD)[:2] == (429, "1")
    browser.clock.advance(seconds=1)
    assert _attempt(client, "alice", "wrong password")[0] == 401
    assert _attempt(client, "alice", PASSWORD)[:2] == (429, "2")
    browser.clock.advance(seconds=2)
    assert _attempt(client, "alice", "wrong password")[0] == 401
    assert _attempt(client, "alice", "wrong password")[:2] == (429, "4")
    browser.clock.advance(seconds=4)
    assert _attempt(client, "alice", PASSWORD)[0] == 303
    assert browser.get("/").status_code == 200
    # The success cleared this client's count for alice: a typo now costs no wait.
    client.cookies.clear()
    assert _attempt(client, "alice", "wrong password")[0] == 401
    assert _attempt(client, "alice", PASSWORD)[0] == 303


@SQLITE_ONLY
def test_the_wait_stops_growing_at_the_cap(browser: Browser) -> None:
    client = browser.client
    waits = []
    for _ in range(30):
        status, retry_after, _page = _attempt(client, "bob", "wrong password")
        if status == 429:
            assert retry_after is not None
            waits.append(int(retry_after))
            browser.clock.advance(seconds=int(retry_after))
    assert waits[:4] == [1, 2, 4, 8]
    assert max(waits) == int(PER_ACCOUNT_CLIENT.cap.total_seconds()) == 300
    browser.clock.advance(minutes=5)
    assert _attempt(client, "bob", PASSWORD)[0] == 303


@SQLITE_ONLY
def test_guesses_from_many_addresses_cannot_lock_the_user_out(browser: Browser) -> None:
    app = browser.client.app
    assert browser.login("carol").status_code == 303  # carol's usual browser
    for n in range(PER_ACCOUNT.free):
        guesser = TestClient(app, base_url="http://127.0.0.1:8080", client=(f"10.0.0.{n}", 1))
        assert _attempt(guesser, "carol", "wrong password")[0] == 401
    stranger = TestClient(app, base_url="http://127.0.0.1:8080", client=("10.0.1.1", 1))
    # The account as a whole is now throttled for addresses it has not logged in from ...
    assert _attempt(stranger, "carol", PASSWORD)[:2] == (429, "1")
    # ... but not for carol where she logged in before,
    browser.client.cookies.clear()
    assert _attempt(browser.client, "carol", PASSWORD)[0] == 303
    # and the account-wide wait is capped, so a new device gets in after at most a minute.
    for _ in range(40):
        browser.clock.advance(seconds=2)
        guesser = TestClient(app, base_url="http://127.0.0.1:8080", client=("10.0.2.1", 1))
        _attempt(guesser, "carol", "wrong password")
    browser.clock.advance(seconds=int(PER_ACCOUNT.cap.total_seconds()))
    assert _attempt(stranger, "carol", PASSWORD)[0] == 303


@SQLITE_ONLY
def test_guessing_other_accounts_from_a_shared_address_does_not_lock_out_its_users(
    browser: Browser,
) -> None:
    app = browser.client.app
    office = ("198.51.100.7", 1)  # one NAT address for the whole office
    carol = TestClient(app, base_url="http://127.0.0.1:8080", client=office)
    assert _attempt(carol, "carol", PASSWORD)[0] == 303
    attacker = TestClient(app, base_url="http://127.0.0.1:8080", client=office)
    for n in range(PER_CLIENT.free):
        assert _attempt(attacker, f"nobody{n}", "wrong password")[0] == 401
    # The address is throttled for anyone who never logged in from it ...
    assert _attempt(attacker, "bob", PASSWORD)[0] == 429
    # ... but carol, who did, still gets in from behind the same address.
    carol.cookies.clear()
    assert _attempt(carol, "carol", PASSWORD)[0] == 303


def test_an_ipv6_client_counts_by_its_64_network() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"
