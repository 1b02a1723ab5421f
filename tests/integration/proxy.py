"""A TCP proxy for fault tests: forwards 127.0.0.1 connections, and can freeze them.

`freeze()` stalls every connection open now (bytes are held, sockets stay open,
like a peer that lost power behind a switch); later connections pass again.
"""

from __future__ import annotations

import anyio
from anyio.abc import SocketStream, TaskStatus

STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream,
                 OSError)


class Proxy:
    """Forwards to `target_port`; run with `port = await tg.start(proxy.serve)`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections = 0
        self._gates: list[anyio.Event] = []  # one per connection: set = frozen

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener:
            task_status.started(int(listener.extra(anyio.abc.SocketAttribute.local_port)))
            await listener.serve(self._forward)

    def freeze(self) -> None:
        for gate in self._gates:
            gate.set()

    async def _forward(self, client: SocketStream) -> None:
        self.connections += 1
        frozen = anyio.Event()
        self._gates.append(frozen)
        async with client, await anyio.connect_tcp("127.0.0.1", self.target_port) as upstream:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pipe, client, upstream, frozen, tg.cancel_scope)
                tg.start_soon(self._pipe, upstream, client, frozen, tg.cancel_scope)

    async def _pipe(self, src: SocketStream, dst: SocketStream, frozen: anyio.Event,
                    scope: anyio.CancelScope) -> None:
        try:
            async for data in src:
                if frozen.is_set():
                    await anyio.sleep_forever()  # hold the bytes and the socket: a dead peer
                await dst.send(data)
        except STREAM_ERRORS:
            pass
        if not frozen.is_set():
            scope.cancel()  # one side closed: close the other too
