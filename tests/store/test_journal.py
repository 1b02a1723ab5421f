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
        states.append((records_end(journal), set()))
        for i in range(4):
            db.save(f"d{i}", {"i": i, "pad": "x" * i}, rev=None)
            states.append((records_end(journal), {f"d{j}" for j in range(i + 1)}))
        db.save_many([(f"b{i}", {"i": i}, None) for i in range(3)])
        states.append((records_end(journal), states[-1][1] | {"b0", "b1", "b2"}))
    return states


def record_starts(journal: Path) -> list[int]:
    """Where each record begins; the records end at the file's end or an all-zero
    header (the preallocated tail)."""
    data = journal.read_bytes()
    pos, starts = 0, []
    while pos + HEADER.size <= len(data) and data[pos:pos + HEADER.size] != bytes(HEADER.size):
        starts.append(pos)
        (length, _) = HEADER.unpack_from(data, pos)
        pos += HEADER.size + length
    return starts


def records_end(journal: Path) -> int:
    data = journal.read_bytes()
    starts = record_starts(journal)
    return HEADER.size + HEADER.unpack_from(data, starts[-1])[0] + starts[-1] if starts else 0


def tail_after_records(journal: Path) -> bytes:
    return journal.read_bytes()[records_end(journal):]


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
            assert tail_after_records(trial / "journal") == bytes(
                len(tail_after_records(trial / "journal")))  # torn tail cut off (zeros stay)
            assert records_end(trial / "journal") == expected_end
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
    for offset in range(start, records_end(original / "journal")):
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


# -- the preallocated tail -------------------------------------------------------


def test_the_journal_is_preallocated_and_its_zeros_end_the_records(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Database.open(path) as db:
        db.save("a", {"v": 1}, rev=None)
    journal = path / "journal"
    assert journal.stat().st_size > records_end(journal)
    assert set(tail_after_records(journal)) == {0}
    with Database.open(path) as db:
        assert ids(db) == {"a"} and db.check() == []
        assert journal.stat().st_size > records_end(journal)  # nothing was cut


def test_cutting_the_file_anywhere_in_the_zeros_keeps_every_record(tmp_path: Path) -> None:
    original = tmp_path / "orig"
    states = build(original)
    whole = (original / "journal").read_bytes()
    end = states[-1][0]
    for cut in (end, end + 1, end + 7, end + 8, end + 9, end + 4096, len(whole) - 1):
        trial = trial_copy(original, tmp_path / "trial", whole[:cut])
        with Database.open(trial) as db:
            assert ids(db) == states[-1][1], cut
            assert db.check() == []
            db.save("after", {}, rev=None)
        with Database.open(trial) as db:
            assert ids(db) == states[-1][1] | {"after"} and db.check() == []


def test_a_record_whose_end_is_still_zeros_is_a_torn_tail(tmp_path: Path) -> None:
    """A crash mid-write inside the preallocated zone: part of a record, then zeros."""
    original = tmp_path / "orig"
    states = build(original)
    whole = (original / "journal").read_bytes()
    start, end = states[-2][0], states[-1][0]  # the last write: the 3-doc batch
    for keep in range(start + 1, end):
        data = whole[:keep] + bytes(len(whole) - keep)
        trial = trial_copy(original, tmp_path / "trial", data)
        with Database.open(trial) as db:
            assert ids(db) == states[-2][1], keep
            assert records_end(trial / "journal") == start
            assert set(tail_after_records(trial / "journal")) <= {0}
            db.save("after", {}, rev=None)
        with Database.open(trial) as db:
            assert ids(db) == states[-2][1] | {"after"} and db.check() == []


def test_garbage_after_the_zeros_is_cut_as_a_torn_tail(tmp_path: Path) -> None:
    original = tmp_path / "orig"
    states = build(original)
    whole = (original / "journal").read_bytes()
    end = states[-1][0]
    for where in (end + 8, end + 1000, len(whole) - 3):
        data = bytearray(whole)
        data[where:where + 3] = b"\x94\xa1R"  # looks like a record start, is not one
        trial = trial_copy(original, tmp_path / "trial", bytes(data))
        with Database.open(tmp_path / "trial") as db:
            assert ids(db) == states[-1][1], where
            assert (trial / "journal").stat().st_size == end  # cut back to the records
            assert db.check() == []


def test_garbage_appearing_in_the_zeros_of_an_open_database_is_reported_by_check(
        tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Database.open(path) as db:
        db.save("a", {}, rev=None)
        end = records_end(path / "journal")
        with open(path / "journal", "r+b") as f:
            f.seek(end + 100)
            f.write(b"junk")
        assert db.check() == [f"{path / 'journal'} has a torn tail at byte {end}."]


def test_zeros_followed_by_a_valid_record_are_refused_as_damage(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Database.open(path) as db:
        for i in range(3):
            db.save(f"d{i}", {"i": i}, rev=None)
    victim = record_starts(path / "journal")[2]
    data = bytearray((path / "journal").read_bytes())
    data[victim:victim + HEADER.size] = bytes(HEADER.size)  # a zeroed header mid-file
    (path / "journal").write_bytes(bytes(data))
    with pytest.raises(CorruptJournalError) as info:
        Database.open(path)
    assert info.value.offset == victim


def test_handles_that_take_turns_growing_the_file_lose_nothing(tmp_path: Path) -> None:
    """Each handle's idea of the file size goes stale when the other one grows it."""
    path = tmp_path / "db"
    big = "x" * 200_000  # bigger than a preallocation step at first
    with Database.open(path) as a, Database.open(path) as b:
        for i in range(12):
            writer = a if i % 2 else b
            writer.save(f"big{i}", {"pad": big, "i": i}, rev=None)
            writer.save(f"small{i}", {"i": i}, rev=None)
        assert ids(a) == ids(b) and len(ids(a)) == 24
        assert a.check() == [] and b.check() == []
    with Database.open(path) as db:
        assert len(ids(db)) == 24 and db.check() == []
        assert all(db.get(f"big{i}").body == {"pad": big, "i": i}  # type: ignore[union-attr]
                   for i in range(12))


def torn_batch(path: Path) -> tuple[set[str], int, int]:
    """Acknowledged saves, then a 20-doc batch spanning several disk blocks; returns
    the ids before the batch and where the batch begins and ends."""
    with Database.open(path) as db:
        for i in range(3):
            db.save(f"d{i}", {"i": i}, rev=None)
        start = records_end(path / "journal")
        db.save_many([(f"b{i}", {"pad": "x" * 1000, "i": i}, None) for i in range(20)])
        end = records_end(path / "journal")
    return {"d0", "d1", "d2"}, start, end


def test_a_power_cut_that_loses_a_block_of_the_last_write_cuts_that_write(
        tmp_path: Path) -> None:
    """A write unsynced at a power cut may reach the disk with a block missing (zeros)
    and a later block whole: it was never acknowledged, so it is cut like a torn tail."""
    original = tmp_path / "orig"
    before, start, end = torn_batch(original)
    whole = (original / "journal").read_bytes()
    first_block = start // 4096 * 4096
    for lost in range(first_block, end, 4096):  # each 4 KiB page the batch touches
        data = bytearray(whole)
        data[max(lost, start):lost + 4096] = bytes(lost + 4096 - max(lost, start))
        trial = trial_copy(original, tmp_path / "trial", bytes(data))
        with Database.open(trial) as db:
            assert ids(db) == before, lost
            assert records_end(trial / "journal") == start
            db.save("after", {}, rev=None)
            assert db.check() == []
        with Database.open(trial) as db:
            assert ids(db) == before | {"after"}


def test_a_lost_block_followed_by_a_later_write_is_damage(tmp_path: Path) -> None:
    """Once a later write was synced, the earlier one was on disk: zeros there are damage."""
    original = tmp_path / "orig"
    _, start, end = torn_batch(original)
    with Database.open(original) as db:
        db.save("later", {}, rev=None)
    data = bytearray((original / "journal").read_bytes())
    lost = (start // 4096 + 1) * 4096
    assert lost + 4096 < end
    data[lost:lost + 4096] = bytes(4096)
    trial = trial_copy(original, tmp_path / "trial", bytes(data))
    with pytest.raises(CorruptJournalError) as info:
        Database.open(trial)
    assert start < info.value.offset <= lost


def test_a_flipped_bit_in_a_batch_before_its_end_is_still_damage(tmp_path: Path) -> None:
    """No zero block, no power cut: a changed byte inside the last batch is refused."""
    original = tmp_path / "orig"
    _, start, _ = torn_batch(original)
    victim = record_starts(original / "journal")[-5]
    trial = trial_copy(original, tmp_path / "trial")
    flip(trial / "journal", victim + 20, 3)
    with pytest.raises(CorruptJournalError) as info:
        Database.open(trial)
    assert info.value.offset == victim
