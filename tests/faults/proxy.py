"""A fault-injecting TCP proxy for tests: latency, bandwidth, stalls, cuts, resets.

`async with FaultProxy(port) as proxy:` listens on `proxy.port` and forwards
each connection to the target. Faults are plain attributes, switchable while
connections run (`proxy.stall = True`, `proxy.clear()`); `proxy.accepted` logs
when each connection arrived, so tests can measure retry backoff.
"""

from __future__ import annotations

import contextlib
import math
import random
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType

import anyio
from anyio.abc import SocketStream, TaskGroup

GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
CHUNK = 16384  # bytes per forwarded piece, so caps and cuts are fine-grained


@dataclass(eq=False)
class Link:
    """One proxied connection: its two sockets and what crossed them."""

    client: SocketStream
    upstream: SocketStream | None = None
    forwarded: int = 0  # bytes, both directions
    cut: bool = False
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class FaultProxy:
    """Forwards 127.0.0.1:`port` (or `listen_host`) to `target_host:target_port`."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", *,
                 listen_host: str = "127.0.0.1", seed: int = 0) -> None:
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = 0
        self.rng = random.Random(seed)
        self.accepted: list[float] = []  # anyio.current_time() of each accepted connection
        self.cuts = 0  # connections cut or reset by a fault
        self.links: set[Link] = set()  # open ones
        self.all_links: list[Link] = []
        self._tg: TaskGroup | None = None
        self._unstalled = anyio.Event()
        self.clear()

    # -- faults ------------------------------------------------------------------

    def clear(self) -> None:
        """Back to a perfect network (connections in flight carry on)."""
        self.latency = 0.0  # seconds added to every chunk, each direction
        self.jitter = 0.0  # +- seconds, uniformly; order is kept
        self.bandwidth: float | None = None  # bytes/s per direction per connection
        self.cut_after: int | None = None  # reset each connection after this many bytes
        self.reset_new = False  # reset every new connection at once
        self.handshake_delay = 0.0  # seconds before the first bytes from the server
        self.stall = False

    @property
    def stall(self) -> bool:
        return not self._unstalled.is_set()

    @stall.setter
    def stall(self, on: bool) -> None:
        """Accept connections but forward nothing until switched off."""
        if on and self._unstalled.is_set():
            self._unstalled = anyio.Event()
        elif not on:
            self._unstalled.set()

    async def reset_all(self) -> None:
        """Reset (RST) every open connection now."""
        for link in list(self.links):
            await self._reset(link)

    # -- plumbing ----------------------------------------------------------------

    async def __aenter__(self) -> FaultProxy:
        self._stack = self._run()
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        return await self._stack.__aexit__(kind, exc, tb)

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[None]:
        listener = await anyio.create_tcp_listener(local_host=self.listen_host, local_port=0)
        self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
        async with listener, anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(listener.serve, self._handle)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            for link in list(self.all_links):
                for stream in (link.client, link.upstream):
                    if stream is not None:
                        await anyio.aclose_forcefully(stream)

    async def _handle(self, client: SocketStream) -> None:
        self.accepted.append(anyio.current_time())
        link = Link(client)
        self.links.add(link)
        self.all_links.append(link)
        try:
            with link.scope:
                if self.reset_new:
                    await self._reset(link)
                    return
                try:
                    link.upstream = await anyio.connect_tcp(*self.target)
                except OSError:
                    await self._reset(link)
                    return
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._pump, link, client, link.upstream, False)
                    tg.start_soon(self._pump, link, link.upstream, client, True)
        finally:
            self.links.discard(link)
            for stream in (client, link.upstream):
                if stream is not None:
                    await anyio.aclose_forcefully(stream)

    async def _pump(self, link: Link, source: SocketStream, sink: SocketStream,
                    from_server: bool) -> None:
        """Read → (delay) → write, in order; one direction of one connection."""
        send, receive = anyio.create_memory_object_stream[tuple[float, bytes]](math.inf)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer, link, sink, receive, from_server)
            first = True
            async with send:
                while True:
                    try:
                        data = await source.receive(CHUNK)
                    except GONE:
                        break
                    delay = self.latency + self.rng.uniform(-self.jitter, self.jitter)
                    if first and from_server:
                        delay += self.handshake_delay
                    first = False
                    try:
                        await send.send((anyio.current_time() + max(0.0, delay), data))
                    except GONE:  # the writer stopped: this link was cut
                        break
        # The peer closed its side: close ours, so the other end sees the end too.
        link.scope.cancel()

    async def _writer(self, link: Link, sink: SocketStream,
                      receive: anyio.abc.ObjectReceiveStream[tuple[float, bytes]],
                      from_server: bool) -> None:
        due_last = 0.0
        async with receive:
            async for due, data in receive:
                due = max(due, due_last)  # jitter never reorders bytes
                due_last = due
                await anyio.sleep(max(0.0, due - anyio.current_time()))
                await self._unstalled.wait()
                for start in range(0, len(data), CHUNK):
                    piece = data[start:start + CHUNK]
                    if self.cut_after is not None and link.forwarded + len(piece) > self.cut_after:
                        piece = piece[:max(0, self.cut_after - link.forwarded)]
                        with contextlib.suppress(*GONE):
                            await sink.send(piece)
                        link.forwarded += len(piece)
                        await self._reset(link)
                        return
                    await self._unstalled.wait()
                    try:
                        await sink.send(piece)
                    except GONE:
                        link.scope.cancel()
                        return
                    link.forwarded += len(piece)
                    if self.bandwidth:
                        await anyio.sleep(len(piece) / self.bandwidth)

    async def _reset(self, link: Link) -> None:
        """Close both sockets with RST (SO_LINGER 0), not a polite FIN."""
        if not link.cut:
            link.cut = True
            self.cuts += 1
        for stream in (link.client, link.upstream):
            if stream is None:
                continue
            try:
                raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except (OSError, anyio.TypedAttributeLookupError):
                pass
            await anyio.aclose_forcefully(stream)
        link.scope.cancel()
