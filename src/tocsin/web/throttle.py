"""The login form's throttle: failed logins counted in this process's memory.

Three counts, each a `core.login_throttle.Limit`:

- per account and client (the address the request came from): a few tries, then waits that
  double up to 5 minutes; a successful login from that client clears it;
- per client over all accounts: one address trying many accounts;
- per account over all clients, looser, capped at 1 minute: many addresses on one account.

The last two do not apply to a client that has logged in to that account before, so an attacker
cannot keep the real user out from where they usually log in, not even from behind the same
NAT. An IPv6 client counts by its /64 network, which one machine can fill with addresses.

An attempt is counted as a failure when it is let through, before the password is checked, so
parallel attempts cannot slip past the count; a success takes it back. The counts live in this
process (each server process throttles on its own, and a restart forgets them) and are bounded
in size: the least recently used keys are dropped first.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from tocsin.core import login_throttle as core
from tocsin.core.login_throttle import Failures, Limit

PER_ACCOUNT_CLIENT = Limit(free=5, first_delay=timedelta(seconds=1), cap=timedelta(minutes=5))
PER_CLIENT = Limit(free=20, first_delay=timedelta(seconds=1), cap=timedelta(minutes=5))
PER_ACCOUNT = Limit(free=20, first_delay=timedelta(seconds=1), cap=timedelta(minutes=1))


def client_key(address: str) -> str:
    """Return what a client's failures count under: its IPv4 address, or its IPv6 /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


K = TypeVar("K")
V = TypeVar("V")


class _Bounded(Generic[K, V]):
    """A mapping that forgets its least recently used keys beyond `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, default: V) -> V:
        return self.items.get(key, default)

    def put(self, key: K, value: V) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)

    def pop(self, key: K) -> None:
        self.items.pop(key, None)


class LoginThrottle:
    """Decide whether a login attempt may be made now, and count the outcome."""

    def __init__(self, *, size: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._pairs: _Bounded[tuple[str, str], Failures] = _Bounded(size)
        self._clients: _Bounded[str, Failures] = _Bounded(size)
        self._accounts: _Bounded[str, Failures] = _Bounded(size)
        self._known: _Bounded[tuple[str, str], bool] = _Bounded(size)

    def admit(self, account: str, client: str, now: datetime) -> datetime | None:
        """Return when to come back if `client` must wait to try `account`; else count it.

        An admitted attempt counts as a failure until `succeeded` is called for it.
        """
        pair = (account, client)
        with self._lock:
            own = self._pairs.get(pair, core.NO_FAILURES)
            by_client = self._clients.get(client, core.NO_FAILURES)
            by_account = self._accounts.get(account, core.NO_FAILURES)
            checks = [(own, PER_ACCOUNT_CLIENT)]
            if not self._known.get(pair, False):
                # Where the real user has logged in before, only their own failures count:
                # others guessing from the same address (a shared NAT) or at the same account
                # from elsewhere cannot keep them out.
                checks += [(by_client, PER_CLIENT), (by_account, PER_ACCOUNT)]
            wait = core.latest(core.next_attempt(f, limit, now) for f, limit in checks)
            if wait is not None:
                return wait
            self._pairs.put(pair, core.record_failure(own, PER_ACCOUNT_CLIENT, now))
            self._clients.put(client, core.record_failure(by_client, PER_CLIENT, now))
            self._accounts.put(account, core.record_failure(by_account, PER_ACCOUNT, now))
            return None

    def succeeded(self, account: str, client: str) -> None:
        """Take back an admitted attempt that logged in, and clear this client's count."""
        pair = (account, client)
        with self._lock:
            self._pairs.pop(pair)
            self._known.put(pair, True)
            self._clients.put(client, core.forgive_one(self._clients.get(client, Failures())))
            self._accounts.put(account, core.forgive_one(self._accounts.get(account, Failures())))
