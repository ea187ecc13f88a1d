"""Migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from tocsin.store.db import NotMigrated, head_revision, make_engine, require_migrated, upgrade
from tocsin.store.models import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migration_seeds_the_seed_severities(engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from tocsin.store.severities import scale

    with Session(engine) as session:
        assert scale(session).names == ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]


def test_an_empty_database_is_refused_until_upgraded(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    with pytest.raises(NotMigrated, match="has no Tocsin schema; run `tocsin db upgrade`"):
        require_migrated(engine)
    upgrade(engine)
    require_migrated(engine)
    upgrade(engine)  # a second upgrade is a no-op
    assert "incidents" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head_revision()
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


@pytest.mark.parametrize(("setting", "pragma"), [("normal", 1), ("full", 2)])
def test_sqlite_syncs_as_the_setting_says(tmp_path: Path, setting: str, pragma: int) -> None:
    # NORMAL (1) survives a killed process; FULL (2) syncs every commit and survives power loss.
    engine = make_engine(f"sqlite:///{tmp_path / 'sync.db'}", sqlite_synchronous=setting)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == pragma
    engine.dispose()


def test_an_unsupported_database_url_is_a_clear_error() -> None:
    from tocsin.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unsupported database 'mysql'"):
        make_engine("mysql://localhost/tocsin")
    with pytest.raises(InvalidInput, match="is not a database URL"):
        make_engine("not a url")
    with pytest.raises(InvalidInput, match="TOCSIN_SQLITE_SYNCHRONOUS 'off' is not one of"):
        make_engine("sqlite://", sqlite_synchronous="off")
