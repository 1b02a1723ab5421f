"""Fixtures for the mDNS tests: network namespaces (see tests/mdns/netns.py)."""

from __future__ import annotations

from tests.mdns.netns import lan, net

__all__ = ["lan", "net"]
