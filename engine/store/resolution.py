"""Conflict resolutions the store keeps a note of, and the default resolver.

A resolver that keeps the deterministic winner tombstones the other leaves; so
nothing is thrown away unseen, each resolution is noted in a local (never
replicated) document, newest last, and a loser's body can be restored later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ConflictError, NotFoundError

if TYPE_CHECKING:
    from engine.store.database import Database

RESOLUTIONS_ID = "resolutions"  # the local document holding the notes
MAX_RESOLUTIONS = 200  # notes kept; older ones are dropped first
MAX_ATTEMPTS = 50  # re-reads when another writer gets in between


@dataclass(frozen=True, slots=True)
class Resolution:
    """One conflict resolved here: `winner` is the rev that now wins, `kept` the leaf
    it was written on (or equals), `losers` the leaves tombstoned, `from_peer` the
    peer whose revisions caused the conflict (None: a local write), `at` epoch seconds."""

    doc_id: str
    winner: str
    kept: str
    losers: tuple[str, ...]
    from_peer: str | None
    at: float
    merged: bool  # True: the winner merges the losers' content (nothing to restore)

    def to_json(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "winner": self.winner, "kept": self.kept,
                "losers": list(self.losers), "from_peer": self.from_peer, "at": self.at,
                "merged": self.merged}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Resolution:
        return cls(str(raw["doc_id"]), str(raw["winner"]), str(raw.get("kept", raw["winner"])),
                   tuple(str(r) for r in raw["losers"]), raw.get("from_peer"),
                   float(raw["at"]), bool(raw.get("merged", False)))


def with_record(notes: dict[str, Any] | None, record: Resolution) -> dict[str, Any]:
    """The notes document with `record` appended (and the oldest dropped past the cap)."""
    records = list(notes.get("records", [])) if isinstance(notes, dict) else []
    records.append(record.to_json())
    return {"records": records[-MAX_RESOLUTIONS:]}


def read_records(notes: dict[str, Any] | None) -> list[Resolution]:
    raw = notes.get("records", []) if isinstance(notes, dict) else []
    return [Resolution.from_json(r) for r in raw if isinstance(r, dict)]


def default_resolver(db: Database, doc_id: str) -> None:
    """Keep the deterministic winner as it is and tombstone the other live leaves.

    Every peer seeing the same leaves writes the same tombstones (same rev ids),
    and the losers' bodies stay in the tree, noted in `db.resolutions()`.
    """
    for _ in range(MAX_ATTEMPTS):
        doc = db.get(doc_id)
        conflicts = db.conflicts(doc_id)
        if doc is None or doc.deleted or not conflicts:
            return
        try:
            db.resolve(doc_id, doc.body, winner=doc.rev, losers=conflicts, record=True)
        except ConflictError:
            continue  # another writer got in first; look again
        return


def restore(db: Database, doc_id: str, loser_rev: str) -> str:
    """Write a losing revision's body as a new child of the current winner."""
    for _ in range(MAX_ATTEMPTS):
        loser = db.get_rev(doc_id, loser_rev)
        if loser is None or loser.body is None or loser.deleted:
            raise NotFoundError(f"Revision {loser_rev} of {doc_id!r} is no longer kept.")
        current = db.get(doc_id)
        assert current is not None
        try:
            return db.save(doc_id, loser.body, rev=current.rev)
        except ConflictError:
            continue
    raise ConflictError(f"Document {doc_id!r} kept changing while restoring {loser_rev}.")
