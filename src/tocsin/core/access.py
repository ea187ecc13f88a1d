"""Who may do what: global roles, roles in teams, and tokens scoped to one team.

There are two kinds of permission. To *respond* is what a responder does: act on incidents and
their postmortems, add overrides to a schedule, put a service in maintenance. To *manage* is to
change configuration: services with their routes and integrations, schedules, escalation
policies. A global role gives its power everywhere: a responder responds to everything, an
administrator also manages everything (and alone administers people, teams and tokens). A role
in a team gives the same power on what that team owns and nowhere else: a team's responder
responds to the incidents of the team's services and adds overrides to its schedules, a team's
administrator also manages its services, schedules and policies. What no team owns is managed by
administrators only.

A token scoped to a team acts only on that team's objects, whatever its user may do elsewhere:
with it an administrator is the team's administrator, and a responder the team's responder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

VIEWER, RESPONDER, ADMIN = "viewer", "responder", "admin"
TEAM_ROLES = (RESPONDER, ADMIN)


class Need(IntEnum):
    """What an action needs; a role that manages also responds."""

    RESPOND = 1
    MANAGE = 2


class Kind(StrEnum):
    """The kinds of object whose permission depends on the team that owns them."""

    INCIDENT = "incident"
    ALERT = "alert"
    OVERRIDE = "override"
    MAINTENANCE = "maintenance window"
    SCHEDULE = "schedule"
    POLICY = "escalation policy"
    SERVICE = "service"
    INTEGRATION = "integration"
    ROUTE = "routing rule"
    TEAM = "team"


# What changing each kind needs. People, teams, tokens, severities, webhooks and status
# components are administered by global administrators only (their owners are always none).
NEEDS: dict[Kind, Need] = {
    Kind.INCIDENT: Need.RESPOND,
    Kind.ALERT: Need.RESPOND,
    Kind.OVERRIDE: Need.RESPOND,
    Kind.MAINTENANCE: Need.RESPOND,
    Kind.SCHEDULE: Need.MANAGE,
    Kind.POLICY: Need.MANAGE,
    Kind.SERVICE: Need.MANAGE,
    Kind.INTEGRATION: Need.MANAGE,
    Kind.ROUTE: Need.MANAGE,
    Kind.TEAM: Need.MANAGE,
}

# The global roles, weakest first: each includes what the ones before it may do.
RANKS: dict[str, int] = {VIEWER: 0, RESPONDER: Need.RESPOND, ADMIN: Need.MANAGE}
_LEVEL = RANKS
_ROLE_OF = {Need.RESPOND: RESPONDER, Need.MANAGE: ADMIN}


def parse_team_role(text: str) -> tuple[str, str]:
    """Return (team slug, role) from "payments" (a responder) or "payments:admin".

    Raises ValueError naming the valid roles for anything else.
    """
    slug, _, role = text.strip().partition(":")
    role = role.strip().lower() or RESPONDER
    if not slug.strip() or role not in TEAM_ROLES:
        raise ValueError(
            f"{text!r} is not TEAM or TEAM:ROLE; a team role is {' or '.join(TEAM_ROLES)}"
        )
    return slug.strip(), role


@dataclass(frozen=True)
class Principal:
    """Someone acting: their global role, their role in each team, and their token's team."""

    handle: str
    role: str
    teams: Mapping[str, str] = field(default_factory=dict)
    token_team: str | None = None
    user_id: int | None = None
    # A token's scopes (None: no token, as in the browser): one without `write` changes nothing,
    # one without `admin` administers nothing.
    scopes: frozenset[str] | None = None

    @property
    def writes(self) -> bool:
        """False for a token that only reads."""
        return self.scopes is None or bool({"write", "admin"} & self.scopes)

    @property
    def unrestricted(self) -> bool:
        """True for an administrator acting without a team token (and with the admin scope, if
        through a token): nothing is checked."""
        administers = self.scopes is None or "admin" in self.scopes
        return self.role == ADMIN and self.token_team is None and administers

    def level_in(self, team: str | None) -> int:
        """Return what this principal may do on what `team` owns (None: what no team owns)."""
        if not self.writes or (self.token_team is not None and team != self.token_team):
            return 0
        own = _LEVEL.get(self.role, 0)
        if team is None:
            return own
        return max(own, _LEVEL.get(self.teams.get(team, VIEWER), 0))

    def may(self, need: Need, owners: Iterable[str | None]) -> bool:
        """Return whether this principal may do what needs `need` to an object of `owners`.

        An object of several teams (an incident of two teams' services) is open to a role in
        any of them; one of no team (no owners) to the global role only.
        """
        teams = set(owners) or {None}
        return any(self.level_in(team) >= need for team in teams)

    def refusal_of_any(
        self, need: Need, kind: str, name: str, owners: Iterable[str | None]
    ) -> str | None:
        """Return why this principal may not change `kind` `name` as owned by each of `owners`
        (before and after a move: the right is needed in both teams), or None if it may."""
        for owner in dict.fromkeys(owners):
            if not self.may(need, [owner]):
                return self.refusal(kind, name, [owner], need)
        return None

    def may_respond_somewhere(self) -> bool:
        """Return whether this principal responds to anything at all (a viewer in no team not)."""
        if self.token_team is not None or not self.writes:
            return self.level_in(self.token_team) >= Need.RESPOND
        return _LEVEL.get(self.role, 0) >= Need.RESPOND or bool(self.teams)

    def refusal(self, kind: str, name: str, owners: Iterable[str | None], need: Need) -> str:
        """Return why this principal may not change `kind` `name` of `owners`, in one line."""
        teams = sorted(t for t in set(owners) if t is not None)
        doing = "respond to" if kind in (Kind.INCIDENT, Kind.ALERT) else "change"
        whose = f"team {', '.join(teams)}" if teams else "no team"
        if not self.writes:
            why = f"the token only reads (its scopes: {', '.join(sorted(self.scopes or ()))})"
        elif self.token_team is not None and self.token_team not in teams:
            why = f"the token is scoped to team {self.token_team}"
        else:
            roles = [f"{self.teams[t]} of {t}" for t in teams if t in self.teams]
            has = " and ".join([f"a {self.role}", *roles])
            role = _ROLE_OF[need]
            article = "an" if role[0] in "aeiou" else "a"
            needed = (
                f"{article} {role} of the team or the {role} role" if teams else f"the {role} role"
            )
            why = f"@{self.handle} is {has}; that needs {needed}"
        return f"@{self.handle} may not {doing} {kind} {name!r} ({whose}): {why}"
