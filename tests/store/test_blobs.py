"""Content-addressed blobs: durable, verified on write and on read, safe paths."""

from __future__ import annotations

import hashlib
import os

import pytest

from engine.errors import BlobDigestError, InvalidIdError, NotFoundError
from engine.store import Database
from engine.store.blobs import blob_refs


def test_blob_round_trip_and_reference_shape(db: Database) -> None:
    ref = db.blobs.put(b"\x89PNG data", "image/png")
    digest = "sha256-" + hashlib.sha256(b"\x89PNG data").hexdigest()
    assert ref == {"@type": "blob", "digest": digest, "length": 9, "content_type": "image/png"}
    assert db.blobs.has(digest)
    assert db.blobs.read(digest) == b"\x89PNG data"
    with db.blobs.open(digest) as f:
        assert f.read(4) == b"\x89PNG"
    assert db.blobs.put(b"\x89PNG data", "image/png") == ref  # same content, same blob
    assert [p.name for p in db.blobs.dir.iterdir()] == [digest[7:]]


def test_large_blob_streams_in_chunks(db: Database) -> None:
    chunk = os.urandom(1024 * 1024)
    expected = hashlib.sha256(chunk * 50).hexdigest()
    with db.blobs.writer("application/octet-stream") as w:
        for _ in range(50):
            w.write(chunk)
    assert w.ref is not None and w.ref["digest"] == "sha256-" + expected
    assert w.ref["length"] == 50 * 1024 * 1024
    h = hashlib.sha256()
    with db.blobs.open(w.ref["digest"]) as f:
        while data := f.read(1 << 20):
            h.update(data)
    assert h.hexdigest() == expected


def test_blob_with_wrong_digest_or_length_is_refused_and_not_kept(db: Database) -> None:
    claimed = "sha256-" + hashlib.sha256(b"expected").hexdigest()
    with pytest.raises(BlobDigestError):
        db.blobs.put_stream([b"something ", b"else"], "text/plain", digest=claimed)
    with pytest.raises(BlobDigestError):
        db.blobs.put_stream([b"expected"], "text/plain", digest=claimed, length=99)
    assert not db.blobs.has(claimed)
    assert list(db.blobs.dir.iterdir()) == []  # no temp file left behind


def test_a_tampered_blob_file_fails_on_read_and_in_check(db: Database) -> None:
    ref = db.blobs.put(b"original", "text/plain")
    db.save("doc", {"file": ref}, rev=None)
    db.blobs.path_for(ref["digest"]).write_bytes(b"tampered")
    with pytest.raises(BlobDigestError):
        db.blobs.read(ref["digest"])
    assert any("does not match" in p for p in db.check())


def test_missing_blob_is_reported_by_check(db: Database) -> None:
    ref = db.blobs.put(b"x", "text/plain")
    db.save("doc", {"nested": [{"file": ref}]}, rev=None)
    db.blobs.path_for(ref["digest"]).unlink()
    assert db.check() == [f"The blob {ref['digest']} is referenced but missing."]
    with pytest.raises(NotFoundError):
        db.blobs.read(ref["digest"])


@pytest.mark.parametrize("digest", ["sha256-../../etc/passwd", "sha256-" + "A" * 64,
                                    "sha256-" + "0" * 63, "md5-" + "0" * 64,
                                    "sha256-" + "0" * 64 + "\n", "sha256-/" + "0" * 63])
def test_malformed_digests_never_become_paths(db: Database, digest: str) -> None:
    with pytest.raises(InvalidIdError):
        db.blobs.has(digest)
    with pytest.raises(InvalidIdError):
        db.blobs.read(digest)
    bad_ref = {"@type": "blob", "digest": digest, "length": 1, "content_type": "x"}
    with pytest.raises(InvalidIdError):
        db.save("doc", {"img": bad_ref}, rev=None)


def test_blob_refs_finds_nested_references() -> None:
    a = {"@type": "blob", "digest": "sha256-" + "a" * 64, "length": 1, "content_type": "x"}
    b = {**a, "digest": "sha256-" + "b" * 64}
    body = {"items": [{"key": "apple", "image": a}, {"deep": {"er": [b]}}], "n": 1}
    assert sorted(r["digest"] for r in blob_refs(body)) == [a["digest"], b["digest"]]


def test_compaction_drops_unreferenced_blobs_only(db: Database) -> None:
    kept = db.blobs.put(b"kept", "text/plain")
    old = db.blobs.put(b"old", "text/plain")
    local = db.blobs.put(b"local", "text/plain")
    db.blobs.put(b"orphan", "text/plain")
    rev = db.save("doc", {"img": old}, rev=None)
    db.save("doc", {"img": kept}, rev=rev)
    db.put_local("settings", {"img": local})
    for i in range(5):  # push the old body beyond max_ancestor_bodies
        rev = db.get("doc").rev  # type: ignore[union-attr]
        db.save("doc", {"img": kept, "i": i}, rev=rev)
    db.compact(blob_grace=3600)
    assert len(list(db.blobs.digests())) == 4  # young blobs survive the grace period
    db.compact(blob_grace=0)
    assert sorted(db.blobs.digests()) == sorted([kept["digest"], local["digest"]])
    assert db.check() == []
