"""JSON answers encoded with orjson: the ingestion routes answer every alert sender's request,
and encoding their answers with the standard module cost more than reading the request."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class JSONAnswer(JSONResponse):
    """A JSONResponse encoded faster, as compact UTF-8 JSON like a JSONResponse's; what orjson
    cannot encode (an integer past 64 bits) goes the standard way."""

    def render(self, content: Any) -> bytes:
        """Return `content` as JSON."""
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)
