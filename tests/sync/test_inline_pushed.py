"""A client's bulk pushes are not sent back to it as inline bodies of bulk pull frames."""

from __future__ import annotations

from pathlib import Path

from engine.protocol import trusted
from engine.sync.inline import InlineSender, _Frames
from tests.sync.peers import open_db


def test_revisions_of_a_bulk_push_are_not_inlined_back(tmp_path: Path) -> None:
    db = open_db(tmp_path, "server")
    try:
        db.save_many([(f"doc-{i:03d}", {"n": i}, None) for i in range(100)])
        entries = tuple(trusted.change(c.seq, c.doc_id, c.rev, c.deleted, ())
                        for c in db.changes(0))
        keys = [(c.doc_id, c.rev) for c in entries]
        pushed = [db.get_rev(doc, rev) for doc, rev in keys[:70]]
        sender = InlineSender(db, True, bulk=True)
        # More than a live frame's worth: noted as the frame's set of keys, whole.
        sender.note_pushed([r for r in pushed if r is not None], frozenset(keys[:70]))
        out, cut, sent = sender.bulk_revisions(entries)
        assert cut == len(entries)
        assert [r.key for r in out] == sent == keys[70:]
    finally:
        db.close()


def test_pushed_frames_are_forgotten_oldest_first_beyond_the_bound() -> None:
    frames = _Frames(bound=100)
    sets = [frozenset((f"doc-{k}-{i}", "1-" + "a" * 32) for i in range(60)) for k in range(3)]
    for keys in sets:
        frames.add(keys)
    # The newest sets that hold at least 100 keys in all: the last two.
    assert list(frames.sets) == sets[1:]
    probe = [next(iter(s)) for s in sets]
    assert frames.among(probe) == set(probe[1:])
