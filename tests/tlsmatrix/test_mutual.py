"""Mutual TLS on the real listener: client certificates demanded, checked, refused.

The listener's context demands a certificate (ClientAuth.apply) and the listener
runs ClientAuth.check_peer after the handshake; refusals reach the replicator as
TLSValidationError, before the listener looks at any password.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from engine.errors import TLSValidationError
from engine.net.identity import Identity, anonymous_identity, server_ssl_context
from engine.net.validation import ClientAuth
from tests.tls.pki import issue
from tests.tlsmatrix.pki import Pki
from tests.tlsmatrix.rig import Outcome, attempt, serving

pytestmark = pytest.mark.anyio


async def _sync(tmp: Path, auth: ClientAuth, client: Identity | None,
                validation: str = "skip", max_tls: ssl.TLSVersion | None = None) -> Outcome:
    ctx = server_ssl_context(anonymous_identity(), client_auth=auth)
    async with serving(tmp, ctx, client_auth=auth) as served:
        return await attempt(tmp, served, validation, client_identity=client, max_tls=max_tls)


def _refused(outcome: Outcome, *words: str) -> None:
    assert type(outcome.error) is TLSValidationError, outcome.error
    assert outcome.nothing_exchanged and outcome.auth_calls == []
    for word in words:
        assert word in str(outcome.error)


async def test_a_client_without_a_certificate_is_refused(tmp_path: Path, pki: Pki) -> None:
    outcome = await _sync(tmp_path, ClientAuth(ca_certs=(pki.client_ca.cert_der,)), None)
    _refused(outcome, "certificate required")


async def test_a_client_cert_from_another_ca_is_refused(tmp_path: Path, pki: Pki) -> None:
    outcome = await _sync(tmp_path, ClientAuth(ca_certs=(pki.client_ca.cert_der,)),
                          pki.client_foreign)
    _refused(outcome, "unknown ca")


async def test_a_client_cert_from_the_right_ca_syncs(tmp_path: Path, pki: Pki) -> None:
    outcome = await _sync(tmp_path, ClientAuth(ca_certs=(pki.client_ca.cert_der,)),
                          pki.client_ok, validation="tofu")
    assert outcome.synced


async def test_an_exactly_listed_client_cert_syncs(tmp_path: Path, pki: Pki) -> None:
    outcome = await _sync(tmp_path, ClientAuth(allowed_certs=(pki.listed.cert_der,)), pki.listed)
    assert outcome.synced


async def test_a_cert_signed_by_a_listed_cert_passes_tls_but_not_the_listener(
        tmp_path: Path, pki: Pki) -> None:
    # TLS accepts it (the listed cert is CA-capable); only check_peer stops it.
    outcome = await _sync(tmp_path, ClientAuth(allowed_certs=(pki.listed.cert_der,)),
                          pki.listed_child)
    _refused(outcome, "client certificate", "403")


async def test_an_expired_client_cert_from_the_right_ca_is_refused(tmp_path: Path,
                                                                   pki: Pki) -> None:
    stale = issue(pki.client_ca, "kiosk 4", days_from=-30, days_to=-1, client=True)
    outcome = await _sync(tmp_path, ClientAuth(ca_certs=(pki.client_ca.cert_der,)), stale)
    _refused(outcome, "expired")


@pytest.mark.parametrize("client", ["none", "client_foreign"])
async def test_over_tls_1_2_a_refused_client_cert_fails_in_the_handshake_the_same_way(
        client: str, tmp_path: Path, pki: Pki) -> None:
    identity = None if client == "none" else getattr(pki, client)
    outcome = await _sync(tmp_path, ClientAuth(ca_certs=(pki.client_ca.cert_der,)), identity,
                          max_tls=ssl.TLSVersion.TLSv1_2)
    _refused(outcome, "refused the TLS session")
