"""The cost of one new incident in our own code: SQL statements and time, through the service
layer that every ingestion route calls, with no HTTP in front.

Run as ``.venv/bin/python bench/declare.py [--database URL] [--incidents 300] [--runs 5]``.
It applies services that page a user by webhook (nothing is sent: the engine does not run),
then opens one incident per service with a critical alert, each in its own transaction, as
`POST /hooks/generic/KEY` does. Prints figures only:

- SQL statements per new incident (exact: the same on every run; the target is "as few as it
  needs", so this is the figure to watch when the path changes);
- milliseconds per new incident, the median of `--runs` runs and their spread, so a noisy
  machine shows as such.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, select

from tocsin import config
from tocsin.app import session_info
from tocsin.ingest import generic
from tocsin.services import config_apply
from tocsin.services.ingest import ingest
from tocsin.store.db import make_engine, make_sessionmaker, upgrade
from tocsin.store.models import Integration

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)
WARM = 30  # incidents opened before measuring: compiled statements, warm caches


def _config(n: int) -> str:
    lines = [
        "users:",
        "  - {handle: first, contact_methods: [{name: hook, type: webhook,"
        " url: 'http://127.0.0.1:9/hook', secret: s}]}",
        "escalation_policies:",
        "  - {name: p, levels: [{targets: ['user:first'], delay: 1m}]}",
        "services:",
    ]
    lines += [
        f"  - {{slug: s{i}, escalation_policy: p, integrations: [{{type: generic}}]}}"
        for i in range(n)
    ]
    return "\n".join(lines) + "\n"


def run(url: str | None, n: int) -> tuple[float, float]:
    """Open `n` incidents on a fresh database; return (statements, ms) per measured one."""
    workdir = Path(tempfile.mkdtemp(prefix="tocsin-declare-"))
    database = make_engine(url or f"sqlite:///{workdir / 'declare.db'}")
    upgrade(database)
    sessions = make_sessionmaker(database, info=session_info(None))
    with sessions() as session, session.begin():
        config_apply.apply(session, config.parse(_config(WARM + n), "bench.yaml"), now=T0)
    with sessions() as session:
        ids = list(session.scalars(select(Integration.id).order_by(Integration.id)))
    statements = 0

    def count(*_args: object) -> None:
        nonlocal statements
        statements += 1

    def one(i: int) -> None:
        with sessions() as session, session.begin():
            integration = session.get(Integration, ids[i])
            assert integration is not None
            body = {"summary": f"checkout down {i}", "severity": "critical", "dedup_key": f"k{i}"}
            result = ingest(
                session, integration, [generic.parse(body)], now=T0 + timedelta(seconds=i)
            )
            assert result[0].incident, result

    for i in range(WARM):
        one(i)
    event.listen(database, "before_cursor_execute", count)
    start = time.perf_counter()
    for i in range(WARM, WARM + n):
        one(i)
    elapsed = time.perf_counter() - start
    event.remove(database, "before_cursor_execute", count)
    database.dispose()
    return statements / n, elapsed / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="an empty database's URL (default: fresh SQLite)")
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.database and args.runs > 1:
        parser.error("--database takes one run (--runs 1): each run needs an empty database")
    results = [run(args.database, args.incidents) for _ in range(args.runs)]
    per = sorted(ms for _statements, ms in results)
    backend = (args.database or "sqlite").split(":", 1)[0].split("+")[0]
    print(
        f"tocsin new incident, service layer: {backend}, {args.incidents} incidents x {args.runs}"
    )
    print(f"SQL statements per new incident: {results[0][0]:.1f}")
    print(
        f"time per new incident: median {statistics.median(per):.2f} ms"
        f" (runs {per[0]:.2f} .. {per[-1]:.2f} ms)"
    )


if __name__ == "__main__":
    main()
