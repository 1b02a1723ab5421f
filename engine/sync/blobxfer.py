"""Blob transfer over a link: serve `get_blob` from the store, fetch a blob into it.

Chunks stay under the frame limit; a fetched blob is written to a temp file and
published only after its length and SHA-256 match the reference.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import anyio

from engine.errors import RemoteProtocolError, StoreError
from engine.protocol import BlobChunk, Error, GetBlob
from engine.store.database import Database
from engine.sync.link import Link


async def serve_blob(link: Link, db: Database, req: GetBlob) -> None:
    """Answer one get_blob with chunks, or a not_found error."""
    try:
        stream: BinaryIO = await anyio.to_thread.run_sync(db.blobs.open, req.digest)
    except StoreError:
        await link.send(Error("not_found", f"No blob {req.digest} here.", re=req.id))
        return
    chunk = link.conn.limits.blob_chunk
    try:
        total = await anyio.to_thread.run_sync(_size, db, req.digest)
        offset = min(req.offset, total)
        end = min(total, offset + req.length)
        await anyio.to_thread.run_sync(_skip, stream, offset)
        while True:
            want = min(chunk, end - offset)
            data = await anyio.to_thread.run_sync(stream.read, want) if want else b""
            if len(data) != want:
                raise StoreError(f"The blob {req.digest} is shorter than its file.")
            last = offset + len(data) >= end
            await link.send(BlobChunk(req.id, offset, data, last, total))
            offset += len(data)
            if last:
                return
    except StoreError as err:
        # A blob that fails verification while read: tell the peer, keep the session.
        await link.send(Error("not_found", str(err)[:900], re=req.id))
    finally:
        stream.close()


def _size(db: Database, digest: str) -> int:
    # The store's blob reader verifies as it reads, so it cannot seek; ask the file.
    try:
        return db.blobs.path_for(digest).stat().st_size
    except OSError as err:
        raise StoreError(f"The blob {digest} could not be read: {err.strerror}.") from err


def _skip(stream: BinaryIO, count: int) -> None:
    while count > 0:
        data = stream.read(min(count, 1024 * 1024))
        if not data:
            return
        count -= len(data)


async def fetch_blob(link: Link, db: Database, ref: dict[str, Any], max_blob: int) -> bool:
    """Fetch one referenced blob from the peer into the store; False if it has none."""
    digest, length = ref["digest"], ref.get("length")
    if type(length) is not int or not 0 <= length <= max_blob:
        raise RemoteProtocolError(f"The blob {digest} has a bad or too large length.")
    _, replies = await link.request(lambda i: GetBlob(i, digest, 0, max(length, 1)))
    writer = await anyio.to_thread.run_sync(
        lambda: db.blobs.writer(str(ref.get("content_type", "application/octet-stream")),
                                digest=digest, length=length))
    try:
        received = 0
        async with replies:
            async for reply in replies:
                if isinstance(reply, Error):
                    await anyio.to_thread.run_sync(writer.abort)
                    return False
                assert isinstance(reply, BlobChunk)
                if reply.offset != received or received + len(reply.data) > length:
                    raise RemoteProtocolError(f"The peer sent blob {digest} out of order.")
                await anyio.to_thread.run_sync(writer.write, reply.data)
                received += len(reply.data)
                if reply.last:
                    break
        if received != length:
            raise RemoteProtocolError(f"The peer sent {received} of {length} bytes of {digest}.")
        await anyio.to_thread.run_sync(writer.commit)
    except StoreError as err:
        if type(err).__name__ == "BlobDigestError":
            raise RemoteProtocolError(f"The peer sent blob data that is not {digest}.") from err
        raise
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(writer.abort)
        raise
    return True

