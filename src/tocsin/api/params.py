"""Path and query parameters shared by the API's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# Row ids are INTEGER columns: PostgreSQL refuses a larger number outright (22003) and SQLite
# cannot bind one past 2**63, so a larger id is refused as a bad request, never looked up.
MAX_ID = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ID, description=f"A row id, 1 to {MAX_ID}.")]

IncidentRef = Annotated[
    str, Path(description="The incident: INC-42, or just 42.", examples=["INC-1"])
]

ServiceSlug = Annotated[str, Path(description="A service's slug.", examples=["api-gateway"])]
Handle = Annotated[str, Path(description="A user's handle.", examples=["alice"])]
