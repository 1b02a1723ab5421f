from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.store import Database


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[Callable[[str], Database]]:
    """Open databases under tmp_path by name; all are closed after the test."""
    opened: list[Database] = []

    def opener(name: str) -> Database:
        db = Database.open(tmp_path / name)
        opened.append(db)
        return db

    yield opener
    for db in opened:
        db.close()
