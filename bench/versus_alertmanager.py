"""Tocsin beside Prometheus Alertmanager on the same load, in one run: figures and ratios.

Run as ``.venv/bin/python bench/versus_alertmanager.py --harness DIR [--database URL]``, where
DIR holds the side-by-side harness (`side_by_side.sh`, its load generator and receiver; its
README says what it needs: Debian's prometheus-alertmanager and a virtualenv with aiohttp).
The harness pins the server under test to CPU 1 and its load generator to CPU 0, measures
Tocsin (this checkout's `tocsin`, on a fresh SQLite file unless `--database` names an empty
PostgreSQL database) and then Alertmanager 0.25 on the matching points. This script prints
one table: each figure for both, the ratio Tocsin / Alertmanager, and the target.

It then checks what the harness does not: every alert answered 2xx is in Tocsin's database
(the harness sends only new alerts, so the count must be exact). Alertmanager keeps alerts
in memory; Tocsin answers only after commit, so the ratios are durable against in-memory.
`TOCSIN_SQLITE_SYNCHRONOUS=full` in the environment measures SQLite syncing every commit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from tocsin.store.models import Alert

LATENCY_ALERTS = 50  # what side_by_side.sh sends in its latency point, one per service


@dataclass(frozen=True)
class Row:
    figure: str
    tocsin: float | None
    alertmanager: float | None
    unit: str
    target: str

    def ratio(self) -> str:
        if not self.tocsin or not self.alertmanager:
            return "-"
        return f"{self.tocsin / self.alertmanager:.2f}x"


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _find(results: list[dict[str, Any]], **wanted: Any) -> dict[str, Any] | None:
    for result in results:
        tags = result.get("tags", {})
        if all(tags.get(k, result.get(k)) == v for k, v in wanted.items()):
            return result
    return None


def _rate(result: dict[str, Any] | None) -> float | None:
    return float(result["achieved_alerts_per_s"]) if result else None


def _ms(result: dict[str, Any] | None, key: str, q: str) -> float | None:
    return float(result[key][q]) if result and result.get(key) else None


def table(out: Path) -> tuple[list[Row], list[dict[str, Any]]]:
    """Return the figures of one harness run (its output folder), and Tocsin's load points."""
    ours = _lines(out / "results.jsonl")
    theirs = _lines(out / "am" / "results.jsonl")
    am1 = _find(theirs, case="ingest", batch=1)
    am10 = _find(theirs, case="ingest", batch=10)
    new_incident = _find(ours, case="tocsin-new-incident")
    new_group = _find(theirs, case="latency-new-group")
    post_new_group = _find(theirs, case="latency-post-new-group")
    open_loop = _find(ours, case="tocsin-open1k")
    am_page, am_post = "alert_to_notification_ms", "latency_ms"
    rows = [
        Row(figure, tocsin, alertmanager, unit, target)
        for figure, tocsin, alertmanager, unit, target in [
            ("1 alert per request (AM webhook), 32 conns",
             _rate(_find(ours, case="tocsin-am1")), _rate(am1), "alerts/s", ">= 5,000"),
            ("1 PagerDuty event per request, 32 conns",
             _rate(_find(ours, case="tocsin-pd1")), _rate(am1), "events/s", ">= 5,000"),
            ("groups of 10 per request, 32 conns",
             _rate(_find(ours, case="tocsin-am10")), _rate(am10), "alerts/s", ">= 20,000"),
            ("POST p99 at 1,000 alerts/s offered (groups of 10, open loop)",
             _ms(open_loop, "latency_ms", "p99"), None, "ms", "<= 10"),
            ("alert -> page received, new incident, p50",
             _ms(new_incident, am_page, "p50"), _ms(new_group, am_page, "p50"), "ms", "<= 10"),
            ("alert -> page received, new incident, p99",
             _ms(new_incident, am_page, "p99"), _ms(new_group, am_page, "p99"), "ms", "<= 50"),
            ("POST answered at 5 req/s, new incident, p50",
             _ms(new_incident, "post_ack_ms", "p50"), _ms(post_new_group, am_post, "p50"),
             "ms", "<= 5"),
        ]
    ]  # fmt: skip
    loads = [r for r in ours if r.get("tool") == "loadgen.py"]
    return rows, loads


def committed(database: str, loads: list[dict[str, Any]]) -> str:
    """Return the committed-count check's verdict: every alert answered 2xx is stored."""
    answered = sum(int(r["identities_new"]) for r in loads) + LATENCY_ALERTS
    refused = sum(int(r["non_2xx_total"]) + sum((r["errors"] or {}).values()) for r in loads)
    engine = create_engine(database)
    with engine.connect() as connection:
        stored = int(connection.scalar(select(func.count()).select_from(Alert)) or 0)
    engine.dispose()
    if refused == 0 and stored == answered:
        return f"committed-count check: {stored} alerts stored = {answered} answered 2xx: ok"
    if refused and stored >= answered - refused:
        return (
            f"committed-count check: {stored} alerts stored, {answered} sent, {refused} not"
            " answered 2xx: ok"
        )
    return f"committed-count check FAILED: {stored} alerts stored, {answered} answered 2xx"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--harness", type=Path, required=True, help="the harness's folder")
    parser.add_argument("--database", help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument("--out", type=Path, help="where the harness writes (default: a new dir)")
    args = parser.parse_args()
    script = args.harness / "side_by_side.sh"
    if not script.is_file():
        parser.error(f"{script} does not exist: --harness names the harness's folder")
    tocsin = shutil.which("tocsin", path=str(Path(sys.executable).parent))
    if tocsin is None:
        parser.error("no tocsin beside this Python: run it with the project's .venv/bin/python")
    out = args.out or Path(tempfile.mkdtemp(prefix="tocsin-vs-am-"))
    database = args.database or f"sqlite:///{out / 'tocsin.db'}"
    env = {**os.environ, "TOCSIN": tocsin, "OUT": str(out), "DB_URL": database}
    run = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stderr[-2000:], file=sys.stderr)
        print(f"error: the harness failed (exit {run.returncode}); its logs are in {out}")
        return 1
    rows, loads = table(out)
    sync = os.environ.get("TOCSIN_SQLITE_SYNCHRONOUS", "normal")
    backend = database.split(":", 1)[0].split("+")[0]
    busy = max((float(r.get("other_cpu_util") or 0) for r in loads), default=0.0)
    print(
        f"Tocsin ({backend}{', synchronous=' + sync if backend == 'sqlite' else ''}) beside"
        f" Alertmanager 0.25, one run; other CPU use during Tocsin's points at most {busy:.2f}"
        " (above 0.1 the run is noisy)"
    )
    print(f"{'figure':<62} {'Tocsin':>10} {'Alertmgr':>10} {'ratio':>7}  target")
    for row in rows:
        ours = "-" if row.tocsin is None else f"{row.tocsin:,.1f}"
        theirs = "-" if row.alertmanager is None else f"{row.alertmanager:,.1f}"
        print(f"{row.figure:<62} {ours:>10} {theirs:>10} {row.ratio():>7}  {row.target} {row.unit}")
    print(committed(database, loads))
    print(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
