"""`check`, `compact`, `export` and `import`: exit codes, messages, and faithful backups."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine import (
    Database,
    Revision,
    adjust,
    export_backup,
    import_backup,
    list_resolver,
    open_list_db,
    open_user_db,
    update_list,
)
from tests.helpers import run_cli


@pytest.fixture
def cfg(tmp_path: Path) -> dict[str, str]:
    """Keep the developer's own settings file out of the tests."""
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


def cli(tmp_path: Path, cfg: dict[str, str], *args: str, user: str = "bob") -> tuple[int, str, str]:
    result = run_cli("--data-dir", str(tmp_path / "data"), "--user", user, *args, **cfg)
    return result.returncode, result.stdout, result.stderr


def sell(db: Database, name: str, amount: int) -> None:
    update_list(db, lambda body: adjust(body, name, -amount, device=db.uuid, user="bob", now=1.0))


def quantity(db: Database, name: str) -> int:
    from engine import read_list
    return next(int(i["value"]) for i in read_list(db)["items"] if i["key"] == name)


def rich_database(path: Path) -> Database:
    """The sample list (42 pictures) with history, a document with its own blob that was
    edited, a deleted document, and a resolved conflict (a tombstoned leaf)."""
    db = open_list_db(path, "bob")
    for n in range(6):
        sell(db, "Apples", 1 + n % 2)
    ref = db.blobs.put(b"receipt scan " * 100, "application/pdf")
    rev = db.save("receipt", {"type": "receipt", "scan": ref, "n": 1}, rev=None)
    db.save("receipt", {"type": "receipt", "scan": ref, "n": 2}, rev=rev)
    gone = db.save("gone", {"type": "note"}, rev=None)
    db.delete("gone", rev=gone)
    base = db.save("note", {"text": "base"}, rev=None)
    db.save("note", {"text": "here"}, rev=base)
    from engine.store import make_rev_id
    side = make_rev_id(base, False, {"text": "elsewhere"})
    db.put_revisions([Revision("note", side, False, {"text": "elsewhere"}, [side, base])])
    assert len(db.leaves("note")) == 2 and db.conflicts("note") == []  # merged + tombstone
    return db


def snapshot(db: Database) -> dict[str, object]:
    docs = {}
    for doc in db.all_docs(include_deleted=True):
        leaves = db.leaves(doc.id)
        trees = [db.get_rev(doc.id, leaf) for leaf in leaves]
        kept = {rev: (r.body is not None) for t in trees if t for rev in t.history
                for r in [db.get_rev(doc.id, rev)] if r}
        docs[doc.id] = (doc.rev, doc.deleted, doc.body, leaves,
                        [t.history for t in trees if t], kept)
    return docs


def blobs(db: Database) -> dict[str, bytes]:
    return {d: db.blobs.read(d) for d in db.blobs.digests()}


def test_export_then_import_into_an_empty_database_reproduces_everything(tmp_path: Path) -> None:
    with rich_database(tmp_path / "src") as src:
        summary = export_backup(src, tmp_path / "backup.tar.gz")
        assert (summary.documents, summary.blobs) == (4, 43)
        with open_user_db(tmp_path / "dst", "bob") as dst:  # no sample list: empty
            dst.resolver = list_resolver
            assert dst.all_docs(include_deleted=True) == []
            result = import_backup(dst, tmp_path / "backup.tar.gz")
            assert snapshot(dst) == snapshot(src)
            assert blobs(dst) == blobs(src)
            assert dst.check() == []
            assert result.blobs == 43
            again = import_backup(dst, tmp_path / "backup.tar.gz")
            assert (again.revisions, again.blobs) == (0, 0)  # idempotent


def test_import_keeps_newer_local_data_and_merges_concurrent_sales(tmp_path: Path) -> None:
    with open_list_db(tmp_path / "a", "bob") as a, open_list_db(tmp_path / "b", "bob") as b:
        sell(a, "Apples", 2)
        export_backup(a, tmp_path / "a.tar.gz")
        sell(a, "Apples", 1)  # newer than the backup
        newest = a.get("list")
        assert import_backup(a, tmp_path / "a.tar.gz").revisions == 0
        assert a.get("list") == newest and quantity(a, "Apples") == 7
        sell(b, "Apples", 3)  # a sale the backup never saw
        import_backup(b, tmp_path / "a.tar.gz")
        assert quantity(b, "Apples") == 5 and b.conflicts("list") == []


def test_check_compact_export_import_through_the_command_line(
        tmp_path: Path, cfg: dict[str, str]) -> None:
    open_list_db(tmp_path / "data", "bob").close()  # bob's database, with the sample list
    code, out, err = cli(tmp_path, cfg, "check")
    assert (code, err) == (0, "")
    assert out == (f"{tmp_path}/data/bob/userdb: journal and blobs are healthy "
                   "(1 documents).\n")
    with Database.open(tmp_path / "data" / "bob" / "userdb", create=False) as db:
        rev = None
        for i in range(5):  # a document's revisions, then the document purged: all droppable
            rev = db.save("note", {"i": i}, rev=rev)
        db.purge("note")
        records = db.journal_bytes
        assert records < (tmp_path / "data" / "bob" / "userdb" / "journal").stat().st_size
    code, out, _ = cli(tmp_path, cfg, "compact")
    assert code == 0 and out.startswith(f"{tmp_path}/data/bob/userdb: compacted the journal "
                                        f"from {records:,} to ")
    after = int(out.split(" to ")[1].split(" bytes")[0].replace(",", ""))
    assert 0 < after < records and out.endswith(" bytes of records.\n")
    backup = tmp_path / "bob.tar.gz"
    code, out, _ = cli(tmp_path, cfg, "export", str(backup))
    assert (code, out) == (0, f"exported 1 documents (1 revisions) and 42 blobs to {backup}\n")
    code, out, _ = cli(tmp_path, cfg, "import", str(backup), user="carol")
    assert (code, out) == (0, f"imported 1 documents from {backup}: 1 new revisions, "
                              "42 new blobs (newer local changes kept)\n")
    with Database.open(tmp_path / "data" / "carol" / "userdb", create=False) as carol, \
            Database.open(tmp_path / "data" / "bob" / "userdb", create=False) as bob:
        assert snapshot(carol) == snapshot(bob) and blobs(carol) == blobs(bob)


def test_check_reports_a_damaged_blob_with_exit_1(tmp_path: Path, cfg: dict[str, str]) -> None:
    with open_list_db(tmp_path / "data", "bob") as db:
        digest = sorted(db.blobs.digests())[0]
        path = db.blobs.path_for(digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"not a picture")
    code, out, _ = cli(tmp_path, cfg, "check")
    assert code == 1
    assert out == (f"problem: The blob {digest} does not match its digest.\n"
                   f"{tmp_path}/data/bob/userdb: 1 problem(s) found.\n")


def test_check_reports_a_journal_damaged_in_the_middle_with_exit_1(
        tmp_path: Path, cfg: dict[str, str]) -> None:
    with open_list_db(tmp_path / "data", "bob") as db:
        sell(db, "Apples", 1)
    journal = tmp_path / "data" / "bob" / "userdb" / "journal"
    data = bytearray(journal.read_bytes())
    data[200] ^= 0xFF
    journal.write_bytes(bytes(data))
    code, out, err = cli(tmp_path, cfg, "check")
    assert (code, out) == (1, "")
    assert err.startswith(f"listsync: Journal {journal} is damaged at byte offset ")


@pytest.mark.parametrize("command", ["check", "compact", "export"])
def test_maintenance_of_a_missing_database_fails_with_exit_1(
        tmp_path: Path, cfg: dict[str, str], command: str) -> None:
    extra = [str(tmp_path / "x.tar.gz")] if command == "export" else []
    code, out, err = cli(tmp_path, cfg, command, *extra, user="nobody")
    assert (code, out) == (1, "")
    assert err == f"listsync: There is no database at {tmp_path}/data/nobody/userdb.\n"


def test_import_of_missing_or_corrupt_files_fails_without_touching_the_data(
        tmp_path: Path, cfg: dict[str, str]) -> None:
    code, _, err = cli(tmp_path, cfg, "import", str(tmp_path / "nope.tar.gz"))
    assert (code, err) == (2, f"listsync: There is no backup file {tmp_path}/nope.tar.gz.\n")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive")
    code, _, err = cli(tmp_path, cfg, "import", str(junk))
    assert (code, err) == (1, f"listsync: {junk} is not a listsync backup "
                              "(not a readable archive).\n")


def test_import_refuses_a_truncated_or_foreign_archive(tmp_path: Path) -> None:
    import tarfile

    from engine import BackupError
    with open_list_db(tmp_path / "src", "bob") as src:
        export_backup(src, tmp_path / "good.tar.gz")
    data = (tmp_path / "good.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign.tar"
    with tarfile.open(foreign, "w") as tar:
        (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
        tar.add(tmp_path / "manifest.json", arcname="manifest.json")
    with open_user_db(tmp_path / "dst", "bob") as dst:
        with pytest.raises(BackupError, match="is damaged"):
            import_backup(dst, tmp_path / "cut.tar.gz")
        with pytest.raises(BackupError, match=r"is not a listsync backup \(wrong manifest\)"):
            import_backup(dst, foreign)
        assert dst.all_docs(include_deleted=True) == []
