"""`run` follows the LAN: it syncs with each discovered peer once, restarts a sync when the
peer moves, and stops it when the peer leaves (the Node stands in as a fake here)."""

from __future__ import annotations

import anyio
import pytest

from engine import NodeEvent, NodeSettings, PeerDiscovered, PeerInfo, PeerLost
from tui.commands.run import RunConfig, _follow

pytestmark = pytest.mark.anyio


class FakeNode:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def start_sync(self, key: str) -> str:
        self.calls.append(("start", key))
        return key

    async def stop_sync(self, key: str) -> None:
        self.calls.append(("stop", key))


def peer(port: int, name: str = "alice@till-2") -> PeerInfo:
    return PeerInfo(key=name, name=name, address="10.0.0.2", port=port, tls="anonymous",
                    fingerprint=None, source="mdns", url=f"wss://10.0.0.2:{port}/userdb")


async def follow(events: list[NodeEvent], *, password: str | None = "pw",
                 auto_sync: bool = True) -> list[tuple[str, str]]:
    node = FakeNode()
    send, receive = anyio.create_memory_object_stream[NodeEvent](100)
    config = RunConfig(NodeSettings(), (), password, auto_sync, "info")
    with send:
        for event in events:
            send.send_nowait(event)
    with anyio.fail_after(5), receive:
        await _follow(node, receive, config)  # type: ignore[arg-type]
    return node.calls


async def test_a_discovered_peer_is_synced_once_restarted_when_it_moves_stopped_when_lost(
        ) -> None:
    calls = await follow([PeerDiscovered(peer(4984)), PeerDiscovered(peer(4984)),
                          PeerDiscovered(peer(5000)), PeerLost("alice@till-2")])
    assert calls == [("start", "alice@till-2"),  # the repeated advert starts nothing
                     ("stop", "alice@till-2"), ("start", "alice@till-2"),
                     ("stop", "alice@till-2")]


async def test_without_a_password_or_with_auto_sync_off_peers_are_only_logged() -> None:
    assert await follow([PeerDiscovered(peer(4984))], password=None) == []
    assert await follow([PeerDiscovered(peer(4984)), PeerLost("alice@till-2")],
                        auto_sync=False) == []
