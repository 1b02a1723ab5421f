"""Session-wide fixtures for the TLS matrix: the throwaway PKI and a generated identity,
made once so the whole part stays fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.net.identity import Identity, generated_identity
from tests.tlsmatrix.pki import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose generated listener identity exists (made once)."""
    folder = tmp_path_factory.mktemp("generated")
    generated_identity(folder)
    return folder


@pytest.fixture(scope="session")
def generated(generated_dir: Path) -> Identity:
    return generated_identity(generated_dir, create=False)
