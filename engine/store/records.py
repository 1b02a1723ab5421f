"""Revision records encoded straight into one write buffer, for big batches.

The bytes are those of `Journal.encode("R", more, [seq, doc id, rev, ancestors,
deleted], body)`, built with less copying: the metadata is packed on its own and
the body (already msgpack) goes in as it is, behind a bin header made here, its
CRC continued from the metadata's. Each record but the last says more=True; the
last is patched when the batch is finished.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgpack

from engine.store.journal import HEADER, MAX_RECORD, encode

# fixarray of 8 ([kind, more, seq, doc id, rev, ancestors, deleted, body]), "R", more
_MORE = b"\x98\xa1R\xc3"
_LAST = b"\x98\xa1R\xc2"
_FIELDS = 0x95  # how msgpack starts the 5 fields packed on their own: a fixarray of 5

# What Index.add_revs takes, per record: seq, doc id, rev, ancestors, deleted, and where
# the body lies from the start of the batch (offset, length); one flat list for them all,
# as a tuple each would stay for the cyclic GC to scan until the batch is indexed.
ENTRY_FIELDS = 7


def _bin_header(n: int) -> bytes:
    """msgpack's header for a bin of n bytes (the smallest that fits, as msgpack picks)."""
    if n < 0x100:
        return b"\xc4" + n.to_bytes(1, "big")
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


class RevRecords:
    """A batch of revision records: `add` each, then `finish` for the bytes to write."""

    __slots__ = ("pieces", "entries", "count", "size", "_pack")

    def __init__(self, packer: msgpack.Packer) -> None:
        self.pieces: list[bytes] = []  # header, metadata, body of each record
        self.entries: list[Any] = []  # ENTRY_FIELDS a record
        self.count = 0  # records
        self.size = 0  # bytes so far
        self._pack = packer.pack

    def add(self, seq: int, doc_id: str, rev: str, ancestors: list[str], deleted: bool,
            body: bytes) -> None:
        fields = self._pack([seq, doc_id, rev, ancestors, deleted])
        assert fields[0] == _FIELDS
        n = len(body)
        meta = _MORE + fields[1:] + _bin_header(n)
        length = len(meta) + n
        if length > MAX_RECORD:
            encode("R", True, seq, doc_id, rev, ancestors, deleted, body=body)  # raises
        self.pieces += (HEADER.pack(length, zlib.crc32(body, zlib.crc32(meta))), meta, body)
        start = self.size + HEADER.size + len(meta)
        self.entries += (seq, doc_id, rev, ancestors, deleted, start, n)
        self.count += 1
        self.size = start + n

    def finish(self) -> bytes:
        """All the records, the last one ending the batch (more=False)."""
        pieces = self.pieces
        meta, body = _LAST + pieces[-2][len(_LAST):], pieces[-1]
        pieces[-3] = HEADER.pack(len(meta) + len(body), zlib.crc32(body, zlib.crc32(meta)))
        pieces[-2] = meta
        return b"".join(pieces)

