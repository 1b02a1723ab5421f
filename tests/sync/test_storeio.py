"""The blocking store step of receiving: peers' revisions as the store takes them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine.protocol import RevisionData
from engine.store import Database, make_rev_id
from engine.store.peer import PeerRevision
from engine.sync.storeio import resolve_revisions


def test_resolved_revisions_are_whole_peer_revisions(tmp_path: Path) -> None:
    body = {"name": "apple", "pic": {"@type": "blob", "digest": "sha256-" + "0" * 64,
                                     "length": 3, "content_type": "image/png"}}
    first = make_rev_id(None, False, body)
    second = make_rev_id(first, True, {})
    with Database.open(tmp_path / "db") as db:
        ready, full, blobs = resolve_revisions(db, (
            RevisionData("a", first, False, (first,), body=body),
            RevisionData("b", second, True, (second, first), body={}),
        ))
    assert full == [] and list(blobs) == ["sha256-" + "0" * 64]
    assert ready == [PeerRevision("a", first, False, body, [first], [body["pic"]]),
                     PeerRevision("b", second, True, {}, [second, first], [])]
    for rev in ready:  # every field was set (an unset slot would raise here)
        assert {f.name for f in dataclasses.fields(rev)} == {
            "doc_id", "rev", "deleted", "body", "history", "refs"}
        assert all(hasattr(rev, f.name) for f in dataclasses.fields(rev))
