"""Rigs for fault tests: seeded databases, real listeners and replicators over loopback,
peer processes (`listsync serve` / `listsync sync`), and process vitals from /proc."""

from __future__ import annotations

import functools
import os
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio

from engine.peer import Connect, ListenOptions, make_listener
from engine.store import Database
from engine.store.revs import Revision, make_rev_id
from engine.sync.config import Mode, ReplicatorConfig, RetryPolicy
from engine.sync.listener import Listener
from engine.sync.replicator import Replicator
from engine.sync.status import Activity, ReplicatorStatus
from engine.sync.wsclient import connect
from tests.helpers import cli_command, cli_env

LONG = bool(os.environ.get("LISTSYNC_LONG"))
USER, PASSWORD, DB = "bob", "password", "userdb"  # from the shipped allowlist
QUICK_RETRY = RetryPolicy(max_attempts=0, initial_wait=0.05, max_wait=0.4, jitter=0.0)


def seed(db: Database, count: int, prefix: str = "doc", *, blob_size: int = 0) -> None:
    """Add `count` first revisions in one batch (fast), and one blob-carrying doc if asked."""
    revs = []
    for i in range(count):
        body: dict[str, Any] = {"type": "item", "n": i, "text": f"{prefix} {i} " + "x" * 40}
        rev = make_rev_id(None, False, body)
        revs.append(Revision(f"{prefix}{i:06d}", rev, False, body, [rev]))
    db.put_revisions(revs)
    if blob_size:
        ref = db.blobs.put(os.urandom(blob_size), "application/octet-stream")
        db.save(f"{prefix}-picture", {"type": "item", "image": ref}, rev=None)


def doc_map(db: Database) -> dict[str, Any]:
    """Every document's winner and leaves, for comparing databases."""
    return {d.id: (d.rev, d.deleted, d.body, sorted(db.leaves(d.id)))
            for d in db.all_docs(include_deleted=True)}


def assert_whole_and_single(db: Database, source: Database) -> None:
    """What `db` holds is a whole, known revision of `source`: nothing partial or doubled."""
    assert db.check() == []
    for doc in db.all_docs(include_deleted=True):
        assert len(db.leaves(doc.id)) == 1, doc.id
        theirs = source.get_rev(doc.id, doc.rev)
        assert theirs is not None and theirs.body == doc.body, doc.id
    assert len(db.changes()) == len(db.all_docs(include_deleted=True))


@asynccontextmanager
async def serving(db: Database, data_dir: Path, *, heartbeat: float = 0.3,
                  ssl_context: ssl.SSLContext | None = None,
                  authenticate: Any = None) -> AsyncIterator[Listener]:
    """An in-process listener on 127.0.0.1 serving `db` as /userdb."""
    listener = make_listener(db, DB, data_dir=data_dir, ssl_context=ssl_context,
                             options=ListenOptions(host="127.0.0.1", heartbeat=heartbeat),
                             authenticate=authenticate)
    async with anyio.create_task_group() as tg:
        await tg.start(listener.serve)
        try:
            yield listener
        finally:
            with anyio.fail_after(10):
                await listener.stop()
            tg.cancel_scope.cancel()


def connector(port: int, *, tls: ssl.SSLContext | None = None, password: str = PASSWORD,
              heartbeat: float = 0.3, connect_timeout: float = 1.0,
              host: str = "127.0.0.1") -> Connect:
    url = f"{'wss' if tls else 'ws'}://{host}:{port}/{DB}"
    return cast(Connect, functools.partial(
        connect, url, username=USER, password=password, ssl_context=tls,
        heartbeat=heartbeat, connect_timeout=connect_timeout))


def replicator(db: Database, connect_: Connect, *, mode: Mode = Mode.PUSH_AND_PULL,
               continuous: bool = False, heartbeat: float = 0.3,
               retry: RetryPolicy = QUICK_RETRY) -> Replicator:
    config = ReplicatorConfig(mode=mode, continuous=continuous, heartbeat=heartbeat,
                              retry=retry)
    return Replicator(db, connect_, config)


async def wait_activity(rep: Replicator, wanted: Callable[[ReplicatorStatus], bool],
                        within: float = 10) -> ReplicatorStatus:
    """The first status (current one included) that satisfies `wanted`."""
    with anyio.fail_after(within):
        async with rep.events() as events:
            async for event in events:
                if isinstance(event, ReplicatorStatus) and wanted(event):
                    return event
    raise AssertionError("the replicator stopped first")


def offline(status: ReplicatorStatus) -> bool:
    return status.activity is Activity.OFFLINE


async def poll(check: Callable[[], bool], within: float, every: float = 0.02) -> None:
    """Poll `check` until true: only for state that lives in another process or the kernel."""
    with anyio.fail_after(within):
        while not check():  # noqa: ASYNC110 - no event exists for another process's state
            await anyio.sleep(every)


# -- peer processes -----------------------------------------------------------


def data_args(data_dir: Path) -> list[str]:
    return ["--data-dir", str(data_dir), "--user", USER]


def start_serve(data_dir: Path, *extra: str, heartbeat: float = 15.0,
                port: int = 0) -> tuple[subprocess.Popen[str], int]:
    """`listsync serve` on 127.0.0.1 (plaintext); returns the process and its port."""
    proc = subprocess.Popen(
        cli_command(*data_args(data_dir), "serve", "--tls", "disabled", "--no-advertise",
                    "--host", "127.0.0.1", "--port", str(port), "--heartbeat", str(heartbeat),
                    *extra),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_env())
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening "):
        proc.kill()
        raise AssertionError(f"serve did not start: {line!r} (exit {proc.wait()})")
    return proc, int(line.split()[1].split(":")[2].split("/")[0])


def start_sync(data_dir: Path, port: int, *extra: str,
               log: Path | None = None) -> subprocess.Popen[str]:
    """`listsync sync ws://127.0.0.1:port/userdb` as a process; stderr to `log` if given
    (a long-running one must not be given an undrained pipe: it would block on it)."""
    stderr: Any = subprocess.PIPE
    if log is not None:
        with open(log, "ab") as stderr:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                cli_command(*data_args(data_dir), "sync", f"ws://127.0.0.1:{port}/{DB}", *extra),
                stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                env=cli_env(LISTSYNC_PASSWORD=PASSWORD))
    return subprocess.Popen(
        cli_command(*data_args(data_dir), "sync", f"ws://127.0.0.1:{port}/{DB}", *extra),
        stdout=subprocess.DEVNULL, stderr=stderr, text=True,
        env=cli_env(LISTSYNC_PASSWORD=PASSWORD))


def db_dir(data_dir: Path) -> Path:
    return data_dir / USER / DB


def journal_size(data_dir: Path) -> int:
    """Bytes of records in the journal (the file itself is preallocated with zeros)."""
    try:
        return len((db_dir(data_dir) / "journal").read_bytes().rstrip(b"\0"))
    except OSError:
        return 0


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_exit(proc: subprocess.Popen[str], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"process {proc.args} did not finish in {timeout} s")
        time.sleep(0.02)
    return proc.returncode
