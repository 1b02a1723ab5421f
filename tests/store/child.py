"""Child processes for the crash and multi-process tests (run with `python -m`).

Roles:
  zygote                   reads "DB SEED COMPACT FIFO" lines; for each forks a crash
                           writer whose acks go to FIFO, and prints its pid (forking
                           an already-imported interpreter keeps kill cycles short)
  crash DB SEED [compact]  random writes forever; one JSON line per ACKNOWLEDGED write
  worker DB INDEX N        N own docs plus N increments of the shared "counter" doc
  init DB MARKER           open-or-create with an init that leaves a mark; print uuid
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from pathlib import Path

from engine.errors import ConflictError
from engine.store import Database, Revision, make_rev_id
from engine.store.journal import FileOps


def ack(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


class ChunkedOps(FileOps):
    """Writes in 512-byte syscalls, so a SIGKILL can land inside a record (a torn tail)."""

    def write(self, fd: int, data: bytes, offset: int) -> None:
        for start in range(0, len(data), 512):
            super().write(fd, data[start:start + 512], offset + start)


def crash(path: str, seed: int, compact: bool) -> None:
    rng = random.Random(seed)
    db = Database.open(Path(path), file_ops=ChunkedOps())
    ack(op="ready")
    step = 0
    while True:
        step += 1
        doc_id = f"d{rng.randrange(20)}"
        doc = db.get(doc_id)
        roll = rng.random()
        body: dict[str, object] = {"step": step, "seed": seed, "pad": "x" * rng.randrange(6000)}
        if compact and step % 4 == 0:
            db.compact(blob_grace=0)
            ack(op="compact")
        elif roll < 0.1:
            n = (db.get_local("cp") or {"n": 0})["n"] + 1
            db.put_local("cp", {"n": n})
            ack(op="local", n=n)
        elif roll < 0.2:
            ref = db.blobs.put(f"blob {seed} {step}".encode(), "text/plain")
            rev = db.save(doc_id, {**body, "img": ref}, rev=doc.rev if doc else None)
            ack(op="save", doc=doc_id, rev=rev, parent=doc.rev if doc else None)
        elif roll < 0.3 and doc is not None and not doc.deleted:
            rev = db.delete(doc_id, rev=doc.rev)
            ack(op="save", doc=doc_id, rev=rev, parent=doc.rev)
        elif roll < 0.45 and doc is not None:
            # A revision from a "peer": a sibling of the current winner (a conflict).
            history = db.get_rev(doc_id, doc.rev).history  # type: ignore[union-attr]
            parent = history[1] if len(history) > 1 else None
            rev = make_rev_id(parent, False, body)
            db.put_revisions([Revision(doc_id, rev, False, body, [rev, *history[1:]])])
            ack(op="save", doc=doc_id, rev=rev, parent=parent)
        elif roll < 0.6:
            edits = []
            for other in sorted({doc_id, f"d{rng.randrange(20)}", f"d{rng.randrange(20)}"}):
                cur = db.get(other)
                edits.append((other, body, cur.rev if cur else None))
            revs = db.save_many(edits)
            for (other, _, parent), rev in zip(edits, revs, strict=True):
                ack(op="save", doc=other, rev=rev, parent=parent)
        else:
            rev = db.save(doc_id, body, rev=doc.rev if doc else None)
            ack(op="save", doc=doc_id, rev=rev, parent=doc.rev if doc else None)


def zygote() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the writers
    for line in sys.stdin:
        db_path, seed, compact, fifo = line.split()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            fd = os.open(fifo, os.O_WRONLY)
            os.dup2(fd, 1)
            os.close(fd)
            try:
                crash(db_path, int(seed), compact == "1")
            except BaseException as err:  # report, then wait for the parent's SIGKILL
                ack(op="error", error=repr(err))
                while True:  # never exit alone: the parent kills this pid
                    signal.pause()
        print(pid, flush=True)


def worker(path: str, index: int, n: int) -> None:
    db = Database.open(Path(path))
    for i in range(n):
        db.save(f"p{index}-{i}", {"i": i}, rev=None)
        while True:
            cur = db.get("counter")
            try:
                db.save("counter", {"n": (cur.body["n"] if cur else 0) + 1},
                        rev=cur.rev if cur else None)
                break
            except ConflictError:
                continue
        if index == 0 and i == n // 2:
            db.compact()
    ack(op="done", index=index)


def init(path: str, marker: str) -> None:
    def loader(db: Database) -> None:
        with open(marker, "a") as f:
            f.write(f"{db.uuid}\n")
        db.save("list", {"type": "list", "items": []}, rev=None)

    sys.stdin.readline()  # start line: all children race from here
    db = Database.open(Path(path), init=loader)
    ack(uuid=db.uuid, list=db.get("list") is not None)


if __name__ == "__main__":
    role, db_path, *rest = [*sys.argv[1:], ""]
    if role == "zygote":
        zygote()
    elif role == "crash":
        crash(db_path, int(rest[0]), rest[1:] == ["compact"])
    elif role == "worker":
        worker(db_path, int(rest[0]), int(rest[1]))
    else:
        init(db_path, rest[0])
