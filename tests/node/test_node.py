"""The Node facade: a listener and a replicator on two devices, over real loopback sockets."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import anyio
import pytest

from engine import (
    ClientsChanged,
    Database,
    Node,
    NodeEvent,
    NodeListenerStarted,
    NodeListenerStopped,
    NodeSettings,
    ReplicationChanged,
    adjust,
    open_list_db,
    read_list,
    update_list,
)

pytestmark = pytest.mark.anyio

LOCAL = NodeSettings(host="127.0.0.1", advertise=False, browse=False, tls="anonymous",
                     validation="tofu", heartbeat=2.0)


def quantity(db: object, name: str) -> int:
    body = read_list(db)  # type: ignore[arg-type]
    return next(i["value"] for i in body["items"] if i["key"] == name)  # type: ignore[index]


async def until(db: Database, condition: Callable[[], bool]) -> None:
    """Wait on the database's change feed until `condition()` holds."""
    if condition():
        return
    async for _seq in db.subscribe(db.update_seq):
        if condition():
            return


async def next_matching(stream: anyio.abc.ObjectReceiveStream[NodeEvent], kind: type,
                        **fields: object) -> NodeEvent:
    async for event in stream:
        if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
            return event
    raise AssertionError("event stream ended")


async def test_two_nodes_sync_an_adjustment_both_ways(tmp_path: Path) -> None:
    a_db = open_list_db(tmp_path / "a", "bob")
    b_db = open_list_db(tmp_path / "b", "bob")
    with a_db, b_db, ExitStack() as stack:
        async with Node(a_db, data_dir=tmp_path / "a", user="bob", password="password",
                        settings=LOCAL) as a, \
                Node(b_db, data_dir=tmp_path / "b", user="bob", password="password",
                     settings=LOCAL) as b:
            a_events = stack.enter_context(a.events())
            b_events = stack.enter_context(b.events())
            info = await a.start_listener()
            assert info.running and info.port and info.fingerprint
            assert info.urls[0] == f"wss://127.0.0.1:{info.port}/userdb"
            with anyio.fail_after(10):
                await next_matching(a_events, NodeListenerStarted, port=info.port)
            peer = b.add_manual_peer(f"127.0.0.1:{info.port}")
            assert [p.key for p in b.peers()] == [peer.key]

            update_list(a_db, lambda body: adjust(body, "Apples", -2, device=a_db.uuid,
                                                  user="bob", now=1.0))
            key = await b.start_sync(peer.key)
            with anyio.fail_after(20):
                await next_matching(b_events, ReplicationChanged, key=key, activity="idle")
                await until(b_db, lambda: quantity(b_db, "Apples") == 8)
                clients = await next_matching(a_events, ClientsChanged)
            assert isinstance(clients, ClientsChanged) and clients.clients[0].user == "bob"

            update_list(b_db, lambda body: adjust(body, "Apples", -1, device=b_db.uuid,
                                                  user="bob", now=2.0))
            with anyio.fail_after(20):
                await until(a_db, lambda: quantity(a_db, "Apples") == 7)
            await b.stop_sync(key)
            assert b.replications[key].activity == "stopped"
            await a.stop_listener()
            with anyio.fail_after(10):
                await next_matching(a_events, NodeListenerStopped)
            assert not a.info.running


async def test_wrong_password_is_reported_once_and_not_retried(tmp_path: Path) -> None:
    a_db = open_list_db(tmp_path / "a", "bob")
    b_db = open_list_db(tmp_path / "b", "bob")
    with a_db, b_db, ExitStack() as stack:
        async with Node(a_db, data_dir=tmp_path / "a", user="bob", password="password",
                        settings=LOCAL) as a, \
                Node(b_db, data_dir=tmp_path / "b", user="bob", password="wrong",
                     settings=LOCAL) as b:
            info = await a.start_listener()
            events = stack.enter_context(b.events())
            key = await b.start_sync(f"wss://127.0.0.1:{info.port}/userdb")
            with anyio.fail_after(20):
                await next_matching(events, ReplicationChanged, key=key, activity="connecting")
                stopped = await next_matching(events, ReplicationChanged, key=key,
                                              activity="stopped")
            assert isinstance(stopped, ReplicationChanged)
            assert stopped.error == "The peer refused the user name or password."
