"""What label routing costs the alert pipeline itself, without HTTP: batches timed in process.

Run as ``.venv/bin/python bench/routing.py [--batches N] [--requests N]``. It migrates a fresh
SQLite database, applies the configuration of ``bench/ingest.py --routing`` (a service without
rules; one with 50 label routes and 5 inhibit rules; one whose 50 routes fan out to five
services with the inhibit rules) and then hands the same batches of parsed Alertmanager and
PagerDuty requests to ``services.ingest.ingest_many``, one transaction each, taking the loads in
turn so that all see the database grow alike. It prints the median time of a batch for each
load, its ratio to the plain one, and how many SQL statements a batch ran.

The HTTP benchmark's figures include parsing, the web server and the writer's queue; this one
isolates the pipeline, so its ratios are the larger share routing can take.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import Load, routing_config

from tocsin import config
from tocsin.ingest import alertmanager, pagerduty
from tocsin.services import config_apply, ingest
from tocsin.store import integrations
from tocsin.store.db import make_engine, make_sessionmaker, upgrade
from tocsin.store.integrations import IntegrationType

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LOADS = {"plain": "checkout", "rules": "ruled", "fan-out": "routed"}


def submissions(load: Load, requests: int) -> list[ingest.Submission]:
    """Return the load's next `requests` bodies, parsed as the HTTP routes parse them."""
    found = []
    for _ in range(requests):
        path, body, _events = load.next()
        parsed = json.loads(body)
        if path.startswith("/hooks/alertmanager/"):
            key = path.rsplit("/", 1)[1]
            events = alertmanager.parse(parsed)
            found.append(ingest.Submission(key, IntegrationType.ALERTMANAGER, events))
        else:
            envelope = pagerduty.parse_event(parsed)
            found.append(
                ingest.Submission(
                    parsed["routing_key"], IntegrationType.PAGERDUTY, [envelope.event]
                )
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300, help="batches per load")
    parser.add_argument("--requests", type=int, default=20, help="requests per batch")
    args = parser.parse_args()

    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='tocsin-bench-')) / 'routing.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    loads: dict[str, Load] = {}
    with sessions() as session, session.begin():
        config_apply.apply(session, config.parse(routing_config(), "bench.yaml"), now=T0)
        for name, service in LOADS.items():
            keys = [
                integrations.create(session, service=service, type=kind, now=T0)[1]
                for kind in ("alertmanager", "pagerduty")
            ]
            loads[name] = Load(*keys)  # the same seed: the same bodies for every load

    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args: object) -> None:
        statements[0] += 1

    times: dict[str, list[float]] = {name: [] for name in loads}
    counts: dict[str, list[int]] = {name: [] for name in loads}
    for n in range(args.batches):
        for name, load in loads.items():
            batch = submissions(load, args.requests)
            statements[0] = 0
            started = time.perf_counter()
            with sessions() as session, session.begin():
                ingest.ingest_many(session, batch, now=T0 + timedelta(seconds=n))
            times[name].append(time.perf_counter() - started)
            counts[name].append(statements[0])
    engine.dispose()
    print(
        f"tocsin routing benchmark: sqlite, in process, {args.batches} batches of"
        f" {args.requests} requests per load"
    )
    plain = statistics.median(times["plain"])
    for name in loads:
        median = statistics.median(times[name])
        print(
            f"{name:8s} {median * 1000:6.2f} ms a batch (median), plain's time is"
            f" {plain / median:.0%} of it,"
            f" {statistics.median(counts[name]):.0f} statements"
        )


if __name__ == "__main__":
    main()
