"""Where a person may point a notification themselves: not inside the server's own network.

A contact method's URL (a webhook, an ntfy topic, a push endpoint) is a request the server makes.
Added by an admin or from the config file it is trusted; added by anyone else on their profile,
it must not aim the server at a private, loopback or link-local address (and read the answer
back through a test message's outcome).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".localdomain")


def internal(url: str) -> str | None:
    """Return why `url` points inside the server's network, or None if it does not seem to.

    Only what the URL itself says is judged (an address, or a name that is local by its
    suffix): a public name may still resolve to a private address.
    """
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return "it is not a URL"
    if not host:
        return "it names no host"
    if host == "localhost" or host.endswith(_LOCAL_NAMES):
        return f"{host} is a local name"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    ):
        return f"{host} is not a public address"
    return None
