"""Revision logic, pure: rev ids, the winner rule, per-document revision trees.

No I/O here. A tree node only remembers *where* its body lives (an opaque
`(offset, length)` pair the journal hands out), never the body itself.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidIdError, UsageError
from engine.store.canon import canonical as canonical

MAX_ID_BYTES = 250
_REV_RE = re.compile(r"([1-9][0-9]{0,8})-([0-9a-f]{32})")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_INT64 = (-(2**63), 2**64 - 1)
_MAX_FAST_DEPTH = 400  # nesting levels the fast body check walks before the slow one

Loc = tuple[int, int]  # (file offset, length) of a stored body


@dataclass(frozen=True, slots=True)
class Document:
    """The winning revision of a document, as readers see it."""

    id: str
    rev: str
    deleted: bool
    body: dict[str, Any]


@dataclass(slots=True)
class Revision:
    """One revision as exchanged by sync; `history` is newest first, starting at `rev`."""

    doc_id: str
    rev: str
    deleted: bool
    body: dict[str, Any] | None
    history: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change feed: a document's latest state at `seq`."""

    seq: int
    doc_id: str
    rev: str
    deleted: bool
    leaves: list[str]


def make_rev_id(parent: str | None, deleted: bool, body: dict[str, Any]) -> str:
    """The deterministic id of the revision `body` made on top of `parent`."""
    gen = generation(parent) + 1 if parent else 1
    return f"{gen}-{hashlib.sha256(canonical(parent, deleted, body)).digest()[:16].hex()}"


def generation(rev: str) -> int:
    """The generation number of a rev id; InvalidIdError if it is malformed."""
    m = _REV_RE.fullmatch(rev) if isinstance(rev, str) else None
    if m is None:
        raise InvalidIdError(f"The revision id {rev!r} is not of the form <generation>-<hex>.")
    return int(m.group(1))


def check_id(doc_id: object, what: str = "document id") -> str:
    """Return `doc_id` if it is a usable id, else raise InvalidIdError with the reason."""
    # The usual id, passed without encoding it: ASCII has a byte per character, and an
    # ASCII string is printable exactly when it holds no control character.
    if (type(doc_id) is str and doc_id.isascii() and 0 < len(doc_id) <= MAX_ID_BYTES
            and doc_id.isprintable()):
        return doc_id
    if not isinstance(doc_id, str):
        raise InvalidIdError(f"The {what} must be a string, not {type(doc_id).__name__}.")
    try:
        size = len(doc_id.encode("utf-8"))
    except UnicodeEncodeError as err:
        raise InvalidIdError(f"The {what} {doc_id!r} is not valid UTF-8 text.") from err
    if size == 0:
        raise InvalidIdError(f"The {what} must not be empty.")
    if size > MAX_ID_BYTES:
        raise InvalidIdError(f"The {what} is {size} bytes long; the limit is {MAX_ID_BYTES}.")
    if _CONTROL_RE.search(doc_id):
        raise InvalidIdError(f"The {what} {doc_id!r} contains a control character.")
    return doc_id


def check_doc_id(doc_id: object) -> str:
    doc_id = check_id(doc_id)
    if doc_id.startswith("_"):
        raise InvalidIdError(f"The document id {doc_id!r} starts with '_', which is reserved.")
    return doc_id


def check_body(body: object, where: str = "body") -> dict[str, Any]:
    """Refuse anything that would not survive JSON and msgpack unchanged."""
    if not isinstance(body, dict):
        raise UsageError(f"A document body must be a JSON object, not {type(body).__name__}.")
    _check_value(body, where)
    return body


def check_body_refs(body: object) -> list[dict[str, Any]]:
    """`check_body`, then the body's blob references (as `blobs.blob_refs`), in one walk."""
    refs: list[dict[str, Any]] = []
    stack: list[tuple[Any, int]] = [(body, 0)]
    low, high = _INT64
    ok = type(body) is dict
    while stack and ok:
        value, depth = stack.pop()
        if depth > _MAX_FAST_DEPTH:  # deep, or a cycle: the slow path says which
            ok = False
            break
        if type(value) is dict:
            if value.get("@type") == "blob":
                refs.append(value)
                _check_value(value, "body")  # small; its insides are not searched for refs
                continue
            for key in value:
                if type(key) is not str:
                    ok = False
            items = value.values()
        else:
            items = value
        for item in items:  # exact types only; anything else takes the slow path below
            kind = type(item)
            if kind is str or item is None or kind is bool:
                continue
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif kind is int:
                ok = ok and low <= item <= high
            elif kind is float:
                ok = ok and math.isfinite(item)
            else:
                ok = False
    if ok:
        return refs
    check_body(body)  # raises with the path of the offending value, or accepts a subclass
    from engine.store.blobs import blob_refs
    return blob_refs(body)


def _check_value(value: object, where: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise UsageError(f"The number at {where} is too large to store.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"The number at {where} is not finite, which JSON cannot hold.")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UsageError(f"The key {key!r} at {where} is not a string.")
            _check_value(item, f"{where}.{key}")
    else:
        raise UsageError(f"The {type(value).__name__} at {where} is not JSON-compatible.")


def winner_key(rev: str, deleted: bool) -> tuple[bool, int, str]:
    """Sort key of the winner rule: live beats deleted, then generation, then rev id."""
    return (not deleted, generation(rev), rev)


class Node:
    """One revision in a tree; `loc` is None once its body is no longer kept."""

    __slots__ = ("rev", "gen", "parent", "deleted", "loc")

    def __init__(self, rev: str, gen: int, parent: str | None, deleted: bool,
                 loc: Loc | None) -> None:
        self.rev = rev
        self.gen = gen
        self.parent = parent
        self.deleted = deleted
        self.loc = loc


class RevTree:
    """A document's revision tree: nodes by rev id, and the leaves among them."""

    __slots__ = ("nodes", "leafs", "seq")

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.leafs: list[str] = []  # a list: most docs have one leaf, and sets are big
        self.seq = 0

    def __contains__(self, rev: str) -> bool:
        return rev in self.nodes

    def leaves(self) -> list[str]:
        """Leaf rev ids, winner first, the rest in winner order."""
        if len(self.leafs) == 1:
            return self.leafs[:]
        nodes = self.nodes
        return sorted(self.leafs, key=lambda r: (not nodes[r].deleted, nodes[r].gen, r),
                      reverse=True)

    def winner(self) -> Node:
        nodes = self.nodes
        if len(self.leafs) == 1:
            return nodes[self.leafs[0]]
        best = max(self.leafs, key=lambda r: (not nodes[r].deleted, nodes[r].gen, r))
        return nodes[best]

    def conflicts(self) -> list[str]:
        """Live leaves that lose to the winner."""
        return [r for r in self.leaves()[1:] if not self.nodes[r].deleted]

    def graft(self, rev: str, ancestors: list[str], deleted: bool, loc: Loc | None) -> bool:
        """Insert `rev` whose ancestry is `ancestors` (parent first). False if already known.

        Ancestors the tree lacks become body-less stubs; the chain stops at the
        first ancestor the tree already holds.
        """
        if rev in self.nodes:
            return False
        gen = generation(rev)
        chain = [rev, *ancestors]
        known = len(chain)
        for i in range(1, len(chain)):
            if chain[i] in self.nodes:
                known = i
                break
        # Oldest unknown ancestor first, so every node's parent exists when it is added.
        for i in range(known - 1, -1, -1):
            parent = chain[i + 1] if i + 1 < len(chain) else None
            node_rev = chain[i]
            if i == 0:
                node = Node(node_rev, gen, parent, deleted, loc)
            else:
                node = Node(node_rev, gen - i, parent, False, None)
            self.nodes[node_rev] = node
            self.leafs.append(node_rev)
            if parent is not None and parent in self.leafs:
                self.leafs.remove(parent)
        return True

    def history(self, rev: str, limit: int) -> list[str]:
        """`rev` and its ancestors, newest first, at most `limit` long."""
        out: list[str] = []
        cur: str | None = rev
        while cur is not None and len(out) < limit:
            node = self.nodes.get(cur)
            if node is None:
                break
            out.append(cur)
            cur = node.parent
        return out

    def trim(self, max_history: int, max_bodies: int,
             unbodied: list[tuple[str, Loc]] | None = None) -> list[Loc]:
        """Drop nodes deeper than `max_history` below every leaf and bodies older than
        `max_bodies` generations behind every leaf; returns the dropped body locations.
        `unbodied` gets (rev, former body location) of each kept node that lost its body."""
        if len(self.nodes) <= 1:
            return []
        if len(self.leafs) == 1:  # one leaf means one chain: walk it, no sets needed
            return self._trim_chain(max_history, max_bodies, unbodied)
        keep: set[str] = set()
        keep_body: set[str] = set()
        for leaf in self.leafs:
            cur: str | None = leaf
            depth = 0
            while cur is not None and depth < max_history:
                keep.add(cur)
                if depth <= max_bodies:
                    keep_body.add(cur)
                cur = self.nodes[cur].parent
                depth += 1
        dropped: list[Loc] = []
        for rev in list(self.nodes):
            node = self.nodes[rev]
            if rev not in keep:
                del self.nodes[rev]
                if node.loc is not None:
                    dropped.append(node.loc)
                continue
            if node.parent is not None and node.parent not in keep:
                node.parent = None
            if rev not in keep_body and node.loc is not None:
                dropped.append(node.loc)
                if unbodied is not None:
                    unbodied.append((rev, node.loc))
                node.loc = None
        return dropped

    def _trim_chain(self, max_history: int, max_bodies: int,
                    unbodied: list[tuple[str, Loc]] | None = None) -> list[Loc]:
        dropped: list[Loc] = []
        nodes = self.nodes
        node = nodes[self.leafs[0]]
        depth = 0
        while node.parent is not None:
            depth += 1
            parent = nodes[node.parent]
            if depth >= max_history:
                node.parent = None
                while True:  # everything from `parent` up is beyond the kept depth
                    del nodes[parent.rev]
                    if parent.loc is not None:
                        dropped.append(parent.loc)
                    if parent.parent is None:
                        break
                    parent = nodes[parent.parent]
                break
            if depth > max_bodies and parent.loc is not None:
                dropped.append(parent.loc)
                if unbodied is not None:
                    unbodied.append((parent.rev, parent.loc))
                parent.loc = None
            node = parent
        return dropped

    def ordered(self) -> list[Node]:
        """Every node, each after its parent (for rewriting the tree)."""
        return sorted(self.nodes.values(), key=lambda n: (n.gen, n.rev))


class SoloTree(Node):
    """The tree of a document whose only revision is its first (most documents): the
    node is the tree. One object instead of a RevTree, its dict, its list and a Node:
    quicker to index, and fewer objects for the cyclic GC to walk. The index turns it
    into a RevTree when a second revision arrives; until then it answers like one."""

    # Where the body lies as two ints, not a `loc` tuple: one object less per document
    # for the cyclic GC to count and scan (offset -1: no body kept).
    __slots__ = ("seq", "offset", "length")

    def __init__(self, rev: str, gen: int, deleted: bool, offset: int, length: int,
                 seq: int) -> None:
        self.rev = rev
        self.gen = gen
        self.parent = None
        self.deleted = deleted
        self.offset = offset
        self.length = length
        self.seq = seq

    @property
    def loc(self) -> Loc | None:
        return None if self.offset < 0 else (self.offset, self.length)

    @loc.setter
    def loc(self, loc: Loc | None) -> None:
        self.offset, self.length = (-1, 0) if loc is None else loc

    @property
    def nodes(self) -> dict[str, Node]:
        return {self.rev: self}

    @property
    def leafs(self) -> list[str]:
        return [self.rev]

    def __contains__(self, rev: str) -> bool:
        return rev == self.rev

    def leaves(self) -> list[str]:
        return [self.rev]

    def winner(self) -> Node:
        return self

    def conflicts(self) -> list[str]:
        return []

    def history(self, rev: str, limit: int) -> list[str]:
        return [rev] if rev == self.rev and limit > 0 else []

    def trim(self, max_history: int, max_bodies: int,
             unbodied: list[tuple[str, Loc]] | None = None) -> list[Loc]:
        return []

    def ordered(self) -> list[Node]:
        return [self]

    def grown(self) -> RevTree:
        """The same tree as a RevTree, to graft more revisions on."""
        tree = RevTree()
        tree.nodes[self.rev] = Node(self.rev, self.gen, None, self.deleted, self.loc)
        tree.leafs.append(self.rev)
        tree.seq = self.seq
        return tree


Tree = RevTree | SoloTree  # what the index holds per document


def check_history(rev: Revision, max_len: int) -> list[str]:
    """Validate a peer revision's id and ancestry; return its ancestors (parent first)."""
    gen = generation(rev.rev)
    history = list(rev.history) or [rev.rev]
    if history[0] != rev.rev:
        raise UsageError(f"The history of revision {rev.rev} does not start with it.")
    for i, anc in enumerate(history[1:], 1):
        if generation(anc) != gen - i:
            raise UsageError(f"The history of revision {rev.rev} skips a generation at {anc}.")
    return history[1:max_len]


def possible_ancestors(tree: Tree, missing: Iterable[str], limit: int = 10) -> list[str]:
    """Live revs we hold with a body, older than some missing rev (delta bases). Tombstones
    are no use as a base, and after resolutions they would crowd out the real ones."""
    top = max((generation(r) for r in missing), default=0)
    cands = [n for n in tree.nodes.values() if n.loc is not None and not n.deleted
             and n.gen < top]
    cands.sort(key=lambda n: (n.gen, n.rev), reverse=True)
    return [n.rev for n in cands[:limit]]
