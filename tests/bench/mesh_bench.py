#!/usr/bin/env python3
"""Mesh benchmark: a ring of 5 peers converging, and bytes per edit with and without deltas.

Every peer is a real durable store with the 42-item sample list, in one process;
links are continuous replicators over in-process channels (the sync code is
the same as over websockets, minus the socket). Figures, each the median of RUNS:
- ring: each peer makes EDITS quantity changes (concurrently, while the ring is
  up); seconds until all 5 hold identical revision trees, with and without deltas;
- bytes on the wire per edit in that run (all frames, all links, both ways);
- one quantity change of the 42-item list: its revs frame with and without a delta.

    python tests/bench/mesh_bench.py [--edits 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.inventory import LIST_DOC_ID, adjust, items_view  # noqa: E402
from engine.listdoc import list_resolver, read_list, update_list  # noqa: E402
from engine.sample import load_sample  # noqa: E402
from engine.store import Database  # noqa: E402
from engine.sync.config import Mode  # noqa: E402
from tests.mesh.rig import Mesh, converged, open_peer, sync_pair  # noqa: E402

PEERS = 5
SHM = Path("/dev/shm") if Path("/dev/shm").is_dir() else None


def sample_peers(root: Path) -> list[Database]:
    dbs = []
    for i in range(PEERS):
        # Same first rev everywhere. History deep enough that no peer prunes: trees pruned
        # at different moments keep different stubs beyond max_history, and convergence
        # here is judged on whole trees.
        db = Database.open(root / f"p{i}", init=load_sample, max_history=2000)
        db.resolver = list_resolver
        dbs.append(db)
    return dbs


async def ring(edits: int, deltas: bool) -> tuple[float, int, int]:
    """(seconds to converge, bytes on the wire, total edits) for one ring run."""
    with tempfile.TemporaryDirectory(dir=SHM) as tmp:
        dbs = sample_peers(Path(tmp))
        names = [row["key"] for row in items_view(read_list(dbs[0]))]
        async with anyio.create_task_group() as tg:
            mesh = Mesh(dbs, tg, deltas=deltas)
            for i in range(PEERS):
                await mesh.connect(i, (i + 1) % PEERS)
            started = time.perf_counter()

            async def edit(i: int) -> None:
                for k in range(edits):
                    name = names[(i * 7 + k) % len(names)]
                    await anyio.to_thread.run_sync(update_list, dbs[i], lambda b, n=name: adjust(
                        b, n, -1, device=f"dev-{i}", user="bench", now=0.0))

            async with anyio.create_task_group() as editors:
                for i in range(PEERS):
                    editors.start_soon(edit, i)
            with anyio.fail_after(600):
                await converged(dbs)
            took = time.perf_counter() - started
            stats = [s for v in mesh.server_stats.values() for s in v]
            stats += [s for v in mesh.all_client_stats().values() for s in v]
            await mesh.stop()
            tg.cancel_scope.cancel()
        total = sum(row["value"] for row in items_view(read_list(dbs[0])))
        first = sum(row["value"] for row in items_view(read_list(_fresh(Path(tmp)))))
        assert first - total == PEERS * edits, "an edit was lost or counted twice"
        for db in dbs:
            db.close()
        return took, sum(s.bytes_sent for s in stats), PEERS * edits


def _fresh(root: Path) -> Database:
    return Database.open(root / "fresh", init=load_sample)


async def one_change(deltas: bool) -> int:
    """Bytes of the revs frame carrying one quantity change of the 42-item list."""
    with tempfile.TemporaryDirectory(dir=SHM) as tmp:
        a = Database.open(Path(tmp) / "a", init=load_sample)
        b = open_peer(Path(tmp) / "b")
        await sync_pair(a, b)
        update_list(a, lambda body: adjust(body, "Apples", -1, device="d", user="u", now=0.0))
        frames: list[tuple[str, str, int]] = []
        await sync_pair(a, b, mode=Mode.PUSH, deltas=deltas, frames=frames)
        assert len(a.get(LIST_DOC_ID).body["items"]) == 42  # type: ignore[union-attr]
        a.close()
        b.close()
        return sum(n for way, kind, n in frames if way == "sent" and kind == "revs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edits", type=int, default=100, help="edits per peer")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    out = sys.stdout
    for deltas in (True, False):
        runs = [anyio.run(ring, args.edits, deltas) for _ in range(args.runs)]
        took = statistics.median(r[0] for r in runs)
        per_edit = statistics.median(r[1] / r[2] for r in runs)
        label = "with deltas   " if deltas else "without deltas"
        out.write(f"ring of {PEERS}, {args.edits} concurrent edits each, {label}: converged in "
                  f"{took:.2f} s (median of {args.runs}); {per_edit:,.0f} bytes on the wire "
                  f"per edit\n")
    full, delta = anyio.run(one_change, False), anyio.run(one_change, True)
    out.write(f"one quantity change, 42-item list: revs frame {delta} B with a delta, "
              f"{full} B full ({100 * delta / full:.1f}%)\n")


if __name__ == "__main__":
    main()
