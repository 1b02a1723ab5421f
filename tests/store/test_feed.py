"""The change feed: sequence numbers, changes(), subscribe() in and across processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import pytest

from engine.errors import StoreError
from engine.store import Database
from tests.helpers import REPO_ROOT, cli_env


def test_every_write_gets_a_seq_and_changes_lists_each_doc_once(db: Database) -> None:
    r1 = db.save("a", {"n": 1}, rev=None)
    db.save("b", {"n": 1}, rev=None)
    r2 = db.save("a", {"n": 2}, rev=r1)
    assert db.update_seq == 3
    changes = db.changes()
    assert [(c.seq, c.doc_id, c.rev) for c in changes] == [(2, "b", changes[0].rev),
                                                            (3, "a", r2)]
    assert [c.doc_id for c in db.changes(since=2)] == ["a"]
    assert [c.doc_id for c in db.changes(limit=1)] == ["b"]
    assert db.changes(since=3) == []
    r3 = db.delete("a", rev=r2)
    last = db.changes(since=3)
    assert [(c.doc_id, c.rev, c.deleted, c.leaves) for c in last] == [("a", r3, True, [r3])]


def test_changes_pages_through_a_feed_with_rewritten_and_purged_docs(db: Database) -> None:
    """A drain by pages sees each document once, at its latest seq, whatever was
    replaced, purged or written since the page before; also once the index's seq
    log is rebuilt (more replaced seqs than live ones)."""
    revs = {f"d{i}": db.save(f"d{i}", {"n": 0}, rev=None) for i in range(30)}
    for n in range(1, 200):  # d0 rewritten many times: its old seqs are all stale
        revs["d0"] = db.save("d0", {"n": n}, rev=revs["d0"])
    revs["d5"] = db.save("d5", {"n": 1}, rev=revs["d5"])
    db.purge("d7")
    expected = [c.seq for c in db.changes()]
    assert len(expected) == 29 and expected == sorted(expected)
    for limit in (1, 4, 7, 100):
        since, seen = 0, []
        while page := db.changes(since, limit):
            assert len(page) <= limit
            seen += [c.seq for c in page]
            since = page[-1].seq
        assert seen == expected, limit
    assert db.changes(0, 0) == []
    assert [c.doc_id for c in db.changes(expected[-3])] == [c.doc_id for c in db.changes()][-2:]
    for _ in range(5000):  # past the rebuild threshold of the seq log
        revs["d1"] = db.save("d1", {"n": _}, rev=revs["d1"])
    assert [c.doc_id for c in db.changes(expected[-1])] == ["d1"]
    assert len(db.changes()) == 29


def test_seqs_survive_reopen_and_compaction(db_path: Path) -> None:
    with Database.open(db_path) as db:
        for i in range(5):
            db.save(f"d{i}", {}, rev=None)
        db.purge("d4")
        before = db.changes()
        db.compact()
        assert db.changes() == before and db.update_seq == 6
    with Database.open(db_path) as db:
        assert db.changes() == before and db.update_seq == 6
        db.save("new", {}, rev=None)
        assert db.update_seq == 7


@pytest.mark.anyio
async def test_subscribe_wakes_on_a_write_in_this_process(db: Database) -> None:
    db.save("a", {}, rev=None)
    seen: list[int] = []
    async with anyio.create_task_group() as tg:
        async def listen() -> None:
            async for seq in db.subscribe(since=1):
                seen.append(seq)
                if seq >= 3:
                    return

        tg.start_soon(listen)
        with anyio.fail_after(5):
            await anyio.wait_all_tasks_blocked()
            db.save("b", {}, rev=None)
            await anyio.to_thread.run_sync(lambda: db.save("c", {}, rev=None))
    assert seen[-1] == 3 and seen == sorted(seen)


@pytest.mark.anyio
async def test_subscribe_yields_immediately_when_behind(db: Database) -> None:
    db.save("a", {}, rev=None)
    with anyio.fail_after(5):
        async for seq in db.subscribe(since=0):
            assert seq == 1
            break


WRITER = """
import sys, time
from engine.errors import StoreError
from engine.store import Database
db = Database.open(sys.argv[1], create=False)
sys.stdin.readline()
db.save("from-other-process", {"x": 1}, rev=None)
print(time.time(), flush=True)
"""


@pytest.mark.anyio
async def test_subscriber_sees_another_process_write_within_100ms(db: Database) -> None:
    woke_at = 0.0
    async with await anyio.open_process([sys.executable, "-c", WRITER, str(db.path)],
                                        env=cli_env(), cwd=REPO_ROOT) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                async def listen() -> None:
                    nonlocal woke_at
                    async for _ in db.subscribe(since=0):
                        woke_at = time.time()
                        return

                tg.start_soon(listen)
                await anyio.wait_all_tasks_blocked()
                await proc.stdin.send(b"go\n")
            output = b""
            while not output.endswith(b"\n"):
                output += await proc.stdout.receive()
    acked_at = float(output)
    assert db.get("from-other-process") is not None
    assert woke_at - acked_at < 0.1


@pytest.mark.anyio
async def test_subscription_ends_with_an_error_when_the_database_closes(db_path: Path) -> None:
    db = Database.open(db_path)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async def listen() -> None:
                with pytest.raises(StoreError, match="closed"):
                    async for _ in db.subscribe(since=0):
                        pass

            tg.start_soon(listen)
            await anyio.wait_all_tasks_blocked()
            db.close()
