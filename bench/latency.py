"""Page latency: from an alert being answered 2xx to the webhook receiver getting the page.

Run as ``.venv/bin/python bench/latency.py [--database URL] [--alerts 500]``. It starts
`tocsin serve` on a fresh database (SQLite by default; give a PostgreSQL URL for the other),
with services whose escalation policy pages a user by a signed webhook at level 1 and another
user at level 2 one minute later. It sends one critical alert per service through the generic
webhook, and a local receiver notes when each page arrives. Prints figures only:

- alert answered -> level-1 page received: p50, p99, max (targets: p50 <= 50 ms, p99 <= 250 ms);
- level-2 step due -> page received (the escalation step's lag; target: p99 <= 100 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

REF = re.compile(r"INC-\d+")
LEVEL2_DELAY = 60.0


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[tuple[str, str], float] = {}
        lock = threading.Lock()
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                now = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                who = self.path.strip("/")
                with lock:
                    for text in body.get("items") or [body["subject"]]:
                        for ref in REF.findall(text):
                            arrivals.setdefault((who, ref), now)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--rate", type=float, default=25.0, help="alerts per second")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tocsin-latency-"))
    url = args.database or f"sqlite:///{workdir / 'latency.db'}"
    env = {**os.environ, "TOCSIN_DATABASE_URL": url, "TOCSIN_ACTOR": "bench"}
    receiver = Receiver()
    n = args.alerts
    lines = ["users:"]
    for who in ("first", "second"):
        lines.append(
            f"  - {{handle: {who}, contact_methods: [{{name: hook, type: webhook, "
            f'url: "{receiver.url}/{who}", secret: s}}]}}'
        )
    lines += [
        "escalation_policies:",
        "  - {name: p, levels: [{targets: ['user:first'], delay: 1m}, {targets: ['user:second']}]}",
        "services:",
    ]
    lines += [
        f"  - {{slug: s{i}, escalation_policy: p, integrations: [{{type: generic}}]}}"
        for i in range(n)
    ]
    (workdir / "tocsin.yaml").write_text("\n".join(lines) + "\n")
    run = [sys.executable, "-m", "tocsin"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
    applied = subprocess.run(
        [*run, "apply", "-f", str(workdir / "tocsin.yaml")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    keys = re.findall(r"create integration (s\d+)/generic \(generic\) key=(\w+)", applied)
    port = 19000 + os.getpid() % 1000
    server = subprocess.Popen(
        [*run, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    answered: dict[str, float] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            start = time.monotonic()
            for i, (_service, key) in enumerate(keys):
                due = start + i / args.rate
                time.sleep(max(0.0, due - time.monotonic()))
                answer = client.post(
                    f"/hooks/generic/{key}",
                    json={
                        "summary": f"checkout down {i}",
                        "severity": "critical",
                        "dedup_key": f"k{i}",
                    },
                )
                answered[answer.json()["incident"]] = time.time()
        deadline = time.time() + LEVEL2_DELAY + 30
        while time.time() < deadline and sum(
            1 for who, _ in receiver.arrivals if who == "second"
        ) < len(answered):
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
        receiver.server.shutdown()
    level1 = [
        receiver.arrivals[("first", ref)] - t
        for ref, t in answered.items()
        if ("first", ref) in receiver.arrivals
    ]
    # The step is due 60 s after level 1 fired, which is just before the alert was answered
    # (2xx comes after the commit): measuring from the answer is slightly pessimistic.
    level2 = [
        receiver.arrivals[("second", ref)] - (t + LEVEL2_DELAY)
        for ref, t in answered.items()
        if ("second", ref) in receiver.arrivals
    ]
    backend = url.split(":", 1)[0]
    print(
        f"tocsin page latency: {backend}, {len(answered)} alerts at {args.rate:g}/s, "
        f"{datetime.now():%Y-%m-%d %H:%M}"
    )
    print(
        f"alert answered -> level-1 page received: {len(level1)} pages, "
        f"p50 {pct(level1, 0.5):.1f} ms, p99 {pct(level1, 0.99):.1f} ms, "
        f"max {max(level1) * 1000:.1f} ms"
    )
    print(
        f"level-2 step due -> page received (from the alert's answer + 60 s): "
        f"{len(level2)} pages, p50 {pct(level2, 0.5):.1f} ms, p99 {pct(level2, 0.99):.1f} ms, "
        f"max {max(level2) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
