"""Drive a running Tocsin server with Alertmanager and PagerDuty bodies; print figures only.

Run as ``.venv/bin/python bench/ingest.py [--database URL] [--seconds N]``. It starts
`tocsin serve` in a separate process on a fresh database (SQLite by default), creates an
Alertmanager and a PagerDuty integration, and then, over keep-alive HTTP/1.1 connections:

1. closed loop: as fast as the server answers, for a while: sustained alert events per second
   (an Alertmanager body carries several alerts; each alert is one event);
2. open loop at fixed offered rates: latency from the moment a request was due to its answer
   (so a slow answer delays no measurement: no coordinated omission), p50 and p99.

One event in five repeats an earlier one (dedup). At the end it counts what the database holds
and checks it against every event answered 2xx: a 2xx must mean committed.
Targets (2 cores, SQLite): >= 5,000 events/s sustained; p99 <= 25 ms at 1,000 events/s offered.

With ``--routing`` it measures the cost of label routing in the same run: the same bodies go,
in turns, to three services' keys, and it prints each figure and its ratio to the first:
- plain: a service without rules;
- rules: 50 label routes (each picks an escalation policy by team) and 5 inhibit rules, the
  alerts staying on the service: what the rules cost (target: within 10% of plain);
- fan-out: 50 label routes sending the alerts on to five team services that each have the 5
  inhibit rules: a batch now touches six services (their incidents, maintenance windows and
  inhibiting alerts), not one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ALERTS_PER_GROUP = 10  # an Alertmanager notification carries its whole group
REPEAT_SHARE = 0.2
SEVERITIES = ["warning"] * 7 + ["info"] * 2 + ["critical"]
TEAMS = 60  # label team=t00..t59: the first 50 have a route, the rest stay where they came
CLUSTERS = ["eu-1", "eu-2", "us-1", "us-2", "ap-1"]
# One alert in a hundred is a NodeDown, which can inhibit the others of its instance.
NODE_DOWN_SHARE = 0.01


@dataclass
class Load:
    """Makes request bodies; remembers what it sent, to check the database afterwards."""

    am_key: str
    pd_key: str
    rng: random.Random = field(default_factory=lambda: random.Random(42))
    sent_am: list[str] = field(default_factory=list)
    sent_pd: list[str] = field(default_factory=list)
    counter: int = 0
    mix: str = "both"

    def _key(self, seen: list[str], prefix: str) -> str:
        if seen and self.rng.random() < REPEAT_SHARE:
            return self.rng.choice(seen)
        self.counter += 1
        return f"{prefix}{self.counter:012x}"

    def labels(self, instance: str) -> dict[str, str]:
        """Return the labels of one alert: what label routes and inhibit rules look at."""
        node_down = self.rng.random() < NODE_DOWN_SHARE
        return {
            "alertname": "NodeDown" if node_down else "HighLatency",
            "instance": instance,
            "severity": "critical" if node_down else self.rng.choice(SEVERITIES),
            "team": f"t{self.rng.randrange(TEAMS):02d}",
            "cluster": self.rng.choice(CLUSTERS),
        }

    def alertmanager(self) -> tuple[str, bytes, int]:
        alerts = []
        for _ in range(ALERTS_PER_GROUP):
            fingerprint = self._key(self.sent_am, "f")
            alerts.append(
                {
                    "status": "firing",
                    "labels": self.labels(fingerprint),
                    "annotations": {"summary": f"p99 latency high on {fingerprint}"},
                    "startsAt": "2026-11-28T20:19:07Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.example/graph",
                    "fingerprint": fingerprint,
                }
            )
        body = {
            "receiver": "tocsin",
            "status": "firing",
            "alerts": alerts,
            "groupLabels": {"alertname": "HighLatency"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://am.example",
            "version": "4",
            "groupKey": '{}:{alertname="HighLatency"}',
            "truncatedAlerts": 0,
        }
        self.sent_am += [a["fingerprint"] for a in alerts]
        return f"/hooks/alertmanager/{self.am_key}", json.dumps(body).encode(), len(alerts)

    def pagerduty(self) -> tuple[str, bytes, int]:
        key = self._key(self.sent_pd, "d")
        details = self.labels(key)
        body = {
            "routing_key": self.pd_key,
            "event_action": "trigger",
            "dedup_key": key,
            "payload": {
                "summary": f"Queue depth high on {key}",
                "source": "worker-1",
                "severity": details.pop("severity"),
                "custom_details": details,
            },
        }
        self.sent_pd.append(key)
        return "/v2/enqueue", json.dumps(body).encode(), 1

    def am_share(self) -> float:
        """Return the share of requests that are Alertmanager groups."""
        # "both": half the events arrive as Alertmanager groups, half as single Events API calls.
        return {"both": 1 / (ALERTS_PER_GROUP + 1), "alertmanager": 1.0, "pagerduty": 0.0}[self.mix]

    def next(self) -> tuple[str, bytes, int]:
        return self.alertmanager() if self.rng.random() < self.am_share() else self.pagerduty()


class Connection:
    """One keep-alive HTTP/1.1 connection, written by hand so the client costs little CPU."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Tally:
    events_ok: int = 0
    requests_ok: int = 0
    failures: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def record(self, status: int, events: int, latency: float) -> None:
        if 200 <= status < 300:
            self.events_ok += events
            self.requests_ok += 1
        else:
            self.failures[status] = self.failures.get(status, 0) + 1
        self.latencies.append(latency)


async def closed_loop(port: int, load: Load, connections: int, seconds: float) -> Tally:
    tally = Tally()
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        conn = Connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                path, body, events = load.next()
                started = time.perf_counter()
                status = await conn.post(path, body)
                tally.record(status, events, time.perf_counter() - started)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return tally


async def open_loop(
    port: int, load: Load, events_per_second: float, seconds: float, connections: int = 64
) -> Tally:
    tally = Tally()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection("127.0.0.1", port))
    pending: list[asyncio.Task[None]] = []
    # Requests are due at fixed times for the offered event rate; latency counts from then.
    am_share = load.am_share()
    mean_events = am_share * ALERTS_PER_GROUP + (1 - am_share)
    interval = mean_events / events_per_second
    start = time.perf_counter()
    n = 0

    async def send(due: float, path: str, body: bytes, events: int) -> None:
        conn = await pool.get()
        try:
            status = await conn.post(path, body)
        finally:
            pool.put_nowait(conn)
        tally.record(status, events, time.perf_counter() - due)

    while True:
        due = start + n * interval
        if due - start >= seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(send(due, *load.next())))
        n += 1
    await asyncio.gather(*pending)
    while not pool.empty():
        pool.get_nowait().close()
    return tally


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def tocsin(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", *args], env=env, check=True, capture_output=True, text=True
    ).stdout


INHIBIT_RULES = [
    ('alertname="NodeDown"', 'severity=~"warning|info"', "[instance]"),
    ('alertname="ClusterDown"', 'alertname!="ClusterDown"', "[cluster]"),
    ('alertname="Maintenance"', 'severity!="critical"', "[cluster]"),
    ('alertname="NetworkPartition"', 'alertname=~"High.*"', "[cluster]"),
    ('alertname="DatabaseDown"', 'alertname="HighLatency"', "[team]"),
]


def routing_config() -> str:
    """Return a tocsin.yaml: `checkout` without rules; `ruled` with 50 label routes that pick a
    policy and 5 inhibit rules; `routed` with 50 label routes to five team services, each with
    the 5 inhibit rules."""
    lines = ["users:", "  - handle: bench", "escalation_policies:"]
    for n in range(5):
        lines += [f"  - name: oncall-{n}", "    levels: [{targets: ['user:bench']}]"]
    lines += ["services:", "  - slug: checkout"]
    for slug, action in (("ruled", "policy: oncall-"), ("routed", "service: team-")):
        lines += [f"  - slug: {slug}", "    routes:"]
        for team in range(50):
            lines += [
                f"      - match: ['team=\"t{team:02d}\"', 'alertname=~\"High.*|NodeDown\"']",
                f"        {action}{team % 5}",
            ]
        if slug == "ruled":
            lines += inhibit_rules()
    for n in range(5):
        lines += [f"  - slug: team-{n}", *inhibit_rules()]
    return "\n".join(lines) + "\n"


def inhibit_rules() -> list[str]:
    lines = ["    inhibit_rules:"]
    for source, target, equal in INHIBIT_RULES:
        lines += [
            f"      - source: '{source}'",
            f"        target: '{target}'",
            f"        equal: {equal}",
        ]
    return lines


def serve(port: int, env: dict[str, str], *, workers: int = 1) -> subprocess.Popen[bytes]:
    """Start `tocsin serve` on `port` and return it once it answers."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", str(port), "--workers", str(workers)],
        env={**env, "TOCSIN_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            asyncio.run(Connection("127.0.0.1", port).post("/healthz", b""))
            break
        except (OSError, ValueError, IndexError):
            time.sleep(0.1)
    return server


def keys_of(service: str, env: dict[str, str]) -> tuple[str, str]:
    """Create an Alertmanager and a PagerDuty integration on `service`; return their keys."""
    return tuple(  # type: ignore[return-value]
        json.loads(tocsin("integration", "add", service, "--type", kind, "--json", env=env))["key"]
        for kind in ("alertmanager", "pagerduty")
    )


def sustained(tally: Tally, seconds: float) -> float:
    return tally.events_ok / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rates", default="1000,2000", help="offered events/s, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument(
        "--mix",
        choices=["both", "alertmanager", "pagerduty"],
        default="both",
        help="which bodies to send",
    )
    parser.add_argument(
        "--routing",
        action="store_true",
        help="also send the same bodies through 50 label routes and 5 inhibit rules; compare",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --routing: how many there-and-back rounds"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
    url = args.database or f"sqlite:///{workdir / 'bench.db'}"
    env = {**os.environ, "TOCSIN_DATABASE_URL": url, "TOCSIN_ACTOR": "bench"}
    tocsin("db", "upgrade", env=env)
    (workdir / "tocsin.yaml").write_text(routing_config())
    tocsin("apply", "-f", str(workdir / "tocsin.yaml"), env=env)
    loads = {"plain": Load(*keys_of("checkout", env), mix=args.mix)}
    if args.routing:
        # The same seed: every load sends the same bodies, each to its own service's keys.
        loads["rules"] = Load(*keys_of("ruled", env), mix=args.mix)
        loads["fan-out"] = Load(*keys_of("routed", env), mix=args.mix)
    port = 18000 + os.getpid() % 1000
    server = serve(port, env, workers=args.workers)
    totals: list[Tally] = []
    try:
        backend = url.split(":", 1)[0]
        print(
            f"tocsin ingest benchmark: {backend}, {os.cpu_count()} cores, {args.workers} server "
            f"process(es), bodies: {args.mix}, {ALERTS_PER_GROUP} alerts per Alertmanager "
            f"body, {REPEAT_SHARE:.0%} repeats"
        )
        for load in loads.values():
            asyncio.run(closed_loop(port, load, args.connections, 2.0))  # warm-up
        # There and back: the database grows as it goes, and this order gives each load the
        # same share of early and late phases.
        order = [*loads, *reversed(loads)] * args.rounds if args.routing else ["plain"]
        rates: dict[str, list[float]] = {name: [] for name in loads}
        for name in order:
            tally = asyncio.run(closed_loop(port, loads[name], args.connections, args.seconds))
            totals.append(tally)
            rates[name].append(sustained(tally, args.seconds))
            print(
                f"sustained ({name}): {sustained(tally, args.seconds):,.0f} events/s "
                f"({tally.requests_ok / args.seconds:,.0f} requests/s, {args.connections} "
                f"connections), p50 {pct(tally.latencies, 0.5):.1f} ms, "
                f"p99 {pct(tally.latencies, 0.99):.1f} ms, non-2xx {tally.failures or 'none'}"
            )
        for rate in [float(r) for r in args.rates.split(",") if r]:
            for name, load in loads.items():
                fixed = asyncio.run(open_loop(port, load, rate, args.seconds))
                totals.append(fixed)
                print(
                    f"offered {rate:,.0f} events/s ({name}): answered "
                    f"{fixed.events_ok / args.seconds:,.0f} events/s, "
                    f"p50 {pct(fixed.latencies, 0.5):.1f} ms, "
                    f"p99 {pct(fixed.latencies, 0.99):.1f} ms, "
                    f"max {max(fixed.latencies) * 1000:.1f} ms, non-2xx {fixed.failures or 'none'}"
                )
        plain = statistics.median(rates["plain"])
        for name in list(loads)[1:]:
            median = statistics.median(rates[name])
            print(
                f"routing cost ({name}): {median:,.0f} vs {plain:,.0f} events/s plain, "
                f"{median / plain:.1%} of it (medians of {len(rates[name])} phases each)"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    sent = sum(len(load.sent_am) + len(load.sent_pd) for load in loads.values())
    answered = sum(t.events_ok for t in totals)
    print(committed_check(url, sent, f"{answered:,} in measured phases, the rest in warm-ups"))


def committed_check(url: str, sent: int, note: str = "") -> str:
    """Return the committed check's line: every alert event sent (all answered 2xx) is stored."""
    counted = tocsin_count(url)
    return (
        f"committed check: {counted:,} alert events in the database for {sent:,} sent"
        f"{f' ({note})' if note else ''}: {'ok' if counted == sent else 'MISMATCH'}"
    )


def tocsin_count(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        total = connection.execute(text("SELECT COALESCE(SUM(count), 0) FROM alerts")).scalar()
    engine.dispose()
    return int(total or 0)


if __name__ == "__main__":
    main()
