"""Opening a big store does not load bodies into memory (speed is in tests/bench/store_bench.py)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from engine.store import Database
from engine.store.index import FORMAT
from engine.store.journal import encode, pack_body


def write_journal(path: Path, docs: int, body_size: int) -> int:
    """A journal as `save_many` batches of 1000 would write it (built directly, for speed)."""
    (path / "blobs").mkdir(parents=True)
    records = [encode("M", False, "0" * 32, 0, FORMAT)]
    filler = "x" * body_size
    for i in range(docs):
        body = {"type": "item", "text": filler, "n": i}
        rev = f"1-{i:032x}"  # well-formed; hashing 100k bodies would only slow the test
        records.append(encode("R", (i + 1) % 1000 != 0 and i + 1 < docs, i + 1, f"doc-{i}",
                              rev, [], False, body=pack_body(body)))
    data = b"".join(records)
    (path / "journal").write_bytes(data)
    return len(data)


def test_the_index_does_not_hold_bodies(tmp_path: Path) -> None:
    size = write_journal(tmp_path / "db", 5_000, 8_000)
    tracemalloc.start()
    try:
        db = Database.open(tmp_path / "db")
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with db:
        assert held < size / 8, f"{held} bytes held for a {size}-byte journal"
        assert db.get("doc-7") is not None
