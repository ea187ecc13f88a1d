"""Reading another paging tool's objects: from its REST API, or from the same JSON saved to files.

`Api` pages through a REST API politely: it waits as a 429's Retry-After asks, tries a 5xx or a
dropped connection again with backoff, and names the endpoint in every error. `Folder` reads the
answers saved as files, one per endpoint (`users.json`, `schedules/P1.json`), for a move from a
machine that cannot reach the source, and for tests. The mapping itself is pure, in
`tocsin.core.migrate`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from tocsin.errors import InvalidInput

MAX_TRIES = 6
MAX_WAIT = 60.0  # seconds: a Retry-After longer than this is cut to it
BACKOFF = 1.0  # seconds before the second try of a 5xx or a lost connection; doubled each time


class Source(Protocol):
    """Where a source's answers come from."""

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return one answer of the API, as JSON."""
        ...

    def pages(
        self, path: str, key: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Return every item of a paginated list."""
        ...


# How many pages a list may have: a source that keeps saying "more" is not followed forever.
MAX_PAGES = 10_000


def retry_after(value: str | None, now: datetime) -> float | None:
    """Return the seconds a Retry-After header asks for (delay or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class Api:
    """A source's REST API, paged with `offset`/`limit` (the next page exists while the answer
    says `more`, PagerDuty, or names a `paging.next`, Opsgenie), or with `page` numbers while
    the answer names a `next` page (Grafana OnCall, `numbered`)."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        name: str,
        numbered: bool = False,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(f"--api-url must be an http(s) URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.numbered = numbered
        self._headers = headers
        self._client = client or httpx.Client(timeout=30.0, follow_redirects=False)
        self._sleep = sleep
        self._progress = progress or (lambda _what: None)

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET one answer, waiting out 429s and trying 5xx and lost connections again."""
        self._progress(path)
        for attempt in range(1, MAX_TRIES + 1):
            try:
                answer = self._client.get(
                    self.base_url + path, params=params, headers=self._headers
                )
            except httpx.TransportError as exc:
                if attempt == MAX_TRIES:
                    raise InvalidInput(
                        f"GET {path}: {self.name} could not be reached ({type(exc).__name__})"
                    ) from None
                self._sleep(min(BACKOFF * 2.0 ** (attempt - 1), MAX_WAIT))
                continue
            status = answer.status_code
            if status == 429 or status >= 500:
                if attempt == MAX_TRIES:
                    raise InvalidInput(
                        f"GET {path}: {self.name} answered {status} {MAX_TRIES} times; try later"
                    )
                asked = retry_after(answer.headers.get("Retry-After"), datetime.now(UTC))
                backoff = BACKOFF * 2.0 ** (attempt - 1)
                self._sleep(min(asked if asked is not None else backoff, MAX_WAIT))
                continue
            if status == 401:
                raise InvalidInput(
                    f"GET {path}: {self.name} refused the token (401): it is wrong or expired"
                )
            if status == 403:
                raise InvalidInput(
                    f"GET {path}: the token may not read this (403): give it read access to it"
                )
            if status != 200:
                raise InvalidInput(f"GET {path}: {self.name} answered {status}")
            try:
                found = answer.json()
            except ValueError:
                raise InvalidInput(f"GET {path}: the answer is not JSON") from None
            if not isinstance(found, dict):
                raise InvalidInput(f"GET {path}: the answer is not a JSON object")
            return found
        raise AssertionError("unreachable")

    def pages(
        self, path: str, key: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Return every item of a list, 100 at a time."""
        items: list[dict[str, Any]] = []
        offset = 0
        for number in range(1, MAX_PAGES + 1):
            where = {"page": number} if self.numbered else {"offset": offset, "limit": 100}
            page = self.get(path, {**(params or {}), **where})
            found = page.get(key)
            if not isinstance(found, list):
                at = f"page {number}" if self.numbered else f"offset {offset}"
                raise InvalidInput(f"GET {path} ({at}): the answer has no {key!r} list")
            items += [item for item in found if isinstance(item, dict)]
            paging = page.get("paging")
            more = (
                page.get("next")
                if self.numbered
                else page.get("more") or (isinstance(paging, dict) and paging.get("next"))
            )
            if not more or not found:
                return items
            offset += len(found)
        raise InvalidInput(f"GET {path}: more than {MAX_PAGES} pages")


def saved_as(path: str, params: dict[str, Any] | None, selectors: tuple[str, ...]) -> str:
    """Return the file an answer is saved in: GET /schedules/P1 is `schedules/P1.json`, and a
    list selected by a parameter (`?user_id=U1`) is `.../user_id=U1.json`."""
    name = path.strip("/")
    for key in selectors:
        if params and key in params:
            name += f"/{key}={params[key]}"
    return name + ".json"


class Folder:
    """A source's answers saved as files (`saved_as`)."""

    def __init__(self, root: str | Path, selectors: tuple[str, ...] = ()) -> None:
        self.root = Path(root)
        self.selectors = selectors
        if not self.root.is_dir():
            raise InvalidInput(f"--from-dir {root}: no such folder")

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        file = self.root / saved_as(path, params, self.selectors)
        try:
            found = json.loads(file.read_text(encoding="utf-8"))
        except OSError:
            raise InvalidInput(f"{file}: missing (the answer of GET {path})") from None
        except ValueError as exc:
            raise InvalidInput(f"{file}: not JSON ({exc})") from None
        if not isinstance(found, dict):
            raise InvalidInput(f"{file}: not a JSON object")
        return found

    def pages(
        self, path: str, key: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        found = self.get(path, params).get(key)
        if not isinstance(found, list):
            raise InvalidInput(
                f"{self.root / saved_as(path, params, self.selectors)}: no {key!r} list"
            )
        return [item for item in found if isinstance(item, dict)]
