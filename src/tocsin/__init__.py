"""Tocsin: self-hosted incident response.

The public Python API starts with the seed's `Incident` class and the severity scale.
"""

from tocsin.core.incident import IncidentStatus, Role
from tocsin.core.severity import DEFAULT_SEVERITIES, Severity, SeverityScale
from tocsin.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TocsinError
from tocsin.incident import Incident

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
