"""`Database.check()`: look for damage and return a list of problems ([] = healthy).

It rescans the journal independently (every checksum), rebuilds a second index
and compares it with the live one, reads every kept body, and verifies every
blob that a kept live body references against its digest.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from engine.errors import CorruptJournalError, EngineError
from engine.store import revs
from engine.store.blobs import blob_refs, check_digest
from engine.store.index import Index
from engine.store.journal import scan, unpack_body

if TYPE_CHECKING:
    from engine.store.database import Database


def check(db: Database) -> list[str]:
    problems: list[str] = []
    with db._reading():
        journal = db._journal
        shadow = Index(db.max_history, db.max_ancestor_bodies)
        try:
            end = scan(journal.path, journal.fd, 0, os.fstat(journal.fd).st_size,
                       lambda batch, _end: shadow.apply(batch), verify_tail=True)
            if end.torn:
                problems.append(f"{journal.path} has a torn tail at byte {end.good}.")
        except CorruptJournalError as err:
            return [str(err)]
        if shadow.describe() != db._index.describe():
            problems.append(f"The in-memory index of {db.path} differs from its journal.")
        digests: set[str] = set()
        for doc_id, tree in sorted(db._index.docs.items()):
            if not tree.leafs:
                problems.append(f"Document {doc_id!r} has no leaf revision.")
            for node in tree.nodes.values():
                if node.rev in tree.leafs and node.loc is None:
                    problems.append(f"Leaf {node.rev} of {doc_id!r} has lost its body.")
                if node.loc is None:
                    continue
                try:
                    body = unpack_body(journal.read(*node.loc))
                except (EngineError, ValueError) as err:
                    problems.append(f"The body of {doc_id!r} {node.rev} is unreadable: {err}")
                    continue
                parent = node.parent if node.gen > 1 else None
                # Tombstones may arrive from peers without their body: not checkable.
                if not node.deleted and (parent or node.gen == 1) and revs.make_rev_id(
                        parent, node.deleted, body) != node.rev:
                    problems.append(f"Revision {node.rev} of {doc_id!r} does not match its body.")
                if not node.deleted:
                    digests.update(str(r.get("digest")) for r in blob_refs(body))
        for digest in sorted(digests):
            try:
                check_digest(digest)
            except EngineError:
                problems.append(f"A body references the malformed blob digest {digest!r}.")
                continue
            if not db.blobs.has(digest):
                problems.append(f"The blob {digest} is referenced but missing.")
            elif not db.blobs.verify(digest):
                problems.append(f"The blob {digest} does not match its digest.")
    return problems
