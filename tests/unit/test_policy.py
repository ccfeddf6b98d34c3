"""The decision policy, one rule at a time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.engine.policy import DecisionPolicy, PolicyConfig, PolicyReason
from core.events import Outcome, Side
from core.strategies.base import StrategyDecision


def proposal(strategy: str, outcome: Outcome = Outcome.UP, confidence: float = 0.7) -> StrategyDecision:
    return StrategyDecision(
        strategy=strategy,
        outcome=outcome,
        side=Side.BUY,
        limit_price=Decimal("0.55"),
        size=Decimal(10),
        confidence=confidence,
        reason="test",
    )


def test_policy_drops_proposals_below_the_confidence_threshold() -> None:
    result = DecisionPolicy(PolicyConfig(min_confidence=0.6)).resolve(
        [proposal("momentum", confidence=0.59)], 0
    )
    assert result.chosen is None
    assert result.outcomes[0][1] is PolicyReason.BELOW_CONFIDENCE


def test_policy_stands_aside_when_strategies_disagree_on_the_outcome() -> None:
    up, down = proposal("fair_value", Outcome.UP), proposal("momentum", Outcome.DOWN)
    result = DecisionPolicy().resolve([up, down], 0)
    assert result.chosen is None
    assert [reason for _, reason in result.outcomes] == [PolicyReason.CONFLICT, PolicyReason.CONFLICT]


def test_policy_lets_the_higher_priority_win_a_conflict_when_told_to() -> None:
    up, down = proposal("momentum", Outcome.UP), proposal("fair_value", Outcome.DOWN)
    result = DecisionPolicy(PolicyConfig(conflicts_stand_aside=False)).resolve([up, down], 0)
    assert result.chosen is down
    assert dict((d.strategy, r) for d, r in result.outcomes)["momentum"] is PolicyReason.OUTRANKED


def test_policy_prefers_the_strategy_earliest_in_the_priority_order() -> None:
    result = DecisionPolicy(PolicyConfig(priority=("momentum", "fair_value"))).resolve(
        [proposal("fair_value", confidence=0.9), proposal("momentum", confidence=0.6)], 0
    )
    assert result.chosen is not None
    assert result.chosen.strategy == "momentum"


def test_policy_breaks_a_priority_tie_by_confidence() -> None:
    low, high = proposal("custom", confidence=0.6), proposal("other", confidence=0.8)
    assert DecisionPolicy().resolve([low, high], 0).chosen is high


def test_policy_rate_limits_decisions() -> None:
    policy = DecisionPolicy(PolicyConfig(min_interval_ms=5_000))
    assert policy.resolve([proposal("fair_value")], 1_000).chosen is not None
    limited = policy.resolve([proposal("fair_value")], 5_999)
    assert limited.chosen is None
    assert limited.outcomes[0][1] is PolicyReason.RATE_LIMITED
    assert policy.resolve([proposal("fair_value")], 6_000).chosen is not None


def test_a_rate_limited_decision_does_not_restart_the_interval() -> None:
    policy = DecisionPolicy(PolicyConfig(min_interval_ms=5_000))
    policy.resolve([proposal("fair_value")], 0)
    policy.resolve([proposal("fair_value")], 4_000)
    assert policy.resolve([proposal("fair_value")], 5_000).chosen is not None


def test_policy_with_no_proposals_chooses_nothing() -> None:
    assert DecisionPolicy().resolve([], 0).chosen is None


def test_policy_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="min_confidence"):
        PolicyConfig(min_confidence=1.5)
    with pytest.raises(ValueError, match="min_interval_ms"):
        PolicyConfig(min_interval_ms=-1)
