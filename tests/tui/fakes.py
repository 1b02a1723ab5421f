"""An in-memory stand-in for the store's Database (the subset the app uses).

Used until engine's store is available; two FakeDatabase objects over one
`Backing` behave like two processes sharing a database folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from engine import ConflictError, NotFoundError


@dataclass
class Doc:
    id: str
    rev: str
    deleted: bool
    body: dict[str, Any]


@dataclass
class Rev:
    doc_id: str
    rev: str
    deleted: bool
    body: dict[str, Any] | None
    history: list[str]


@dataclass
class Backing:
    docs: dict[str, Doc] = field(default_factory=dict)
    revs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    seq: int = 0
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list)

    def grew(self) -> None:
        """Wake subscribers (saves may come from worker threads)."""
        self.seq += 1
        for loop, event in list(self.waiters):
            loop.call_soon_threadsafe(event.set)


class FakeBlobs:
    def __init__(self, backing: Backing) -> None:
        self._b = backing

    def put(self, data: bytes, content_type: str) -> dict[str, Any]:
        digest = "sha256-" + hashlib.sha256(data).hexdigest()
        self._b.blobs[digest] = data
        return {"@type": "blob", "digest": digest, "length": len(data),
                "content_type": content_type}

    def read(self, digest: str) -> bytes:
        try:
            return self._b.blobs[digest]
        except KeyError:
            raise NotFoundError(f"No blob {digest}.") from None


class FakeDatabase:
    def __init__(self, backing: Backing | None = None) -> None:
        self.backing = backing or Backing()
        self.blobs = FakeBlobs(self.backing)
        self.uuid = "fake"

    @property
    def update_seq(self) -> int:
        return self.backing.seq

    def get(self, doc_id: str) -> Doc | None:
        doc = self.backing.docs.get(doc_id)
        return None if doc is None else Doc(doc.id, doc.rev, doc.deleted, json.loads(
            json.dumps(doc.body)))

    def get_rev(self, doc_id: str, rev: str) -> Rev | None:
        body = self.backing.revs.get((doc_id, rev))
        return None if body is None else Rev(doc_id, rev, False, body, [rev])

    def conflicts(self, doc_id: str) -> list[str]:
        return []

    def save(self, doc_id: str, body: dict[str, Any], *, rev: str | None) -> str:
        current = self.backing.docs.get(doc_id)
        if (current.rev if current else None) != rev:
            raise ConflictError(f"Document {doc_id} changed since revision {rev}.")
        gen = int(rev.split("-")[0]) + 1 if rev else 1
        digest = hashlib.sha256(json.dumps([rev, body], sort_keys=True).encode()).hexdigest()
        new_rev = f"{gen}-{digest[:32]}"
        self.backing.docs[doc_id] = Doc(doc_id, new_rev, False, json.loads(json.dumps(body)))
        self.backing.revs[(doc_id, new_rev)] = json.loads(json.dumps(body))
        self.backing.grew()
        return new_rev

    async def subscribe(self, since: int) -> AsyncIterator[int]:
        seen = since
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        self.backing.waiters.append(waiter)
        try:
            while True:
                waiter[1].clear()
                if self.backing.seq > seen:
                    seen = self.backing.seq
                    yield seen
                    continue
                await waiter[1].wait()
        finally:
            self.backing.waiters.remove(waiter)
