"""Web passwords from the CLI: `tocsin init` prints one, `tocsin user password` sets one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher, profiles

from tests.cli.conftest import Cli
from tests.conftest import T0
from tocsin.store import users, web_sessions
from tocsin.store.db import make_engine, make_sessionmaker


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    before = users.use_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
    yield
    users.use_hasher(before)


def _check(cli: Cli, handle: str, password: str) -> bool:
    engine = make_engine(cli.db_url)
    with make_sessionmaker(engine)() as session:
        user = users.find(session, handle)
        found = user is not None and users.verify_password(user.password_hash, password)
    engine.dispose()
    return found


def test_init_prints_the_admins_password_once(cli: Cli) -> None:
    created = cli.ok("init", "--json").json()
    assert len(created["password"]) >= 20
    assert _check(cli, "admin", created["password"])
    assert not _check(cli, "admin", created["password"] + "x")
    again = cli.ok("init")
    assert created["password"] not in again.stdout + again.stderr


def test_set_a_password_at_the_prompt_and_log_out_old_sessions(cli: Cli) -> None:
    cli.ok("user", "add", "dana", "--role", "viewer")
    engine = make_engine(cli.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        _, secret = web_sessions.create(session, users.get_by_handle(session, "dana"), now=T0)
    result = cli("user", "password", "dana", input="a long passphrase\na long passphrase\n")
    assert result.code == 0, result.stderr
    assert "Set the password of @dana" in result.stdout + result.stderr
    assert "a long passphrase" not in result.stdout + result.stderr
    assert _check(cli, "dana", "a long passphrase")
    with make_sessionmaker(engine)() as session:
        assert web_sessions.authenticate(session, secret, now=T0) is None
    engine.dispose()


def test_generate_and_stdin(cli: Cli) -> None:
    cli.ok("user", "add", "erin")
    result = cli.ok("user", "password", "erin", "--generate")
    generated = result.stdout.strip().splitlines()[-1]
    assert _check(cli, "erin", generated)
    assert cli("user", "password", "erin", "--stdin", input="from a pipe!\n").code == 0
    assert _check(cli, "erin", "from a pipe!")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        pytest.param(
            ["erin", "--stdin"], "short\n", "password: must be at least 10 characters", id="short"
        ),
        pytest.param(
            ["nobody", "--stdin"], "long enough pass\n", "unknown user 'nobody'", id="unknown"
        ),
        pytest.param(
            ["erin", "--stdin", "--generate"], "", "use either --generate or --stdin", id="both"
        ),
    ],
)
def test_bad_passwords_are_one_line_and_change_nothing(
    cli: Cli, args: list[str], stdin: str, message: str
) -> None:
    cli.ok("user", "add", "erin")
    assert cli("user", "password", "erin", "--stdin", input="the first password\n").code == 0
    result = cli("user", "password", *args, input=stdin)
    assert result.code != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _check(cli, "erin", "the first password")
