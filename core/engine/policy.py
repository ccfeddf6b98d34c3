"""The decision policy: from what the strategies propose to at most one decision to act on.

Rules, in order: proposals under the confidence threshold are dropped; proposals on opposite outcomes
cancel each other (stand aside) unless the policy is told to let the higher-priority strategy win; of the
rest, the strategy earliest in the priority order wins (ties by confidence); and no decision is acted on
within `min_interval_ms` of the previous one. Deterministic: no clock but the one passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from core.strategies.base import StrategyDecision


class PolicyReason(StrEnum):
    ACCEPTED = "accepted"
    BELOW_CONFIDENCE = "below_confidence"
    CONFLICT = "conflict"
    OUTRANKED = "outranked"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    priority: tuple[str, ...] = ("fair_value", "momentum", "mean_reversion")
    min_confidence: float = 0.55
    min_interval_ms: int = 5_000
    conflicts_stand_aside: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min_confidence {self.min_confidence} must be within [0, 1]")
        if self.min_interval_ms < 0:
            raise ValueError(f"min_interval_ms {self.min_interval_ms} must not be negative")


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """The decision to act on (if any) and, for every proposal, what the policy made of it."""

    chosen: StrategyDecision | None
    outcomes: tuple[tuple[StrategyDecision, PolicyReason], ...] = field(default_factory=tuple)


class DecisionPolicy:
    """Stateful only in the instant of its last accepted decision (for the rate limit)."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self._last_accepted_ms: int | None = None

    def resolve(self, decisions: Sequence[StrategyDecision], now_ms: int) -> PolicyResult:
        if not decisions:
            return PolicyResult(None)
        config = self.config
        verdicts: dict[int, PolicyReason] = {}
        confident = []
        for index, decision in enumerate(decisions):
            if decision.confidence < config.min_confidence:
                verdicts[index] = PolicyReason.BELOW_CONFIDENCE
            else:
                confident.append(index)
        if confident and config.conflicts_stand_aside and len({decisions[i].outcome for i in confident}) > 1:
            verdicts.update(dict.fromkeys(confident, PolicyReason.CONFLICT))
            confident = []
        chosen: int | None = None
        if confident:
            chosen = min(
                confident, key=lambda i: (self._rank(decisions[i].strategy), -decisions[i].confidence, i)
            )
            for index in confident:
                if index != chosen:
                    verdicts[index] = PolicyReason.OUTRANKED
            last = self._last_accepted_ms
            if last is not None and now_ms - last < config.min_interval_ms:
                verdicts[chosen] = PolicyReason.RATE_LIMITED
                chosen = None
            else:
                verdicts[chosen] = PolicyReason.ACCEPTED
                self._last_accepted_ms = now_ms
        return PolicyResult(
            decisions[chosen] if chosen is not None else None,
            tuple((decision, verdicts[index]) for index, decision in enumerate(decisions)),
        )

    def _rank(self, strategy: str) -> int:
        priority = self.config.priority
        return priority.index(strategy) if strategy in priority else len(priority)
