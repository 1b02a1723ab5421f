"""The names of the TLS modes, kept apart so settings can check them without loading TLS code."""

from __future__ import annotations

TLS_MODES = ("disabled", "anonymous", "bundled", "generated")  # a listener's identity
VALIDATION_MODES = ("skip", "ca", "pinned", "tofu")  # how a replicator trusts a listener
