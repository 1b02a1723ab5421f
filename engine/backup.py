"""Portable backups: one gzipped tar of every document's revision tree and its blobs.

Import goes through `Database.put_revisions`, exactly as revisions arriving by
sync do: known revisions are no-ops, new ones are grafted into the trees, and
conflicts go to the database's resolver, so nothing newer is ever overwritten.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import tarfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from engine.errors import BackupError, EngineError, UsageError
from engine.store.blobs import blob_refs
from engine.store.create import check_name, default_data_dir
from engine.store.database import Database
from engine.store.revs import Revision, generation

FORMAT = "listsync-backup"
VERSION = 1
MANIFEST = "manifest.json"
REVISIONS = "revisions.jsonl"
_BLOB_MEMBER = re.compile(r"blobs/([0-9a-f]{64})")
_CHUNK = 1 << 16
_BATCH = 500  # revisions per put_revisions call (never splitting a document)


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What an export wrote or an import changed."""

    documents: int
    revisions: int  # export: written; import: new to this database
    blobs: int  # export: written; import: new to this database


def user_db_path(data_dir: Path | None, user: str, db: str) -> Path:
    return (data_dir or default_data_dir()) / check_name(user, "user name") / check_name(
        db, "database name")


def open_existing(data_dir: Path | None, user: str, db: str) -> Database:
    """A user's database that must already exist (NotFoundError names the folder if not)."""
    return Database.open(user_db_path(data_dir, user, db), create=False)


def _tree_revisions(db: Database, doc_id: str) -> list[Revision]:
    """Every revision of a document that still has a body: leaves and kept ancestors,
    each with its history, oldest first (so parents are grafted before children)."""
    found: dict[str, Revision] = {}
    for leaf in db.leaves(doc_id):
        rev = db.get_rev(doc_id, leaf)
        if rev is None:
            continue
        found[leaf] = rev
        for ancestor in rev.history[1:]:
            if ancestor not in found:
                old = db.get_rev(doc_id, ancestor)
                # An old body whose blob is gone (compacted) travels as a stub only.
                if old is not None and old.body is not None and all(
                        db.blobs.has(str(r.get("digest"))) for r in blob_refs(old.body)):
                    found[ancestor] = old
    return sorted(found.values(), key=lambda r: (generation(r.rev), r.rev))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(mtime), 0o644
    tar.addfile(info, io.BytesIO(data))


def export_backup(db: Database, target: Path) -> BackupSummary:
    """Write the whole database (documents with their trees, plus blobs) to `target`."""
    now = time.time()
    lines: list[bytes] = []
    blobs: dict[str, dict[str, Any]] = {}
    docs = db.all_docs(include_deleted=True)
    for doc in docs:
        for rev in _tree_revisions(db, doc.id):
            lines.append(json.dumps(
                {"doc_id": rev.doc_id, "rev": rev.rev, "deleted": rev.deleted,
                 "body": rev.body, "history": rev.history},
                ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            for ref in blob_refs(rev.body or {}):
                if db.blobs.has(str(ref["digest"])):
                    blobs.setdefault(str(ref["digest"]), ref)
    manifest = {"format": FORMAT, "version": VERSION, "database": db.uuid, "created": now,
                "documents": len(docs), "revisions": len(lines),
                "blobs": [{"digest": d, "length": r.get("length"),
                           "content_type": r.get("content_type", "application/octet-stream")}
                          for d, r in sorted(blobs.items())]}
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode(), now)
                _add_bytes(tar, REVISIONS, b"\n".join(lines) + b"\n", now)
                for digest in sorted(blobs):
                    with db.blobs.open(digest) as blob:
                        data = blob.read()
                    _add_bytes(tar, f"blobs/{digest.removeprefix('sha256-')}", data, now)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, target)
    except OSError as err:
        raise BackupError(f"Could not write the backup {target}: {err.strerror or err}.") from err
    finally:
        tmp.unlink(missing_ok=True)
    return BackupSummary(len(docs), len(lines), len(blobs))


def _open_archive(source: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(source, mode="r:*")
    except FileNotFoundError as err:
        raise UsageError(f"There is no backup file {source}.") from err
    except OSError as err:
        raise UsageError(f"Could not read the backup {source}: {err.strerror}.") from err
    except (tarfile.TarError, EOFError) as err:
        raise BackupError(f"{source} is not a listsync backup (not a readable archive).") from err


def _member(tar: tarfile.TarFile, name: str, source: Path) -> IO[bytes]:
    try:
        info = tar.getmember(name)
        handle = tar.extractfile(info) if info.isfile() else None
    except KeyError:
        handle = None
    if handle is None:
        raise BackupError(f"{source} is not a listsync backup: it has no {name}.")
    return handle


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk


def _revision(obj: Any, source: Path, number: int) -> Revision:
    ok = (isinstance(obj, dict) and isinstance(obj.get("doc_id"), str)
          and isinstance(obj.get("rev"), str) and isinstance(obj.get("deleted"), bool)
          and (obj.get("body") is None or isinstance(obj.get("body"), dict))
          and isinstance(obj.get("history"), list)
          and all(isinstance(h, str) for h in obj["history"]))
    try:
        ok = ok and generation(obj["rev"]) > 0
    except UsageError:
        ok = False
    if not ok:
        raise BackupError(f"Line {number} of {REVISIONS} in {source} is not a revision.")
    return Revision(obj["doc_id"], obj["rev"], obj["deleted"], obj["body"], obj["history"])


def _read_revisions(tar: tarfile.TarFile, source: Path) -> list[Revision]:
    out = []
    with _member(tar, REVISIONS, source) as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError as err:
                    raise BackupError(f"Line {number} of {REVISIONS} in {source} "
                                      "is not valid JSON.") from err
                out.append(_revision(obj, source, number))
    return out


def import_backup(db: Database, source: Path) -> BackupSummary:
    """Merge a backup into `db` through the sync rules: blobs first, then revisions."""
    try:
        return _import(db, source)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise BackupError(f"The backup {source} is damaged: {err}.") from err


def _import(db: Database, source: Path) -> BackupSummary:
    with _open_archive(source) as tar:
        try:
            with _member(tar, MANIFEST, source) as handle:
                manifest = json.loads(handle.read())
        except ValueError as err:
            raise BackupError(f"The manifest of {source} is not valid JSON.") from err
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(f"{source} is not a listsync backup (wrong manifest).")
        if manifest.get("version") != VERSION:
            raise BackupError(f"{source} is a version {manifest.get('version')} backup; "
                              f"this listsync reads version {VERSION}.")
        revisions = _read_revisions(tar, source)
        listed = manifest.get("blobs")
        types = {str(b.get("digest")): str(b.get("content_type"))
                 for b in (listed if isinstance(listed, list) else []) if isinstance(b, dict)}
        new_blobs = 0
        for info in tar.getmembers():
            match = _BLOB_MEMBER.fullmatch(info.name)
            if match is None or not info.isfile():
                continue
            digest = "sha256-" + match.group(1)
            if db.blobs.has(digest):
                continue
            blob = tar.extractfile(info)
            assert blob is not None
            try:
                db.blobs.put_stream(_chunks(blob), types.get(digest, "application/octet-stream"),
                                    digest=digest, length=info.size)
            except EngineError as err:
                raise BackupError(f"The blob {digest} in {source} is damaged: {err}") from err
            new_blobs += 1
    return BackupSummary(len({r.doc_id for r in revisions}), _put(db, revisions, source),
                         new_blobs)


def _put(db: Database, revisions: list[Revision], source: Path) -> int:
    """Insert in batches that never split a document, so a resolver only ever sees a
    document's whole tree (an ancestor alone would look like a conflict)."""
    by_doc: dict[str, list[Revision]] = {}
    for rev in revisions:
        by_doc.setdefault(rev.doc_id, []).append(rev)
    new = 0
    batch: list[Revision] = []
    for doc_revs in by_doc.values():
        batch.extend(sorted(doc_revs, key=lambda r: (generation(r.rev), r.rev)))
        if len(batch) >= _BATCH:
            new += _put_batch(db, batch, source)
            batch = []
    if batch:
        new += _put_batch(db, batch, source)
    return new


def _put_batch(db: Database, batch: list[Revision], source: Path) -> int:
    try:
        return len(db.put_revisions(batch))
    except UsageError as err:
        raise BackupError(f"{source} holds a bad revision: {err}") from err
