"""Content-addressed blob files: `<dir>/blobs/<64 hex>` named by their sha256.

A blob is written to a temp file, hashed as it goes, fsynced, checked against
the digest it claims, renamed into place, and the folder fsynced. Reads check
the digest again. Paths come only from digests that passed a strict format check.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import BlobDigestError, InvalidIdError, NotFoundError, StorageFailedError
from engine.store.journal import FileOps

_DIGEST_RE = re.compile(r"sha256-([0-9a-f]{64})")
_FILE_RE = re.compile(r"[0-9a-f]{64}")
CHUNK = 1024 * 1024


def check_digest(digest: object) -> str:
    """The hex part of a `sha256-<64 lowercase hex>` digest, or InvalidIdError."""
    m = _DIGEST_RE.fullmatch(digest) if isinstance(digest, str) else None
    if m is None:
        raise InvalidIdError(f"The blob digest {digest!r} is not 'sha256-' and 64 lowercase hex.")
    return m.group(1)


def blob_refs(body: object) -> list[dict[str, Any]]:
    """Every blob reference (`{"@type": "blob", ...}`) anywhere inside `body`."""
    out: list[dict[str, Any]] = []
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if value.get("@type") == "blob":
                out.append(value)
            else:
                stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return out


def make_ref(digest: str, length: int, content_type: str) -> dict[str, Any]:
    return {"@type": "blob", "digest": digest, "length": length, "content_type": content_type}


class BlobWriter:
    """Streams one blob to disk; `commit()` verifies and publishes it."""

    def __init__(self, store: BlobStore, content_type: str, digest: str | None,
                 length: int | None) -> None:
        if digest is not None:
            check_digest(digest)
        self.store = store
        self.content_type = content_type
        self.expected = (digest, length)
        self.hash = hashlib.sha256()
        self.length = 0
        self.tmp = store.dir / f".tmp-{secrets.token_hex(8)}"
        self.ref: dict[str, Any] | None = None
        self.fd = -1
        if store.failed:
            raise StorageFailedError(
                f"An earlier write to {store.dir} failed; reopen the database to write again.")
        try:
            self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise StorageFailedError(f"Cannot create a blob file in {store.dir}.") from err

    def write(self, chunk: bytes) -> None:
        try:
            self.store.ops.write(self.fd, chunk, self.length)
        except OSError as err:
            self.store.failed = True  # as the journal: no retry-and-hope until reopened
            self.abort()
            raise StorageFailedError(f"Writing a blob failed ({err.strerror or err}).") from err
        self.hash.update(chunk)
        self.length += len(chunk)

    def commit(self) -> dict[str, Any]:
        digest = "sha256-" + self.hash.hexdigest()
        want_digest, want_length = self.expected
        if (want_digest is not None and want_digest != digest) or (
                want_length is not None and want_length != self.length):
            self.abort()
            raise BlobDigestError(
                f"Blob data ({self.length} bytes, {digest}) does not match "
                f"{want_digest or 'the expected digest'} ({want_length} bytes).")
        ops = self.store.ops
        try:
            ops.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1
            ops.rename(self.tmp, self.store.path_for(digest))
            ops.fsync_dir(self.store.dir)
        except OSError as err:
            self.store.failed = True  # a failed fsync leaves the disk state unknown
            self.abort()
            raise StorageFailedError(f"Saving a blob failed ({err.strerror or err}).") from err
        self.ref = make_ref(digest, self.length, self.content_type)
        return self.ref

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and self.ref is None:
            self.commit()
        elif exc_type is not None:
            self.abort()


class _VerifyingReader(io.RawIOBase):
    """Reads a blob file and raises BlobDigestError at the end if it was altered."""

    def __init__(self, path: Path, digest: str) -> None:
        self.file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.digest = digest
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.file.readinto(buffer)
        if n:
            self.hash.update(memoryview(buffer)[:n])
        elif "sha256-" + self.hash.hexdigest() != self.digest:
            raise BlobDigestError(f"The blob file for {self.digest} does not match its digest.")
        return n

    def close(self) -> None:
        self.file.close()
        super().close()


class BlobStore:
    """The blobs folder of one database."""

    def __init__(self, directory: Path, ops: FileOps) -> None:
        self.dir = directory
        self.ops = ops
        self.failed = False  # a write or fsync failed: refuse blob writes until reopened

    def path_for(self, digest: str) -> Path:
        return self.dir / check_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def put(self, data: bytes, content_type: str) -> dict[str, Any]:
        """Store `data` durably; returns its blob reference."""
        return self.put_stream([data], content_type)

    def put_stream(self, chunks: Iterable[bytes], content_type: str, *,
                   digest: str | None = None, length: int | None = None) -> dict[str, Any]:
        """Store a blob arriving in chunks; checks `digest`/`length` if given."""
        writer = BlobWriter(self, content_type, digest, length)
        try:
            for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.commit()

    def writer(self, content_type: str, *, digest: str | None = None,
               length: int | None = None) -> BlobWriter:
        """A writer for a large blob: `with db.blobs.writer(...) as w: w.write(chunk)`."""
        return BlobWriter(self, content_type, digest, length)

    def open(self, digest: str) -> BinaryIO:
        path = self.path_for(digest)
        try:
            raw = _VerifyingReader(path, digest)
        except FileNotFoundError as err:
            raise NotFoundError(f"The blob {digest} is not stored.") from err
        return io.BufferedReader(raw, CHUNK)

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def verify(self, digest: str) -> bool:
        """True if the blob is present and its content matches its digest."""
        try:
            with self.open(digest) as f:
                while f.read(CHUNK):
                    pass
        except (NotFoundError, BlobDigestError):
            return False
        return True

    def digests(self) -> Iterator[str]:
        for entry in os.scandir(self.dir):
            if _FILE_RE.fullmatch(entry.name):
                yield "sha256-" + entry.name

    def delete(self, digest: str) -> None:
        self.path_for(digest).unlink(missing_ok=True)

    def clean_temp(self) -> None:
        """Remove temp files left by writers that crashed."""
        for entry in os.scandir(self.dir):
            if entry.name.startswith(".tmp-"):
                Path(entry.path).unlink(missing_ok=True)
