"""The engine's one error hierarchy.

Every failure the engine reports to its callers is an `EngineError`; the
command line and the terminal app catch that one class and show `str(err)`,
which is always a single plain sentence.
"""

from __future__ import annotations


class EngineError(Exception):
    """Any failure the engine reports; str() is one plain sentence."""

    exit_code = 1


class UsageError(EngineError):
    """The caller asked for something malformed (bad id, bad argument)."""

    exit_code = 2


class StoreError(EngineError):
    """The document store could not do what was asked."""


class CorruptJournalError(StoreError):
    """A journal holds damaged records that are not a torn tail."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"Journal {path} is damaged at byte offset {offset}: {reason}.")
        self.path = path
        self.offset = offset
        self.reason = reason


class StorageFailedError(StoreError):
    """A write or fsync failed; the store refuses writes until reopened."""


class ConflictError(StoreError):
    """A save named a revision that is no longer the document's current one."""


class NotFoundError(StoreError):
    """The document, revision or blob does not exist."""


class InvalidIdError(StoreError, UsageError):
    """A document id or blob digest is malformed."""

    exit_code = 2


class BlobMissingError(StoreError):
    """A revision references a blob the store does not hold."""


class ProtocolError(EngineError):
    """A sync frame broke the protocol."""

    exit_code = 5


class LocalProtocolError(ProtocolError):
    """We tried to send something the protocol does not allow (a bug here)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class NetworkError(EngineError):
    """Could not reach the peer, or the connection to it was lost."""

    exit_code = 5


class AuthError(EngineError):
    """The peer refused our credentials, or a client presented bad ones."""

    exit_code = 3


class TLSValidationError(EngineError):
    """A certificate failed validation (ours at start, or the peer's)."""

    exit_code = 4


class IdentityError(TLSValidationError):
    """A TLS identity (certificate and key) is unusable."""


class ConfigError(EngineError):
    """A settings file or option holds a bad value."""

    exit_code = 2


class ReadOnlyError(EngineError):
    """The peer is read-only and refused a push."""


class BlobDigestError(StoreError):
    """Blob data does not match the digest (or length) it claims."""


class BackupError(StoreError):
    """A backup archive is unreadable, damaged or not a listsync backup."""
