"""Step sequences for the stateful test, kept as explicit regression tests.

When `test_stateful` fails, Hypothesis prints the shrunk steps as code
(`state = Peers()`, `state.start(count=3)`, ...): paste them here as a new
test. The sequences below cover the tricky paths by hand: criss-cross merges,
a session cut after the resolution was stored, and a reopen in between.
"""

from __future__ import annotations

from engine.sync.config import Mode
from tests.mesh.test_stateful import Peers


def test_criss_cross_merges_count_each_sale_once() -> None:
    state = Peers()
    state.start(count=3)
    state.adjust_item(peer=0, index=0, delta=-2)
    state.adjust_item(peer=1, index=0, delta=-3)
    state.sync(a=0, hop=1, mode=Mode.PUSH_AND_PULL)     # 0 <-> 1: merged on both
    state.adjust_item(peer=2, index=0, delta=4)
    state.sync(a=1, hop=1, mode=Mode.PUSH)              # 1 -> 2
    state.sync(a=2, hop=1, mode=Mode.PULL)              # 2 <- 0
    state.sync(a=0, hop=1, mode=Mode.PULL)              # and back, criss-cross
    state.full_sync()
    state.teardown()


def test_a_cut_session_then_reopen_loses_nothing() -> None:
    state = Peers()
    state.start(count=4)
    state.add(peer=3, name="Dates", qty=7)
    state.edit_note(peer=0, doc="note-1", text="a", remove=False)
    state.edit_note(peer=3, doc="note-1", text="b", remove=False)
    state.delete(peer=1, index=1)
    state.adjust_item(peer=2, index=1, delta=5)         # the item peer 1 deletes
    state.dropped_sync(a=3, hop=1, mode=Mode.PUSH_AND_PULL, cut=6)
    state.reopen(peer=0)
    state.dropped_sync(a=1, hop=2, mode=Mode.PUSH, cut=3)
    state.reopen(peer=3)
    state.rename(peer=2, index=0, name="Figs")
    state.rename(peer=0, index=0, name="Corn")
    state.full_sync()
    state.teardown()
