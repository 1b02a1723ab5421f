"""The TLS flags `serve` and `sync` share, turned into working contexts end to end."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from engine import certs_dir
from engine.errors import UsageError
from engine.net.identity import anonymous_identity, generated_identity
from tests.tls.rig import connect_once
from tui.commands._tls_common import (
    add_listener_tls_args,
    add_replicator_tls_args,
    listener_tls_from_args,
    replicator_tls_from_args,
)


def _serve_args(data: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    add_listener_tls_args(parser)
    return parser.parse_args(["--data-dir", str(data), *argv])


def _sync_args(data: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    add_replicator_tls_args(parser)
    return parser.parse_args(["--data-dir", str(data), *argv])


def test_tls_disabled_gives_no_context(tmp_path: Path) -> None:
    assert listener_tls_from_args(_serve_args(tmp_path, "--tls", "disabled")) == (None, None, None)
    with pytest.raises(UsageError):
        listener_tls_from_args(_serve_args(tmp_path, "--tls", "anonymous", "--identity", "x"))


@pytest.mark.anyio
async def test_bundled_listener_with_client_cert_and_pinned_replicator(tmp_path: Path) -> None:
    kiosk = anonymous_identity()
    (tmp_path / "kiosk.pem").write_bytes(kiosk.private_pem())
    (tmp_path / "kiosk-cert.pem").write_bytes(kiosk.cert_pem)
    ctx, identity, client_auth = listener_tls_from_args(_serve_args(
        tmp_path / "server", "--tls", "bundled", "--client-cert", str(tmp_path / "kiosk-cert.pem")))
    assert ctx is not None and identity is not None and client_auth is not None
    pin = str(certs_dir() / "listener-pinned-cert.cer")
    good = replicator_tls_from_args(_sync_args(
        tmp_path / "client", "--validation", "pinned", "--pinned-cert", pin,
        "--client-identity", str(tmp_path / "kiosk.pem")), "127.0.0.1", 4984)
    assert (await connect_once(ctx, good, client_auth=client_auth)).accepted
    anonymous = replicator_tls_from_args(_sync_args(
        tmp_path / "client", "--validation", "pinned", "--pinned-cert", pin), "127.0.0.1", 4984)
    assert not (await connect_once(ctx, anonymous, client_auth=client_auth)).accepted


@pytest.mark.anyio
async def test_generated_listener_and_tofu_replicator_presenting_its_own_identity(
        tmp_path: Path) -> None:
    client_dir = tmp_path / "client"
    client_cert = tmp_path / "client-cert.pem"
    client_cert.write_bytes(generated_identity(client_dir).cert_pem)
    ctx, identity, client_auth = listener_tls_from_args(_serve_args(
        tmp_path / "server", "--tls", "generated", "--client-cert", str(client_cert)))
    assert ctx is not None and identity is not None
    assert identity.fingerprint == generated_identity(tmp_path / "server").fingerprint
    args = _sync_args(client_dir, "--client-identity", "generated")
    assert args.validation == "tofu"
    client = replicator_tls_from_args(args, "127.0.0.1", 4984)
    assert (await connect_once(ctx, client, client_auth=client_auth)).accepted
