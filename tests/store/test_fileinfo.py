"""fileinfo.inode_and_size: what os.stat says about inode and size, and its errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.store import fileinfo
from engine.store.fileinfo import PathInfo, inode_and_size


@pytest.fixture(params=["statx", "os.stat"])
def libc_statx(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test with statx, and as on a libc without it."""
    if request.param == "os.stat":
        monkeypatch.setattr(fileinfo, "_statx", None)


@pytest.mark.usefixtures("libc_statx")
def test_inode_and_size_agree_with_os_stat(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 12345)
    info = PathInfo(path)  # one lookup object, asked again after the file changed
    assert info.inode_and_size() == inode_and_size(path) == (os.stat(path).st_ino, 12345)
    replacement = tmp_path / "g"
    replacement.write_bytes(b"")
    os.replace(replacement, path)  # what a compaction does to the journal
    assert info.inode_and_size() == (os.stat(path).st_ino, 0)


@pytest.mark.usefixtures("libc_statx")
def test_a_missing_path_raises_what_os_stat_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        inode_and_size(tmp_path / "missing")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        inode_and_size(tmp_path / "file" / "below")
