"""Who may sync: the user allowlist (plaintext or scrypt) and the listener's password check.

`userallowlist.json` holds one JSON object a line: the tutorial's
`{"name": ..., "password": ...}` or our hashed `{"name": ..., "scrypt": ...}`.
`Authenticator` checks in constant time and throttles guessing per address; a
login that already succeeded is remembered (as a keyed hash) so reconnecting is cheap.
A list without any hashed entry is checked without scrypt (see `_plain_matches`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from engine.errors import ConfigError, UsageError
from engine.net.files import locked, write_atomic
from engine.resources import data_dir as shipped_data_dir

log = logging.getLogger(__name__)


def _pin_malloc_mmap_threshold() -> None:
    """Keep glibc from retaining each thread's freed 16 MiB scrypt buffer.

    glibc raises its mmap threshold after the first big free, so later scrypt
    buffers come from per-thread arenas and stay resident: a listener's RSS grew
    by 16 MiB per worker thread that ever checked a password (soak: 46 -> 231 MB).
    Pinning the threshold at its default (128 KiB) keeps big buffers mmapped.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to pin


_pin_malloc_mmap_threshold()

ALLOWLIST = "userallowlist.json"
# scrypt cost: 128 * N * r bytes = 16 MiB and ~40 ms here (~0.2 s on a
# Raspberry Pi 3) per check; stored as "n=16384,r=8,p=1$<salt b64>$<hash b64>".
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
_MAXMEM = 64 * 1024 * 1024
# Bounds on parameters read from a file, so a bad entry cannot eat the Pi.
_N_RANGE, _R_RANGE, _P_RANGE = (2**10, 2**18), (1, 32), (1, 16)


def _utf8(text: str) -> bytes:
    # surrogatepass: a password decoded leniently from a header must not crash the check.
    return text.encode("utf-8", "surrogatepass")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P,
                  salt: bytes | None = None) -> str:
    """A new scrypt entry value for `password`, with a fresh random salt."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(_utf8(password), salt=salt, n=n, r=r, p=p,
                            dklen=HASH_BYTES, maxmem=_MAXMEM)
    b64 = base64.b64encode
    return f"n={n},r={r},p={p}${b64(salt).decode()}${b64(digest).decode()}"


def _parse_scrypt(value: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        params, salt_b64, hash_b64 = value.split("$")
        kv = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(kv["n"]), int(kv["r"]), int(kv["p"])
        salt, digest = base64.b64decode(salt_b64, validate=True), base64.b64decode(
            hash_b64, validate=True)
    except (ValueError, KeyError) as err:
        raise ValueError("malformed scrypt value") from err
    ok = (_N_RANGE[0] <= n <= _N_RANGE[1] and n & (n - 1) == 0 and _R_RANGE[0] <= r <= _R_RANGE[1]
          and _P_RANGE[0] <= p <= _P_RANGE[1] and 128 * n * r <= _MAXMEM // 2
          and len(salt) >= 8 and len(digest) >= 16)
    if not ok:
        raise ValueError("scrypt parameters out of range")
    return n, r, p, salt, digest


def _scrypt_matches(value: str, password: str) -> bool:
    n, r, p, salt, want = _parse_scrypt(value)
    got = hashlib.scrypt(_utf8(password), salt=salt, n=n, r=r, p=p, dklen=len(want),
                         maxmem=_MAXMEM)
    return hmac.compare_digest(got, want)


# hash_password("listsync dummy password", salt=16 zero bytes) at the default cost,
# written out so that no login (not even the first) pays a second scrypt to make it;
# tests/tls/test_auth.py checks it still matches the parameters above.
_DUMMY = "n=16384,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$gRMsoxFkLWSGN9jrXNolvDsihBs2n3N0SU9ArgEnPCY="


def _dummy() -> str:
    """In a list holding any hashed entry, unknown users and plaintext entries are
    hashed against this, so every check costs one scrypt and timing tells nothing
    about which names exist."""
    return _DUMMY


@dataclass(frozen=True)
class UserEntry:
    """One allowlist line; exactly one of `password` (plaintext) or `scrypt` is set."""

    name: str
    password: str | None = None
    scrypt: str | None = None

    @property
    def kind(self) -> str:
        return "scrypt" if self.scrypt is not None else "plaintext"

    def matches(self, password: str, *, hashed_list: bool = True) -> bool:
        """Constant-time check. In a list holding any hashed entry every check costs one
        scrypt, whatever the entry kind; see `_plain_matches` for a list without one."""
        if self.scrypt is not None:
            return _scrypt_matches(self.scrypt, password)
        if hashed_list:
            _scrypt_matches(_dummy(), password)
        return _plain_matches(self.password or "", password)


def _plain_matches(stored: str, password: str) -> bool:
    """Compare digests, so the time does not even depend on the lengths.

    This alone is the check of a list holding only plaintext entries (the tutorial's
    own file): scrypt protects a stored hash from whoever reads the file, and such a
    file has none to protect. Every name, known or not, then costs the same sha256s;
    guessing stays throttled per address (`Throttle`)."""
    return hmac.compare_digest(hashlib.sha256(_utf8(stored)).digest(),
                               hashlib.sha256(_utf8(password)).digest())


def check_user_name(name: str) -> str:
    """The name, if usable in Basic auth and a file; else UsageError."""
    if not name or len(name) > 100 or ":" in name or any(ord(c) < 32 or ord(c) == 127
                                                          for c in name):
        raise UsageError(f"{name!r} is not a valid user name (1-100 characters, no ':' "
                         "or control characters).")
    return name


def _entry(obj: object, path: Path, number: int) -> UserEntry:
    where = f"Line {number} of {path}"
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise ConfigError(f"{where} is not an object with a string \"name\".")
    password, scrypt = obj.get("password"), obj.get("scrypt")
    if (password is None) == (scrypt is None):
        raise ConfigError(f"{where} needs exactly one of \"password\" or \"scrypt\".")
    if password is not None and not isinstance(password, str):
        raise ConfigError(f"{where} has a \"password\" that is not a string.")
    if scrypt is not None:
        try:
            _parse_scrypt(str(scrypt))
        except ValueError as err:
            raise ConfigError(f"{where} has a malformed \"scrypt\" value.") from err
    return UserEntry(obj["name"], password, None if scrypt is None else str(scrypt))


class Allowlist:
    """The users allowed to sync, keyed by name, as read from one file."""

    def __init__(self, entries: list[UserEntry], path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, UserEntry] = {}
        for e in entries:
            if e.name in self.entries:
                where = path or "the allowlist"
                raise ConfigError(f"The user {e.name!r} appears twice in {where}.")
            self.entries[e.name] = e

    @classmethod
    def load(cls, path: Path) -> Allowlist:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"Could not read the allowlist {path}: {err.strerror}.") from err
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError as err:
                    raise ConfigError(f"Line {number} of {path} is not valid JSON.") from err
                entries.append(_entry(obj, path, number))
        return cls(entries, path)

    def get(self, name: str) -> UserEntry | None:
        return self.entries.get(name)

    @property
    def plaintext_count(self) -> int:
        return sum(1 for e in self.entries.values() if e.password is not None)

    @property
    def hashed(self) -> bool:
        """Does any entry hold a scrypt hash? (Then every check pays one scrypt.)"""
        return any(e.scrypt is not None for e in self.entries.values())

    def dumps(self) -> str:
        def line(e: UserEntry) -> str:
            key, value = ("scrypt", e.scrypt) if e.scrypt is not None else ("password", e.password)
            return json.dumps({"name": e.name, key: value}, ensure_ascii=False) + "\n"

        return "".join(line(e) for e in self.entries.values())


def allowlist_path(data_dir: Path) -> Path:
    """The data dir's own allowlist (edited by `listsync users`)."""
    return data_dir / ALLOWLIST


def effective_allowlist_path(data_dir: Path) -> Path:
    """The data dir's allowlist if it exists, else the shipped sample one."""
    own = allowlist_path(data_dir)
    return own if own.exists() else shipped_data_dir() / ALLOWLIST


def _edit(data_dir: Path, change: Callable[[Allowlist], bool]) -> bool:
    own = allowlist_path(data_dir)
    try:
        return _edit_locked(data_dir, own, change)
    except OSError as err:
        raise ConfigError(f"Could not update the allowlist {own}: {err.strerror}.") from err


def _edit_locked(data_dir: Path, own: Path, change: Callable[[Allowlist], bool]) -> bool:
    data_dir.mkdir(parents=True, exist_ok=True)
    with locked(own):
        if own.exists():
            current = Allowlist.load(own)
        else:  # start from the shipped users, so adding one does not lock out the rest
            shipped = shipped_data_dir() / ALLOWLIST
            current = Allowlist.load(shipped) if shipped.exists() else Allowlist([], own)
        changed = change(current)
        if changed or not own.exists():
            write_atomic(own, current.dumps().encode("utf-8"))
        return changed


def add_user(data_dir: Path, name: str, password: str) -> bool:
    """Add or re-password a user with a scrypt hash; True if the user is new."""
    check_user_name(name)
    if not password:
        raise UsageError("The password must not be empty.")
    entry = UserEntry(name, scrypt=hash_password(password))
    new: list[bool] = []

    def change(allow: Allowlist) -> bool:
        new.append(name not in allow.entries)
        allow.entries[name] = entry
        return True

    _edit(data_dir, change)
    return new[0]


def remove_user(data_dir: Path, name: str) -> bool:
    """Remove a user; False if there was no such user."""
    return _edit(data_dir, lambda allow: allow.entries.pop(name, None) is not None)


def list_users(data_dir: Path) -> list[UserEntry]:
    return list(Allowlist.load(effective_allowlist_path(data_dir)).entries.values())


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class Throttle:
    """A token bucket per source address: `burst` quick guesses, then `rate` per second.

    A guess takes its token before the check (so parallel guesses queue too);
    a correct password gives it back, so only failures slow an address down.
    """

    def __init__(self, rate: float = 10.0, burst: int = 10, max_delay: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.max_delay, self.clock = rate, burst, max_delay, clock
        self._buckets: dict[str, _Bucket] = {}
        self._reserves = 0

    def _bucket(self, address: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.setdefault(address, _Bucket(float(self.burst), now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        return bucket

    def reserve(self, address: str) -> float | None:
        """Seconds to wait before checking a guess from `address`; None: refuse unchecked."""
        self._reserves += 1
        if len(self._buckets) > 4096 and self._reserves % 1024 == 0:
            # Forget addresses that have fully recovered (bounded memory).
            for key in list(self._buckets):
                if self._bucket(key).tokens >= self.burst:
                    del self._buckets[key]
        bucket = self._bucket(address)
        delay = max(0.0, (1.0 - bucket.tokens) / self.rate)
        if delay > self.max_delay:
            return None
        bucket.tokens -= 1.0
        return delay

    def refund(self, address: str) -> None:
        bucket = self._bucket(address)
        bucket.tokens = min(float(self.burst), bucket.tokens + 1.0)


def host_of(address: str) -> str:
    """The host part of `host`, `host:port` or `[v6]:port` (throttling is per host)."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    host, sep, port = address.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else address


_MAX_REMEMBERED = 1024  # users whose last good login is remembered


class Authenticator:
    """The listener's password check against an allowlist file, reloaded when it changes."""

    def __init__(self, source: Allowlist | Path | Callable[[], Path], *,
                 throttle: Throttle | None = None, max_parallel_checks: int = 4) -> None:
        self._source = source
        self.throttle = throttle or Throttle()
        # Each check holds 16 MiB for a moment; bound how many run at once.
        self._limiter = anyio.CapacityLimiter(max_parallel_checks)
        self._lock = threading.Lock()
        self._loaded: tuple[object, Allowlist] | None = None
        self._warned_plaintext = False
        # user -> (the entry that matched, HMAC of the password under a key of this
        # process only). A reconnect with the same password skips the scrypt (~40 ms
        # here, ~0.2 s on a Pi); a new entry for the user (file edited) does not match.
        self._key = os.urandom(32)
        self._verified: dict[str, tuple[UserEntry, bytes]] = {}
        self._current()  # a broken allowlist fails at start, not at the first client

    @classmethod
    def for_data_dir(cls, data_dir: Path, *, throttle: Throttle | None = None) -> Authenticator:
        """Checks against the data dir's allowlist, or the shipped one while it has none."""
        return cls(lambda: effective_allowlist_path(data_dir), throttle=throttle)

    def _current(self) -> Allowlist:
        if isinstance(self._source, Allowlist):
            allow = self._source
        else:
            path = self._source() if callable(self._source) else self._source
            try:
                st = path.stat()
            except OSError as err:
                raise ConfigError(f"Could not read the allowlist {path}: {err.strerror}.") from err
            stamp = (str(path), st.st_ino, st.st_mtime_ns, st.st_size)
            with self._lock:
                if self._loaded is None or self._loaded[0] != stamp:
                    self._loaded = (stamp, Allowlist.load(path))
                allow = self._loaded[1]
        if allow.plaintext_count and not self._warned_plaintext:
            self._warned_plaintext = True
            log.warning("The allowlist %s holds %d plaintext password(s); replace them with "
                        "hashed ones using `listsync users add NAME`.",
                        allow.path or "in memory", allow.plaintext_count)
        return allow

    def _check(self, user: str, password: str, inline: bool = False) -> bool | None:
        """The verdict; with `inline` (on the event loop), None instead of any scrypt."""
        try:
            allow = self._current()
            entry, hashed = allow.get(user), allow.hashed
        except ConfigError as err:  # fail closed on a file broken while serving
            log.error("Refusing every login: %s", err)
            entry, hashed = None, True
        if inline and hashed:
            return None  # (the file changed since: a worker thread does this one)
        # Made for unknown users too, so that they cost what a wrong password costs
        # even when no scrypt hides the difference.
        mac = hmac.new(self._key, _utf8(password), hashlib.sha256).digest()
        known = self._verified.get(user)
        if entry is None:
            if hashed:
                _scrypt_matches(_dummy(), password)
            else:
                _plain_matches("", password)
            return False
        if known is not None and known[0] is entry and hmac.compare_digest(known[1], mac):
            return True  # only the right password is fast: timing tells nothing new
        if not entry.matches(password, hashed_list=hashed):
            return False
        if len(self._verified) >= _MAX_REMEMBERED:
            self._verified.clear()
        self._verified[user] = (entry, mac)
        return True

    async def authenticate(self, user: str, password: str, address: str) -> bool:
        """True if `user`/`password` is allowed; guesses from one address are rate-limited."""
        host = host_of(address)
        delay = self.throttle.reserve(host)
        if delay is None:
            log.warning("Refused a login for %r from %s unchecked: too many failures.",
                        user[:64], host)
            return False
        if delay > 0:
            await anyio.sleep(delay)
        loaded = self._source if isinstance(self._source, Allowlist) else (
            None if self._loaded is None else self._loaded[1])
        if loaded is not None and not loaded.hashed:
            # No scrypt anywhere in the list (checked again inside: a stat, and a reload
            # if the file changed): a few microseconds, so no worker thread hop, which
            # costs a busy peer milliseconds per connection.
            ok = self._check(user, password, inline=True)
        else:
            ok = None
        if ok is None:
            ok = await anyio.to_thread.run_sync(self._check, user, password,
                                                limiter=self._limiter)
        if ok:
            self.throttle.refund(host)
        else:
            log.info("Refused a login for %r from %s: unknown user or wrong password.",
                     user[:64], host)
        return ok is True  # (None only ever comes from an inline check, redone above)
