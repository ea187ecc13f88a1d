"""Server memory: RSS after a million alerts, and over a soak at a steady rate.

Run as ``.venv/bin/python bench/memory.py [--alerts 1000000] [--soak 600] [--rate 1000]``.
It starts one `tocsin serve` process on a fresh SQLite file and sends Alertmanager webhook
bodies (groups of 10 alerts, one in five a repeat) over keep-alive connections:

1. as fast as the server answers, until `--alerts` alert events were answered 2xx; then the
   server's resident memory (RSS, from /proc) — target: at most 300 MB after 1,000,000;
2. an open loop at `--rate` alert events per second for `--soak` seconds, with the RSS read
   every minute — target: no growth (the last minute's RSS within 5% of the first's).

Prints figures only, then the committed check: every event answered 2xx is in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import Load, Tally, closed_loop, committed_check, keys_of, open_loop, pct, serve


def rss_mb(pid: int) -> float:
    """Return the resident memory of process `pid` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--soak", type=float, default=600.0, help="seconds at the steady rate")
    parser.add_argument("--rate", type=float, default=1000.0, help="alert events per second")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tocsin-memory-"))
    url = f"sqlite:///{workdir / 'memory.db'}"
    env = {**os.environ, "TOCSIN_DATABASE_URL": url, "TOCSIN_ACTOR": "bench"}
    subprocess.run([sys.executable, "-m", "tocsin", "db", "upgrade"], env=env, check=True)
    subprocess.run(
        [sys.executable, "-m", "tocsin", "service", "add", "checkout"],
        env=env,
        check=True,
        capture_output=True,
    )
    load = Load(*keys_of("checkout", env), mix="alertmanager")
    port = 18000 + os.getpid() % 1000
    server = serve(port, env)
    tallies: list[Tally] = []
    try:
        print(
            f"tocsin memory: sqlite, one server process, Alertmanager groups of 10,"
            f" started at {rss_mb(server.pid):.0f} MB"
        )
        started = time.perf_counter()
        answered = 0
        while answered < args.alerts:
            tally = asyncio.run(closed_loop(port, load, args.connections, 10.0))
            tallies.append(tally)
            answered += tally.events_ok
        took = time.perf_counter() - started
        print(
            f"after {answered:,} alert events answered 2xx ({answered / took:,.0f}/s):"
            f" RSS {rss_mb(server.pid):.0f} MB (target <= 300 MB)"
        )
        samples = []
        minutes = max(1, round(args.soak / 60))
        for minute in range(minutes):
            tally = asyncio.run(open_loop(port, load, args.rate, args.soak / minutes))
            tallies.append(tally)
            samples.append(rss_mb(server.pid))
            print(
                f"soak minute {minute + 1}: RSS {samples[-1]:.0f} MB, answered"
                f" {tally.events_ok:,} events, p99 {pct(tally.latencies, 0.99):.1f} ms,"
                f" non-2xx {tally.failures or 'none'}"
            )
        growth = (samples[-1] - samples[0]) / samples[0]
        print(
            f"soak at {args.rate:,.0f} events/s for {args.soak:.0f} s: RSS {samples[0]:.0f} ->"
            f" {samples[-1]:.0f} MB ({growth:+.1%}; target: within 5%)"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(committed_check(url, len(load.sent_am)))


if __name__ == "__main__":
    main()
