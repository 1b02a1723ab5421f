"""The protocol as a pure state machine, one object per side of a connection.

Theory of operation: `send(msg)` checks that the move is legal for our role
and state and returns the frame to transmit; `receive(frame)` decodes, checks
and returns the peer's message. The legal moves are one table (`_MOVES`);
on top of it the connection tracks open requests (replies must name one) and
the revisions each batch still owes, so a peer cannot send an unrequested
revision, a reply to nothing, or a second hello. Our misuse raises
LocalProtocolError, the peer's raises RemoteProtocolError; after either the
connection is CLOSED and only an error frame may still be sent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from engine.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from engine.protocol.codec import encode
from engine.protocol.direct import DIRECT_FEATURE, check_direct, check_outcomes
from engine.protocol.inline import INLINE_FEATURE, check_inline_frame, inline_frame_limit
from engine.protocol.limits import DEFAULT_LIMITS, PROTOCOL_VERSION, Limits
from engine.protocol.messages import (
    Ack,
    BlobChunk,
    CaughtUp,
    Changes,
    DocRev,
    Error,
    Hello,
    Message,
    Missing,
    Propose,
    Proposed,
    Revs,
    Subscribe,
)
from engine.protocol.splice import ROWS_FEATURE, encode_message
from engine.protocol.wire import parse_frame, to_wire


class Role(enum.Enum):
    CLIENT = "client"  # the active side: sends hello, subscribe, propose
    SERVER = "server"  # the passive side: answers


class State(enum.Enum):
    IDLE = "idle"  # nothing exchanged yet
    AWAIT_HELLO = "await_hello"  # client sent hello, waits for the server's
    SEND_HELLO = "send_hello"  # server got hello, must answer with its own
    READY = "ready"  # handshake done; sync traffic flows both ways
    CLOSED = "closed"  # a fatal error went either way; nothing more is accepted


class VersionMismatchError(RemoteProtocolError):
    """The peer speaks a different major protocol version."""


_SEND, _RECV = "send", "recv"
_ANY = frozenset({"ping", "pong", "revs", "ack", "get_blob", "blob_chunk", "error"})
_READY_KINDS = {
    (Role.CLIENT, _SEND): _ANY | {"subscribe", "missing", "propose"},
    (Role.CLIENT, _RECV): _ANY | {"changes", "caught_up", "proposed"},
    (Role.SERVER, _SEND): _ANY | {"changes", "caught_up", "proposed"},
    (Role.SERVER, _RECV): _ANY | {"subscribe", "missing", "propose"},
}
# (role, state, direction, kind) -> next state; READY's self-loops come from _READY_KINDS.
_MOVES: dict[tuple[Role, State, str, str], State] = {
    (Role.CLIENT, State.IDLE, _SEND, "hello"): State.AWAIT_HELLO,
    (Role.CLIENT, State.AWAIT_HELLO, _RECV, "hello"): State.READY,
    (Role.SERVER, State.IDLE, _RECV, "hello"): State.SEND_HELLO,
    (Role.SERVER, State.SEND_HELLO, _SEND, "hello"): State.READY,
    **{(role, State.READY, way, kind): State.READY
       for (role, way), kinds in _READY_KINDS.items() for kind in kinds},
}
# Which request kind each reply kind may answer.
_REPLIES = {"hello": "hello", "caught_up": "subscribe", "missing": "changes",
            "proposed": "propose", "ack": "revs", "blob_chunk": "get_blob", "pong": "ping"}


@dataclass
class _Side:
    """Bookkeeping for one direction's requests (ours or the peer's)."""

    open: dict[int, str] = field(default_factory=dict)  # request id -> kind
    last_id: int = -1
    subs: dict[int, bool] = field(default_factory=dict)  # open subscriptions -> continuous
    proposals: dict[int, tuple[DocRev, ...]] = field(default_factory=dict)  # propose id -> keys
    owed: dict[int, set[DocRev]] = field(default_factory=dict)  # batch -> revs still due
    frames: dict[int, tuple[int, frozenset[DocRev]]] = field(default_factory=dict)  # unacked
    direct: set[int] = field(default_factory=set)  # which unacked frames are direct pushes


class Connection:
    """One side of a sync connection; pure, no I/O."""

    def __init__(self, role: Role, limits: Limits = DEFAULT_LIMITS) -> None:
        self.role = role
        self.limits = limits
        self.state = State.IDLE
        self.peer_hello: Hello | None = None
        self.client_features: frozenset[str] = frozenset()
        self.server_features: frozenset[str] = frozenset()
        self._next_id = 1
        self._error_sent = False
        self._ours = _Side()  # requests we sent, batches we must send
        self._theirs = _Side()  # requests the peer sent, batches we receive

    def new_id(self) -> int:
        """A fresh request id for a message we are about to send."""
        self._next_id += 1
        return self._next_id - 1

    def send(self, msg: Message) -> bytes:
        """Check our move and return its frame; LocalProtocolError if illegal."""
        if isinstance(msg, Error):
            if self._error_sent or self.state is State.CLOSED and not msg.fatal:
                raise LocalProtocolError("The connection is closed; nothing more may be sent.")
            if msg.fatal:
                self.state = State.CLOSED
                self._error_sent = True
            else:
                self._close_request(self._theirs, msg.re, LocalProtocolError)
            return encode(to_wire(msg))
        try:
            self._apply(msg, _SEND)
        except ProtocolError as err:
            raise LocalProtocolError(str(err)) from err
        frame = encode_message(msg, self.rows)
        if type(msg) is Changes and msg.inline:
            check_inline_frame(len(frame), LocalProtocolError,
                               inline_frame_limit(self.client_features))
        if len(frame) > self.limits.max_frame:
            raise LocalProtocolError(
                f"A {len(frame)}-byte {msg.kind} frame exceeds the "
                f"{self.limits.max_frame}-byte limit.")
        return frame

    def receive(self, frame: bytes) -> Message:
        """Decode and check the peer's frame; RemoteProtocolError if it breaks the protocol."""
        if self.state is State.CLOSED:
            raise RemoteProtocolError("The peer sent a frame after the connection was closed.")
        try:
            msg = parse_frame(frame, self.limits, self.rows)
            if type(msg) is Changes and msg.inline:
                check_inline_frame(len(frame), RemoteProtocolError,
                                   inline_frame_limit(self.client_features))
            if isinstance(msg, Error):
                if msg.fatal:
                    self.state = State.CLOSED
                else:
                    self._close_request(self._ours, msg.re, RemoteProtocolError)
                return msg
            self._apply(msg, _RECV)
        except ProtocolError as err:
            self.state = State.CLOSED
            if isinstance(err, RemoteProtocolError):
                raise
            raise RemoteProtocolError(str(err)) from err
        return msg

    @property
    def rows(self) -> bool:
        """Both hellos list the `rows` feature: revisions may travel as arrays."""
        return ROWS_FEATURE in self.client_features and ROWS_FEATURE in self.server_features

    def owed(self, batch: int) -> frozenset[DocRev]:
        """Revisions we still owe the peer for one of our batches (empty when done)."""
        return frozenset(self._ours.owed.get(batch, ()))

    def expected(self, batch: int) -> frozenset[DocRev]:
        """Revisions the peer still owes us for a batch we asked from."""
        return frozenset(self._theirs.owed.get(batch, ()))

    def received_keys(self, frame_id: int) -> frozenset[DocRev]:
        """The revisions of the peer's revs frame `frame_id`, until we ack it (else none)."""
        frame = self._theirs.frames.get(frame_id)
        return frozenset() if frame is None else frame[1]

    def unacked(self) -> int:
        """Number of our revs frames the peer has not acknowledged."""
        return len(self._ours.frames)

    # -- the rules -------------------------------------------------------

    def _apply(self, msg: Message, way: str) -> None:
        err = LocalProtocolError if way == _SEND else RemoteProtocolError
        who = "we" if way == _SEND else "the peer"
        key = (self.role, self.state, way, msg.kind)
        if key not in _MOVES:
            raise err(f"In state {self.state.value}, {who} may not send {msg.kind}.")
        sender, receiver = (self._ours, self._theirs) if way == _SEND else (
            self._theirs, self._ours)
        req_id = getattr(msg, "id", None)
        if req_id is not None:
            if req_id <= sender.last_id:
                raise err(f"Request id {req_id} is not larger than the previous one.")
            sender.last_id = req_id
            sender.open[req_id] = msg.kind
        reply_to = getattr(msg, "re", None)
        if reply_to is not None and not isinstance(msg, CaughtUp):
            if receiver.open.get(reply_to) != _REPLIES[msg.kind]:
                raise err(f"A {msg.kind} answers request {reply_to}, which is not an open "
                          f"{_REPLIES[msg.kind]}.")
            if not (isinstance(msg, BlobChunk) and not msg.last):
                del receiver.open[reply_to]
        if self.state is State.CLOSED:
            raise err("The connection is closed.")
        self._check_flow(msg, sender, receiver, err)
        self.state = _MOVES[key]

    def _check_flow(self, msg: Message, sender: _Side, receiver: _Side,
                    err: type[ProtocolError]) -> None:
        if isinstance(msg, Hello):
            if msg.re is None and self.state is not State.IDLE or (
                    msg.id is None and self.state is State.IDLE):
                raise err("The client's hello carries an id; the server's answers it with re.")
            if sender is self._theirs:
                if msg.version[0] != PROTOCOL_VERSION[0]:
                    raise VersionMismatchError(
                        f"The peer speaks protocol version {msg.version[0]}.{msg.version[1]}; "
                        f"this program speaks {PROTOCOL_VERSION[0]}.{PROTOCOL_VERSION[1]}.")
                self.peer_hello = msg
            if msg.id is not None:  # the client's hello: its features decide what it is sent
                self.client_features = frozenset(msg.features)
            else:
                self.server_features = frozenset(msg.features)
        elif isinstance(msg, Subscribe):
            sender.subs[msg.id] = msg.continuous
            del sender.open[msg.id]  # answered by a stream, tracked in subs
        elif isinstance(msg, Changes | CaughtUp):
            sub = msg.sub if isinstance(msg, Changes) else msg.re
            if sub not in receiver.subs:
                raise err(f"Subscription {sub} is not open.")
            if isinstance(msg, Changes) and msg.inline and (
                    INLINE_FEATURE not in self.client_features):
                raise err("A changes frame carries revs, but the client did not ask for "
                          "the inline feature.")
            if isinstance(msg, CaughtUp) and not receiver.subs[sub]:
                del receiver.subs[sub]  # a one-shot feed ends here
        elif isinstance(msg, Missing):
            # Owed revisions live on the side that sends the revs: the changes' sender.
            receiver.owed[msg.re] = {(w.doc_id, r) for w in msg.docs for r in w.revs}
            self._drop_done(receiver, msg.re)
        elif isinstance(msg, Propose):
            sender.proposals[msg.id] = tuple((p.doc_id, p.rev) for p in msg.revs)
        elif isinstance(msg, Proposed):
            keys = receiver.proposals.pop(msg.re)
            if len(msg.answers) != len(keys):
                raise err(f"{len(msg.answers)} answers were given to {len(keys)} proposals.")
            receiver.owed[msg.re] = {k for k, a in zip(keys, msg.answers, strict=True)
                                     if a.verdict == "send"}
            self._drop_done(receiver, msg.re)
        elif isinstance(msg, Revs):
            if msg.direct:
                self._check_direct(msg, sender, err)
            else:
                self._check_revs(msg, sender, receiver, err)
        elif isinstance(msg, Ack):
            batch, sent = receiver.frames.pop(msg.re)
            extra = set(msg.full) - sent
            if extra:
                raise err("An ack asks for a full body of a revision that frame did not carry.")
            if msg.re in receiver.direct:
                receiver.direct.discard(msg.re)
                if msg.full:
                    raise err("An ack of a direct frame asks for a full body it already had.")
                if msg.have or msg.refused:
                    try:
                        check_outcomes(msg.have, msg.refused, sent)
                    except ValueError as why:
                        raise err(str(why)) from why
                return
            if msg.have or msg.refused:
                raise err("Only the ack of a direct revs frame says what was not stored.")
            receiver.owed.setdefault(batch, set()).update(msg.full)
            self._drop_done(receiver, batch)

    def _check_revs(self, msg: Revs, sender: _Side, receiver: _Side,
                    err: type[ProtocolError]) -> None:
        owed = sender.owed.get(msg.batch, set())
        keys = frozenset([(r.doc_id, r.rev) for r in msg.revs])
        gone = msg.gone
        # A few set tests for the frame; key by key (to name the culprit) only if one fails.
        if len(keys) != len(msg.revs) or not keys <= owed or gone and (
                len(set(gone)) != len(gone) or not owed.issuperset(gone)
                or not keys.isdisjoint(gone)):
            for key in (*[(r.doc_id, r.rev) for r in msg.revs], *gone):
                if key not in owed:
                    raise err(f"Revision {key[1]} of {key[0]!r:.40} was not requested in "
                              f"batch {msg.batch}.")
                owed.discard(key)
        owed -= keys
        owed.difference_update(gone)
        sender.frames[msg.id] = (msg.batch, keys)

    def _check_direct(self, msg: Revs, sender: _Side, err: type[ProtocolError]) -> None:
        if (self.role is Role.CLIENT) != (sender is self._ours):
            raise err("Only the client may send a direct revs frame.")
        if DIRECT_FEATURE not in self.client_features or (
                DIRECT_FEATURE not in self.server_features):
            raise err("A direct revs frame needs the direct feature in both hellos.")
        # Owes nothing and is owed nothing: its ack says what became of each revision.
        try:
            keys = check_direct(msg.revs)
        except ValueError as why:
            raise err(str(why)) from why
        sender.frames[msg.id] = (msg.id, keys)
        sender.direct.add(msg.id)

    def _drop_done(self, side: _Side, batch: int) -> None:
        if not side.owed.get(batch) and not any(b == batch for b, _ in side.frames.values()):
            side.owed.pop(batch, None)

    def _close_request(self, side: _Side, req: int | None,
                       err: type[ProtocolError]) -> None:
        if req is None:
            return
        side.direct.discard(req)  # (a read-only server refuses a direct frame this way)
        found = [side.open.pop(req, None), side.subs.pop(req, None),
                 side.proposals.pop(req, None), side.frames.pop(req, None)]
        if all(item is None for item in found):
            raise err(f"An error answers request {req}, which is not open.")
