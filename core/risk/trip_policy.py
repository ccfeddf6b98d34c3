"""What an automatic trip stops: this round only, the next few rounds, or the deployment until a human looks.

The guard decides *that* the kill switch trips (`core/risk/guard.py`); this table decides *how far* the trip
reaches, and the orchestration applies it (`tasks/control.py`). The rule of thumb: a cause that belongs to
one round's data (a feed that went quiet, a kill switch the round could not read) ends with that round and
needs nobody; a cause that says the account, the venue or our own arithmetic is wrong (the day's loss, a
run of rejected orders, the venue refusing our key or our balance, a settlement that disagrees with the
venue's) would trip again in the next round, so the deployment is paused until an operator resumes it. A
losing streak is neither: the guard sits out a fixed number of rounds and trades on by itself.

An operator's halt (`kill_switch`) is not an automatic trip and is not in this table: whoever halted chose
its reach (`btc-agent kill` pauses the deployment; cancelling one flow run stops that run only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from core.risk.verdict import ReasonCode


class TripScope(StrEnum):
    ROUND = "round"
    """This round stops opening positions while the cause lasts; the deployment keeps scheduling rounds."""
    COOLDOWN = "cooldown"
    """The guard refuses orders for the next rounds (a stored, self-ending state); nobody needs to act."""
    DEPLOYMENT = "deployment"
    """The round deployment is paused: no further round runs until an operator resumes it."""


@dataclass(frozen=True, slots=True)
class TripRule:
    scope: TripScope
    ends: str
    """When trading comes back, in the words of the runbook and the log."""


TRIP_POLICY: Mapping[ReasonCode, TripRule] = MappingProxyType(
    {
        ReasonCode.STALE_FEED: TripRule(
            TripScope.ROUND, "when every stale feed delivers again, or with the next round"
        ),
        ReasonCode.KILL_SWITCH_UNREADABLE: TripRule(
            TripScope.ROUND, "as soon as the kill switch can be read again and is not engaged"
        ),
        ReasonCode.COOLDOWN: TripRule(
            TripScope.COOLDOWN, "by itself after the configured number of rounds (COOLDOWN_ROUNDS)"
        ),
        ReasonCode.DAILY_LOSS: TripRule(
            TripScope.DEPLOYMENT, "when an operator resumes the deployment (a new UTC day lifts the limit)"
        ),
        ReasonCode.ERROR_BURST: TripRule(TripScope.DEPLOYMENT, "when an operator resumes the deployment"),
        ReasonCode.VENUE_FATAL: TripRule(TripScope.DEPLOYMENT, "when an operator resumes the deployment"),
        ReasonCode.SETTLEMENT_MISMATCH: TripRule(
            TripScope.DEPLOYMENT, "when an operator resumes the deployment"
        ),
    }
)

UNLISTED = TripRule(TripScope.DEPLOYMENT, "when an operator resumes the deployment")
"""A trip nobody classified waits for a human: the safe default."""


def is_operator_halt(code: ReasonCode | str) -> bool:
    """The `kill_switch` trip the engine records when it halts: an operator's (or Prefect's) doing."""
    return str(code) == ReasonCode.KILL_SWITCH.value


def trip_rule(code: ReasonCode | str) -> TripRule:
    """The policy of an automatic trip by its reason code (unknown codes pause the deployment)."""
    try:
        return TRIP_POLICY.get(ReasonCode(code), UNLISTED)
    except ValueError:
        return UNLISTED


def trip_scope(code: ReasonCode | str) -> TripScope:
    return trip_rule(code).scope


__all__ = ["TRIP_POLICY", "UNLISTED", "TripRule", "TripScope", "is_operator_halt", "trip_rule", "trip_scope"]
