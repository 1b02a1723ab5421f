"""The inode number and size of a path, without asking for its timestamps.

Every store operation looks at the journal's path (has a compaction replaced
the file?). `os.stat` asks for the timestamps too, and on Linux 6.13+
(multigrain timestamps) a query of a file's ctime makes its next write stamp
it with a fine-grained time: an inode update on every append, which cost each
durable save ~30-50 us more of fdatasync on ext4 here. statx(2) can ask for the
inode number and size alone; Python 3.11 has no `os.statx`, hence ctypes, and
`os.stat` wherever statx is missing or fails.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Callable
from pathlib import Path

_AT_FDCWD = -100
_WANTED = 0x100 | 0x200  # STATX_INO | STATX_SIZE
_STATX_BYTES = 256  # sizeof(struct statx)
_MASK = struct.Struct("=I")  # stx_mask, at offset 0: what the file system filled in
_INO_SIZE = struct.Struct("=QQ")  # stx_ino and stx_size, at offset 32
_INO_SIZE_OFFSET = 32


def _load_statx() -> Callable[..., int] | None:
    try:
        statx = ctypes.CDLL(None, use_errno=True).statx
    except (OSError, AttributeError, TypeError):  # no statx in this libc (or no libc)
        return None
    # No argtypes: ctypes then passes the ints as C ints and the bytes and buffer as
    # pointers, which is what statx takes, without a conversion step per call.
    statx.restype = ctypes.c_int
    return statx


_statx = _load_statx()


class PathInfo:
    """Looks up one path's inode and size; one buffer, so one thread at a time (the
    journal calls it under its database's mutex)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._encoded = os.fsencode(path)
        self._buf = ctypes.create_string_buffer(_STATX_BYTES)

    def inode_and_size(self) -> tuple[int, int]:
        """`(st_ino, st_size)` of the path, raising what `os.stat(path)` would."""
        buf = self._buf
        if (_statx is not None and _statx(_AT_FDCWD, self._encoded, 0, _WANTED, buf) == 0
                and _MASK.unpack_from(buf)[0] & _WANTED == _WANTED):
            ino, size = _INO_SIZE.unpack_from(buf, _INO_SIZE_OFFSET)
            return (ino, size)
        st = os.stat(self.path)  # also gives the error (FileNotFoundError, ...) statx had
        return (st.st_ino, st.st_size)


def inode_and_size(path: Path) -> tuple[int, int]:
    """`(st_ino, st_size)` of `path`, raising what `os.stat(path)` would."""
    return PathInfo(path).inode_and_size()
