"""The device: one database, its listener, its replicators and its view of the LAN.

`Node` is what the terminal app and the headless service drive; see node.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.node.events import (
    ClientsChanged,
    ErrorReported,
    ListenerStarted,
    ListenerStopped,
    NodeEvent,
    NodeInfo,
    NodeSettings,
    PeerDiscovered,
    PeerInfo,
    PeerLost,
    ReplicationChanged,
)

if TYPE_CHECKING:
    from engine.node.node import Node


def __getattr__(name: str) -> Any:
    # Node pulls in the listener, httpx, zeroconf and cryptography; the settings and
    # events above do not, so `listsync items` and the app's first paint skip them.
    if name == "Node":
        from engine.node.node import Node

        return Node
    raise AttributeError(f"module 'engine.node' has no attribute {name!r}")

__all__ = [
    "ClientsChanged",
    "ErrorReported",
    "ListenerStarted",
    "ListenerStopped",
    "Node",
    "NodeEvent",
    "NodeInfo",
    "NodeSettings",
    "PeerDiscovered",
    "PeerInfo",
    "PeerLost",
    "ReplicationChanged",
]
