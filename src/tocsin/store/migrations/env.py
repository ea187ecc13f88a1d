"""Alembic environment: migrations run on the engine Tocsin hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from tocsin.store.models import Base

target_metadata = Base.metadata


def run() -> None:
    """Run the migrations online on the configured engine."""
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("run migrations with `tocsin db upgrade`, which provides the engine")
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration copies a table, drops the old one and renames the copy; with
            # foreign keys on, dropping `alerts` would first delete its rows' dependants by
            # cascade. SQLite only takes this pragma outside a transaction.
            _foreign_keys(connection, on=False)
        try:
            with connection.begin():
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    render_as_batch=sqlite,
                    compare_type=True,
                )
                with context.begin_transaction():
                    context.run_migrations()
        finally:
            if sqlite:
                _foreign_keys(connection, on=True)


def _foreign_keys(connection: Connection, *, on: bool) -> None:
    # On the driver's connection, which runs it at once: through SQLAlchemy it would begin a
    # transaction first, and inside one SQLite ignores it.
    driver = connection.connection.driver_connection
    assert driver is not None  # an open connection has one
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


run()
