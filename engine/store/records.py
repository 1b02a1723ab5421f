"""Revision records for put_revisions' batches, encoded in one tight loop.

The same bytes `commit` writes for the same records (`Journal.encode` of each, the
last with more=False), without its per-record item lists and method calls. The
input is one flat list, not a tuple per record: those would stay for the cyclic
GC to count and scan until the batch is written.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgpack

from engine.store.journal import HEADER, MAX_RECORD, encode

# A record's fields in `build`'s input: seq, doc id, rev, ancestors, deleted, body (bytes).
ROW = 6


def build(packer: msgpack.Packer, rows: list[Any]) -> tuple[bytes, list[int]]:
    """The records of `rows` (ROW values each) as one batch, and where each record's body
    lies: (offset from the start of the batch, length), two ints a record."""
    pack, crc32, header = packer.pack, zlib.crc32, HEADER.pack
    out: list[bytes] = []
    spans: list[int] = []
    size = 0
    for seq, doc_id, rev, ancestors, deleted, body in zip(*[iter(rows)] * ROW, strict=True):
        payload = pack(["R", True, seq, doc_id, rev, ancestors, deleted, body])
        if len(payload) > MAX_RECORD:
            encode("R", True, seq, doc_id, rev, ancestors, deleted, body=body)  # raises
        out += (header(len(payload), crc32(payload)), payload)
        size += HEADER.size + len(payload)
        spans += (size - len(body), len(body))
    if out:  # the last record ends the batch (more=False: a byte of the same size)
        payload = pack(["R", False, *rows[-ROW:]])
        out[-2:] = header(len(payload), crc32(payload)), payload
    return b"".join(out), spans
