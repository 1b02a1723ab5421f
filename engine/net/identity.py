"""The listener's TLS identity (certificate + private key) in the four tutorial modes.

`load_identity(mode, ...)` checks everything at load (password, key matches
certificate, validity dates) so a bad identity fails at start, not at the
first client; `server_ssl_context(identity)` turns it into the listener's context.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from engine.errors import ConfigError, IdentityError
from engine.net.files import PRIVATE_FILE_MODE, create_exclusive, ensure_private_dir, write_atomic
from engine.net.modes import TLS_MODES
from engine.resources import certs_dir

if TYPE_CHECKING:
    from engine.net.validation import ClientAuth

log = logging.getLogger(__name__)

BUNDLED_P12 = "listener-identity.p12"
BUNDLED_PASSWORD = "listener-identity.password"
# The generated identity lives in <data dir>/tls/: the key+cert file is
# private; the certificate alone is public, for peers to pin.
GENERATED_DIR = "tls"
GENERATED_FILE = "listener-identity.pem"
GENERATED_CERT = "listener-cert.pem"
GENERATED_DAYS = 3650
ANONYMOUS_DAYS = 365
# Raspberry Pis without a real-time clock may run behind until NTP syncs;
# backdate new certificates so a peer with a slow clock still accepts them.
BACKDATE = dt.timedelta(days=1)

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey \
    | ed448.Ed448PrivateKey
_DNS_LABELS = re.compile(r"(?!localhost$)[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_KEY_PEM = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----",
                      re.DOTALL)


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as 64 lowercase hex digits (no colons)."""
    return hashlib.sha256(der).hexdigest()


def pretty_fingerprint(hex_fingerprint: str) -> str:
    """`ab12...` as `AB:12:...`, the form browsers and openssl show."""
    up = hex_fingerprint.upper()
    return ":".join(up[i:i + 2] for i in range(0, len(up), 2))


@dataclass(frozen=True, eq=False)
class Identity:
    """A certificate with its private key (and optional chain), checked usable at load."""

    certificate: x509.Certificate
    private_key: SigningKey
    chain: tuple[x509.Certificate, ...] = ()
    source: str = "memory"

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert_der)

    @property
    def pretty_fingerprint(self) -> str:
        return pretty_fingerprint(self.fingerprint)

    def private_pem(self, password: bytes | None = None) -> bytes:
        """Key (PKCS#8, encrypted if `password`) then certificate chain, as one PEM."""
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password
            else serialization.NoEncryption())
        key = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)
        return key + self.cert_pem + chain


def check_identity(identity: Identity, *, now: dt.datetime | None = None) -> Identity:
    """Raise IdentityError unless the key matches the certificate and it is valid now."""
    cert, src = identity.certificate, identity.source
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != identity.private_key.public_key().public_bytes(
            *spki):
        raise IdentityError(f"The private key in {src} does not match its certificate.")
    now = now or dt.datetime.now(dt.UTC)
    if now < cert.not_valid_before_utc:
        raise IdentityError(f"The certificate in {src} is not valid before "
                            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.")
    if now > cert.not_valid_after_utc:
        raise IdentityError(
            f"The certificate in {src} expired on {cert.not_valid_after_utc:%Y-%m-%d}.")
    return identity


def _signing_key(key: object, src: str) -> SigningKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
                      | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise IdentityError(f"The private key in {src} is of an unsupported type.")
    return key


def make_self_signed(common_name: str = "listsync listener", *, days: int = GENERATED_DAYS,
                     dns_names: tuple[str, ...] | None = None,
                     now: dt.datetime | None = None, source: str = "memory") -> Identity:
    """A new EC P-256 self-signed identity for serverAuth and clientAuth."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = now or dt.datetime.now(dt.UTC)
    if dns_names is None:
        host = socket.gethostname()
        dns_names = ("localhost", host) if _DNS_LABELS.fullmatch(host) else ("localhost",)
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(cert, key, (), source)


def anonymous_identity() -> Identity:
    """Mode `anonymous`: a fresh self-signed identity in memory, never stored."""
    return make_self_signed("listsync anonymous listener", days=ANONYMOUS_DAYS,
                            source="an anonymous identity")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise IdentityError(f"Could not read the {what} {path}: {err.strerror}.") from err


def _password_bytes(password: str | bytes | None) -> bytes | None:
    if isinstance(password, str):
        return password.encode("utf-8")
    return password


def load_identity_file(path: Path, password: str | bytes | None = None, *,
                       key_path: Path | None = None, now: dt.datetime | None = None) -> Identity:
    """A PKCS#12 file, or a PEM certificate (chain) with its key in the same or `key_path`."""
    data = _read(path, "identity file")
    pw = _password_bytes(password)
    src = str(path)
    if b"-----BEGIN" not in data:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, pw)
        except (ValueError, TypeError) as err:
            raise IdentityError(f"Could not open the PKCS#12 file {path}: the password is wrong "
                                "or the file is not PKCS#12.") from err
        if key is None or cert is None:
            raise IdentityError(f"The PKCS#12 file {path} lacks a certificate or private key.")
        return check_identity(Identity(cert, _signing_key(key, src), tuple(extra), src), now=now)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise IdentityError(f"The file {path} holds no readable PEM certificate.") from err
    key_data = _read(key_path, "key file") if key_path else data
    match = _KEY_PEM.search(key_data)
    if match is None:
        raise IdentityError(f"No PEM private key found in {key_path or path}.")
    try:
        key = serialization.load_pem_private_key(match.group(0), pw)
    except (ValueError, TypeError) as err:
        raise IdentityError(f"Could not decrypt the private key in {key_path or path}: "
                            "the password is wrong or missing.") from err
    identity = Identity(certs[0], _signing_key(key, src), tuple(certs[1:]), src)
    return check_identity(identity, now=now)


def bundled_identity(path: Path | None = None, password: str | bytes | None = None, *,
                     key_path: Path | None = None, now: dt.datetime | None = None) -> Identity:
    """Mode `bundled`: the shipped sample PKCS#12 (and its password file), or the user's file."""
    if path is None:
        path = certs_dir() / BUNDLED_P12
        if password is None:
            password = _read(certs_dir() / BUNDLED_PASSWORD, "password file").strip()
    return load_identity_file(path, password, key_path=key_path, now=now)


def generated_paths(data_dir: Path) -> tuple[Path, Path]:
    """(private key+cert file, public cert file) of the generated identity."""
    folder = data_dir / GENERATED_DIR
    return folder / GENERATED_FILE, folder / GENERATED_CERT


def _store_generated(data_dir: Path, *, replace: bool) -> Identity:
    private, public = generated_paths(data_dir)
    identity = make_self_signed("listsync listener", days=GENERATED_DAYS, source=str(private))
    try:
        ensure_private_dir(private.parent)
        if replace:
            write_atomic(private, identity.private_pem())
        elif not create_exclusive(private, identity.private_pem()):
            return _load_generated(private)  # another process created it first: use theirs
        write_atomic(public, identity.cert_pem, mode=0o644)
    except OSError as err:
        raise IdentityError(f"Could not store the generated identity in {private.parent}: "
                            f"{err.strerror}.") from err
    return identity


def _load_generated(private: Path) -> Identity:
    mode = os.stat(private).st_mode & 0o777
    if mode & ~PRIVATE_FILE_MODE:
        raise IdentityError(f"The key file {private} is readable by other users (mode {mode:o}); "
                            f"run chmod 600 on it or replace the identity.")
    identity = load_identity_file(private)
    public = private.with_name(GENERATED_CERT)
    try:  # keep the public copy in step (e.g. after a crash in the middle of a replace)
        if not public.exists() or public.read_bytes() != identity.cert_pem:
            write_atomic(public, identity.cert_pem, mode=0o644)
    except OSError as err:
        log.warning("Could not refresh %s: %s", public, err.strerror)
    return identity


def generated_identity(data_dir: Path, *, create: bool = True) -> Identity:
    """Mode `generated`: the identity kept in <data dir>/tls/, created on first use."""
    private, _ = generated_paths(data_dir)
    if private.exists():
        return _load_generated(private)
    if not create:
        raise IdentityError(f"There is no generated identity in {private.parent} yet.")
    return _store_generated(data_dir, replace=False)


def replace_generated_identity(data_dir: Path) -> Identity:
    """A new generated identity in place of the old one (peers that pinned it must re-pin)."""
    return _store_generated(data_dir, replace=True)


def load_identity(mode: str, *, data_dir: Path | None = None, path: Path | None = None,
                  password: str | bytes | None = None, key_path: Path | None = None,
                  now: dt.datetime | None = None) -> Identity | None:
    """The listener identity for a TLS mode; None for `disabled` (plain websocket)."""
    if mode == "disabled":
        return None
    if mode == "anonymous":
        return anonymous_identity()
    if mode == "bundled":
        return bundled_identity(path, password, key_path=key_path, now=now)
    if mode == "generated":
        if data_dir is None:
            raise ConfigError("The generated TLS identity needs a data directory.")
        return check_identity(generated_identity(data_dir), now=now)
    raise ConfigError(f"Unknown TLS mode {mode!r}; use one of {', '.join(TLS_MODES)}.")


def load_into_context(ctx: ssl.SSLContext, identity: Identity) -> None:
    """Give `ctx` the identity's key and chain.

    ssl only loads keys from files, so the key goes through a private temp
    folder for an instant, encrypted with a one-off password, then is deleted.
    """
    secret = secrets.token_urlsafe(24).encode()
    with tempfile.TemporaryDirectory(prefix="listsync-tls-") as tmp:  # mode 0700
        pem = os.path.join(tmp, "identity.pem")
        fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(identity.private_pem(secret))
        try:
            ctx.load_cert_chain(pem, password=secret)
        except ssl.SSLError as err:
            raise IdentityError(f"TLS refused the identity from {identity.source}: "
                                f"{err.reason or err}.") from err


def server_ssl_context(identity: Identity, *,
                       client_auth: ClientAuth | None = None) -> ssl.SSLContext:
    """The listener's context: TLS 1.2+, our identity, optionally requiring client certs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    load_into_context(ctx, identity)
    if client_auth is not None:
        client_auth.apply(ctx)
    return ctx


def listener_ssl_context(mode: str, *, data_dir: Path | None = None, path: Path | None = None,
                         password: str | bytes | None = None, key_path: Path | None = None,
                         client_auth: ClientAuth | None = None,
                         ) -> tuple[ssl.SSLContext | None, Identity | None]:
    """One call for `serve --tls MODE`: (context or None for disabled, identity)."""
    identity = load_identity(mode, data_dir=data_dir, path=path, password=password,
                             key_path=key_path)
    if identity is None:
        return None, None
    return server_ssl_context(identity, client_auth=client_auth), identity
