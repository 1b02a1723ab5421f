"""How a replicator decides to trust a listener's certificate, and mutual TLS.

`client_validation(mode, ...)` returns the connector's `ssl_context` and its
`verify_server_cert(der)` hook, which runs after the handshake and before any
HTTP byte (so no password reaches a wrong server). Modes: skip, ca, pinned, tofu.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from engine.errors import ConfigError, TLSValidationError
from engine.net.identity import Identity, fingerprint, load_into_context, pretty_fingerprint
from engine.net.modes import VALIDATION_MODES
from engine.net.trust import TrustStore, peer_key

log = logging.getLogger(__name__)

# X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
_VALIDITY_ERRORS = (9, 10)


def read_certificates(path: Path) -> list[bytes]:
    """DER bytes of every certificate in a DER or PEM file."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TLSValidationError(f"Could not read the certificate file {path}: "
                                 f"{err.strerror}.") from err
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as err:
        raise TLSValidationError(f"The file {path} holds no readable certificate.") from err
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


def _pem_bundle(ders: Iterable[bytes]) -> str:
    return "".join(ssl.DER_cert_to_PEM_cert(d) for d in ders)


def _client_context(identity: Identity | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if identity is not None:
        load_into_context(ctx, identity)
    return ctx


@dataclass(frozen=True)
class ClientTLS:
    """What the connector needs: pass both to `connect(..., ssl_context=, verify_server_cert=)`."""

    ssl_context: ssl.SSLContext
    verify_server_cert: Callable[[bytes], None]
    mode: str
    peer: str
    expected: str = ""  # for messages: what we trust (CA file, pinned fingerprint, ...)

    def explain(self, err: BaseException) -> TLSValidationError:
        """A one-sentence TLSValidationError for a failed handshake (ssl error inside)."""
        cause: BaseException | None = err
        seen: set[int] = set()  # a chain may loop back on itself
        while cause is not None and not isinstance(cause, TLSValidationError | ssl.SSLError):
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__  # e.g. inside httpx.ConnectError
            if cause is not None and id(cause) in seen:
                cause = None
        if isinstance(cause, TLSValidationError):
            return cause
        found = cause or err
        reason = (getattr(found, "verify_message", None) or getattr(found, "reason", None)
                  or str(found))
        if self.mode == "pinned" and getattr(found, "verify_code", None) in _VALIDITY_ERRORS:
            # OpenSSL checks dates only once the chain is trusted: this is the pinned cert.
            return TLSValidationError(f"The TLS certificate of {self.peer} is the pinned one "
                                      f"({self.expected}) but is not valid now: {reason}.")
        lead = {"pinned": f"is not the pinned certificate ({self.expected})",
                "ca": f"failed ca validation against {self.expected}"}.get(
                    self.mode, f"failed {self.mode} validation")
        return TLSValidationError(f"The TLS certificate of {self.peer} {lead}: {reason}.")


def _accept_any(der: bytes) -> None:
    del der


def skip_validation(host: str, port: int, *, identity: Identity | None = None) -> ClientTLS:
    """Encrypt but authenticate nothing: any certificate is accepted (warned)."""
    ctx = _client_context(identity)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    log.warning("Server certificate validation is off for %s: the connection is encrypted "
                "but the peer is not authenticated.", peer_key(host, port))
    return ClientTLS(ctx, _accept_any, "skip", peer_key(host, port))


def ca_validation(host: str, port: int, *, ca_file: Path | None = None,
                  identity: Identity | None = None) -> ClientTLS:
    """Chain to the system store (or only the CAs in `ca_file`) and match the host name."""
    ctx = _client_context(identity)
    if ca_file is not None:
        ctx.load_verify_locations(cadata=_pem_bundle(read_certificates(ca_file)))
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    # The chain and host name are checked inside the handshake itself.
    return ClientTLS(ctx, _accept_any, "ca", peer_key(host, port),
                     str(ca_file) if ca_file else "the system CA store")


def pinned_validation(host: str, port: int, pinned: Path | bytes, *,
                      identity: Identity | None = None) -> ClientTLS:
    """Only the exact pinned certificate (DER/PEM file, or DER bytes) is accepted."""
    if isinstance(pinned, bytes):
        der, source = pinned, "the pinned certificate"
    else:
        ders = read_certificates(pinned)
        if len(ders) != 1:
            raise TLSValidationError(f"The pinned certificate file {pinned} must hold exactly "
                                     f"one certificate, not {len(ders)}.")
        der, source = ders[0], str(pinned)
    want = fingerprint(der)
    ctx = _client_context(identity)
    # Two locks: the context trusts only the pinned cert as an anchor (even a
    # CA-issued leaf, thanks to PARTIAL_CHAIN), and the hook compares the whole DER.
    ctx.check_hostname = False  # LAN peers are reached by address; the pin is the identity
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.load_verify_locations(cadata=der)
    peer = peer_key(host, port)

    def verify(got: bytes) -> None:
        if got != der:
            raise TLSValidationError(
                f"The certificate of {peer} (SHA-256 {pretty_fingerprint(fingerprint(got))}) "
                f"is not the pinned one (SHA-256 {pretty_fingerprint(want)}).")

    return ClientTLS(ctx, verify, "pinned", peer, f"{source}, SHA-256 {pretty_fingerprint(want)}")


def tofu_validation(host: str, port: int, store: TrustStore, *,
                    identity: Identity | None = None) -> ClientTLS:
    """Trust on first use: remember the peer's fingerprint, refuse a different one later."""
    ctx = _client_context(identity)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the hook below is the check
    peer = peer_key(host, port)

    def verify(got: bytes) -> None:
        seen = fingerprint(got)
        try:
            known = store.remember_or_get(peer, seen)
        except (OSError, ConfigError) as err:
            raise TLSValidationError(f"Could not check {peer} against the trust store "
                                     f"{store.path}: {err}") from err
        if known is None:
            log.warning("First connection to %s: trusting its certificate SHA-256 %s from now on.",
                        peer, pretty_fingerprint(seen))
        elif known != seen:
            raise TLSValidationError(
                f"The certificate of {peer} changed: it was SHA-256 {pretty_fingerprint(known)} "
                f"and is now SHA-256 {pretty_fingerprint(seen)}; if the change is expected, run "
                f"`listsync trust forget {peer}`.")

    return ClientTLS(ctx, verify, "tofu", peer, f"remembered in {store.path}")


def client_validation(mode: str, host: str, port: int, *, ca_file: Path | None = None,
                      pinned_cert: Path | bytes | None = None, data_dir: Path | None = None,
                      trust_store: TrustStore | None = None,
                      identity: Identity | None = None) -> ClientTLS:
    """The factory behind `sync --validation MODE` (identity = our client cert for mTLS)."""
    if mode == "skip":
        return skip_validation(host, port, identity=identity)
    if mode == "ca":
        return ca_validation(host, port, ca_file=ca_file, identity=identity)
    if mode == "pinned":
        if pinned_cert is None:
            raise ConfigError("Pinned validation needs a certificate file (--pinned-cert).")
        return pinned_validation(host, port, pinned_cert, identity=identity)
    if mode == "tofu":
        if trust_store is None:
            if data_dir is None:
                raise ConfigError("Trust-on-first-use validation needs a data directory.")
            trust_store = TrustStore.for_data_dir(data_dir)
        return tofu_validation(host, port, trust_store, identity=identity)
    raise ConfigError(f"Unknown validation mode {mode!r}; use one of "
                      f"{', '.join(VALIDATION_MODES)}.")


@dataclass(frozen=True)
class ClientAuth:
    """Mutual TLS on the listener: client certs issued by `ca_certs`, or exactly `allowed_certs`.

    Python's ssl has no verify callback, so an allowed (e.g. self-signed) client
    cert must be known in full, not just by fingerprint: it becomes a trust
    anchor, and `check_peer` then insists on the exact fingerprint.
    """

    ca_certs: tuple[bytes, ...] = ()
    allowed_certs: tuple[bytes, ...] = ()
    fingerprints: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        if not self.ca_certs and not self.allowed_certs:
            raise ConfigError("Client certificate checking needs a CA or allowed certificates.")
        object.__setattr__(self, "fingerprints",
                           frozenset(fingerprint(d) for d in self.allowed_certs))

    @classmethod
    def from_files(cls, *, ca_file: Path | None = None,
                   allowed_cert_files: Iterable[Path] = ()) -> ClientAuth:
        cas = tuple(read_certificates(ca_file)) if ca_file else ()
        allowed = tuple(d for p in allowed_cert_files for d in read_certificates(p))
        return cls(cas, allowed)

    def apply(self, ctx: ssl.SSLContext) -> None:
        """Make a server context demand a client certificate that passes these rules."""
        ctx.verify_mode = ssl.CERT_REQUIRED
        if self.allowed_certs:
            ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        ctx.load_verify_locations(cadata=_pem_bundle(self.ca_certs + self.allowed_certs))

    def check_peer(self, der: bytes | None) -> None:
        """After the handshake: refuse a cert that passed TLS only because an allowed
        cert could sign (e.g. a CA:TRUE self-signed one); CA-issued certs must be
        issued directly by one of `ca_certs`."""
        if der is None:
            raise TLSValidationError("The client presented no certificate.")
        if fingerprint(der) in self.fingerprints:
            return
        cert = x509.load_der_x509_certificate(der)
        for ca_der in self.ca_certs:
            try:
                cert.verify_directly_issued_by(x509.load_der_x509_certificate(ca_der))
            except (ValueError, TypeError, InvalidSignature):
                continue
            return
        raise TLSValidationError(f"The client certificate SHA-256 "
                                 f"{pretty_fingerprint(fingerprint(der))} is not allowed here.")
