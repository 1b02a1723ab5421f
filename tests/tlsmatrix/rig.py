"""A real listener (make_listener) and a real replicator (make_connector) on 127.0.0.1.

`Served` runs the listener with a recording authenticator, so a test can see
whether any Authorization header reached the listener's password check;
`attempt` runs one one-shot sync and reports the outcome, data included.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from engine.errors import EngineError
from engine.net.identity import Identity
from engine.net.trust import TrustStore
from engine.net.validation import ClientAuth, client_validation
from engine.peer import ListenOptions, make_connector, make_listener
from engine.store import Database
from engine.sync.auth import Allowlist, Authenticator, UserEntry
from engine.sync.config import ReplicatorConfig, RetryPolicy
from engine.sync.replicator import Replicator

USER, PASSWORD, DB = "bob", "builder", "userdb"
LISTENER_DOC, REPLICATOR_DOC = "from-listener", "from-replicator"


class RecordingAuthenticator(Authenticator):
    """The real password check, noting every user whose credentials reached it."""

    def __init__(self) -> None:
        super().__init__(Allowlist([UserEntry(USER, password=PASSWORD)]))
        self.calls: list[str] = []

    async def authenticate(self, user: str, password: str, address: str) -> bool:
        self.calls.append(user)
        return await super().authenticate(user, password, address)


@dataclass
class Served:
    port: int
    db: Database
    auth: RecordingAuthenticator
    tls: bool

    def url(self, *, scheme: str | None = None) -> str:
        return f"{scheme or ('wss' if self.tls else 'ws')}://127.0.0.1:{self.port}/{DB}"


def _fresh_db(path: Path, doc_id: str) -> Database:
    db = Database.open(path)
    db.save(doc_id, {"type": "note", "by": doc_id}, rev=None)
    return db


@asynccontextmanager
async def serving(tmp: Path, ssl_context: ssl.SSLContext | None, *, port: int = 0,
                  client_auth: ClientAuth | None = None) -> AsyncIterator[Served]:
    """A listener on 127.0.0.1 serving a database that holds one document."""
    db = _fresh_db(tmp / f"listener-{anyio.current_time()}", LISTENER_DOC)
    auth = RecordingAuthenticator()
    listener = make_listener(db, DB, data_dir=tmp, ssl_context=ssl_context,
                             options=ListenOptions(host="127.0.0.1", port=port),
                             authenticate=auth, client_auth=client_auth)
    try:
        async with anyio.create_task_group() as tg:
            bound = await tg.start(listener.serve)
            try:
                yield Served(bound, db, auth, ssl_context is not None)
            finally:
                with anyio.fail_after(10):
                    await listener.stop()
    finally:
        db.close()


@dataclass
class Outcome:
    error: EngineError | None
    client_docs: set[str] = field(default_factory=set)
    listener_docs: set[str] = field(default_factory=set)
    auth_calls: list[str] = field(default_factory=list)

    @property
    def synced(self) -> bool:
        both = {LISTENER_DOC, REPLICATOR_DOC}
        return self.error is None and self.client_docs == both and self.listener_docs == both

    @property
    def nothing_exchanged(self) -> bool:
        return self.client_docs == {REPLICATOR_DOC} and self.listener_docs == {LISTENER_DOC}


async def attempt(tmp: Path, served: Served, validation: str | None, *,
                  url: str | None = None, ca_file: Path | None = None,
                  pinned: Path | bytes | None = None, trust: TrustStore | None = None,
                  client_identity: Identity | None = None,
                  password: str = PASSWORD, max_tls: ssl.TLSVersion | None = None) -> Outcome:
    """One one-shot push-and-pull sync of a fresh database with `served`."""
    url = url or served.url()
    tls = None
    if url.startswith("wss:"):
        assert validation is not None
        tls = client_validation(validation, "127.0.0.1", served.port, ca_file=ca_file,
                                pinned_cert=pinned,
                                trust_store=trust or TrustStore(tmp / "known_peers"),
                                identity=client_identity)
        if max_tls is not None:
            tls.ssl_context.maximum_version = max_tls
    before = len(served.auth.calls)
    db = _fresh_db(tmp / f"replicator-{anyio.current_time()}", REPLICATOR_DOC)
    try:
        connect = make_connector(url, username=USER, password=password, tls=tls,
                                 connect_timeout=5)
        rep = Replicator(db, connect, ReplicatorConfig(retry=RetryPolicy(max_attempts=1)))
        error: EngineError | None = None
        with anyio.fail_after(20):
            try:
                await rep.run()
            except EngineError as err:
                error = err
        return Outcome(error, {d.id for d in db.all_docs()},
                       {d.id for d in served.db.all_docs()}, served.auth.calls[before:])
    finally:
        db.close()
