"""Tocsin: self-hosted incident response.

The public Python API starts with the seed's `Incident` class and the severity scale.

Its names are imported on first use, so that importing a submodule (the CLI, to print its help)
does not build the incident and severity models first.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tocsin.core.incident import IncidentStatus, Role
    from tocsin.core.severity import DEFAULT_SEVERITIES, Severity, SeverityScale
    from tocsin.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TocsinError
    from tocsin.incident import Incident

# Each public name and the module that defines it.
_HOMES = {
    "DEFAULT_SEVERITIES": "tocsin.core.severity",
    "Conflict": "tocsin.errors",
    "Incident": "tocsin.incident",
    "IncidentStatus": "tocsin.core.incident",
    "InvalidInput": "tocsin.errors",
    "NotFound": "tocsin.errors",
    "PermissionDenied": "tocsin.errors",
    "Role": "tocsin.core.incident",
    "Severity": "tocsin.core.severity",
    "SeverityScale": "tocsin.core.severity",
    "TocsinError": "tocsin.errors",
}

__all__ = [
    "DEFAULT_SEVERITIES",
    "Conflict",
    "Incident",
    "IncidentStatus",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "Role",
    "Severity",
    "SeverityScale",
    "TocsinError",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
