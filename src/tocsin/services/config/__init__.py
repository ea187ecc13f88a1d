"""The sections of `tocsin.yaml`, one module each, and the order the applier walks them in.

`SECTIONS` is in dependency order: a section comes after every section it names (a team names
users and a schedule, a policy names users, schedules, teams and webhooks, a service names teams,
components, policies and severities). Apply walks it forwards,
prune backwards. `FILE_ORDER` is the order people write the file in, which export keeps.
`CHECK_ORDER` is the order problems are reported in: every list's duplicates, then each entry.
"""

from __future__ import annotations

from typing import Any

from tocsin.services.config.base import Section
from tocsin.services.config.components import Components
from tocsin.services.config.escalation_policies import EscalationPolicies
from tocsin.services.config.schedules import Schedules
from tocsin.services.config.services import Services
from tocsin.services.config.severities import Severities
from tocsin.services.config.teams import Teams
from tocsin.services.config.users import Users
from tocsin.services.config.webhooks import Webhooks

SECTIONS: tuple[Section[Any], ...] = (
    Severities(),
    Users(),
    Components(),
    Webhooks(),
    Schedules(),
    Teams(),
    EscalationPolicies(),
    Services(),
)
FILE_ORDER = (
    "users",
    "teams",
    "components",
    "severities",
    "schedules",
    "webhooks",
    "escalation_policies",
    "services",
)
CHECK_ORDER = (
    "severities",
    "users",
    "teams",
    "components",
    "webhooks",
    "escalation_policies",
    "services",
    "schedules",
)
