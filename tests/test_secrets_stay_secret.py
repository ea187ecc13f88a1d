"""Provider secrets never show: a real `tocsin serve` pages through every provider (fakes of
Twilio, Telegram, ntfy and a push service), some sends succeed and some are refused, and then
its log, the timeline, the pages, the API, the export and the error messages are searched for
each secret: the auth token, the bot token and webhook secret, the VAPID private key, an ntfy
access token and a webhook signing secret."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import SQLITE_ONLY, T0
from tests.fakes import ntfy as ntfy_fake
from tests.fakes import push as push_fake
from tests.fakes import slack as slack_fake
from tests.fakes import telegram as telegram_fake
from tests.fakes import twilio as twilio_fake
from tests.serving import serve, wait_for
from tocsin import config
from tocsin.errors import InvalidInput
from tocsin.notify.sms import TwilioAccount
from tocsin.notify.telegram import TelegramBot
from tocsin.notify.webpush import VapidKey, generate
from tocsin.services import config_apply, contacts, incidents
from tocsin.store import tokens, users
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import Notification

# What a log line, a page or an export would show: the whole process's output is searched, on
# SQLite (the code paths that print are the same on PostgreSQL).
pytestmark = [SQLITE_ONLY, pytest.mark.slow]

NTFY_TOKEN = "tk_ntfy_access_token_0123456789"
WEBHOOK_SECRET = "whsec-signing-secret-0123456789"
PASSWORD = "correct horse battery"


def _config(twilio: str, ntfy: str) -> str:
    return f"""
users:
  - handle: alice
    contact_methods:
      - {{name: text, type: sms, number: "+4915112345678"}}
      - {{name: call, type: voice, number: "+4915112345679"}}
      - {{name: blocked-text, type: sms, number: "+4915100000000"}}
      - {{name: tg, type: telegram, chat_id: "1001"}}
      - {{name: tg-blocked, type: telegram, chat_id: "2002"}}
      - {{name: slack-dm, type: slack, slack_user: U0ALICE01}}
      - {{name: slack-gone, type: slack, slack_user: U0NOBODY1}}
      - {{name: push, type: ntfy, url: "{ntfy}/oncall-alice", secret: {NTFY_TOKEN}}}
      - {{name: push-refused, type: ntfy, url: "{ntfy}/oncall-other", secret: {NTFY_TOKEN}}}
      - {{name: hook, type: webhook, url: "{twilio}/no-such-receiver", secret: {WEBHOOK_SECRET}}}
escalation_policies:
  - {{name: db-oncall, levels: [{{targets: ["user:alice"]}}]}}
services:
  - {{slug: database, escalation_policy: db-oncall}}
"""


def test_no_secret_shows_anywhere(db_url: str, tmp_path: Path) -> None:
    vapid_private, _public = generate()
    ca = str(tmp_path / "push-ca.pem")
    with (
        twilio_fake.fake_twilio() as twilio,
        telegram_fake.fake_telegram() as telegram,
        ntfy_fake.fake_ntfy() as ntfy,
        push_fake.fake_push(ca) as push,
        slack_fake.fake_slack() as slack,
    ):
        slack.users.add("U0ALICE01")
        twilio.stopped.add("+4915100000000")
        telegram.chats.add(1001)
        telegram.blocked.add(2002)
        ntfy.protected["oncall-alice"] = NTFY_TOKEN
        ntfy.protected["oncall-other"] = "some-other-token"
        secrets = {
            "Twilio auth token": twilio_fake.AUTH_TOKEN,
            "Telegram bot token": telegram_fake.TOKEN,
            "Telegram webhook secret": telegram_fake.SECRET,
            "VAPID private key": vapid_private,
            "ntfy access token": NTFY_TOKEN,
            "webhook signing secret": WEBHOOK_SECRET,
            "Slack bot token": slack_fake.BOT_TOKEN,
            "Slack signing secret": slack_fake.SIGNING_SECRET,
        }
        environment = {
            "TOCSIN_TWILIO_ACCOUNT_SID": twilio_fake.ACCOUNT_SID,
            "TOCSIN_TWILIO_AUTH_TOKEN": twilio_fake.AUTH_TOKEN,
            "TOCSIN_TWILIO_FROM": twilio_fake.FROM,
            "TOCSIN_TWILIO_BASE_URL": twilio.url,
            "TOCSIN_TELEGRAM_BOT_TOKEN": telegram_fake.TOKEN,
            "TOCSIN_TELEGRAM_WEBHOOK_SECRET": telegram_fake.SECRET,
            "TOCSIN_TELEGRAM_BASE_URL": telegram.url,
            "TOCSIN_VAPID_PRIVATE_KEY": vapid_private,
            "TOCSIN_VAPID_SUBJECT": "mailto:oncall@example.com",
            "REQUESTS_CA_BUNDLE": ca,
            "TOCSIN_SLACK_BOT_TOKEN": slack_fake.BOT_TOKEN,
            "TOCSIN_SLACK_SIGNING_SECRET": slack_fake.SIGNING_SECRET,
            "TOCSIN_SLACK_API_URL": f"{slack.url}/api/",
        }
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        with sessions() as session, session.begin():
            config_apply.apply(
                session, config.parse(_config(twilio.url, ntfy.url), "tocsin.yaml"), now=T0
            )
            browser = push.browser()
            contacts.add_push(
                session, "alice", browser.subscription(), name="laptop", now=T0, trusted=True
            )
            gone = push.browser()
            contacts.add_push(
                session, "alice", gone.subscription(), name="old-laptop", now=T0, trusted=True
            )
            push.gone.add(gone.endpoint.rsplit("/", 1)[1])
            users.set_password(session, users.get_by_handle(session, "alice"), PASSWORD)
            users.update(session, users.get_by_handle(session, "alice"), role="admin")
            _, token = tokens.create(session, handle="alice", name="t", scopes=["admin"], now=T0)
        log = tmp_path / "serve.log"
        seen: dict[str, str] = {}
        with serve(db_url, log, **environment) as server:
            with sessions() as session, session.begin():
                incidents.declare(
                    session,
                    title="Primary down",
                    severity="SEV-1",
                    services=["database"],
                    actor="alertmanager",
                    now=T0,
                )

            def all_done() -> bool:
                with sessions() as session:
                    states = session.scalars(select(Notification.status)).all()
                return bool(states) and all(s in ("sent", "failed") for s in states)

            assert wait_for(all_done, timeout=60), log.read_text()[-3000:]
            # Both outcomes happened: what was refused had its chance to leak a secret.
            with sessions() as session:
                outcomes = {n.status for n in session.scalars(select(Notification)).all()}
            assert outcomes == {"sent", "failed"}
            assert len(push.received) == 1 and len(telegram.messages) == 1
            assert len(slack.messages) == 1  # alice's DM; U0NOBODY1 is not in the workspace

            # A linked person presses the page's button: the server then edits the message
            # through the Bot API, whose URLs hold the token.
            telegram.webhook = f"{server.url}/hooks/telegram"
            with sessions() as session, session.begin():
                # The server runs on the real clock: the code must not have run out by it.
                code = contacts.link_code(session, "alice", "telegram", now=datetime.now(UTC))
            telegram.say(1001, 1001, f"/start {code}")
            [page] = [m for m in telegram.messages if "INC-1" in m["text"]]
            telegram.press(page, "Acknowledge", 1001)
            assert wait_for(
                lambda: page["reply_markup"]["inline_keyboard"][0][0]["text"].startswith("✓")
            )
            client = httpx.Client(base_url=server.url, timeout=30)
            login = client.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert csrf is not None
            client.post(
                "/login",
                data={
                    "handle": "alice",
                    "password": PASSWORD,
                    "next": "/",
                    "csrf_token": csrf.group(1),
                },
            )
            for path in ("/profile", "/incidents/INC-1", "/incidents/INC-1?kind=paging", "/"):
                answer = client.get(path)
                assert answer.status_code == 200, path
                seen[f"page {path}"] = answer.text
            api = {"Authorization": f"Bearer {token}"}
            for path in ("/api/v1/users/alice/contact-methods", "/api/v1/incidents/INC-1"):
                answer = client.get(path, headers=api)
                assert answer.status_code == 200, path
                seen[f"API {path}"] = answer.text
            # A forged Telegram update is refused without quoting what it expected.
            forged = client.post(
                "/hooks/telegram",
                json={"update_id": 1},
                headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
            )
            seen["Telegram webhook refusal"] = forged.text
            client.close()
        engine.dispose()

    with sessions() as session:
        seen["timeline"] = "\n".join(e.message for e in incidents.get(session, "INC-1").events)
        seen["notification errors"] = "\n".join(
            n.last_error for n in session.scalars(select(Notification)).all()
        )
    assert "Forbidden: bot was blocked by the user" in seen["timeline"]  # refusals are there
    env = {"TOCSIN_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    exported = subprocess.run(
        [sys.executable, "-m", "tocsin", "export"], env=env, capture_output=True, text=True
    )
    assert exported.returncode == 0, exported.stderr
    seen["export"] = exported.stdout + exported.stderr
    with_secrets = subprocess.run(
        [sys.executable, "-m", "tocsin", "export", "--include-secrets"],
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    assert NTFY_TOKEN in with_secrets and WEBHOOK_SECRET in with_secrets  # the search can see
    # Misconfigured secrets are refused without being quoted back.
    for make in (
        lambda: TelegramBot("not-a-token-" + telegram_fake.TOKEN, "https://api.telegram.org"),
        lambda: VapidKey("x" + vapid_private, "mailto:a@example.com"),
        lambda: TwilioAccount(twilio_fake.ACCOUNT_SID, twilio_fake.AUTH_TOKEN, "0151", "http://x"),
    ):
        with pytest.raises(InvalidInput) as caught:
            make()
        seen[f"error {caught.value.message[:30]}"] = str(caught.value.problems)
    seen["serve log"] = log.read_text()
    assert "Tocsin on http" in seen["serve log"]  # the log is the server's
    leaks = [
        f"{what} in {where}"
        for where, text in seen.items()
        for what, secret in secrets.items()
        if secret in text
    ]
    assert leaks == []
