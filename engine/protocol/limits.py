"""Limits on what a peer may send, and validators for the small values in frames.

Policy as data: one frozen `Limits` per connection; the validators raise
`ValueError` with one sentence, which the message layer turns into a protocol error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = (1, 0)
# "inline*": see engine/protocol/inline.py; "direct": direct.py; "rows": splice.py
FEATURES = ("deltas", "blobs", "inline", "inline_bulk", "direct", "rows")

_REV_RE = re.compile(r"[1-9][0-9]{0,8}-[0-9a-f]{32}\Z")
_DIGEST_RE = re.compile(r"sha256-[0-9a-f]{64}\Z")
BAD_ID_CHAR = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")  # (one search may span many ids)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one side accepts from its peer (sizes in bytes unless named)."""

    max_frame: int = 4 * 1024 * 1024  # whole encoded frame, checked before decoding
    max_depth: int = 32  # nesting of maps/arrays, frame envelope included
    max_str: int = 1024 * 1024  # one string
    max_bin: int = 4 * 1024 * 1024  # one binary value (blob chunk)
    max_array: int = 100_000  # items in one array
    max_map: int = 10_000  # pairs in one map
    max_blob: int = 1024 * 1024 * 1024  # largest blob we fetch

    def __post_init__(self) -> None:
        if self.max_frame < 4096 or self.max_depth < 8:
            raise ValueError("Frame limits below 4096 bytes or depth 8 cannot carry the protocol.")

    @property
    def blob_chunk(self) -> int:
        """Payload of one blob_chunk frame: 1 MiB, leaving room for the envelope."""
        return min(1024 * 1024, self.max_frame - 1024)


DEFAULT_LIMITS = Limits()


def check_doc_id(value: object) -> str:
    """A replicable document id: 1..250 UTF-8 bytes, no control chars, no leading '_'."""
    if not isinstance(value, str):
        raise ValueError("A document id must be a string.")
    # Cheap length test first: 250 bytes is at least 63 and at most 250 characters.
    if not value or len(value) > 62 and len(value.encode("utf-8", "surrogatepass")) > 250:
        raise ValueError("A document id must be 1 to 250 UTF-8 bytes long.")
    if value[0] == "_":
        raise ValueError("Document ids starting with '_' are reserved.")
    if BAD_ID_CHAR.search(value):
        raise ValueError("A document id must not contain control characters or surrogates.")
    return value


def check_rev(value: object) -> str:
    """A revision id `<generation>-<32 lowercase hex>`."""
    if not isinstance(value, str) or not _REV_RE.match(value):
        raise ValueError(f"{_show(value)} is not a revision id.")
    return value


def rev_generation(rev: str) -> int:
    return int(rev.split("-", 1)[0])


def check_history(rev: object, history: tuple[str, ...] | list[str]) -> None:
    """`history` is a tuple of rev ids starting with `rev`, generations counting down."""
    if type(history) not in (tuple, list) or not history or history[0] != rev:
        raise ValueError("history must start with the revision itself.")
    match = _REV_RE.match
    top = 0
    for i, item in enumerate(history):
        if type(item) is not str or not match(item):
            raise ValueError(f"{_show(item)} is not a revision id.")
        gen = int(item[:item.index("-")])
        if i == 0:
            top = gen
        elif gen != top - i:
            raise ValueError("history generations must count down by one.")


def check_digest(value: object) -> str:
    """A blob digest `sha256-<64 lowercase hex>`."""
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise ValueError(f"{_show(value)} is not a blob digest.")
    return value


def check_int(value: object, name: str, low: int = 0, high: int = 2**63 - 1) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"The field {name} must be an integer from {low} to {high}.")
    return value


def check_bool(value: object, name: str) -> bool:
    if type(value) is not bool:
        raise ValueError(f"The field {name} must be true or false.")
    return value


def check_str(value: object, name: str, max_len: int = 1024) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        raise ValueError(f"The field {name} must be a string of at most {max_len} characters.")
    return value


def check_list(value: object, name: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"The field {name} must be an array.")
    return list(value)


def doc_revs(value: object, name: str) -> tuple[tuple[str, str], ...]:
    """A list of [doc_id, rev] pairs."""
    out = []
    for item in check_list(value, name):
        pair = check_list(item, name)
        if len(pair) != 2:
            raise ValueError(f"Each entry of {name} must be [doc_id, rev].")
        out.append((check_doc_id(pair[0]), check_rev(pair[1])))
    return tuple(out)


def revs_list(value: object, name: str) -> tuple[str, ...]:
    """A list of revision ids."""
    return tuple(check_rev(r) for r in check_list(value, name))


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
