"""Journal damage: a torn tail is cut back to the last whole batch; damage with
valid records after it is refused with CorruptJournalError naming file and offset."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import CorruptJournalError
from engine.store import Database
from engine.store.journal import HEADER


def build(path: Path) -> list[tuple[int, set[str]]]:
    """A journal of single writes and a 3-doc batch; returns (end offset, doc ids) per write."""
    states = []
    with Database.open(path) as db:
        journal = path / "journal"
        states.append((journal.stat().st_size, set()))
        for i in range(4):
            db.save(f"d{i}", {"i": i, "pad": "x" * i}, rev=None)
            states.append((journal.stat().st_size, {f"d{j}" for j in range(i + 1)}))
        db.save_many([(f"b{i}", {"i": i}, None) for i in range(3)])
        states.append((journal.stat().st_size, states[-1][1] | {"b0", "b1", "b2"}))
    return states


def record_starts(journal: Path) -> list[int]:
    data = journal.read_bytes()
    pos, starts = 0, []
    while pos < len(data):
        starts.append(pos)
        (length, _) = HEADER.unpack_from(data, pos)
        pos += HEADER.size + length
    return starts


def trial_copy(original: Path, trial: Path, data: bytes | None = None) -> Path:
    """A database folder holding `data` (default: the original journal's bytes)."""
    (trial / "blobs").mkdir(parents=True, exist_ok=True)
    (trial / "journal").write_bytes((original / "journal").read_bytes() if data is None else data)
    return trial


def ids(db: Database) -> set[str]:
    return {d.id for d in db.all_docs()}


def test_truncating_anywhere_in_the_last_writes_recovers_the_last_whole_batch(
        tmp_path: Path) -> None:
    original = tmp_path / "orig"
    states = build(original)
    full = states[-1][0]
    whole = (original / "journal").read_bytes()
    for cut in range(states[-2][0] - 20, full):
        trial = trial_copy(original, tmp_path / "trial", whole[:cut])
        expected_end, expected_ids = max(s for s in states if s[0] <= cut)
        with Database.open(trial) as db:
            assert ids(db) == expected_ids, cut
            assert (trial / "journal").stat().st_size == expected_end  # torn tail cut off
            assert db.check() == []
            db.save("after", {}, rev=None)  # and appending works again
        with Database.open(trial) as db:
            assert ids(db) == expected_ids | {"after"}


def flip(path: Path, offset: int, bit: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ (1 << bit)]))


def test_a_flipped_bit_in_the_last_record_drops_only_that_write(tmp_path: Path) -> None:
    original = tmp_path / "orig"
    with Database.open(original) as db:
        db.save("keep", {}, rev=None)
        db.save("last", {"v": 1}, rev=None)
    start = record_starts(original / "journal")[-1]
    size = (original / "journal").stat().st_size
    for offset in range(start, size):
        bit = offset % 8  # every byte, a different bit each time
        trial = trial_copy(original, tmp_path / "trial")
        flip(trial / "journal", offset, bit)
        with Database.open(trial) as db:
            assert ids(db) == {"keep"}, (offset, bit)
            assert (trial / "journal").stat().st_size == start


def test_a_flipped_bit_mid_file_is_refused_naming_file_and_offset(tmp_path: Path) -> None:
    original = tmp_path / "orig"
    with Database.open(original) as db:
        for i in range(4):
            db.save(f"d{i}", {"i": i}, rev=None)
    starts = record_starts(original / "journal")
    victim, after = starts[2], starts[3]
    for offset in range(victim, after):
        bit = offset % 8
        trial = trial_copy(original, tmp_path / "trial")
        flip(trial / "journal", offset, bit)
        with pytest.raises(CorruptJournalError) as info:
            Database.open(trial)
        assert info.value.offset == victim and info.value.path == str(trial / "journal")
        assert str(victim) in str(info.value)
        # nothing was cut
        assert (trial / "journal").stat().st_size == (original / "journal").stat().st_size


def test_garbage_in_the_middle_is_refused_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Database.open(path) as db:
        db.save("a", {}, rev=None)
    with open(path / "journal", "ab") as f:
        f.write(b"\x00\x00\x00\x10garbage!")
    with Database.open(path) as db:  # torn tail: cut
        db.save("b", {}, rev=None)
    data = (path / "journal").read_bytes()
    start_b = record_starts(path / "journal")[-1]
    (path / "journal").write_bytes(data[:start_b] + b"junk" + data[start_b:])
    with pytest.raises(CorruptJournalError) as info:
        Database.open(path)
    assert info.value.offset == start_b


def test_check_notices_damage_appearing_under_an_open_database(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Database.open(path) as db:
        for i in range(3):
            db.save(f"d{i}", {"i": i}, rev=None)
        flip(path / "journal", record_starts(path / "journal")[1] + 12, 0)
        problems = db.check()
        assert len(problems) == 1 and "damaged at byte offset" in problems[0]


def test_check_notices_an_index_that_disagrees_with_the_journal(tmp_path: Path) -> None:
    with Database.open(tmp_path / "db") as db:
        rev = db.save("a", {"v": 1}, rev=None)
        assert db.check() == []
        db._index.docs["a"].nodes[rev].deleted = True  # simulate an indexing bug
        assert db.check() == [f"The in-memory index of {tmp_path / 'db'} differs from its journal."]
