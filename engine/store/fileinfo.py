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
_STATX_INO = 0x100
_STATX_SIZE = 0x200
_STATX_BYTES = 256  # sizeof(struct statx)
_MASK = struct.Struct("=I")  # stx_mask, at offset 0: what the file system filled in
_INO_SIZE = struct.Struct("=QQ")  # stx_ino and stx_size, at offset 32
_INO_SIZE_OFFSET = 32


def _load_statx() -> Callable[..., int] | None:
    try:
        statx = ctypes.CDLL(None, use_errno=True).statx
    except (OSError, AttributeError, TypeError):  # no statx in this libc (or no libc)
        return None
    statx.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                      ctypes.c_char_p]
    statx.restype = ctypes.c_int
    return statx


_statx = _load_statx()


def inode_and_size(path: Path) -> tuple[int, int]:
    """`(st_ino, st_size)` of `path`, raising what `os.stat(path)` would."""
    if _statx is not None:
        buf = ctypes.create_string_buffer(_STATX_BYTES)  # per call: threads share this
        wanted = _STATX_INO | _STATX_SIZE
        if (_statx(_AT_FDCWD, os.fsencode(path), 0, wanted, buf) == 0
                and _MASK.unpack_from(buf)[0] & wanted == wanted):
            ino, size = _INO_SIZE.unpack_from(buf, _INO_SIZE_OFFSET)
            return (ino, size)
    st = os.stat(path)  # also gives the error (FileNotFoundError, ...) a failed statx had
    return (st.st_ino, st.st_size)
