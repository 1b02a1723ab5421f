"""The in-memory index rebuilt from journal records: trees, sequence order, locals.

Record kinds (fields after `[kind, more, ...]`, body bin always last):
  M: uuid, base_seq, format      -- first record: database identity
  R: seq, doc_id, rev, ancestors (parent first), deleted, body | None
  P: seq, doc_id                 -- purge: forget the document and its history
  L: local_id, body | None       -- local (never replicated) doc; None deletes
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Any

from engine.store.journal import Record
from engine.store.records import ROW
from engine.store.revs import Loc, RevTree, SoloTree, Tree

FORMAT = 1
# Bodies trimmed lately, still in the journal until it is compacted: a delta a peer
# based on one moments before (another connection's writes trimmed it meanwhile)
# can still be applied instead of costing the revision a second trip.
TRIMMED_RECENT = 1024


class Index:
    """Everything a scan learns; bodies stay on disk, referenced by location."""

    def __init__(self, max_history: int, max_bodies: int) -> None:
        self.max_history = max_history
        self.max_bodies = max_bodies
        self.uuid: str | None = None
        self.docs: dict[str, Tree] = {}
        # seq -> doc id, in ascending seq order (insertion order of a dict).
        self.by_seq: dict[int, str] = {}
        # Every seq ever put in by_seq, ascending, for a bisect in `seqs_after` (a
        # dict cannot start in the middle); a seq since replaced is skipped there and
        # dropped when the log is rebuilt. Cleared `log_sorted`: rebuild before use.
        self.seq_log = array("q")
        self.log_sorted = True
        self.locals: dict[str, Loc] = {}
        self.update_seq = 0
        # (doc id, rev) -> where its trimmed body still lies, most recent last.
        self.trimmed: dict[tuple[str, str], Loc] = {}

    def apply(self, batch: list[Record]) -> None:
        for fields, body_off, body_len in batch:
            kind = fields[0]
            if kind == "R":
                self.add_rev(fields[2], fields[3], fields[4], fields[5], fields[6],
                             body_off if body_len >= 0 else -1, body_len)
            elif kind == "L":
                if body_len < 0:
                    self.locals.pop(fields[2], None)
                else:
                    self.locals[fields[2]] = (body_off, body_len)
            elif kind == "P":
                seq, doc_id = fields[2], fields[3]
                tree = self.docs.pop(doc_id, None)
                if tree is not None:
                    self.by_seq.pop(tree.seq, None)
                self.update_seq = max(self.update_seq, seq)
            elif kind == "M":
                self.uuid = fields[2]
                self.update_seq = max(self.update_seq, fields[3])

    def add_rev(self, seq: Any, doc_id: Any, rev: Any, ancestors: Any, deleted: Any,
                offset: int, length: int) -> None:
        """Index one revision record (fields as read from the journal, hence Any) whose
        body lies at `offset`, `length` bytes long (offset -1: it has none)."""
        tree = self.docs.get(doc_id)
        if tree is None and not ancestors:
            # The common case (a new document's first revision), kept lean for fast opens.
            self.docs[doc_id] = SoloTree(rev, int(rev[:rev.index("-")]), bool(deleted),
                                         offset, length, seq)
            self.by_seq[seq] = doc_id
            self.seq_log.append(seq)
            if seq > self.update_seq:
                self.update_seq = seq
            else:
                self.log_sorted = False
            return
        assert isinstance(seq, int) and isinstance(doc_id, str) and isinstance(rev, str)
        assert isinstance(ancestors, list)
        if tree is None:
            tree = self.docs[doc_id] = RevTree()
        if rev not in tree:
            if type(tree) is SoloTree:
                tree = self.docs[doc_id] = tree.grown()
            assert type(tree) is RevTree
            tree.graft(rev, ancestors, bool(deleted), None if offset < 0 else (offset, length))
            if len(tree.nodes) > 1:
                unbodied: list[tuple[str, Loc]] = []
                tree.trim(self.max_history, self.max_bodies, unbodied)
                if unbodied:
                    self._note_trimmed(doc_id, unbodied)
        if seq > tree.seq:
            if tree.seq:
                self.by_seq.pop(tree.seq, None)
            tree.seq = seq
            self.by_seq[seq] = doc_id
            self.seq_log.append(seq)
            if seq <= self.update_seq:
                self.log_sorted = False
        if seq > self.update_seq:
            self.update_seq = seq

    def add_revs(self, rows: list[Any], spans: list[int], start: int) -> None:
        """`add_rev` for each record of a batch `records.build` made from `rows` and
        written at `start` (its `spans` count from there). New documents' first
        revisions, the bulk of a first sync, are indexed inline: a call each costs more."""
        docs, by_seq, log_seq = self.docs, self.by_seq, self.seq_log.append
        fields, where = iter(rows), iter(spans)  # (ROW, then 2 values a record)
        for seq, doc_id, rev, ancestors, deleted, _, offset, length in zip(
                *[fields] * ROW, *[where] * 2, strict=True):
            if ancestors or doc_id in docs:
                self.add_rev(seq, doc_id, rev, ancestors, deleted, start + offset, length)
                continue
            docs[doc_id] = SoloTree(rev, int(rev[:rev.index("-")]), deleted,
                                    start + offset, length, seq)
            by_seq[seq] = doc_id
            log_seq(seq)
            if seq > self.update_seq:
                self.update_seq = seq
            else:
                self.log_sorted = False

    def seqs_after(self, since: int, limit: int | None) -> list[int]:
        """The live seqs after `since`, ascending, at most `limit` of them."""
        log, by_seq = self.seq_log, self.by_seq
        if not self.log_sorted or len(log) > 2 * len(by_seq) + 4096:
            log = self.seq_log = array("q", sorted(by_seq))
            self.log_sorted = True
        k, end = bisect_right(log, since), len(log)
        want = end if limit is None else limit  # (indexing: a slice would copy the tail)
        out: list[int] = []
        while k < end and len(out) < want:
            seq = log[k]
            k += 1
            if seq in by_seq:
                out.append(seq)
        return out

    def _note_trimmed(self, doc_id: str, unbodied: list[tuple[str, Loc]]) -> None:
        trimmed = self.trimmed
        for rev, loc in unbodied:
            trimmed[(doc_id, rev)] = loc
        while len(trimmed) > TRIMMED_RECENT:
            del trimmed[next(iter(trimmed))]

    def describe(self) -> dict[str, object]:
        """A comparable summary (for check): per doc its seq and nodes."""
        return {
            "uuid": self.uuid,
            "update_seq": self.update_seq,
            "locals": sorted(self.locals),
            "docs": {
                doc_id: (tree.seq, sorted(
                    (n.rev, n.parent, n.deleted, n.loc is not None)
                    for n in tree.nodes.values()))
                for doc_id, tree in self.docs.items()
            },
        }
