"""Alembic environment: migrations run on the engine Tocsin hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from tocsin.store.models import Base

target_metadata = Base.metadata


def run() -> None:
    """Run the migrations online on the configured engine."""
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("run migrations with `tocsin db upgrade`, which provides the engine")
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run()
