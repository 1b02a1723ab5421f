"""Hostile input: generated frames against the decoder and a live listener (zero
crashes, other connections unaffected, RSS bounded), and randomly damaged journals
(recovered or refused clearly; never a hang, never a mis-read).

CI: 200 frames live, 3000 decoded, 80 damaged journals; LISTSYNC_LONG=1: 10x that.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import anyio
import pytest

from engine.errors import EngineError, NetworkError, RemoteProtocolError, StoreError
from engine.protocol import Connection, Hello, Role, decode, encode, parse
from engine.store import Database
from engine.sync.wsclient import connect
from tests.faults.hostile import damage, hostile_frame, regression_cases, save_regression
from tests.faults.rig import (
    DB,
    LONG,
    PASSWORD,
    USER,
    connector,
    doc_map,
    poll,
    replicator,
    rss_kib,
    seed,
    serving,
    wait_activity,
)

SCALE = 10 if LONG else 1
LIVE_CASES, DECODE_CASES, JOURNAL_CASES = 200 * SCALE, 3000 * SCALE, 80 * SCALE


def test_the_decoder_answers_hostile_frames_only_with_protocol_errors() -> None:
    rng = random.Random(1)
    frames = regression_cases("frame") + [hostile_frame(rng) for _ in range(DECODE_CASES)]
    for frame in frames:
        try:
            parse(decode(frame))
        except RemoteProtocolError:
            pass
        except Exception:
            save_regression("frame", frame)
            raise


class _Crashes(logging.Handler):
    """Counts the listener's reports of a handler that failed with an unexpected error."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.mark.anyio
async def test_a_live_listener_survives_hostile_frames_and_keeps_serving_others(
        tmp_path: Path) -> None:
    rng = random.Random(2)
    crashes = _Crashes()
    logging.getLogger("engine.sync").addHandler(crashes)
    with Database.open(tmp_path / "server") as server, Database.open(tmp_path / "good") as good:
        seed(server, 50)
        try:
            async with serving(server, tmp_path, heartbeat=2.0,
                               authenticate=_AnyPassword()) as listener, \
                    anyio.create_task_group() as tg:
                port = listener.port or 0
                healthy = replicator(good, connector(port, heartbeat=2.0), continuous=True)
                tg.start_soon(healthy.run)
                await wait_activity(healthy, lambda s: s.activity.value == "idle")
                rss_before = rss_kib(os.getpid())
                frames = regression_cases("frame") + [
                    hostile_frame(rng) for _ in range(LIVE_CASES)]
                rss_mid = 0
                for n, frame in enumerate(frames):
                    if n == len(frames) // 2:
                        rss_mid = rss_kib(os.getpid())
                    try:
                        await _send_after_hello(port, frame)
                    except Exception:
                        save_regression("frame", frame)
                        raise
                    if crashes.records:
                        save_regression("frame", frame)
                        raise AssertionError(f"the handler crashed on {frame!r}")
                server.save("still-served", {"ok": True}, rev=None)
                await poll(lambda: good.get("still-served") is not None, 10)
                assert healthy.status.activity.value in ("idle", "busy")
                rss_end = rss_kib(os.getpid())
                rss_growth, rss_late = rss_end - rss_before, rss_end - rss_mid
                await healthy.stop()
        finally:
            logging.getLogger("engine.sync").removeHandler(crashes)
        assert doc_map(good) == doc_map(server)
    assert crashes.records == []
    # Bounded: allocator warm-up early on, then no steady climb in the second half.
    assert rss_growth < 64 * 1024, f"RSS grew {rss_growth} KiB over {len(frames)} frames"
    assert rss_late < 16 * 1024, f"RSS grew {rss_late} KiB over the second half"
    print(f"live fuzz: {len(frames)} hostile frames, 0 crashes, RSS +{rss_growth} KiB "
          f"(second half +{rss_late} KiB)")


async def _send_after_hello(port: int, frame: bytes) -> None:
    """Handshake properly, send `frame`, read until the listener answers or closes."""
    url = f"ws://127.0.0.1:{port}/{DB}"
    with anyio.fail_after(10):
        async with connect(url, username=USER, password=PASSWORD, heartbeat=5.0) as channel:
            conn = Connection(Role.CLIENT)
            await channel.send(conn.send(Hello("fuzzer", "db-fuzzer", id=conn.new_id())))
            await channel.receive()
            await channel.send(frame)
            # Then a ping: a pong means the frame was taken in stride, a close that it
            # was refused; either way no waiting on a clock.
            await channel.send(encode({"t": "ping", "id": 2**52}))
            try:
                while decode(await channel.receive()).get("t") != "pong":
                    pass
            except (NetworkError, RemoteProtocolError):
                pass


class _AnyPassword:
    """Lets every fuzz connection in without a scrypt check each time."""

    async def authenticate(self, user: str, password: str, address: str) -> bool:
        return True


@contextmanager
def _no_hang(seconds: int) -> Iterator[None]:
    def hung(_sig: int, _frame: FrameType | None) -> None:
        raise TimeoutError("opening a damaged journal hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_damaged_journals_are_recovered_or_refused_never_misread(tmp_path: Path) -> None:
    rng = random.Random(3)
    source = tmp_path / "source"
    written: dict[tuple[str, str], object] = {}
    with Database.open(source) as db:
        for i in range(40):
            rev = db.save(f"d{i % 12}", {"i": i, "pad": "p" * (i * 7)},
                          rev=getattr(db.get(f"d{i % 12}"), "rev", None))
            written[(f"d{i % 12}", rev)] = {"i": i, "pad": "p" * (i * 7)}
        db.put_local("cp", {"seq": 3})
        records = db.journal_bytes
    # Damage lands in the records; the preallocated zeros after them stay (damage in
    # the zeros alone is always a torn tail, tests/store/test_journal.py covers it).
    whole = (source / "journal").read_bytes()
    journal, zeros = whole[:records], whole[records:]
    assert zeros == bytes(len(zeros))
    cases = regression_cases("journal") + [
        damage(rng, journal) + zeros for _ in range(JOURNAL_CASES)]
    outcomes = {"recovered": 0, "refused": 0}
    for n, data in enumerate(cases):
        case = tmp_path / f"case{n}"
        shutil.copytree(source, case)
        (case / "journal").write_bytes(data)
        try:
            with _no_hang(10):
                _open_and_verify(case, written)
                outcomes["recovered"] += 1
        except StoreError as err:
            assert str(err).endswith("."), err
            outcomes["refused"] += 1
        except BaseException:
            save_regression("journal", data)
            raise
        finally:
            shutil.rmtree(case)
    print(f"damaged journals: {len(cases)} cases, {outcomes}")


def _open_and_verify(path: Path, written: dict[tuple[str, str], object]) -> None:
    with Database.open(path, create=False) as db:
        assert db.check() == [], path
        for doc in db.all_docs(include_deleted=True):
            assert written.get((doc.id, doc.rev)) == doc.body, (doc.id, doc.rev)
        try:
            db.save("after-recovery", {}, rev=None)
        except EngineError as err:
            raise AssertionError(f"a recovered database refused a write: {err}") from err
