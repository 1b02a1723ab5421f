"""The seam between transport and sync logic: a channel of whole frames.

A `MessageChannel` carries binary messages (one msgpack frame each) in both
directions. The websocket transport implements it over sockets; tests of the
sync logic use `memory_channel_pair`, which behaves the same in process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from engine.errors import NetworkError, RemoteProtocolError

DEFAULT_MAX_FRAME = 4 * 1024 * 1024


class MessageChannel(Protocol):
    """One connection to a peer, seen as whole binary frames."""

    @property
    def peer_address(self) -> str: ...

    @property
    def user(self) -> str | None: ...

    async def send(self, frame: bytes) -> None:
        """Send one frame; raises NetworkError if the connection is gone."""

    async def receive(self) -> bytes:
        """Next frame; NetworkError when closed/lost, RemoteProtocolError if oversized."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close politely (idempotent)."""


@dataclass
class MemoryChannel:
    """In-process channel end; frames larger than `max_frame` are refused."""

    _send: ObjectSendStream[bytes]
    _receive: ObjectReceiveStream[bytes]
    peer_address: str = "memory"
    user: str | None = None
    max_frame: int = DEFAULT_MAX_FRAME
    closed: bool = field(default=False)
    close_code: int | None = None

    async def send(self, frame: bytes) -> None:
        if self.closed:
            raise NetworkError("The connection is closed.")
        try:
            await self._send.send(bytes(frame))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as err:
            raise NetworkError("The peer closed the connection.") from err

    async def receive(self) -> bytes:
        try:
            frame = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError) as err:
            raise NetworkError("The peer closed the connection.") from err
        if len(frame) > self.max_frame:
            await self.close(1009, "frame too large")
            raise RemoteProtocolError(
                f"The peer sent a {len(frame)}-byte frame; the limit is {self.max_frame} bytes."
            )
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            self.close_code = code
            await self._send.aclose()
            await self._receive.aclose()


def memory_channel_pair(
    max_frame: int = DEFAULT_MAX_FRAME, buffer: int = 64
) -> tuple[MemoryChannel, MemoryChannel]:
    """Two connected channel ends (client, server) for tests of sync logic."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](buffer)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](buffer)
    client = MemoryChannel(a_send, a_receive, peer_address="memory-server", max_frame=max_frame)
    server = MemoryChannel(
        b_send, b_receive, peer_address="memory-client", user="test", max_frame=max_frame
    )
    return client, server
