"""The protocol's messages: frozen dataclasses validated on construction.

Building a malformed message raises LocalProtocolError (our bug); `parse` turns
a decoded frame into a message or raises RemoteProtocolError (the peer's bug).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Any, ClassVar

from engine.errors import LocalProtocolError
from engine.protocol.inline import check_inline
from engine.protocol.limits import (
    PROTOCOL_VERSION,
    check_bool,
    check_digest,
    check_doc_id,
    check_history,
    check_int,
    check_rev,
    check_str,
)

DocRev = tuple[str, str]
ERROR_CODES = frozenset(
    {"protocol", "version", "read_only", "not_found", "too_large", "unavailable", "internal"}
)
ANSWERS = frozenset({"send", "have", "refused"})


class _Message:
    """Shared construction check: `_check` raises ValueError, callers see LocalProtocolError."""

    __slots__ = ()
    kind: ClassVar[str]

    def __post_init__(self) -> None:
        try:
            self._check()
        except (ValueError, TypeError) as err:
            raise LocalProtocolError(f"Bad {self.kind} message: {err}") from err

    def _check(self) -> None:
        raise NotImplementedError


def _opt_int(value: object, name: str) -> int | None:
    return None if value is None else check_int(value, name)


@dataclass(frozen=True, slots=True)
class Hello(_Message):
    """Handshake: the client sends it with `id`, the server answers with `re`."""

    kind: ClassVar[str] = "hello"
    peer_id: str
    db_uuid: str
    features: tuple[str, ...] = ()
    read_only: bool = False
    version: tuple[int, int] = PROTOCOL_VERSION
    id: int | None = None
    re: int | None = None
    # Server only: its database holds no revision (a client may push direct at once).
    empty: bool = False

    def _check(self) -> None:
        check_str(self.peer_id, "peer_id", 128)
        check_str(self.db_uuid, "db_uuid", 128)
        if not self.peer_id or not self.db_uuid:
            raise ValueError("peer_id and db_uuid must not be empty.")
        if len(self.features) > 32:
            raise ValueError("At most 32 features may be listed.")
        for feature in self.features:
            check_str(feature, "features", 64)
        check_bool(self.read_only, "read_only")
        check_bool(self.empty, "empty")
        if len(self.version) != 2:
            raise ValueError("version must be [major, minor].")
        for part in self.version:
            check_int(part, "version", 0, 65535)
        if (self.id is None) == (self.re is None):
            raise ValueError("A hello carries exactly one of id and re.")
        _opt_int(self.id, "id")
        _opt_int(self.re, "re")


@dataclass(frozen=True, slots=True)
class Subscribe(_Message):
    """Client asks for the server's change feed from `since` (0 = everything)."""

    kind: ClassVar[str] = "subscribe"
    id: int
    since: int = 0
    continuous: bool = False
    doc_ids: tuple[str, ...] | None = None
    fresh: bool = False  # the client's database has never held a document

    def _check(self) -> None:
        check_int(self.id, "id")
        check_int(self.since, "since")
        check_bool(self.continuous, "continuous")
        check_bool(self.fresh, "fresh")
        if self.doc_ids is not None:
            for doc_id in self.doc_ids:
                check_doc_id(doc_id)


@dataclass(frozen=True, slots=True)
class Change:
    """One feed entry: a doc's latest seq, winning rev, and its other leaves."""

    seq: int
    doc_id: str
    rev: str
    deleted: bool
    leaves: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            check_int(self.seq, "seq")
            check_doc_id(self.doc_id)
            check_rev(self.rev)
            check_bool(self.deleted, "deleted")
            for leaf in self.leaves:
                check_rev(leaf)
        except ValueError as err:
            raise LocalProtocolError(f"Bad change entry: {err}") from err


@dataclass(frozen=True, slots=True)
class Changes(_Message):
    """A batch of the feed for subscription `sub`; the client answers with `missing`."""

    kind: ClassVar[str] = "changes"
    id: int
    sub: int
    changes: tuple[Change, ...]
    last_seq: int
    inline: tuple[RevisionData, ...] = ()  # full bodies of named revisions ("inline")

    def _check(self) -> None:
        check_int(self.id, "id")
        check_int(self.sub, "sub")
        check_int(self.last_seq, "last_seq")
        if not all(map(isinstance, self.changes, repeat(Change))):
            raise ValueError("changes must hold Change entries.")
        if self.inline:
            if any(not isinstance(r, RevisionData) for r in self.inline):
                raise ValueError("revs must hold RevisionData entries.")
            check_inline(self.changes, self.inline)


@dataclass(frozen=True, slots=True)
class CaughtUp(_Message):
    """The server's feed for subscription `re` is drained up to `seq`."""

    kind: ClassVar[str] = "caught_up"
    re: int
    seq: int

    def _check(self) -> None:
        check_int(self.re, "re")
        check_int(self.seq, "seq")


@dataclass(frozen=True, slots=True)
class Want:
    """Revisions of one doc the receiver lacks, and ancestors it holds (delta bases)."""

    doc_id: str
    revs: tuple[str, ...]
    ancestors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            check_doc_id(self.doc_id)
            if not self.revs:
                raise ValueError("A want entry names at least one revision.")
            for rev in (*self.revs, *self.ancestors):
                check_rev(rev)
        except ValueError as err:
            raise LocalProtocolError(f"Bad want entry: {err}") from err


@dataclass(frozen=True, slots=True)
class Missing(_Message):
    """Client's answer to `changes` id `re`: what it lacks (may be empty)."""

    kind: ClassVar[str] = "missing"
    re: int
    docs: tuple[Want, ...] = ()
    had: int = 0  # of the frame's inline revisions, how many it held already ("inline_bulk")

    def _check(self) -> None:
        check_int(self.re, "re")
        check_int(self.had, "had")
        if not all(map(isinstance, self.docs, repeat(Want))):
            raise ValueError("docs must hold Want entries.")


@dataclass(frozen=True, slots=True)
class Proposal:
    """A leaf the client offers: doc id, rev, and (optionally) its ancestors."""

    doc_id: str
    rev: str
    history: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            check_doc_id(self.doc_id)
            for rev in (self.rev, *self.history):
                check_rev(rev)
        except ValueError as err:
            raise LocalProtocolError(f"Bad proposal: {err}") from err


@dataclass(frozen=True, slots=True)
class Propose(_Message):
    """Client offers revisions to push; the server answers with `proposed`."""

    kind: ClassVar[str] = "propose"
    id: int
    revs: tuple[Proposal, ...]

    def _check(self) -> None:
        check_int(self.id, "id")
        if not all(map(isinstance, self.revs, repeat(Proposal))):
            raise ValueError("revs must hold Proposal entries.")


@dataclass(frozen=True, slots=True)
class Answer:
    """Server's verdict on one proposal: send (with ancestors it holds), have, refused."""

    verdict: str
    ancestors: tuple[str, ...] = ()
    reason: str = ""

    def __post_init__(self) -> None:
        try:
            if self.verdict not in ANSWERS:
                raise ValueError(f"{self.verdict!r} is not one of send, have, refused.")
            for rev in self.ancestors:
                check_rev(rev)
            check_str(self.reason, "reason")
        except ValueError as err:
            raise LocalProtocolError(f"Bad answer: {err}") from err


@dataclass(frozen=True, slots=True)
class Proposed(_Message):
    """One answer per entry of propose `re`, in order."""

    kind: ClassVar[str] = "proposed"
    re: int
    answers: tuple[Answer, ...]

    def _check(self) -> None:
        check_int(self.re, "re")
        if not all(map(isinstance, self.answers, repeat(Answer))):
            raise ValueError("answers must hold Answer entries.")


@dataclass(frozen=True, slots=True)
class RevisionData:
    """One revision on the wire: a full `body`, or a `delta` against ancestor `base`.

    `packed` is a full body already msgpack-encoded by our own store (a map): it goes
    into the frame as it is, so a sender never decodes and re-encodes bodies. On the
    wire it is indistinguishable from `body`; a parsed revision always has `body`.
    """

    doc_id: str
    rev: str
    deleted: bool
    history: tuple[str, ...]
    body: dict[str, Any] | None = None
    base: str | None = None
    delta: dict[str, Any] | None = None
    packed: bytes | None = None

    def __post_init__(self) -> None:
        try:
            check_doc_id(self.doc_id)
            check_bool(self.deleted, "deleted")
            check_history(self.rev, self.history)
            if (self.body is None) + (self.delta is None) + (self.packed is None) != 2:
                raise ValueError("A revision carries exactly one of body and delta.")
            if self.body is not None and type(self.body) is not dict:
                raise ValueError("body must be a map.")
            if self.packed is not None and (
                    type(self.packed) is not bytes or self.packed[:1] not in _MAP_HEADS):
                raise ValueError("packed must be a msgpack-encoded map.")
            if self.delta is not None:
                if type(self.delta) is not dict or self.base not in self.history[1:]:
                    raise ValueError("A delta must be a map against a base in the history.")
            elif self.base is not None:
                raise ValueError("base is only allowed with a delta.")
        except ValueError as err:
            raise LocalProtocolError(f"Bad revision: {err}") from err

    @property
    def key(self) -> DocRev:
        return (self.doc_id, self.rev)


# First bytes of a msgpack map: fixmap, map16, map32.
_MAP_HEADS = frozenset(bytes([b]) for b in (*range(0x80, 0x90), 0xde, 0xdf))


@dataclass(frozen=True, slots=True)
class Revs(_Message):
    """Revisions for batch `batch` (a changes or propose id); answered by `ack`.
    `direct` (feature "direct"): a client's push sent unasked; its batch is its own id."""

    kind: ClassVar[str] = "revs"
    id: int
    batch: int
    revs: tuple[RevisionData, ...]
    gone: tuple[DocRev, ...] = ()
    direct: bool = False

    def _check(self) -> None:
        check_int(self.id, "id")
        check_int(self.batch, "batch")
        if not all(map(isinstance, self.revs, repeat(RevisionData))):
            raise ValueError("revs must hold RevisionData entries.")
        # (Connection checks a direct frame's revisions: full bodies, each once.)
        if self.direct and (self.batch != self.id or self.gone):
            raise ValueError("A direct revs frame has no batch (its own id) and no gone.")


@dataclass(frozen=True, slots=True)
class Ack(_Message):
    """Revs frame `re` is stored; `full` lists revisions to resend with a full body.
    Of a direct frame, `have` lists revisions already held and `refused` those not
    stored, with a reason: [doc id, rev, reason]; every other one was stored."""

    kind: ClassVar[str] = "ack"
    re: int
    full: tuple[DocRev, ...] = ()
    have: tuple[DocRev, ...] = ()
    refused: tuple[tuple[str, str, str], ...] = ()

    def _check(self) -> None:
        check_int(self.re, "re")
        for entry in self.refused:
            if len(entry) != 3:
                raise ValueError("A refused entry is [doc_id, rev, reason].")
            check_doc_id(entry[0])
            check_rev(entry[1])
            check_str(entry[2], "reason")


@dataclass(frozen=True, slots=True)
class GetBlob(_Message):
    """Ask for `length` bytes of a blob from `offset`; answered by blob_chunk frames."""

    kind: ClassVar[str] = "get_blob"
    id: int
    digest: str
    offset: int = 0
    length: int = 2**62

    def _check(self) -> None:
        check_int(self.id, "id")
        check_digest(self.digest)
        check_int(self.offset, "offset")
        check_int(self.length, "length", 1)


@dataclass(frozen=True, slots=True)
class BlobChunk(_Message):
    """Bytes of the blob asked for by get_blob `re`; `last` ends the answer."""

    kind: ClassVar[str] = "blob_chunk"
    re: int
    offset: int
    data: bytes
    last: bool

    def _check(self) -> None:
        check_int(self.re, "re")
        check_int(self.offset, "offset")
        check_bool(self.last, "last")
        if not isinstance(self.data, bytes):
            raise ValueError("data must be binary.")


@dataclass(frozen=True, slots=True)
class Ping(_Message):
    """Liveness probe; answered by pong."""

    kind: ClassVar[str] = "ping"
    id: int

    def _check(self) -> None:
        check_int(self.id, "id")


@dataclass(frozen=True, slots=True)
class Pong(_Message):
    """Answer to ping `re`."""

    kind: ClassVar[str] = "pong"
    re: int

    def _check(self) -> None:
        check_int(self.re, "re")


@dataclass(frozen=True, slots=True)
class Error(_Message):
    """A failure: with `re` it answers one request; without, it ends the connection."""

    kind: ClassVar[str] = "error"
    code: str
    message: str
    re: int | None = None

    def _check(self) -> None:
        # Unknown codes are accepted so a newer minor version may add some.
        if not check_str(self.code, "code", 64):
            raise ValueError("code must not be empty.")
        check_str(self.message, "message", 1000)
        _opt_int(self.re, "re")

    @property
    def fatal(self) -> bool:
        return self.re is None


Message = (
    Hello | Subscribe | Changes | CaughtUp | Missing | Propose | Proposed | Revs | Ack
    | GetBlob | BlobChunk | Ping | Pong | Error
)
