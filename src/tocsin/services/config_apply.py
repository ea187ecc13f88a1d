"""Apply a config file: validate everything, then create, update (and prune) in one transaction.

The applier returns one `Change` per object it creates, updates or deletes. A dry run is the same
apply inside a savepoint that is rolled back, so what it prints is exactly what the real apply
would print, minus the integration keys (a key exists only once the apply that creates it
commits, and only that apply shows it).

Each top-level key of the file is a section (`tocsin.services.config`), which validates,
applies, exports and prunes itself; this module walks them.

With `prune`, what the file does not list is deleted, but only in the sections (and the lists of
a service or a schedule) the file writes: a file without `teams:` leaves every team alone, a
service without `integrations:` keeps its integrations, a schedule without `overrides:` keeps
the overrides people added by hand. Some things are never pruned silently:

- a service that incidents name (the incident history points at it, and the foreign key says
  RESTRICT), an escalation policy still escalating an open incident, and anything that
  configuration in a section the file does not write still names: these are problems, and
  nothing is applied;
- a user with history (incident roles, notifications, action items, API tokens, a password),
  or one that configuration outside the file still names: the row is kept, since history,
  logins and pages hang off it, and the apply warns instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.config import Config
from tocsin.core.access import Need
from tocsin.errors import InvalidInput, TocsinError
from tocsin.services import users as people
from tocsin.services.config import CHECK_ORDER, SECTIONS
from tocsin.services.config.base import Change, Context, Plan
from tocsin.services.config.escalation_policies import policy_problems, put_policy, stored_targets
from tocsin.store import access

__all__ = [
    "Change",
    "Plan",
    "apply",
    "dry_run",
    "policy_problems",
    "put_policy",
    "stored_targets",
    "validate",
]


def validate(session: Session, config: Config, *, prune: bool = False) -> list[str]:
    """Return every problem the file has against itself and the database."""
    context = Context(session, config, SECTIONS, prune=prune)
    _reach(context)
    return _problems(context)


def _reach(context: Context, *, now: datetime | None = None) -> list[str]:
    """Leave out what the session's principal may not change; return why, one line each.

    An administrator (without a team token) reaches everything. Anyone else applies only the
    services, schedules and escalation policies of the teams they administer, and --prune
    deletes only rows of those teams. An entry out of reach that the file leaves as it is
    (one file for every team, applied by each team's token) is left out without a word.
    """
    principal = access.principal_in(context.session)
    if principal is None or principal.unrestricted:
        return []
    refused: list[tuple[str, str, str]] = []  # (section, entry, why)
    for section in SECTIONS:
        if not context.written(section.name):
            continue
        stored = set(section.stored(context.session))
        owners = section.owners(context)
        if owners is None:
            listed = section.listed(context.spec)
            context.left_out.add(section.name)
            context.skipped[section.name] = set(listed)
            context.kept[section.name] = stored
            refused += [
                (
                    section.name,
                    name,
                    f"@{principal.handle} may not change {section.kind} {name!r}: only"
                    f" administrators change {section.name}",
                )
                for name in listed
            ]
            continue
        for name, team in owners.in_store.items():
            if not principal.may(Need.MANAGE, [team]):
                context.kept.setdefault(section.name, set()).add(name)
        for name, team in owners.in_file.items():
            teams = [team, *([owners.in_store[name]] if name in owners.in_store else [])]
            refusal = principal.refusal_of_any(Need.MANAGE, section.kind, name, teams)
            if refusal is not None:
                context.skipped.setdefault(section.name, set()).add(name)
                if name in stored:
                    context.kept.setdefault(section.name, set()).add(name)
                refused.append((section.name, name, refusal))
    changing = _changing(context, now) if refused and now is not None else None
    return [
        f"{context.config.path}: {section}: {why}"
        for section, name, why in refused
        if changing is None or name in changing
    ]


def _changing(context: Context, now: datetime) -> set[str] | None:
    """Return the names of the file's entries an administrator's apply would change (an entry,
    or what is under it: `web/deploys` is under `web`); None if that cannot be told, because
    the file has problems in what is out of reach."""
    session = context.session
    principal = session.info.pop(access.PRINCIPAL)
    savepoint = session.begin_nested()
    try:
        plan = apply(session, context.config, actor=context.actor, now=now, prune=context.prune)
    except TocsinError:
        return None
    finally:
        savepoint.rollback()
        access.act_for(session, principal)
    return {name for change in plan.changes for name in _names(change.name)}


def _names(name: str) -> list[str]:
    """Return `name` and the names it is under: "web/deploys" -> ["web/deploys", "web"]."""
    parts = name.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _problems(context: Context) -> list[str]:
    # A section left out whole (beyond the principal's reach) is not checked either.
    checked = [context.section(name) for name in CHECK_ORDER if name not in context.left_out]
    problems = [problem for section in checked for problem in section.duplicates(context)]
    problems += [problem for section in checked for problem in section.validate(context)]
    if context.prune:
        problems += _prune_problems(context)
    return problems


def _prune_problems(context: Context) -> list[str]:
    """Return what --prune would have to delete but must not."""
    problems = []
    for section in reversed(SECTIONS):
        if context.written(section.name):
            keep = set(section.listed(context.spec)) | context.keeps(section.name)
            problems += section.refusals(context, keep)
    return problems + _dangling_problems(context)


def _dangling_problems(context: Context) -> list[str]:
    """Return the deletions that would leave configuration the file does not write dangling.

    A file that writes `escalation_policies:` but not `services:` must not take a policy away
    from a service it does not describe (the foreign key would quietly set it to none).
    """
    gone = {
        section.name: set(section.stored(context.session))
        - set(section.listed(context.spec))
        - context.keeps(section.name)
        for section in SECTIONS
        if context.written(section.name) and not section.kept_when_named
    }
    problems = []
    for holder in reversed(SECTIONS):
        if context.written(holder.name):
            continue
        for reference in holder.references(context.session):
            if reference.name in gone.get(reference.section, ()):
                problems.append(
                    context.problem(
                        reference.section,
                        f"--prune cannot delete {context.section(reference.section).kind} "
                        f"{reference.name!r}: {reference.holder}, which the file does not "
                        "describe, still names it",
                    )
                )
    return problems


def apply(
    session: Session,
    config: Config,
    *,
    actor: str = "config",
    now: datetime,
    prune: bool = False,
) -> Plan:
    """Create or update what the file describes (and with `prune`, delete what it does not)."""
    context = Context(session, config, SECTIONS, prune=prune, actor=actor)
    refused = _reach(context, now=now)
    problems = _problems(context)
    if problems:
        raise InvalidInput.of(problems)
    plan = Plan(refused=refused)
    admins = people.enabled_admins(session)
    # A section beyond the principal's reach is left out whole.
    reached = [s for s in SECTIONS if s.name not in context.left_out]
    for section in reached:
        plan.changes += section.apply(context, now=now)
    for section in reached:
        plan.changes += section.finish(context, plan.changes)
    if prune:
        # Backwards, so that what a section names is deleted after it.
        for section in reversed(reached):
            if context.written(section.name):
                keep = set(section.listed(config.spec)) | context.keeps(section.name)
                section.prune(context, keep, plan)
                session.flush()
    session.flush()
    if admins and not people.enabled_admins(session):
        # A file that lists its administrators without `role: admin` would otherwise lock
        # everyone out of administering Tocsin (the role defaults to responder).
        raise InvalidInput(
            f"{config.path}: applying it would leave no enabled administrator ("
            + ", ".join(f"@{h}" for h in admins)
            + " would lose the role); give someone `role: admin`"
        )
    return plan


def dry_run(session: Session, config: Config, *, now: datetime, prune: bool = False) -> Plan:
    """Return what `apply` would do, and do nothing: the same code, rolled back."""
    savepoint = session.begin_nested()
    try:
        plan = apply(session, config, now=now, prune=prune)
        access.check(session)  # what the commit would refuse, refused now
    finally:
        savepoint.rollback()
    # The keys of the rolled-back integrations never existed; do not let them out.
    plan.changes = [replace(change, secret=None) for change in plan.changes]
    return plan
