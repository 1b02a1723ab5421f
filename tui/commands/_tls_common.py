"""Helpers shared by the identity, users and trust commands, and the TLS flags
that `serve` and `sync` add with `add_listener_tls_args` / `add_replicator_tls_args`."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from engine import TLS_MODES, VALIDATION_MODES, UsageError, default_data_dir

if TYPE_CHECKING:
    from engine import ClientAuth, ClientTLS, Identity


def data_dir_of(args: argparse.Namespace) -> Path:
    """--data-dir, else $XDG_DATA_HOME/listsync, else ~/.local/share/listsync."""
    if getattr(args, "data_dir", None):
        return Path(args.data_dir).expanduser()
    return default_data_dir()


# --- TLS flags for `serve` and `sync` (call these from those commands) ---

def add_listener_tls_args(parser: argparse.ArgumentParser, *, with_mode: bool = True,
                          from_settings: bool = False) -> None:
    """`serve`'s TLS flags: --tls MODE, a custom identity, and mutual TLS.
    `from_settings`: leave --tls None when absent, for the settings file to fill in."""
    if with_mode:
        parser.add_argument("--tls", choices=TLS_MODES,
                            default=None if from_settings else "anonymous",
                            help="listener identity (default: anonymous)")
    parser.add_argument("--identity", metavar="FILE",
                        help="with --tls bundled: your PKCS#12 or PEM identity instead of the "
                             "shipped sample")
    parser.add_argument("--identity-key", metavar="FILE",
                        help="the PEM private key, if not inside --identity")
    parser.add_argument("--identity-password-file", metavar="FILE",
                        help="first line: the PKCS#12 or key password")
    parser.add_argument("--client-ca", metavar="FILE",
                        help="require client certificates issued by this CA (PEM/DER)")
    parser.add_argument("--client-cert", metavar="FILE", action="append", default=[],
                        help="require this exact client certificate (repeatable)")


def _first_line(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"Could not read the password file {path}: {err.strerror}.") from err
    return text.splitlines()[0] if text else ""


def _opt_path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def listener_tls_from_args(
        args: argparse.Namespace) -> tuple[ssl.SSLContext | None, Identity | None,
                                           ClientAuth | None]:
    """(ssl_context for Listener, identity for the fingerprint line, client_auth or None)."""
    client_auth = None
    if args.client_ca or args.client_cert:
        from engine import ClientAuth

        client_auth = ClientAuth.from_files(ca_file=_opt_path(args.client_ca),
                                            allowed_cert_files=[Path(p) for p in args.client_cert])
    if args.tls != "bundled" and (args.identity or args.identity_key):
        raise UsageError("--identity is only used with --tls bundled.")
    if args.tls == "disabled" and client_auth is not None:
        raise UsageError("Client certificates need TLS; drop --tls disabled.")
    if args.tls == "disabled":
        return None, None, None
    # Loaded here, not at import: a plaintext `serve` never loads cryptography.
    from engine import listener_ssl_context

    ctx, identity = listener_ssl_context(
        args.tls, data_dir=data_dir_of(args), path=_opt_path(args.identity),
        password=_first_line(args.identity_password_file), key_path=_opt_path(args.identity_key),
        client_auth=client_auth)
    return ctx, identity, client_auth


def add_replicator_tls_args(parser: argparse.ArgumentParser, *, with_mode: bool = True,
                            from_settings: bool = False) -> None:
    """`sync`'s TLS flags: --validation MODE, its files, and a client identity for mTLS.
    `from_settings`: leave --validation None when absent, for the settings file to fill in."""
    if with_mode:
        parser.add_argument("--validation", choices=VALIDATION_MODES,
                            default=None if from_settings else "tofu",
                            help="how to trust the listener's certificate (default: tofu)")
        parser.add_argument("--pinned-cert", metavar="FILE",
                            help="with --validation pinned: the listener's certificate")
        parser.add_argument("--ca-file", metavar="FILE",
                            help="with --validation ca: trust only these CAs")
    parser.add_argument("--client-identity", metavar="FILE",
                        help="present this PKCS#12/PEM identity to listeners that demand one "
                             "(`generated` presents this device's generated identity)")
    parser.add_argument("--client-identity-password-file", metavar="FILE",
                        help="first line: its password")


def replicator_tls_from_args(args: argparse.Namespace, host: str, port: int) -> ClientTLS:
    """ClientTLS for a wss:// URL; pass .ssl_context and .verify_server_cert to connect()."""
    from engine import client_validation, generated_identity, load_identity

    identity = None
    if args.client_identity == "generated":
        identity = generated_identity(data_dir_of(args))
    elif args.client_identity:
        identity = load_identity("bundled", path=Path(args.client_identity).expanduser(),
                                 password=_first_line(args.client_identity_password_file))
    return client_validation(args.validation, host, port, ca_file=_opt_path(args.ca_file),
                             pinned_cert=_opt_path(args.pinned_cert), data_dir=data_dir_of(args),
                             identity=identity)
