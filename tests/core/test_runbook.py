"""Runbooks: the seed's structure parses exactly; broken runbooks give every problem with a line."""

from __future__ import annotations

import pytest

from tocsin.core.runbook import (
    Runbook,
    Scenario,
    Section,
    Step,
    check,
    parse,
    parse_reference,
    scenario,
    slugify,
)
from tocsin.errors import InvalidInput

SEED = """\
# Runbook: api-gateway
## Symptoms
- 502 Bad Gateway
- Latency > 5s
## Initial Checks
1. Check Datadog dashboard: "API Gateway Overview"
2. Check upstream service health
## Common Fixes
### Issue: All 502 errors
1. Identify last deployment: `kubectl rollout history deployment/api-gateway`
2. Rollback: `kubectl rollout undo deployment/api-gateway`
### Issue: High latency
1. Check upstream response times
2. Scale replicas: `kubectl scale deployment/api-gateway --replicas=10`
## Escalation
- Private: Slack #incident-api-gateway
- PagerDuty API on-call phone number
"""


def test_the_seed_runbook_parses_into_exactly_its_content() -> None:
    assert parse(SEED) == Runbook(
        service="api-gateway",
        title_line=1,
        symptoms=("502 Bad Gateway", "Latency > 5s"),
        initial_checks=(
            Step(1, 'Check Datadog dashboard: "API Gateway Overview"', (), 6),
            Step(2, "Check upstream service health", (), 7),
        ),
        scenarios=(
            Scenario(
                "All 502 errors",
                "all-502-errors",
                (
                    Step(
                        1,
                        "Identify last deployment: "
                        "`kubectl rollout history deployment/api-gateway`",
                        ("kubectl rollout history deployment/api-gateway",),
                        10,
                    ),
                    Step(
                        2,
                        "Rollback: `kubectl rollout undo deployment/api-gateway`",
                        ("kubectl rollout undo deployment/api-gateway",),
                        11,
                    ),
                ),
                9,
            ),
            Scenario(
                "High latency",
                "high-latency",
                (
                    Step(1, "Check upstream response times", (), 13),
                    Step(
                        2,
                        "Scale replicas: `kubectl scale deployment/api-gateway --replicas=10`",
                        ("kubectl scale deployment/api-gateway --replicas=10",),
                        14,
                    ),
                ),
                12,
            ),
        ),
        escalation=("Private: Slack #incident-api-gateway", "PagerDuty API on-call phone number"),
        sections=(("Symptoms", 2), ("Initial Checks", 5), ("Common Fixes", 8), ("Escalation", 15)),
    )


def test_the_seed_runbook_has_no_problems() -> None:
    assert check(parse(SEED), path="runbooks/api-gateway.md", service="api-gateway") == []


def test_section_line_matches_headings_loosely() -> None:
    runbook = parse("## Initial checks:\n## common FIXES  \n")
    assert runbook.section_line(Section.INITIAL_CHECKS) == 1
    assert runbook.section_line("Common Fixes") == 2
    assert runbook.section_line(Section.ESCALATION) is None


def test_loose_markdown_is_still_read() -> None:
    text = """\
# Runbook: `db`

## symptoms:
* Disk usage above 90%
  on the primary
+ Replication lag

## Initial checks ##
1) Look at `df -h` and `du -sh /var/lib/postgresql`

## Common fixes:
### issue:  Disk full
1. Find the biggest tables:
   ```sql
   SELECT relname FROM pg_stat_user_tables;
   ```
   then run `VACUUM FULL` on them
   - nested detail with `psql -c '\\dt+'`
2. Wrapped step text
   continues here

   and a later paragraph with `pg_repack`

This paragraph is no longer part of step 2.
### Notes
1. Not a scenario step
## Escalation
- #dba on Slack
"""
    runbook = parse(text)
    assert runbook.service == "db"
    assert runbook.symptoms == ("Disk usage above 90% on the primary", "Replication lag")
    assert runbook.initial_checks == (
        Step(
            1,
            "Look at `df -h` and `du -sh /var/lib/postgresql`",
            ("df -h", "du -sh /var/lib/postgresql"),
            9,
        ),
    )
    (disk_full,) = runbook.scenarios
    assert (disk_full.name, disk_full.slug, disk_full.line) == ("Disk full", "disk-full", 12)
    assert disk_full.steps == (
        Step(
            1,
            "Find the biggest tables: then run `VACUUM FULL` on them "
            "nested detail with `psql -c '\\dt+'`",
            ("SELECT relname FROM pg_stat_user_tables;", "VACUUM FULL", "psql -c '\\dt+'"),
            13,
        ),
        Step(
            2,
            "Wrapped step text continues here and a later paragraph with `pg_repack`",
            ("pg_repack",),
            19,
        ),
    )
    assert runbook.escalation == ("#dba on Slack",)
    assert check(runbook, path="db.md", service="db") == []


def test_headings_inside_code_blocks_are_not_headings() -> None:
    text = "# Runbook: x\n## Symptoms\n```\n## Escalation\n# Runbook: y\n```\n- slow\n"
    runbook = parse(text)
    assert runbook.service == "x"
    assert runbook.sections == (("Symptoms", 2),)
    assert runbook.symptoms == ("slow",)


def test_parse_never_raises_on_odd_input() -> None:
    for text in ["", "\ufeff", "#", "##", "1.", "-", "```", "### Issue:", "# Runbook:", "---\n***"]:
        runbook = parse(text)
        assert isinstance(runbook, Runbook)
    assert parse("").service is None
    assert parse("").title_line == 0


GOOD_BODY = """\
## Symptoms
- 502s
## Initial Checks
1. Check the dashboard
## Common Fixes
### Issue: All 502 errors
1. Roll back: `kubectl rollout undo deployment/api-gateway`
## Escalation
- #incident-api-gateway
"""


@pytest.mark.parametrize(
    ("text", "service", "problems"),
    [
        pytest.param(
            GOOD_BODY,
            "api-gateway",
            ["rb.md:1: missing title '# Runbook: api-gateway'"],
            id="no-title",
        ),
        pytest.param(
            GOOD_BODY,
            None,
            ["rb.md:1: missing title '# Runbook: <service>'"],
            id="no-title-no-service",
        ),
        pytest.param(
            "# API gateway notes\n" + GOOD_BODY,
            "api-gateway",
            ["rb.md:1: title should read '# Runbook: api-gateway'"],
            id="title-not-a-runbook-title",
        ),
        pytest.param(
            "# Runbook: web\n" + GOOD_BODY,
            "api-gateway",
            ["rb.md:1: title names service 'web', expected 'api-gateway'"],
            id="other-service",
        ),
        pytest.param("# Runbook: API-Gateway\n" + GOOD_BODY, "api-gateway", [], id="case"),
        pytest.param(
            "# Runbook: api-gateway\n",
            "api-gateway",
            [
                "rb.md:1: missing section '## Symptoms'",
                "rb.md:1: missing section '## Initial Checks'",
                "rb.md:1: missing section '## Common Fixes'",
                "rb.md:1: missing section '## Escalation'",
            ],
            id="only-a-title",
        ),
        pytest.param(
            "",
            None,
            [
                "rb.md:1: missing title '# Runbook: <service>'",
                "rb.md:1: missing section '## Symptoms'",
                "rb.md:1: missing section '## Initial Checks'",
                "rb.md:1: missing section '## Common Fixes'",
                "rb.md:1: missing section '## Escalation'",
            ],
            id="empty-file",
        ),
        pytest.param(
            """\
# Runbook: api-gateway
## Symptoms
Users see errors.
## Initial Checks
- Check the dashboard
## Common Fixes
1. Roll back
## Escalation
-
""",
            "api-gateway",
            [
                "rb.md:2: section '## Symptoms' has no items",
                "rb.md:4: section '## Initial Checks' has no numbered steps",
                "rb.md:6: section '## Common Fixes' has no '### Issue:' scenario",
                "rb.md:8: section '## Escalation' has no items",
            ],
            id="empty-sections",
        ),
        pytest.param(
            """\
# Runbook: api-gateway
## Symptoms
- 502s
## Initial Checks
1. Check the dashboard
2.
## Common Fixes
### Issue: All 502 errors
1. Roll back
### Issue: All 502 errors!
1. Roll back again
### Issue: High latency
- Scale up
### Issue:
1) Something
2)
## Escalation
- #incident-api-gateway
## Symptoms
- again
""",
            "api-gateway",
            [
                "rb.md:6: empty step",
                "rb.md:10: duplicate scenario 'all-502-errors' (first at line 8)",
                "rb.md:12: scenario 'High latency' has no numbered steps",
                "rb.md:14: scenario has no name; write '### Issue: <name>'",
                "rb.md:16: empty step",
                "rb.md:19: duplicate section '## Symptoms' (first at line 2)",
            ],
            id="broken-steps-and-scenarios",
        ),
    ],
)
def test_broken_runbooks_give_every_problem_with_its_line(
    text: str, service: str | None, problems: list[str]
) -> None:
    assert check(parse(text), path="rb.md", service=service) == problems


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("All 502 errors", "all-502-errors"),
        ("High latency", "high-latency"),
        ("  Disk full!  ", "disk-full"),
        ("DB: connection pool / exhausted", "db-connection-pool-exhausted"),
        ("snake_case name", "snake-case-name"),
        ("Café down", "café-down"),
        ("???", ""),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_scenario_is_found_by_slug_or_by_name() -> None:
    runbook = parse(SEED)
    assert scenario(runbook, "high-latency").line == 12
    assert scenario(runbook, "All 502 errors").slug == "all-502-errors"


def test_an_unknown_scenario_lists_the_known_slugs() -> None:
    with pytest.raises(InvalidInput) as caught:
        scenario(parse(SEED), "disk-full")
    assert caught.value.message == (
        "unknown scenario 'disk-full' in the runbook of api-gateway; "
        "known scenarios: all-502-errors, high-latency"
    )
    with pytest.raises(InvalidInput, match="the runbook has no scenarios"):
        scenario(parse("# Runbook: x\n"), "anything")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api-gateway#all-502-errors", ("api-gateway", "all-502-errors")),
        ("  api-gateway#high-latency ", ("api-gateway", "high-latency")),
        ("api-gateway#All 502 errors", ("api-gateway", "all-502-errors")),
        ("payments.v2#Disk-Full", ("payments.v2", "disk-full")),
    ],
)
def test_parse_reference(text: str, expected: tuple[str, str]) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "api-gateway", "#all-502-errors", "api-gateway#", "api-gateway#!!", "a#b#c", "api gw#x"],
)
def test_parse_reference_rejects_malformed(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a runbook reference"):
        parse_reference(text)
