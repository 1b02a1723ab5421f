"""The device: one database, its listener, its replicators and its view of the LAN.

`Node` is what the terminal app and the headless service drive; see node.py.
"""

from __future__ import annotations

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
from engine.node.node import Node

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
