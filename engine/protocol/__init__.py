"""engine.protocol: the sans-IO sync protocol (messages, msgpack codec, state machine).

Pure code only: no sockets, event loops, clocks or files. See PROTOCOL.md.
"""

from __future__ import annotations

from engine.protocol.codec import decode, encode
from engine.protocol.connection import Connection, Role, State, VersionMismatchError
from engine.protocol.delta import (
    DeltaError,
    apply_delta,
    delta_if_smaller,
    make_delta,
    make_rev_id,
)
from engine.protocol.limits import DEFAULT_LIMITS, FEATURES, PROTOCOL_VERSION, Limits
from engine.protocol.messages import (
    Ack,
    Answer,
    BlobChunk,
    CaughtUp,
    Change,
    Changes,
    DocRev,
    Error,
    GetBlob,
    Hello,
    Message,
    Missing,
    Ping,
    Pong,
    Proposal,
    Propose,
    Proposed,
    RevisionData,
    Revs,
    Subscribe,
    Want,
)
from engine.protocol.wire import parse, to_wire

__all__ = [
    "DEFAULT_LIMITS", "FEATURES", "PROTOCOL_VERSION", "Ack", "Answer", "BlobChunk",
    "CaughtUp", "Change", "Changes", "Connection", "DeltaError", "DocRev", "Error",
    "GetBlob", "Hello", "Limits", "Message", "Missing", "Ping", "Pong", "Propose",
    "Proposal", "Proposed", "RevisionData", "Revs", "Role", "State", "Subscribe",
    "VersionMismatchError", "Want", "apply_delta", "decode", "delta_if_smaller", "encode",
    "make_delta", "make_rev_id", "parse", "to_wire",
]
