"""Single sign-on's pure rules: which claim names the person, which groups make which role and
team, and what handle a person created at their first sign-in gets."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tocsin.core.access import RANKS

ROLES = tuple(RANKS)  # weakest first: a person in several groups gets the top
_HANDLE_CHARS = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class Rules:
    """How the provider's claims become a Tocsin user.

    `create_role`: the role of a person signed in for the first time whose email no user has
    (empty: such a person is refused). `role_groups` / `team_groups`: a group of the groups
    claim -> a role / a team slug; when `role_groups` is set, the role follows the groups at
    every sign-in (a person in none of them keeps their role).
    """

    email_claim: str = "email"
    groups_claim: str = "groups"
    create_role: str = ""
    role_groups: dict[str, str] = field(default_factory=dict)
    team_groups: dict[str, str] = field(default_factory=dict)


def parse_groups(text: str, what: str, allowed: Sequence[str] | None = None) -> dict[str, str]:
    """Return `{group: value}` from "value=group,value=group" (TOCSIN_OIDC_ROLE_GROUPS, ...).

    Raises ValueError naming every part that is not `value=group`, or a value not `allowed`.
    """
    found: dict[str, str] = {}
    problems: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        value, sep, group = part.partition("=")
        value, group = value.strip(), group.strip()
        if not sep or not value or not group:
            problems.append(f"{what}: {part!r} is not VALUE=GROUP")
        elif allowed is not None and value not in allowed:
            problems.append(f"{what}: unknown role {value!r} (one of: {', '.join(allowed)})")
        else:
            found[group] = value
    if problems:
        raise ValueError("; ".join(problems))
    return found


def email_of(claims: Mapping[str, Any], rules: Rules) -> str | None:
    """Return the person's email from the claims, lower-cased, or None.

    With the standard `email` claim, only an address the provider says it verified
    (`email_verified: true`) is trusted: where people may type their own address, anyone could
    type an administrator's. Another claim (`upn`, `preferred_username`) is one the deployment
    chose because the provider controls it.
    """
    value = claims.get(rules.email_claim)
    if not isinstance(value, str) or "@" not in value:
        return None
    if rules.email_claim == "email" and claims.get("email_verified") is not True:
        return None
    return value.strip().lower()


def groups_of(claims: Mapping[str, Any], rules: Rules) -> list[str]:
    """Return the groups claim as a list of names (a single string counts as one group)."""
    value = claims.get(rules.groups_claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(g) for g in value]
    return []


def role_for(groups: Sequence[str], rules: Rules) -> str | None:
    """Return the strongest role the groups give, or None when none of them gives one."""
    given = [rules.role_groups[g] for g in groups if g in rules.role_groups]
    return max(given, key=ROLES.index) if given else None


def teams_for(groups: Sequence[str], rules: Rules) -> list[str]:
    """Return the team slugs the groups give, in the order of the mapping."""
    return sorted({rules.team_groups[g] for g in groups if g in rules.team_groups})


def new_handle(email: str, taken: Callable[[str], bool]) -> str:
    """Return a free handle made from the email's local part: "Jane.Doe+x@..." -> "jane.doe-x"."""
    local = email.split("@", 1)[0].lower()
    base = _HANDLE_CHARS.sub("-", local).strip("-._")[:36] or "user"
    if not base[0].isalnum():
        base = "u" + base
    candidate, n = base, 1
    while taken(candidate):
        n += 1
        candidate = f"{base}{n}"
    return candidate
