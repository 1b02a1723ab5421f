"""ConnectionPair: a client and a server protocol object wired together in memory."""

from __future__ import annotations

from engine.protocol import Connection, Hello, Message, Role, State

# Well-formed rev ids for the tests: a first revision, its child, and a rival child.
R1 = "1-" + "a" * 32
R2 = "2-" + "b" * 32
R2X = "2-" + "c" * 32


class ConnectionPair:
    def __init__(self) -> None:
        self.client = Connection(Role.CLIENT)
        self.server = Connection(Role.SERVER)

    def other(self, conn: Connection) -> Connection:
        return self.server if conn is self.client else self.client

    def send(self, conn: Connection, msg: Message) -> Message:
        """Send from `conn`; return what the other side received (asserted equal)."""
        received = self.other(conn).receive(conn.send(msg))
        assert received == msg
        return received

    def handshake(self, *, read_only: bool = False) -> None:
        hello_id = self.client.new_id()
        self.send(self.client, Hello("client-peer", "db-a", ("deltas", "blobs"), id=hello_id))
        assert self.server.state is State.SEND_HELLO
        self.send(self.server, Hello("server-peer", "db-b", ("deltas",), read_only, re=hello_id))
        assert self.client.state is State.READY and self.server.state is State.READY
