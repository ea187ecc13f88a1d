"""Reports over HTTP that gather several stores: hours on call per person."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tocsin.http.deps import Reader, SessionDep
from tocsin.services import reports

router = APIRouter(tags=["metrics"])


class OncallTotals(BaseModel):
    """Hours on call (real elapsed hours, to 4 decimals) and pages, for everyone together."""

    total_hours: float
    business_hours: float = Field(description="09:00-17:00 Monday to Friday, local.")
    evening_hours: float = Field(description="07:00-09:00 and 17:00-22:00 Monday to Friday.")
    night_hours: float = Field(description="22:00-07:00 Monday to Friday, local.")
    weekend_hours: float = Field(description="All of Saturday and Sunday, local.")
    pages: int = Field(description="Pages first delivered in the range; drills left out.")
    night_pages: int = Field(description="Of them, received 22:00-07:00 local, any day.")


class OncallPerson(OncallTotals):
    """One person's hours on call, split on their own local clock, and the pages they got."""

    user: str
    name: str
    time_zone: str


class OncallReport(BaseModel):
    """The on-call hours report over [from, to)."""

    from_: str = Field(alias="from", description="Start, UTC (ISO-8601).")
    to: str = Field(description="End (exclusive), UTC.")
    time_zone: str = Field(description="The zone dates and times without an offset were read in.")
    schedules: list[str]
    people: list[OncallPerson] = Field(description="By total hours, most first, then handle.")
    totals: OncallTotals


@router.get("/reports/oncall", response_model=OncallReport, response_model_by_alias=True)
def oncall_report(
    session: SessionDep,
    _caller: Reader,
    from_: Annotated[
        str,
        Query(
            alias="from",
            description="Start: 2024-03-29 or 2024-03-29T09:00, local to the schedule when one "
            "is named, else UTC; or with an offset (2024-03-29T09:00Z).",
        ),
    ],
    to: Annotated[str, Query(description="End (exclusive), read like `from`; at most 366 days.")],
    schedule: Annotated[
        list[str] | None, Query(description="Only these schedules (repeat). Default: all.")
    ] = None,
) -> dict[str, Any]:
    """Hours on call per person from the final schedule (overrides and swaps included).

    Each person's hours are split into business hours, evenings, nights and weekends on their
    own local clock, exactly across DST changes; several schedules putting one person on call at
    once count once. Pages count one per incident, person and escalation step, at its first
    delivery; drills are left out.
    """
    return reports.oncall(session, from_=from_, to=to, schedules=schedule or [])
