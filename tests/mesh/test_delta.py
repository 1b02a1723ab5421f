"""Delta sync of the inventory list: small on the wire, verified, never a wrong document."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.inventory import LIST_DOC_ID, adjust
from engine.listdoc import update_list
from engine.sample import load_sample
from engine.store import Database
from engine.sync.config import Mode
from tests.mesh.rig import open_peer, sync_pair, tree_map

pytestmark = pytest.mark.anyio


def sell_apple(db: Database, device: str = "kiosk") -> None:
    update_list(db, lambda b: adjust(b, "Apples", -1, device=device, user="u", now=0.0))


async def revs_bytes(a: Database, b: Database, *, deltas: bool) -> int:
    """Bytes of the revs frame that pushes one quantity change from a to b."""
    sell_apple(a)
    frames: list[tuple[str, str, int]] = []
    session = await sync_pair(a, b, mode=Mode.PUSH, deltas=deltas, frames=frames)
    assert session.error is None and tree_map(a) == tree_map(b)
    (size,) = [n for way, kind, n in frames if way == "sent" and kind == "revs"]
    return size


@pytest.mark.parametrize("history", [0, 40])
async def test_one_quantity_change_in_the_42_item_list_costs_under_5_percent(
        tmp_path: Path, history: int) -> None:
    a = Database.open(tmp_path / "a", init=load_sample)
    b, c = open_peer(tmp_path / "b"), open_peer(tmp_path / "c")
    await sync_pair(a, b)
    await sync_pair(a, c)
    for _ in range(history):   # a long revision history must not ride along each time
        sell_apple(a)
    await sync_pair(a, b)
    await sync_pair(a, c)
    full = await revs_bytes(a, c, deltas=False)
    delta = await revs_bytes(a, b, deltas=True)
    assert len(a.get(LIST_DOC_ID).body["items"]) == 42   # type: ignore[union-attr]
    assert delta <= 0.05 * full, (delta, full)


async def test_a_delta_against_a_base_the_receiver_lacks_falls_back_to_the_full_body(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = open_peer(tmp_path / "a"), open_peer(tmp_path / "b")
    a.save(LIST_DOC_ID, {"type": "list", "items": [{"key": "Apples", "value": 10}]}, rev=None)
    await sync_pair(a, b)
    sell_apple(a)
    middle = a.get(LIST_DOC_ID).rev   # type: ignore[union-attr]
    sell_apple(a)
    real = Database.revs_diff

    def claims_the_middle(self: Database, wanted: dict[str, list[str]]
                          ) -> dict[str, tuple[list[str], list[str]]]:
        out = real(self, wanted)
        if self is b and LIST_DOC_ID in out:   # b says it holds a rev it does not have
            out[LIST_DOC_ID] = (out[LIST_DOC_ID][0], [middle])
        return out

    monkeypatch.setattr(Database, "revs_diff", claims_the_middle)
    session = await sync_pair(a, b, mode=Mode.PUSH)
    assert session.error is None
    assert session.client.revs_sent == 2   # the delta, then the full body it asked for
    assert tree_map(a) == tree_map(b)


async def test_a_corrupt_delta_never_stores_a_wrong_document(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = open_peer(tmp_path / "a"), open_peer(tmp_path / "b")
    a.save(LIST_DOC_ID, {"type": "list", "items": [{"key": "Apples", "value": 10}],
                         "pad": "x" * 500}, rev=None)
    await sync_pair(a, b)
    sell_apple(a)
    # Applies cleanly but yields another body: only the rev id check can notice.
    monkeypatch.setattr("engine.sync.storeio.delta_if_smaller",
                        lambda base, target: {"pad": [1, "tampered"]})
    session = await sync_pair(a, b, mode=Mode.PUSH)
    assert session.error is None and session.client.revs_sent == 2
    assert tree_map(a) == tree_map(b)
