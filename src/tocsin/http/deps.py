"""Request-scoped dependencies: the database session, the clock and the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from tocsin.core.audit import Actor, Via
from tocsin.store import access, audit, tokens
from tocsin.store.models import User
from tocsin.store.tokens import Scope

bearer = HTTPBearer(auto_error=False, description="An API token from `tocsin token create`.")


READ_METHODS = frozenset({"GET", "HEAD"})


def get_read_session(request: Request) -> Iterator[Session]:
    """Yield a session that only reads (on SQLite: a WAL snapshot, no write lock)."""
    with request.app.state.read_sessions() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def get_session(request: Request, reader: ReadSessionDep) -> Iterator[Session]:
    """Yield the request's session: a read session for GET and HEAD, else one that writes.

    A GET that must write (rare: see web.auth.current) opens its own short write transaction;
    a write through the read session raises instead of taking the write lock. Sessions connect
    lazily, so the read session a POST never uses costs nothing.
    """
    if request.method in READ_METHODS:
        yield reader
        return
    with request.app.state.sessions() as session:
        yield session


def get_now(request: Request) -> datetime:
    """Return the current instant from the app's one clock."""
    now: datetime = request.app.state.clock.now()
    return now


SessionDep = Annotated[Session, Depends(get_session)]
NowDep = Annotated[datetime, Depends(get_now)]


@dataclass(frozen=True)
class Caller:
    """Who is calling, and what their token allows."""

    user: User
    scopes: list[str]

    @property
    def actor(self) -> str:
        """Return the name that goes on the timeline."""
        return self.user.handle


def require(scope: Scope) -> Callable[..., Caller]:
    """Return a dependency that authenticates the bearer token and checks `scope`."""

    def dependency(
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        token, scopes = tokens.authenticate_token(
            session, credentials.credentials if credentials else None
        )
        tokens.require_scope(scopes, scope)
        audit.act_as(session, Actor(token.user.handle, Via.API, f"token {token.name!r}"))
        access.act_for(session, access.principal_of_token(session, token, scopes))
        return Caller(token.user, scopes)

    return dependency


Reader = Annotated[Caller, Depends(require(Scope.READ))]
Writer = Annotated[Caller, Depends(require(Scope.WRITE))]
Admin = Annotated[Caller, Depends(require(Scope.ADMIN))]
