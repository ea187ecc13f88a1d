"""What every command shares: the database, the clock, the actor and output helpers.

The database layer (SQLAlchemy, the composition root) and pydantic are imported where they are
used, not here, so that `tocsin --help` starts without them.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, get_args, get_origin

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

from tocsin.clock import Clock, SystemClock
from tocsin.core.audit import Actor, Via
from tocsin.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from tocsin.app import Tocsin

JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")

# What help calls a value whose parameter names no metavar, as most command-line tools do.
VALUE_NAMES: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", bool: "BOOLEAN"}


def _value_name(param: TyperOption | TyperArgument) -> str:
    annotation: Any = param.type_descriptor.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return VALUE_NAMES.get(annotation, "VALUE")


def _left_out(param: TyperOption | TyperArgument, value: Any) -> bool:
    # Typer checks each value with a pydantic validator that it builds on first use, even for a
    # value left out, which it hands back as None all the same. Building it loads pydantic, so
    # `tocsin incident --help` (which processes the root's options) paid for that too.
    return value is None and not (param.multiple or param.nargs == -1 or param.required)


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag:
            return None  # a flag takes no value: `--json`, not `--json <bool>`
        return self.metavar or _value_name(self)

    def process_value(self, ctx: Any, value: Any) -> Any:
        if _left_out(self, value):
            return None if self.callback is None else self.callback(ctx, self, None)
        return super().process_value(ctx, value)


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return _value_name(self)

    def process_value(self, ctx: Any, value: Any) -> Any:
        if _left_out(self, value):
            return None if self.callback is None else self.callback(ctx, self, None)
        return super().process_value(ctx, value)


def _named_plainly(param: Any) -> Any:
    # Typer builds the parameters itself and offers no hook for how help names their values
    # (it shows Python types: `<str>`, `<bool>`), so each one takes on a subclass that only
    # changes that.
    if isinstance(param, TyperOption):
        param.__class__ = _Option
    elif isinstance(param, TyperArgument):
        param.__class__ = _Argument
    return param


class Command(TyperCommand):
    """A command whose help names values TEXT, INTEGER or their metavar, and flags not at all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _named_plainly(param)

    def get_help_option(self, ctx: Any) -> Any:
        return _named_plainly(super().get_help_option(ctx))


class Group(TyperGroup):
    """A command group whose help names values as `Command`'s does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _named_plainly(param)

    def get_help_option(self, ctx: Any) -> Any:
        return _named_plainly(super().get_help_option(ctx))


class App(typer.Typer):
    """A Typer app whose groups and commands are `Group` and `Command` unless told otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        super().__init__(**kwargs)

    def command(
        self, name: str | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", Command)
        return super().command(name, **kwargs)


@dataclass
class State:
    """Per-invocation state, kept on the Typer context."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    actor: str | None = None
    # An API token to act with (--token, $TOCSIN_TOKEN): its user, its role and its team.
    token: str | None = None
    _token_user: str | None = None
    # Engines by URL. Closing disposes them (their connections close) but keeps them, so one used
    # again reconnects with its dialect set up and its compiled statements cached.
    engines: dict[str, Engine] = field(default_factory=dict)
    _runtime: Tocsin | None = None

    def engine(self) -> Engine:
        """Return the engine for the configured database (one per process)."""
        from tocsin.store.db import make_engine

        url = self.settings.database_url
        if url not in self.engines:
            self.engines[url] = make_engine(
                url, sqlite_synchronous=self.settings.sqlite_synchronous
            )
        return self.engines[url]

    def runtime(self) -> Tocsin:
        """Return this invocation's runtime, built by the composition root on first use."""
        from tocsin import app

        if self._runtime is None:
            self._runtime = app.build(self.settings, clock=self.clock, database=self.engine())
        return self._runtime

    @contextmanager
    def session(self, *, actor: Actor | None = None) -> Iterator[Session]:
        """Yield a session on a migrated database; commit on success, roll back on error.

        Its changes go in the audit log as made by `actor`, by default `who()` at the CLI.
        """
        from tocsin.store import audit
        from tocsin.store.db import require_migrated

        require_migrated(self.engine())
        with self.runtime().sessions() as session, session.begin():
            actor = actor or Actor(self.who(), Via.CLI)
            if self.token is not None:
                actor = self._act_with_token(session, actor)
            audit.act_as(session, actor)
            yield session

    def _act_with_token(self, session: Session, actor: Actor) -> Actor:
        """Make the session act as the token's user, as far as the token allows; return the
        actor the audit log names (the token's user, and the token)."""
        from tocsin.store import access, tokens

        token, scopes = tokens.authenticate_token(session, self.token)
        access.act_for(session, access.principal_of_token(session, token, scopes))
        self._token_user = token.user.handle
        detail = f"token {token.name!r}"
        return Actor(
            token.user.handle, actor.via, f"{actor.detail}, {detail}" if actor.detail else detail
        )

    def close(self) -> None:
        """Close every database connection this invocation opened."""
        if self._runtime is not None:
            self._runtime.adapters.close()
            self._runtime = None
        for engine in self.engines.values():
            engine.dispose()

    def now(self) -> datetime:
        """Return the current instant."""
        return self.clock.now()

    def who(self) -> str:
        """Return who goes on the timeline: the token's user, --as, $TOCSIN_ACTOR, else the
        login name."""
        if self.token is not None:
            return self._token_handle()
        if self.actor:
            return self.actor
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "cli"

    def _token_handle(self) -> str:
        if self._token_user is None:
            from tocsin.store import tokens
            from tocsin.store.db import require_migrated

            require_migrated(self.engine())
            with self.runtime().sessions() as session:
                token, _scopes = tokens.authenticate_token(session, self.token)
                self._token_user = token.user.handle
        return self._token_user


def state(ctx: typer.Context) -> State:
    """Return the invocation state, creating it from the environment if needed."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State(settings=Settings.from_env())
    return root.obj


EXIT_PIPE_CLOSED = 128 + 13  # as a Unix tool killed by SIGPIPE


def reader_gone() -> NoReturn:
    """End quietly because the reader closed the pipe (`tocsin incident list | head -1`)."""
    # Output still buffered would fail again at exit and print a traceback; send it nowhere.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    raise SystemExit(EXIT_PIPE_CLOSED)


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # Rich's own handling exits 1, which reads as a failure to `set -o pipefail`.
        self.quiet = True
        reader_gone()


out = _Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Print `data` (models, lists of models, plain values) as indented JSON."""
    import json

    typer.echo(json.dumps(_plain(data), indent=2, ensure_ascii=False))


def _plain(data: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [_plain(item) for item in data]
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, datetime):
        return data.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return data


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table; cell text is shown as is (never read as Rich markup)."""
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else Text(_cell(cell)) for cell in row))
    out.print(grid)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def fmt_time(at: datetime | None) -> str:
    """Return an instant as "2024-06-20 10:30:00 UTC"."""
    if at is None:
        return "-"
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def warn(messages: Sequence[str]) -> None:
    """Print warnings on stderr."""
    for message in messages:
        err.print(Text("warning: ", style="bold yellow") + Text(message))


def success(message: str) -> None:
    """Print a confirmation on stderr, so stdout stays clean for pipes."""
    err.print(Text(message, style="green"))


def read_text_arg(value: str) -> str:
    """Return `value`, or standard input when it is "-"."""
    return sys.stdin.read() if value == "-" else value
