"""Response metrics from incident milestones, checked against numbers worked out by hand."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.core.incident import IncidentStatus, IncidentView
from tocsin.core.metrics import (
    NO_SERVICE,
    Durations,
    IncidentTimes,
    Summary,
    acknowledged_in_time,
    by_month,
    by_service,
    by_severity,
    durations,
    mean,
    percentile,
    since,
    summarize,
)
from tocsin.core.severity import Severity, SeverityScale
from tocsin.errors import InvalidInput

SCALE = SeverityScale()
NOW = datetime(2024, 7, 10, 12, 0, tzinfo=UTC)


def at(when: str) -> datetime:
    """Return "MM-DD HH:MM" in 2024 as an aware UTC instant."""
    return datetime.strptime(f"2024-{when}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def inc(
    number: int,
    severity: str,
    services: tuple[str, ...],
    day: str,
    started: str,
    detected: str,
    ack: str | None = None,
    mitigated: str | None = None,
    resolved: str | None = None,
    *,
    drill: bool = False,
) -> IncidentTimes:
    """Return an incident on `day` ("MM-DD"); a milestone on another day is "MM-DD HH:MM"."""

    def on(clock: str | None) -> datetime | None:
        if clock is None:
            return None
        return at(clock if " " in clock else f"{day} {clock}")

    return IncidentTimes(
        number=number,
        severity=severity,
        services=services,
        started_at=at(f"{day} {started}"),
        detected_at=at(f"{day} {detected}"),
        acknowledged_at=on(ack),
        mitigated_at=on(mitigated),
        resolved_at=on(resolved),
        is_drill=drill,
    )


# Minutes after detection: TTD = detect - start, TTA = ack - detect, TTR = resolve - detect.
# "within" is TTA against SEV-1 5 min, SEV-2 15 min, SEV-3 60 min; NOW is 07-10 12:00.
FIXTURE: tuple[IncidentTimes, ...] = (
    # TTD 2, TTA 2 (within 5), TTR 12: the seed's incident.
    inc(1, "SEV-1", ("api",), "06-20", "10:28", "10:30", "10:32", "10:35", "10:42"),
    # TTD 10, TTA 4 (within 5), TTR 60; the primary service is db.
    inc(2, "SEV-1", ("db", "api"), "06-05", "03:00", "03:10", "03:14", "03:20", "04:10"),
    # TTD 0, TTA 20 (not within 15), TTR 90.
    inc(3, "SEV-2", ("api",), "06-12", "14:00", "14:00", "14:20", "14:30", "15:30"),
    # TTD 5, TTA 30 (within 60), never mitigated, TTR 120.
    inc(4, "SEV-3", ("db",), "06-25", "09:00", "09:05", "09:35", None, "11:05"),
    # TTD 35, TTA 17h01 = 1021, TTR 20h = 1200; SEV-4 has no response time: not judged.
    inc(5, "SEV-4", ("api",), "06-28", "15:55", "16:30", "06-29 09:31", None, "06-29 12:30"),
    # A drill: TTA 30 would be late; it must not count anywhere.
    inc(6, "SEV-1", ("api",), "06-15", "10:00", "10:00", "10:30", None, "11:00", drill=True),
    # TTD 1, TTA 12 (not within 5), TTR 60.
    inc(7, "SEV-1", ("db",), "07-02", "22:00", "22:01", "22:13", "22:20", "23:01"),
    # TTD 0, TTA 10 (within 15), mitigating, unresolved.
    inc(8, "SEV-2", ("api",), "07-08", "08:00", "08:00", "08:10", "08:30"),
    # TTD 10, unacknowledged for 30 min > 15: judged, not within.
    inc(9, "SEV-2", ("db",), "07-10", "11:20", "11:30"),
    # TTD 0, unacknowledged for 45 min, still inside its 60: not judged yet.
    inc(10, "SEV-3", ("api",), "07-10", "11:15", "11:15"),
)


def summary(
    count: int,
    mtta: tuple[timedelta, timedelta, timedelta] | None,
    mttr: tuple[timedelta, timedelta, timedelta] | None,
    ttd_mean: timedelta | None,
    within: int,
    judged: int,
) -> Summary:
    """Return a Summary from (mean, p50, p90) triples; the share is within / judged."""
    return Summary(
        count=count,
        mtta=mtta[0] if mtta else None,
        mtta_p50=mtta[1] if mtta else None,
        mtta_p90=mtta[2] if mtta else None,
        mttr=mttr[0] if mttr else None,
        mttr_p50=mttr[1] if mttr else None,
        mttr_p90=mttr[2] if mttr else None,
        ttd_mean=ttd_mean,
        within_response=within / judged if judged else None,
        within_count=within,
        judged_count=judged,
    )


EMPTY = summary(0, None, None, None, 0, 0)

# --------------------------------------------------------------------------------------------
# One incident


def test_durations_of_the_seed_incident() -> None:
    # Alert at 10:30, recovery at 10:42: "Time to resolution: 12 minutes".
    expected = Durations(detect=m(2), acknowledge=m(2), mitigate=m(5), resolve=m(12))
    assert durations(FIXTURE[0]) == expected


def test_missing_milestones_give_none() -> None:
    assert durations(FIXTURE[8]) == Durations(m(10), None, None, None)
    assert durations(FIXTURE[3]) == Durations(m(5), m(30), None, m(120))


def test_durations_are_measured_across_offsets() -> None:
    plus2 = timezone(timedelta(hours=2))
    times = IncidentTimes(
        1,
        "SEV-1",
        ("api",),
        started_at=at("06-20 10:28"),
        detected_at=datetime(2024, 6, 20, 12, 30, tzinfo=plus2),  # 10:30 UTC
        resolved_at=at("06-20 10:42"),
    )
    assert durations(times).detect == m(2)
    assert durations(times).resolve == m(12)


def test_from_view_copies_the_milestones() -> None:
    view = IncidentView(
        number=1,
        title="All requests returning 502",
        severity="SEV-1",
        status=IncidentStatus.RESOLVED,
        services=("api",),
        channel="#incident-api",
        started_at=at("06-20 10:28"),
        detected_at=at("06-20 10:30"),
        acknowledged_at=at("06-20 10:32"),
        mitigated_at=at("06-20 10:35"),
        resolved_at=at("06-20 10:42"),
    )
    assert IncidentTimes.from_view(view) == FIXTURE[0]
    assert IncidentTimes.from_view(view, is_drill=True).is_drill


def test_naive_milestones_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        IncidentTimes(3, "SEV-1", (), datetime(2024, 6, 20), datetime(2024, 6, 20))
    assert caught.value.problems == [
        "INC-3: started_at needs a time zone offset",
        "INC-3: detected_at needs a time zone offset",
    ]


def test_milestones_out_of_order_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        inc(4, "SEV-1", (), "06-20", "10:31", "10:30", "10:29", None, "10:00")
    assert caught.value.problems == [
        "INC-4: started_at must not be after detected_at",
        "INC-4: acknowledged_at must not be before detected_at",
        "INC-4: resolved_at must not be before detected_at",
    ]


def test_milestones_at_the_same_instant_are_fine() -> None:
    times = inc(5, "SEV-1", (), "06-20", "10:30", "10:30", "10:30", "10:30", "10:30")
    assert durations(times) == Durations(m(0), m(0), m(0), m(0))


@pytest.mark.parametrize(
    ("ack", "now", "expected"),
    [
        ("10:35", "10:35", True),  # acknowledged exactly at 5 min: within
        ("10:36", "10:36", False),  # 6 min
        (None, "10:35", None),  # unacknowledged, exactly at the end of the window: not yet
        (None, "10:36", False),  # unacknowledged and past the window
        (None, "10:31", None),
        ("10:31", "10:30", True),  # an acknowledgement is judged whatever `now` is
    ],
)
def test_response_time_boundaries(ack: str | None, now: str, expected: bool | None) -> None:
    times = inc(1, "SEV-1", (), "06-20", "10:30", "10:30", ack)
    assert acknowledged_in_time(times, SCALE, now=at(f"06-20 {now}")) is expected


def test_levels_without_a_response_time_are_never_judged() -> None:
    times = inc(1, "SEV-4", (), "06-20", "10:30", "10:30")
    assert acknowledged_in_time(times, SCALE, now=at("12-31 00:00")) is None
    acked = inc(2, "SEV-4", (), "06-20", "10:30", "10:30", "10:31")
    assert acknowledged_in_time(acked, SCALE, now=NOW) is None


def test_severity_names_are_looked_up_forgivingly() -> None:
    times = inc(1, "sev1", (), "06-20", "10:30", "10:30", "10:31")
    assert acknowledged_in_time(times, SCALE, now=NOW) is True
    result = by_severity([times], SCALE, now=NOW)
    assert list(result) == SCALE.names
    assert result["SEV-1"].count == 1


# --------------------------------------------------------------------------------------------
# The fixture, by hand


def test_summary_of_the_fixture() -> None:
    # Nine incidents: the drill (#6) is out.
    # TTD mean = (2 + 10 + 0 + 5 + 35 + 1 + 0 + 10 + 0) / 9 = 63 / 9 = 7 min.
    # TTA (#1-5, 7, 8) sorted = [2, 4, 10, 12, 20, 30, 1021]; mean = 1099 / 7 = 157 min;
    #   p50 = rank ceil(3.5) = 4 -> 12; p90 = rank ceil(6.3) = 7 -> 1021.
    # TTR (#1-5, 7) sorted = [12, 60, 60, 90, 120, 1200]; mean = 1542 / 6 = 257 min;
    #   p50 = rank ceil(3) = 3 -> 60; p90 = rank ceil(5.4) = 6 -> 1200.
    # Within: judged #1 #2 #3 #4 #7 #8 #9 (not #5: SEV-4, not #10: inside its window);
    #   within #1 #2 #4 #8 -> 4 / 7.
    expected = summary(
        9, (m(157), m(12), m(1021)), (m(257), m(60), m(1200)), m(7), within=4, judged=7
    )
    assert summarize(FIXTURE, SCALE, now=NOW) == expected
    assert expected.within_response == pytest.approx(0.5714, abs=1e-4)


def test_by_service_of_the_fixture() -> None:
    assert by_service(FIXTURE, SCALE, now=NOW) == {
        # api = #1 #3 #5 #8 #10. TTD (2 + 0 + 35 + 0 + 0) / 5 = 7.4 min = 7 min 24 s.
        # TTA [2, 10, 20, 1021]: mean 1053 / 4 = 263.25 min; p50 rank 2 -> 10; p90 rank 4.
        # TTR [12, 90, 1200]: mean 1302 / 3 = 434; p50 rank 2 -> 90; p90 rank 3 -> 1200.
        # Judged #1 (yes) #3 (no) #8 (yes) -> 2 / 3.
        "api": summary(
            5,
            (m(263.25), m(10), m(1021)),
            (m(434), m(90), m(1200)),
            m(7.4),
            within=2,
            judged=3,
        ),
        # db = #2 (primary db, though it also hit api) #4 #7 #9. TTD (10 + 5 + 1 + 10) / 4 = 6.5.
        # TTA [4, 12, 30]: mean 46 / 3 min = 15 min 20 s; p50 rank 2 -> 12; p90 rank 3 -> 30.
        # TTR [60, 60, 120]: mean 240 / 3 = 80; p50 -> 60; p90 -> 120.
        # Judged #2 (yes) #4 (yes) #7 (no) #9 (no, unacknowledged past 15 min) -> 2 / 4.
        "db": summary(
            4,
            (timedelta(minutes=15, seconds=20), m(12), m(30)),
            (m(80), m(60), m(120)),
            m(6.5),
            within=2,
            judged=4,
        ),
    }


def test_by_severity_of_the_fixture() -> None:
    result = by_severity(FIXTURE, SCALE, now=NOW)
    assert list(result) == ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]
    assert result == {
        # #1 #2 #7. TTD (2 + 10 + 1) / 3 = 13 / 3 min = 4 min 20 s.
        # MTTA SEV-1 = (2 + 4 + 12) / 3 = 6 min; p50 rank 2 -> 4; p90 rank 3 -> 12.
        # MTTR (12 + 60 + 60) / 3 = 44; p50 -> 60; p90 -> 60. Within #1 #2, not #7 -> 2 / 3.
        "SEV-1": summary(
            3, (m(6), m(4), m(12)), (m(44), m(60), m(60)), m(13) / 3, within=2, judged=3
        ),
        # #3 #8 #9. TTD (0 + 0 + 10) / 3 = 3 min 20 s.
        # TTA [10, 20]: mean 15; p50 rank ceil(1) = 1 -> 10; p90 rank ceil(1.8) = 2 -> 20.
        # TTR [90]. Within #8 only; #3 (20 min) and #9 (unacknowledged, 30 min) late -> 1 / 3.
        "SEV-2": summary(
            3, (m(15), m(10), m(20)), (m(90), m(90), m(90)), m(10) / 3, within=1, judged=3
        ),
        # #4 #10. TTD (5 + 0) / 2 = 2.5. TTA [30]; TTR [120]. #10 still in its hour -> 1 / 1.
        "SEV-3": summary(
            2, (m(30), m(30), m(30)), (m(120), m(120), m(120)), m(2.5), within=1, judged=1
        ),
        # #5 alone; no response time, so nothing judged and no share.
        "SEV-4": summary(1, (m(1021), m(1021), m(1021)), (m(1200), m(1200), m(1200)), m(35), 0, 0),
    }
    assert result["SEV-4"].within_response is None


def test_by_month_of_the_fixture() -> None:
    assert by_month(FIXTURE, SCALE, now=NOW) == {
        # June = #1 #2 #3 #4 #5 (drill #6 out). TTD (2 + 10 + 0 + 5 + 35) / 5 = 10.4 min.
        # TTA [2, 4, 20, 30, 1021]: mean 1077 / 5 = 215.4; p50 rank ceil(2.5) = 3 -> 20; p90
        #   rank ceil(4.5) = 5 -> 1021.
        # TTR [12, 60, 90, 120, 1200]: mean 1482 / 5 = 296.4; p50 -> 90; p90 -> 1200.
        # Judged #1 #2 #3 #4, within #1 #2 #4 -> 3 / 4.
        "2024-06": summary(
            5,
            (m(215.4), m(20), m(1021)),
            (m(296.4), m(90), m(1200)),
            m(10.4),
            within=3,
            judged=4,
        ),
        # July = #7 #8 #9 #10. TTD (1 + 0 + 10 + 0) / 4 = 2.75 min.
        # TTA [10, 12]: mean 11; p50 rank 1 -> 10; p90 rank 2 -> 12. TTR [60].
        # Judged #7 (no) #8 (yes) #9 (no) -> 1 / 3.
        "2024-07": summary(
            4, (m(11), m(10), m(12)), (m(60), m(60), m(60)), m(2.75), within=1, judged=3
        ),
    }


def test_the_groups_add_up_to_the_whole() -> None:
    whole = summarize(FIXTURE, SCALE, now=NOW)
    for groups in (
        by_service(FIXTURE, SCALE, now=NOW),
        by_severity(FIXTURE, SCALE, now=NOW),
        by_month(FIXTURE, SCALE, now=NOW),
    ):
        parts = groups.values()
        assert sum(s.count for s in parts) == whole.count
        assert sum(s.within_count for s in parts) == whole.within_count
        assert sum(s.judged_count for s in parts) == whole.judged_count


def test_the_share_changes_as_time_passes() -> None:
    # At 12:15 #10 (SEV-3, detected 11:15) is still in its hour; one minute later it is late.
    assert summarize(FIXTURE, SCALE, now=at("07-10 12:15")).judged_count == 7
    later = summarize(FIXTURE, SCALE, now=at("07-10 12:16"))
    assert (later.within_count, later.judged_count) == (4, 8)
    # Right after #9 (SEV-2, 11:30) was detected, it is not judged either: 4 / 6.
    early = summarize(FIXTURE, SCALE, now=at("07-10 11:31"))
    assert (early.within_count, early.judged_count) == (4, 6)


def test_since_keeps_incidents_detected_at_or_after_the_start() -> None:
    assert [t.number for t in since(FIXTURE, at("07-01 00:00"))] == [7, 8, 9, 10]
    # The drill was detected exactly at the start: kept, as `since` only selects.
    assert [t.number for t in since(FIXTURE, at("06-15 10:00"))] == [1, 4, 5, 6, 7, 8, 9, 10]
    assert since(FIXTURE, at("07-10 11:31")) == []


def test_since_compares_instants_across_offsets() -> None:
    start = datetime(2024, 7, 10, 7, 30, tzinfo=timezone(timedelta(hours=-4)))  # 11:30 UTC
    assert [t.number for t in since(FIXTURE, start)] == [9]


# --------------------------------------------------------------------------------------------
# Edges


def test_nothing_to_summarize() -> None:
    assert summarize([], SCALE, now=NOW) == EMPTY
    assert summarize([FIXTURE[5]], SCALE, now=NOW) == EMPTY  # only a drill
    assert by_service([], SCALE, now=NOW) == {}
    assert by_month([], SCALE, now=NOW) == {}
    assert by_severity([], SCALE, now=NOW) == dict.fromkeys(SCALE.names, EMPTY)


def test_summarize_accepts_a_one_shot_iterable() -> None:
    assert summarize(iter(FIXTURE), SCALE, now=NOW) == summarize(FIXTURE, SCALE, now=NOW)
    assert by_service(iter(FIXTURE), SCALE, now=NOW) == by_service(FIXTURE, SCALE, now=NOW)
    assert since(iter(FIXTURE), at("07-01 00:00")) == list(FIXTURE[6:])


def test_drill_only_groups_get_no_row() -> None:
    drill = inc(1, "SEV-1", ("search",), "08-01", "10:00", "10:00", drill=True)
    incidents = [*FIXTURE, drill]
    assert "search" not in by_service(incidents, SCALE, now=NOW)
    assert "2024-08" not in by_month(incidents, SCALE, now=NOW)


def test_incidents_without_services_are_grouped_last() -> None:
    bare = inc(11, "SEV-3", (), "06-01", "10:00", "10:00")
    result = by_service([bare, *FIXTURE], SCALE, now=NOW)
    assert list(result) == ["api", "db", NO_SERVICE]
    assert result[NO_SERVICE].count == 1


def test_months_are_utc_months_of_detection() -> None:
    # 23:30 on 30 June in New York (-04:00) is 03:30 on 1 July in UTC.
    new_york = timezone(timedelta(hours=-4))
    late = datetime(2024, 6, 30, 23, 30, tzinfo=new_york)
    times = IncidentTimes(1, "SEV-1", (), started_at=late - m(90), detected_at=late)
    assert list(by_month([times], SCALE, now=NOW)) == ["2024-07"]
    assert times.month == "2024-07"


def test_months_sort_across_years() -> None:
    def detected(year: int, month: int) -> IncidentTimes:
        instant = datetime(year, month, 1, tzinfo=UTC)
        return IncidentTimes(month, "SEV-3", (), started_at=instant, detected_at=instant)

    incidents = [detected(2025, 1), detected(2024, 12), detected(2024, 2), detected(2025, 1)]
    result = by_month(incidents, SCALE, now=NOW)
    assert list(result) == ["2024-02", "2024-12", "2025-01"]
    assert result["2025-01"].count == 2


def test_severities_the_scale_no_longer_defines() -> None:
    # A level deleted from the scale: its incidents still count and get a row after the scale's
    # levels, but without a response time they are not judged.
    old = inc(1, "SEV-0", ("api",), "06-01", "10:00", "10:00", "10:01")
    older = inc(2, "P1", ("api",), "06-01", "10:00", "10:00")
    result = by_severity([old, older, *FIXTURE], SCALE, now=NOW)
    assert list(result) == ["SEV-1", "SEV-2", "SEV-3", "SEV-4", "P1", "SEV-0"]
    assert result["SEV-0"] == summary(1, (m(1), m(1), m(1)), None, m(0), 0, 0)
    assert acknowledged_in_time(older, SCALE, now=NOW) is None
    whole = summarize([old, older, *FIXTURE], SCALE, now=NOW)
    assert (whole.count, whole.within_count, whole.judged_count) == (11, 4, 7)


def test_a_custom_scale_orders_and_judges() -> None:
    scale = SeverityScale(
        (
            Severity("P2", 2, "Degraded", timedelta(minutes=30)),
            Severity("P1", 1, "Down", timedelta(minutes=1)),
        )
    )
    p1 = inc(1, "P1", (), "06-01", "10:00", "10:00", "10:02")
    p2 = inc(2, "P2", (), "06-01", "10:00", "10:00", "10:02")
    result = by_severity([p2, p1], scale, now=NOW)
    assert list(result) == ["P1", "P2"]
    assert (result["P1"].within_count, result["P1"].judged_count) == (0, 1)
    assert (result["P2"].within_count, result["P2"].judged_count) == (1, 1)


def test_a_naive_now_is_refused() -> None:
    naive = datetime(2024, 7, 10, 12)
    for report in (summarize, by_service, by_severity, by_month):
        with pytest.raises(InvalidInput, match=r"^now needs a time zone offset$"):
            report([], SCALE, now=naive)
    with pytest.raises(InvalidInput, match=r"^now needs a time zone offset$"):
        acknowledged_in_time(FIXTURE[0], SCALE, now=naive)


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"^start needs a time zone offset$"):
        since(FIXTURE, datetime(2024, 7, 1))


# --------------------------------------------------------------------------------------------
# Percentiles and means


WIKI_1 = [m(v) for v in (15, 20, 35, 40, 50)]
WIKI_2 = [m(v) for v in (3, 6, 7, 8, 8, 10, 13, 15, 16, 20)]


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([], 0, None),
        ([m(7)], 0, m(7)),
        ([m(7)], 50, m(7)),
        ([m(7)], 100, m(7)),
        # Nearest rank: the value at rank ceil(q / 100 * n) of the sorted list; q = 0 -> rank 1.
        (WIKI_1, 0, m(15)),
        (WIKI_1, 5, m(15)),  # ceil(0.25) = 1
        (WIKI_1, 30, m(20)),  # ceil(1.5) = 2
        (WIKI_1, 40, m(20)),  # ceil(2) = 2: an exact rank is not rounded up
        (WIKI_1, 50, m(35)),  # ceil(2.5) = 3
        (WIKI_1, 90, m(50)),  # ceil(4.5) = 5
        (WIKI_1, 100, m(50)),
        (WIKI_2, 25, m(7)),  # ceil(2.5) = 3
        (WIKI_2, 50, m(8)),  # rank 5
        (WIKI_2, 75, m(15)),  # ceil(7.5) = 8
        (WIKI_2, 90, m(16)),  # rank 9
        (WIKI_2, 91, m(20)),  # ceil(9.1) = 10
        (WIKI_2, 100, m(20)),
        # Unsorted input and duplicates.
        ([m(40), m(10), m(30), m(20)], 50, m(20)),  # rank 2
        ([m(40), m(10), m(30), m(20)], 75, m(30)),  # rank 3
        ([m(40), m(10), m(30), m(20)], 90, m(40)),  # ceil(3.6) = 4
        ([m(5), m(5), m(1)], 50, m(5)),  # [1, 5, 5], ceil(1.5) = 2
        ([m(2), m(1)], 50, m(1)),  # ceil(1) = 1: no averaging of the middle two
        ([m(2), m(1)], 50.5, m(2)),  # ceil(1.01) = 2
        # 16.1 * 1000 / 100 is 161.00000000000003 in floats; the rank is exactly 161.
        ([m(v) for v in range(1000, 0, -1)], 16.1, m(161)),
    ],
)
def test_percentile_nearest_rank(values: list[timedelta], q: float, expected: timedelta) -> None:
    assert percentile(values, q) == expected


@pytest.mark.parametrize("q", [-1, 100.5, float("nan"), float("inf"), -0.001])
def test_percentile_out_of_range(q: float) -> None:
    with pytest.raises(InvalidInput, match="percentile must be between 0 and 100"):
        percentile([m(1)], q)


def test_percentile_leaves_its_input_alone() -> None:
    values = [m(3), m(1), m(2)]
    assert percentile(values, 50) == m(2)
    assert values == [m(3), m(1), m(2)]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([m(4)], m(4)),
        ([m(2), m(4), m(12)], m(6)),
        ([m(1), m(2)], timedelta(seconds=90)),
        # 1 s / 3 rounds to the microsecond, as timedelta division does.
        ([timedelta(0), timedelta(0), timedelta(seconds=1)], timedelta(microseconds=333333)),
    ],
)
def test_mean(values: list[timedelta], expected: timedelta | None) -> None:
    assert mean(values) == expected


# --------------------------------------------------------------------------------------------
# Properties

PROPERTIES = settings(max_examples=200, deadline=None)
BASE = datetime(2024, 5, 25, tzinfo=UTC)

gap = st.integers(0, 3 * 24 * 60).map(m) | st.integers(0, 20).map(m)
maybe_gap = st.none() | gap


@st.composite
def incident_times(draw: st.DrawFn) -> IncidentTimes:
    """Return an incident somewhere from late May to August, often near a month boundary."""
    detected = BASE + draw(st.integers(0, 90 * 24 * 60).map(m))
    ack, mitigate, resolve = draw(maybe_gap), draw(maybe_gap), draw(maybe_gap)
    return IncidentTimes(
        number=draw(st.integers(1, 10_000)),
        severity=draw(st.sampled_from(["SEV-1", "SEV-2", "SEV-3", "SEV-4", "sev2", "SEV-9"])),
        services=draw(st.lists(st.sampled_from(["api", "db", "web"]), max_size=2).map(tuple)),
        started_at=detected - draw(gap),
        detected_at=detected,
        acknowledged_at=detected + ack if ack is not None else None,
        mitigated_at=detected + mitigate if mitigate is not None else None,
        resolved_at=detected + resolve if resolve is not None else None,
        is_drill=draw(st.booleans()),
    )


incident_lists = st.lists(incident_times(), max_size=25)
report_times = st.integers(60 * 24 * 60, 100 * 24 * 60).map(lambda n: BASE + m(n))


def everything(incidents: list[IncidentTimes], now: datetime) -> tuple[object, ...]:
    """Return every report, with the key order of each grouping made visible."""
    groups = [
        by_service(incidents, SCALE, now=now),
        by_severity(incidents, SCALE, now=now),
        by_month(incidents, SCALE, now=now),
    ]
    return (summarize(incidents, SCALE, now=now), *((list(g.items())) for g in groups))


@PROPERTIES
@given(incident_lists, report_times, st.randoms(use_true_random=False))
def test_reports_do_not_depend_on_input_order(
    incidents: list[IncidentTimes], now: datetime, rng: random.Random
) -> None:
    shuffled = list(incidents)
    rng.shuffle(shuffled)
    assert everything(shuffled, now) == everything(incidents, now)


@PROPERTIES
@given(incident_lists, report_times)
def test_drills_count_as_if_filtered_out_first(
    incidents: list[IncidentTimes], now: datetime
) -> None:
    real = [times for times in incidents if not times.is_drill]
    assert everything(incidents, now) == everything(real, now)


@PROPERTIES
@given(incident_lists, report_times)
def test_summary_invariants(incidents: list[IncidentTimes], now: datetime) -> None:
    result = summarize(incidents, SCALE, now=now)
    real = [durations(t) for t in incidents if not t.is_drill]
    assert result.count == len(real)
    for avg, p50, p90, values in (
        (result.mtta, result.mtta_p50, result.mtta_p90, [d.acknowledge for d in real]),
        (result.mttr, result.mttr_p50, result.mttr_p90, [d.resolve for d in real]),
    ):
        present = [v for v in values if v is not None]
        if not present:
            assert (avg, p50, p90) == (None, None, None)
            continue
        assert avg is not None and p50 is not None and p90 is not None
        assert min(present) <= p50 <= p90 <= max(present)
        assert min(present) <= avg <= max(present)
        assert p50 in present and p90 in present
    assert 0 <= result.within_count <= result.judged_count <= result.count
    if result.judged_count:
        assert result.within_response == result.within_count / result.judged_count
    else:
        assert result.within_response is None
    for groups in (
        by_service(incidents, SCALE, now=now),
        by_severity(incidents, SCALE, now=now),
        by_month(incidents, SCALE, now=now),
    ):
        assert sum(s.count for s in groups.values()) == result.count
        assert sum(s.judged_count for s in groups.values()) == result.judged_count
        assert sum(s.within_count for s in groups.values()) == result.within_count


@PROPERTIES
@given(
    st.lists(st.integers(0, 10**9).map(lambda n: timedelta(microseconds=n)), min_size=1),
    st.floats(0, 100),
    st.floats(0, 100),
)
def test_percentile_properties(values: list[timedelta], q1: float, q2: float) -> None:
    low, high = sorted((q1, q2))
    p_low, p_high = percentile(values, low), percentile(values, high)
    assert p_low is not None and p_high is not None
    assert p_low in values and p_high in values
    assert min(values) <= p_low <= p_high <= max(values)
    p50, p90 = percentile(values, 50), percentile(values, 90)
    assert p50 is not None and p90 is not None
    assert p50 <= p90 <= max(values)
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)
    # Nearest rank: at least q% of the values are at or below the result, and fewer than q% are
    # strictly below it (none at all for q = 0).
    share = Fraction(str(high)) * len(values)
    at_or_below = sum(v <= p_high for v in values)
    below = sum(v < p_high for v in values)
    assert at_or_below * 100 >= share
    assert below * 100 < share or below == 0
