"""Runtime settings, read from `TOCSIN_*` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///tocsin.db"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True, slots=True)
class Settings:
    """What a Tocsin process needs to know about its deployment."""

    database_url: str = DEFAULT_DATABASE_URL
    # SQLite's PRAGMA synchronous: "normal" survives a killed process (WAL) but may lose the
    # last commits on power loss; "full" syncs the WAL on every commit and survives that too.
    sqlite_synchronous: str = "normal"
    template_dir: Path | None = None
    base_url: str = DEFAULT_BASE_URL
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "tocsin@localhost.localdomain"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    # A Twilio-compatible provider for SMS: its account, auth token, sending number and API.
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    sms_per_hour: int = 10
    telegram_bot_token: str = field(default="", repr=False)
    telegram_webhook_secret: str = field(default="", repr=False)
    telegram_base_url: str = "https://api.telegram.org"
    telegram_bot_name: str = ""
    slack_bot_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_api_url: str = "https://slack.com/api/"
    # The incident channels the Slack app keeps: name prefix, the severities that get one
    # (empty: none), how long after resolution one is archived, and the emoji that pins a
    # message to the timeline.
    slack_channel_prefix: str = "inc"
    slack_channel_severities: tuple[str, ...] = ("SEV-1", "SEV-2")
    slack_archive_after: str = "24h"
    slack_pin_emoji: str = "pushpin"
    vapid_private_key: str = field(default="", repr=False)
    vapid_subject: str = ""
    calls_per_minute: int = 1
    claim_seconds: float = 60.0
    secret_key: str | None = None
    status_page_title: str = "Service status"
    # Request bodies: ingestion senders may batch (Alertmanager groups), the API takes forms.
    ingest_max_body: int = 1024 * 1024
    api_max_body: int = 256 * 1024
    # Networks (CIDR) that may scrape /metrics without a token, for Prometheus on the host.
    metrics_allow: tuple[str, ...] = ()
    # Days the audit log keeps its entries; empty or 0 keeps every entry.
    audit_retention_days: str = ""
    # OpenID Connect single sign-on (all empty: off), and whether passwords still log in.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)
    oidc_scopes: str = "openid email profile"
    oidc_label: str = "single sign-on"
    oidc_email_claim: str = "email"
    oidc_groups_claim: str = "groups"
    oidc_create_role: str = ""
    oidc_role_groups: str = ""
    oidc_team_groups: str = ""
    password_login: str = "on"
    break_glass: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Return settings from the `TOCSIN_*` environment variables (see the README)."""
        env = dict(os.environ if environ is None else environ)
        template_dir = env.get("TOCSIN_TEMPLATE_DIR")
        return cls(
            database_url=env.get("TOCSIN_DATABASE_URL") or DEFAULT_DATABASE_URL,
            sqlite_synchronous=(env.get("TOCSIN_SQLITE_SYNCHRONOUS") or "normal").strip().lower(),
            template_dir=Path(template_dir) if template_dir else None,
            base_url=(env.get("TOCSIN_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            smtp_host=env.get("TOCSIN_SMTP_HOST") or "127.0.0.1",
            smtp_port=int(env.get("TOCSIN_SMTP_PORT") or 25),
            smtp_sender=env.get("TOCSIN_SMTP_FROM") or "tocsin@localhost.localdomain",
            smtp_starttls=(env.get("TOCSIN_SMTP_STARTTLS") or "").lower() in ("1", "true", "yes"),
            smtp_username=env.get("TOCSIN_SMTP_USERNAME") or None,
            smtp_password=env.get("TOCSIN_SMTP_PASSWORD") or None,
            twilio_account_sid=env.get("TOCSIN_TWILIO_ACCOUNT_SID") or "",
            twilio_auth_token=env.get("TOCSIN_TWILIO_AUTH_TOKEN") or "",
            twilio_from=env.get("TOCSIN_TWILIO_FROM") or "",
            twilio_base_url=env.get("TOCSIN_TWILIO_BASE_URL") or "https://api.twilio.com",
            sms_per_hour=int(env.get("TOCSIN_SMS_PER_HOUR") or 10),
            telegram_bot_token=env.get("TOCSIN_TELEGRAM_BOT_TOKEN") or "",
            telegram_webhook_secret=env.get("TOCSIN_TELEGRAM_WEBHOOK_SECRET") or "",
            telegram_base_url=env.get("TOCSIN_TELEGRAM_BASE_URL") or "https://api.telegram.org",
            telegram_bot_name=(env.get("TOCSIN_TELEGRAM_BOT_NAME") or "").lstrip("@"),
            slack_bot_token=env.get("TOCSIN_SLACK_BOT_TOKEN") or "",
            slack_signing_secret=env.get("TOCSIN_SLACK_SIGNING_SECRET") or "",
            slack_api_url=env.get("TOCSIN_SLACK_API_URL") or "https://slack.com/api/",
            slack_channel_prefix=env.get("TOCSIN_SLACK_CHANNEL_PREFIX") or "inc",
            slack_channel_severities=_severities(env.get("TOCSIN_SLACK_CHANNEL_SEVERITIES")),
            slack_archive_after=env.get("TOCSIN_SLACK_ARCHIVE_AFTER") or "24h",
            slack_pin_emoji=(env.get("TOCSIN_SLACK_PIN_EMOJI") or "pushpin").strip(":"),
            vapid_private_key=env.get("TOCSIN_VAPID_PRIVATE_KEY") or "",
            vapid_subject=env.get("TOCSIN_VAPID_SUBJECT") or "",
            calls_per_minute=int(env.get("TOCSIN_CALLS_PER_MINUTE") or 1),
            claim_seconds=float(env.get("TOCSIN_CLAIM_SECONDS") or 60),
            secret_key=env.get("TOCSIN_SECRET_KEY") or None,
            status_page_title=env.get("TOCSIN_STATUS_TITLE") or "Service status",
            ingest_max_body=int(env.get("TOCSIN_INGEST_MAX_BODY") or 1024 * 1024),
            api_max_body=int(env.get("TOCSIN_API_MAX_BODY") or 256 * 1024),
            audit_retention_days=env.get("TOCSIN_AUDIT_RETENTION_DAYS") or "",
            oidc_issuer=(env.get("TOCSIN_OIDC_ISSUER") or "").strip(),
            oidc_client_id=(env.get("TOCSIN_OIDC_CLIENT_ID") or "").strip(),
            oidc_client_secret=env.get("TOCSIN_OIDC_CLIENT_SECRET") or "",
            oidc_scopes=env.get("TOCSIN_OIDC_SCOPES") or "openid email profile",
            oidc_label=env.get("TOCSIN_OIDC_LABEL") or "single sign-on",
            oidc_email_claim=env.get("TOCSIN_OIDC_EMAIL_CLAIM") or "email",
            oidc_groups_claim=env.get("TOCSIN_OIDC_GROUPS_CLAIM") or "groups",
            oidc_create_role=(env.get("TOCSIN_OIDC_CREATE_ROLE") or "").strip().lower(),
            oidc_role_groups=env.get("TOCSIN_OIDC_ROLE_GROUPS") or "",
            oidc_team_groups=env.get("TOCSIN_OIDC_TEAM_GROUPS") or "",
            password_login=(env.get("TOCSIN_PASSWORD_LOGIN") or "on").strip().lower(),
            break_glass=tuple(
                h.strip().lstrip("@").lower()
                for h in (env.get("TOCSIN_BREAK_GLASS") or "").split(",")
                if h.strip()
            ),
            metrics_allow=tuple(
                part.strip()
                for part in (env.get("TOCSIN_METRICS_ALLOW") or "").split(",")
                if part.strip()
            ),
        )


def _severities(text: str | None) -> tuple[str, ...]:
    """Return the severities a list names ("SEV-1,SEV-2"); "none" names none."""
    if text is None or not text.strip():
        return ("SEV-1", "SEV-2")
    if text.strip().lower() == "none":
        return ()
    return tuple(part.strip().upper() for part in text.split(",") if part.strip())
