"""Reads against ingestion on SQLite: slow alert lists, a big incident page, polling tabs.

Run as ``.venv/bin/python bench/reads.py`` (about two minutes with the defaults; every size is a
flag, see ``--help``). It builds a fresh SQLite database with bulk SQL inserts (not through the
API): ``--alerts`` alerts on service ``svc`` and one open incident (INC-1) with
``--incident-alerts`` alerts and as many timeline entries. Then it starts a real ``tocsin serve``
and prints figures only:

(a) ingestion latency (p50/p99 of single generic-webhook events at ``--rate`` per second) alone,
    then while ``--clients`` clients loop ``GET /api/v1/alerts?service=svc&limit=1000``, with the
    ratio of the two and the list requests' own latency;
(b) the size in bytes of INC-1's page, of one poll of its live part, and of a poll when nothing
    changed (a 304 answers no body);
(c) ingestion p50/p99 while ``--tabs`` simulated open tabs poll INC-1's live part every
    ``--tab-every`` seconds, sending the ETag of their last answer as the page's script does.

``--explain`` only prints the query plans (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN ANALYZE``
on PostgreSQL with ``--database``) and timings of the hot read queries, then exits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text

T0 = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)
SERVICE = "svc"
BIG = "big"


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile of `values` in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- building the database ----------------------------------------------------------------------


def seed(url: str) -> dict[str, Any]:
    """Create people, services, integrations, a token and a browser session; return the secrets."""
    from tocsin.services import incidents
    from tocsin.store import integrations, services, tokens, users, web_sessions
    from tocsin.store.db import make_engine, make_sessionmaker

    engine = make_engine(url)
    out: dict[str, Any] = {}
    with make_sessionmaker(engine)() as session, session.begin():
        alice = users.create(session, handle="alice", name="Alice", role="admin", now=T0)
        for slug in (SERVICE, BIG, "ingest"):
            services.create(session, slug=slug, name=slug, owner="alice", now=T0)
        session.flush()
        _, out["svc_key"] = integrations.create(
            session, service=SERVICE, type="generic", name="svc-hook", now=T0
        )
        _, out["big_key"] = integrations.create(
            session, service=BIG, type="generic", name="big-hook", now=T0
        )
        _, out["ingest_key"] = integrations.create(
            session, service="ingest", type="generic", name="ingest-hook", now=T0
        )
        _, out["token"] = tokens.create(
            session, handle="alice", name="bench", scopes="read", now=T0
        )
        _, out["cookie"] = web_sessions.create(session, alice, now=datetime.now(UTC))
        incidents.declare(
            session,
            title="Everything is on fire",
            severity="SEV-2",
            services=[BIG],
            actor="bench",
            now=T0,
        )
    engine.dispose()
    return out


def _ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.slug, s.id, i.id FROM services s JOIN integrations i "
                "ON i.service_id = s.id"
            )
        ).all()
        incident = connection.execute(text("SELECT id FROM incidents WHERE number = 1")).scalar()
    ids = {f"{slug}_service": service for slug, service, _ in rows}
    ids |= {f"{slug}_integration": integration for slug, _, integration in rows}
    ids["incident"] = int(incident or 0)
    return ids


_ALERT_COLUMNS = (
    "integration_id, service_id, incident_id, dedup_key, status, severity, raw_severity, sev, "
    "route, suppressed, summary, source, runbook, details, links, count, first_seen, last_seen, "
    "acknowledged_at, resolved_at"
)


def fill(engine: Engine, *, alerts: int, incident_alerts: int) -> None:
    """Insert the alerts and INC-1's alerts and timeline in a few statements."""
    ids = _ids(engine)
    dialect = engine.dialect.name
    if dialect == "sqlite":
        series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
        at = "strftime('%Y-%m-%d %H:%M:%S', :t0, '+' || ({}) || ' seconds') || '.000000'"
        source = "FROM n"
        json_empty = "'{}'"
        json_list = "'[]'"
    else:
        series = ""
        at = "(CAST(:t0 AS timestamp) + ({}) * interval '1 second')"
        source = "FROM generate_series(1, :count) AS n(i)"
        json_empty = "CAST('{}' AS json)"
        json_list = "CAST('[]' AS json)"
    t0 = T0.replace(tzinfo=None).isoformat(" ")
    status = (
        "CASE WHEN i % 50 = 0 THEN 'triggered' WHEN i % 50 = 1 THEN 'acknowledged' "
        "ELSE 'resolved' END"
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                f"{series}INSERT INTO alerts ({_ALERT_COLUMNS}) SELECT :integration, :service, "
                f"NULL, 'k' || i, {status}, 'warning', 'warning', NULL, 'alert', false, "
                f"'Disk almost full on host ' || i, 'bench', NULL, {json_empty}, {json_list}, "
                f"1 + i % 7, {at.format('i')}, {at.format('i + i % 600')}, NULL, "
                f"CASE WHEN i % 50 > 1 THEN {at.format('i + 700')} END {source}"
            ),
            {
                "count": alerts,
                "t0": t0,
                "integration": ids[f"{SERVICE}_integration"],
                "service": ids[f"{SERVICE}_service"],
            },
        )
        connection.execute(
            text(
                f"{series}INSERT INTO alerts ({_ALERT_COLUMNS}) SELECT :integration, :service, "
                f":incident, 'big' || i, 'triggered', 'error', 'error', 'SEV-2', 'incident', "
                f"false, 'Checkout answers 502 on node ' || i || ' of the web tier', 'bench', "
                f"NULL, {json_empty}, {json_list}, 1, {at.format('i')}, {at.format('i')}, NULL, "
                f"NULL {source}"
            ),
            {
                "count": incident_alerts,
                "t0": t0,
                "integration": ids[f"{BIG}_integration"],
                "service": ids[f"{BIG}_service"],
                "incident": ids["incident"],
            },
        )
        connection.execute(
            text(
                f"{series}INSERT INTO timeline_events "
                "(incident_id, at, actor, kind, message, data) "
                f"SELECT :incident, {at.format('i')}, 'generic:big-hook', 'alert_attached', "
                f"'Alert triggered: Checkout answers 502 on node ' || i || ' of the web tier "
                f"[error] via big-hook (generic)', {json_empty} {source}"
            ),
            {"count": incident_alerts, "t0": t0, "incident": ids["incident"]},
        )
    if dialect == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


# --- query plans --------------------------------------------------------------------------------


def hot_queries(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (name, SQL, parameters) of the reads that run on every list, page and poll."""
    ids = _ids(engine)
    svc, incident = ids[f"{SERVICE}_service"], ids["incident"]
    open_ = "status != 'resolved'"
    return [
        (
            "API alerts of a service, newest first",
            "SELECT * FROM alerts WHERE service_id = :svc "
            "ORDER BY last_seen DESC, id DESC LIMIT 1001",
            {"svc": svc},
        ),
        (
            "API alerts of a small service (the incident's), newest first",
            "SELECT * FROM alerts WHERE service_id = :big "
            "ORDER BY last_seen DESC, id DESC LIMIT 101",
            {"big": ids[f"{BIG}_service"]},
        ),
        (
            "API open alerts of a service",
            f"SELECT * FROM alerts WHERE service_id = :svc AND {open_} "
            "ORDER BY last_seen DESC, id DESC LIMIT 101",
            {"svc": svc},
        ),
        (
            "dashboard: alerts firing",
            f"SELECT * FROM alerts WHERE {open_} ORDER BY last_seen DESC, id DESC LIMIT 51",
            {},
        ),
        (
            "incident page: its alerts, first seen first",
            "SELECT * FROM alerts WHERE incident_id = :incident ORDER BY first_seen, id LIMIT 101",
            {"incident": incident},
        ),
        (
            "incident page: how many alerts",
            "SELECT count(*) FROM alerts WHERE incident_id = :incident",
            {"incident": incident},
        ),
        (
            "incident timeline: newest entries",
            "SELECT * FROM timeline_events WHERE incident_id = :incident "
            "ORDER BY at DESC, id DESC LIMIT 101",
            {"incident": incident},
        ),
        (
            "live poll: timeline version",
            "SELECT max(id), count(*) FROM timeline_events WHERE incident_id = :incident",
            {"incident": incident},
        ),
        (
            "ingest: the open alerts among a batch's keys",
            "SELECT id, status FROM alerts WHERE integration_id = :integration "
            "AND status != :resolved AND dedup_key IN ('k5', 'k10', 'k20')",
            {"integration": ids[f"{SERVICE}_integration"], "resolved": "resolved"},
        ),
        (
            "ingest: all alerts of an incident resolved?",
            f"SELECT count(*) FROM alerts WHERE incident_id = :incident AND {open_}",
            {"incident": incident},
        ),
    ]


def explain(engine: Engine) -> None:
    """Print the plan and the median time of each hot query."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        for name, sql, params in hot_queries(engine):
            print(f"\n{name}\n  {sql}")
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF) "
            for row in connection.execute(text(prefix + sql), params):
                print("   ", row[-1] if sqlite else row[0])
            times = []
            for _ in range(5):
                start = time.perf_counter()
                connection.execute(text(sql), params).all()
                times.append(time.perf_counter() - start)
            print(f"  median {statistics.median(times) * 1000:.2f} ms")


# --- the load ------------------------------------------------------------------------------------


def ingest_for(base: str, key: str, seconds: float, rate: float, tag: str) -> list[float]:
    """Send one generic event every 1/rate s for `seconds`; return each answer's latency."""
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < seconds:
            due = start + i / rate
            time.sleep(max(0.0, due - time.monotonic()))
            sent = time.perf_counter()
            answer = client.post(
                f"/hooks/generic/{key}",
                json={
                    "summary": f"queue depth {tag} {i}",
                    "severity": "info",
                    "dedup_key": f"{tag}{i}",
                },
            )
            latencies.append(time.perf_counter() - sent)
            if answer.status_code >= 300:
                print(f"  ingest answered {answer.status_code}: {answer.text[:100]}")
            i += 1
    return latencies


def loop(stop: threading.Event, work: Callable[[httpx.Client], None], base: str, **kw: Any) -> None:
    with httpx.Client(base_url=base, timeout=120, **kw) as client:
        while not stop.is_set():
            work(client)


def with_load(
    workers: list[Callable[[threading.Event], None]], measure: Callable[[], list[float]]
) -> list[float]:
    stop = threading.Event()
    threads = [threading.Thread(target=w, args=(stop,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        return measure()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=180)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200_000, help="alerts on service svc")
    parser.add_argument("--incident-alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15, help="length of each ingest run")
    parser.add_argument("--rate", type=float, default=20, help="ingested events per second")
    parser.add_argument("--clients", type=int, default=5, help="clients listing alerts")
    parser.add_argument("--tabs", type=int, default=8, help="open incident tabs")
    parser.add_argument("--tab-every", type=float, default=5, help="seconds between polls")
    parser.add_argument("--explain", action="store_true", help="print query plans and exit")
    parser.add_argument("--database", help="with --explain: a database URL (default SQLite)")
    args = parser.parse_args()

    from tocsin.store.db import make_engine, upgrade

    workdir = Path(tempfile.mkdtemp(prefix="tocsin-reads-"))
    url = args.database or f"sqlite:///{workdir / 'reads.db'}"
    engine = make_engine(url)
    upgrade(engine)
    secrets = seed(url)
    started = time.perf_counter()
    fill(engine, alerts=args.alerts, incident_alerts=args.incident_alerts)
    print(
        f"database: {args.alerts} alerts on {SERVICE}, INC-1 with {args.incident_alerts} alerts "
        f"(filled in {time.perf_counter() - started:.1f} s)"
    )
    if args.explain:
        explain(engine)
        return
    engine.dispose()

    port = 20000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TOCSIN_DATABASE_URL": url}
    server = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bearer = {"Authorization": f"Bearer {secrets['token']}"}
    cookies = {"tocsin_session": secrets["cookie"]}
    try:
        with httpx.Client(base_url=base) as client:
            for _ in range(300):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
        ingest_for(base, secrets["ingest_key"], 2, args.rate, "warm")

        print(f"\n(a) ingestion, {args.rate:g} events/s for {args.seconds:g} s")
        alone = ingest_for(base, secrets["ingest_key"], args.seconds, args.rate, "a")
        lists: list[float] = []

        def list_alerts(client: httpx.Client) -> None:
            sent = time.perf_counter()
            answer = client.get(f"/api/v1/alerts?service={SERVICE}&limit=1000")
            lists.append(time.perf_counter() - sent)
            assert answer.status_code == 200, answer.text[:200]

        loaded = with_load(
            [lambda stop: loop(stop, list_alerts, base, headers=bearer)] * args.clients,
            lambda: ingest_for(base, secrets["ingest_key"], args.seconds, args.rate, "b"),
        )
        print(f"  alone:      p50 {pct(alone, 0.5):8.1f} ms  p99 {pct(alone, 0.99):8.1f} ms")
        print(
            f"  {args.clients} lists:    p50 {pct(loaded, 0.5):8.1f} ms  "
            f"p99 {pct(loaded, 0.99):8.1f} ms  (p50 x{pct(loaded, 0.5) / pct(alone, 0.5):.1f})"
        )
        print(
            f"  GET /api/v1/alerts?service={SERVICE}&limit=1000: {len(lists)} answered, "
            f"p50 {pct(lists, 0.5):.1f} ms, p99 {pct(lists, 0.99):.1f} ms"
        )

        print("\n(b) sizes for INC-1")
        with httpx.Client(base_url=base, cookies=cookies, timeout=120) as client:
            full = client.get("/incidents/INC-1")
            poll = client.get("/live/incidents/INC-1")
            etag = poll.headers.get("etag")
            again = client.get(
                "/live/incidents/INC-1", headers={"If-None-Match": etag} if etag else {}
            )
        print(f"  incident page:          {len(full.content):>10,} bytes ({full.status_code})")
        print(f"  live poll:              {len(poll.content):>10,} bytes ({poll.status_code})")
        print(f"  live poll, no change:   {len(again.content):>10,} bytes ({again.status_code})")

        print(f"\n(c) ingestion with {args.tabs} tabs polling INC-1 every {args.tab_every:g} s")
        polls: list[tuple[float, int]] = []

        def tab(stop: threading.Event) -> None:
            etag: str | None = None
            with httpx.Client(base_url=base, cookies=cookies, timeout=120) as client:
                while not stop.is_set():
                    sent = time.perf_counter()
                    answer = client.get(
                        "/live/incidents/INC-1", headers={"If-None-Match": etag} if etag else {}
                    )
                    polls.append((time.perf_counter() - sent, answer.status_code))
                    etag = answer.headers.get("etag", etag)
                    stop.wait(args.tab_every)

        alone_c = ingest_for(base, secrets["ingest_key"], args.seconds, args.rate, "c")
        tabs = with_load(
            [tab] * args.tabs,
            lambda: ingest_for(base, secrets["ingest_key"], args.seconds, args.rate, "d"),
        )
        print(f"  alone:      p50 {pct(alone_c, 0.5):8.1f} ms  p99 {pct(alone_c, 0.99):8.1f} ms")
        print(
            f"  {args.tabs} tabs:     p50 {pct(tabs, 0.5):8.1f} ms  p99 {pct(tabs, 0.99):8.1f} ms  "
            f"(p50 x{pct(tabs, 0.5) / pct(alone_c, 0.5):.1f})"
        )
        statuses = sorted({s for _, s in polls})
        print(
            f"  polls: {len(polls)}, answered {statuses}, "
            f"p50 {pct([t for t, _ in polls], 0.5):.1f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
