"""Blob transfer over a link: serve `get_blob` from the store, fetch a blob into it.

Chunks stay under the frame limit; a fetched blob is written to a temp file and
published only after its length and SHA-256 match the reference.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import anyio

from engine.errors import BlobDigestError, RemoteProtocolError, StoreError
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
    end = req.offset + req.length
    try:
        # The store's reader verifies as it goes and cannot seek: skip to the offset.
        offset = 0
        while offset < req.offset:
            piece = await anyio.to_thread.run_sync(stream.read, min(chunk, req.offset - offset))
            if not piece:
                break  # past the end: answer with one empty last chunk
            offset += len(piece)
        data = await anyio.to_thread.run_sync(stream.read, min(chunk, end - offset))
        while True:
            offset_next = offset + len(data)
            ahead = b""
            if data and offset_next < end:
                ahead = await anyio.to_thread.run_sync(stream.read, min(chunk, end - offset_next))
            await link.send(BlobChunk(req.id, offset, data, not ahead))
            if not ahead:
                return
            offset, data = offset_next, ahead
    except StoreError as err:
        # A blob that fails verification while read: tell the peer, keep the session.
        await link.send(Error("not_found", str(err)[:900], re=req.id))
    finally:
        stream.close()


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
    except BlobDigestError as err:
        raise RemoteProtocolError(f"The peer sent blob data that is not {digest}.") from err
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(writer.abort)
        raise
    return True

