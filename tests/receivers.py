"""A webhook receiver as a pager service would run one, for tests that follow pages end to end."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tocsin.notify import verify

REF = re.compile(r"INC-\d+")


class PageReceiver:
    """Checks each request's HMAC signature like a real receiver, and records the page.

    The path names the user (`/alice`); `secret_for(user)` is that user's signing secret.
    `status` is what it answers; `delay` makes it slow (to kill a sender mid-send).
    """

    def __init__(
        self,
        *,
        secret_for: Callable[[str], str] = lambda user: f"secret-{user}",
        delay: float = 0.0,
    ) -> None:
        self.pages: list[dict[str, Any]] = []
        self.status = 200
        self.delay = delay
        self.lock = threading.Lock()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                user = self.path.strip("/")
                assert verify(body, secret_for(user), self.headers["X-Tocsin-Signature"])
                time.sleep(received.delay)
                page = json.loads(body)
                page["to"] = user
                page["key_header"] = self.headers["Idempotency-Key"]
                with received.lock:
                    received.pages.append(page)
                self.send_response(received.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def who(self) -> list[str]:
        """Return who was paged, in order."""
        with self.lock:
            return [str(p["to"]) for p in self.pages]

    @property
    def keys(self) -> list[str]:
        """Return every message's idempotency key, repeats included."""
        with self.lock:
            return [str(p["key_header"]) for p in self.pages]

    @property
    def refs(self) -> list[str]:
        """Return every incident named, once per message that named it (bundles count each)."""
        with self.lock:
            texts = [t for p in self.pages for t in (p.get("items") or [p["subject"]])]
        return [ref for text in texts for ref in REF.findall(str(text))]
