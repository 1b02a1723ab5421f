"""Replicator settings: direction, continuity, heartbeat, retry policy, filters."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError
from engine.protocol import DEFAULT_LIMITS, Limits

# A filter sees (doc_id, deleted, body) and returns True to replicate that document.
DocFilter = Callable[[str, bool, dict[str, Any]], bool]


class Mode(enum.Enum):
    PUSH = "push"
    PULL = "pull"
    PUSH_AND_PULL = "push-and-pull"

    @property
    def pushes(self) -> bool:
        return self is not Mode.PULL

    @property
    def pulls(self) -> bool:
        return self is not Mode.PUSH


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter between attempts (seconds)."""

    max_attempts: int = 10  # consecutive failed attempts before giving up; 0 = never
    initial_wait: float = 0.5
    max_wait: float = 30.0
    jitter: float = 0.25  # +- this fraction of the wait, so peers do not retry in step

    def __post_init__(self) -> None:
        if self.max_attempts < 0 or self.initial_wait < 0 or self.max_wait < self.initial_wait:
            raise ConfigError("A retry policy needs max_attempts >= 0 and 0 <= initial <= max.")
        if not 0 <= self.jitter < 1:
            raise ConfigError("Retry jitter must be a fraction from 0 up to 1.")

    def wait(self, attempt: int, rng: random.Random | None = None) -> float:
        """The pause before retry number `attempt` (1-based)."""
        base = min(self.max_wait, self.initial_wait * 2.0 ** min(max(0, attempt - 1), 40))
        spread: float = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))


@dataclass(frozen=True, slots=True)
class ReplicatorConfig:
    """What a replicator does; every field has a sensible default."""

    mode: Mode = Mode.PUSH_AND_PULL
    continuous: bool = False
    heartbeat: float = 15.0  # seconds between pings; silence for 2.5x this = dead peer
    connect_timeout: float = 20.0  # connect + handshake
    retry: RetryPolicy = RetryPolicy()
    doc_ids: frozenset[str] | None = None  # replicate only these documents
    push_filter: DocFilter | None = None
    pull_filter: DocFilter | None = None
    deltas: bool = True
    peer_id: str | None = None  # our name in the handshake; default from the db uuid
    limits: Limits = DEFAULT_LIMITS

    def __post_init__(self) -> None:
        if self.heartbeat <= 0 or self.connect_timeout <= 0:
            raise ConfigError("Heartbeat and connect timeout must be positive.")
