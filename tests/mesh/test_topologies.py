"""Mesh topologies: peers that are listeners and replicators to several peers at once.

Continuous replicators over in-process channels between real stores. Every
topology converges with each sale applied once, no revision reaches a peer
twice, the links then stay quiet, and a peer that leaves (or a whole group cut
off by a partition) catches up when it is back.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import pytest

from engine.inventory import LIST_DOC_ID, adjust, legacy_item_id, normalise
from engine.listdoc import update_list
from engine.store import Database
from engine.sync.link import SessionStats
from tests.mesh.rig import Mesh, converged, open_peer, quantities

pytestmark = pytest.mark.anyio

START = {"type": "list", "items": [{"key": "Apples", "value": 100}, {"key": "Pears", "value": 50}]}
APPLES, PEARS = legacy_item_id("Apples"), legacy_item_id("Pears")
QUIET_WINDOW = 0.3  # seconds of silence that count as "quiet" (an observation, not a wait)


def topology(name: str, n: int) -> list[tuple[int, int]]:
    """(client, server) links: each peer replicates to its servers and serves its clients."""
    if name == "line":
        return [(i, i + 1) for i in range(n - 1)]
    if name == "star":
        return [(i, 0) for i in range(1, n)]
    if name == "ring":
        return [(i, (i + 1) % n) for i in range(n)]
    return [(i, j) for i in range(n) for j in range(i + 1, n)]  # full mesh


def peers(tmp_path: Path, n: int) -> list[Database]:
    dbs = [open_peer(tmp_path / f"p{i}") for i in range(n)]
    for db in dbs:
        db.save(LIST_DOC_ID, normalise(START), rev=None)
    return dbs


def sell(db: Database, device: str, item: str, qty: int) -> None:
    update_list(db, lambda b: adjust(b, item, -qty, device=device, user="u", now=0.0))


def received(mesh: Mesh) -> dict[int, Counter[tuple[str, str]]]:
    """Per peer: how many times each revision reached it, over every connection."""
    into: dict[int, Counter[tuple[str, str]]] = {i: Counter() for i in range(len(mesh.dbs))}
    for (_client, server), stats in mesh.all_client_stats().items():
        for s in stats:
            into[server].update(s.sent_keys)  # pushed by the client
    for (client, _server), stats in mesh.server_stats.items():
        for s in stats:
            into[client].update(s.sent_keys)  # pulled from the server
    return into


def traffic(mesh: Mesh) -> int:
    stats: list[SessionStats] = [s for v in mesh.server_stats.values() for s in v]
    stats += [s for v in mesh.all_client_stats().values() for s in v]
    return sum(s.frames_sent for s in stats)


async def quiet(mesh: Mesh) -> None:
    """Return once no frame moved for QUIET_WINDOW; fail if that takes over 10 s."""
    with anyio.fail_after(10):
        while True:
            before = traffic(mesh)
            await anyio.sleep(QUIET_WINDOW)
            if traffic(mesh) == before:
                return


@pytest.mark.parametrize(("name", "n"), [("line", 3), ("star", 4), ("ring", 5), ("mesh", 5)])
async def test_topology_converges_applying_each_change_once(tmp_path: Path, name: str,
                                                            n: int) -> None:
    dbs = peers(tmp_path, n)
    async with anyio.create_task_group() as tg:
        mesh = Mesh(dbs, tg)
        for link in topology(name, n):
            await mesh.connect(*link)
        for round_ in range(3):
            for i, db in enumerate(dbs):
                sell(db, f"dev-{i}", APPLES, 1 + round_)
                db.save(f"note-{i}-{round_}", {"by": i}, rev=None)
        with anyio.fail_after(30):
            await converged(dbs)
        await quiet(mesh)   # the last acks and caught_ups go out, then nothing more
        before = traffic(mesh)
        await anyio.sleep(3 * QUIET_WINDOW)
        assert traffic(mesh) == before, "links kept talking after convergence"
        await mesh.stop()
        tg.cancel_scope.cancel()
    assert quantities(dbs[0]) == {APPLES: 100 - 6 * n, PEARS: 50}
    # Applied once: the quantities above. Sent at most once per connection; two
    # neighbours may race to deliver the same new revision, never more than that.
    links = topology(name, n)
    for peer, counts in received(mesh).items():
        neighbours = sum(peer in link for link in links)
        assert counts and max(counts.values()) <= neighbours, f"peer {peer} got a rev again"
    all_stats = [s for v in [*mesh.server_stats.values(), *mesh.all_client_stats().values()]
                 for s in v]
    assert all(s.duplicates == 0 for s in all_stats)
    assert mesh.errors == []


async def test_peer_leaving_and_rejoining_catches_up(tmp_path: Path) -> None:
    dbs = peers(tmp_path, 4)
    async with anyio.create_task_group() as tg:
        mesh = Mesh(dbs, tg)
        for link in topology("ring", 4):
            await mesh.connect(*link)
        sell(dbs[0], "dev-0", APPLES, 1)
        with anyio.fail_after(30):
            await converged(dbs)
        await mesh.disconnect(3, 0)   # peer 3 leaves: its links go, its store closes
        await mesh.disconnect(2, 3)
        dbs[3].close()
        for i in range(3):
            sell(dbs[i], f"dev-{i}", PEARS, 2)
        with anyio.fail_after(30):
            await converged(dbs[:3])
        dbs[3] = mesh.dbs[3] = open_peer(tmp_path / "p3")   # back, from disk
        sell(dbs[3], "dev-3", PEARS, 5)
        await mesh.connect(3, 0)
        await mesh.connect(2, 3)
        with anyio.fail_after(30):
            await converged(dbs)
        await mesh.stop()
        tg.cancel_scope.cancel()
    assert quantities(dbs[3]) == {APPLES: 99, PEARS: 50 - 6 - 5}


async def test_partition_into_three_groups_heals_with_every_edit_applied(tmp_path: Path) -> None:
    dbs = peers(tmp_path, 5)
    groups = [{0, 1}, {2, 3}, {4}]
    group_of = {p: g for g, members in enumerate(groups) for p in members}
    links = topology("mesh", 5)
    async with anyio.create_task_group() as tg:
        mesh = Mesh(dbs, tg)
        for link in links:
            await mesh.connect(*link)
        for link in links:   # partition: only links inside a group stay up
            if group_of[link[0]] != group_of[link[1]]:
                await mesh.disconnect(*link)
        expected = {APPLES: 100, PEARS: 50}
        for i, db in enumerate(dbs):
            for item, qty in ((APPLES, i + 1), (PEARS, 2 * i + 1)):
                sell(db, f"dev-{i}", item, qty)
                expected[item] -= qty
            db.save("shared-note", {"by": i}, rev=None)   # one doc made apart in each group
        with anyio.fail_after(30):
            for members in groups:
                await converged([dbs[p] for p in sorted(members)])
        assert quantities(dbs[0]) != quantities(dbs[4])   # really apart
        for link in links:   # heal
            if group_of[link[0]] != group_of[link[1]]:
                await mesh.connect(*link)
        with anyio.fail_after(30):
            await converged(dbs)
        await mesh.stop()
        tg.cancel_scope.cancel()
    for db in dbs:
        assert quantities(db) == expected
        assert db.conflicts("shared-note") == []
    assert mesh.errors == []
