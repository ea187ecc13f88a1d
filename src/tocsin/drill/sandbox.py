"""The throwaway database a drill runs in: migrated to head, configured from a tocsin.yaml."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from tocsin import config
from tocsin.services import config_apply as applier
from tocsin.store.db import make_engine, make_sessionmaker, upgrade

_template: Path | None = None


def _migrated_template() -> Path:
    """Return an empty database migrated to head, made once per process (migrating is slow)."""
    global _template
    if _template is None or not _template.exists():
        folder = Path(tempfile.mkdtemp(prefix="tocsin-drill-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = folder / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()  # the last connection closing checkpoints the WAL into the file
        _template = path
    return _template


@contextmanager
def throwaway(config_file: config.Config, *, now: datetime) -> Iterator[Engine]:
    """Yield an engine on a fresh SQLite database with `config_file` applied; delete it after."""
    with tempfile.TemporaryDirectory(prefix="tocsin-drill-") as folder:
        path = Path(folder) / "drill.db"
        shutil.copy(_migrated_template(), path)
        engine = make_engine(f"sqlite:///{path}")
        try:
            with make_sessionmaker(engine)() as session, session.begin():
                applier.apply(session, config_file, actor="drill", now=now)
            yield engine
        finally:
            engine.dispose()
