"""Fixtures for the integration tests."""

from __future__ import annotations

from typing import Any

import pytest

import engine.peer
from engine.store import Database
from engine.sync.link import SessionStats
from engine.sync.server_session import serve_peer


@pytest.fixture
def server_stats(monkeypatch: pytest.MonkeyPatch) -> list[SessionStats]:
    """Every server session's counters (make_listener's handler calls serve_peer)."""
    sessions: list[SessionStats] = []

    async def tracked(channel: Any, db: Database, **kw: Any) -> None:
        stats = SessionStats(track_keys=True)
        sessions.append(stats)
        await serve_peer(channel, db, stats=stats, **kw)

    monkeypatch.setattr(engine.peer, "serve_peer", tracked)
    return sessions
