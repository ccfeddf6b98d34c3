"""Everything a risk rule may look at besides the order and the limits, frozen at the instant of the check."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.engine.features import FeatureView
from core.market.fees import CRYPTO_FEES_V2, FeeSchedule
from core.risk.state import AccountState, RoundExposure


@dataclass(frozen=True, slots=True)
class VenueTerms:
    """The market's own rules, from discovery (VenueRulesRow); the tick comes from the live book."""

    min_order_size: Decimal = Decimal(5)
    """Smallest resting (GTC/GTD) order, in shares."""
    min_marketable_buy_notional: Decimal = Decimal(1)
    """Smallest marketable BUY (FOK/FAK, or a GTC/GTD that crosses), in collateral."""
    fees: FeeSchedule = CRYPTO_FEES_V2


@dataclass(frozen=True, slots=True)
class RiskContext:
    """The market as features, this round's exposure, the account, and the round's timing.

    `cutoff_ms` is when the round stops opening positions; `late_start` is set when the run missed its
    activation; `fair_probability` is the deciding strategy's probability that the order's outcome wins.
    """

    features: FeatureView
    exposure: RoundExposure
    account: AccountState
    activation_ms: int
    cutoff_ms: int
    late_start: bool
    fair_probability: float | None
    now_ms: int
    venue: VenueTerms = VenueTerms()
