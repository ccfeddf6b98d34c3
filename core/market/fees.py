"""Polymarket's fee on crypto Up/Down fills: shares x rate x (p(1-p))^exponent, floored to 0.00001."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext

from core import money
from core.money import FEE_QUANTUM, ONE, ZERO, MoneyError, MoneyLike

# Wide enough that the floor sees the exact product of any realistic size, tick and exponent, not a
# 28-digit rounding of it that could land on the next quantum.
_EXACT_DIGITS = 80


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A market's Gamma `feeSchedule`; read it per market, since the venue has changed it before."""

    rate: Decimal
    exponent: int
    taker_only: bool = True
    rebate_rate: Decimal = ZERO

    def __post_init__(self) -> None:
        # Normalised in place so a str or int rate cannot slip through to the arithmetic.
        object.__setattr__(self, "rate", money.size(self.rate, name="rate"))
        object.__setattr__(self, "rebate_rate", money.size(self.rebate_rate, name="rebate_rate"))
        if type(self.exponent) is not int or self.exponent < 0:
            raise ValueError(f"exponent: {self.exponent!r} is not a non-negative integer")
        if type(self.taker_only) is not bool:
            raise ValueError(f"taker_only: {self.taker_only!r} is not a boolean")
        if self.rebate_rate > ONE:
            raise MoneyError(f"rebate_rate: {self.rebate_rate} is above 1")

    @classmethod
    def from_gamma(cls, obj: Mapping[str, object]) -> FeeSchedule:
        """Parse Gamma's `feeSchedule`; its JSON floats become Decimals via their repr, here only."""
        exponent = _gamma_number(obj, "exponent")
        if exponent != exponent.to_integral_value():
            raise ValueError(f"feeSchedule.exponent: {exponent} is not an integer")
        taker_only = obj.get("takerOnly", True)
        if not isinstance(taker_only, bool):
            raise ValueError(f"feeSchedule.takerOnly: {taker_only!r} is not a boolean")
        return cls(
            rate=_gamma_number(obj, "rate"),
            exponent=int(exponent),
            taker_only=taker_only,
            rebate_rate=_gamma_number(obj, "rebateRate", default=ZERO),
        )


CRYPTO_FEES_V2 = FeeSchedule(Decimal("0.07"), 1, True, Decimal("0.2"))


def _gamma_number(obj: Mapping[str, object], key: str, default: Decimal | None = None) -> Decimal:
    field = f"feeSchedule.{key}"
    if key not in obj:
        if default is None:
            raise ValueError(f"{field} is missing")
        return default
    raw = obj[key]
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise MoneyError(f"{field}: {raw!r} is not a number")
    return money.size(str(raw), name=field)


def taker_fee(shares: MoneyLike, price: MoneyLike, schedule: FeeSchedule) -> Decimal:
    """The fee a taker pays for `shares` filled at `price`, floored to 0.00001 as the venue does."""
    filled = money.size(shares, name="shares")
    p = money.probability_price(price)
    with localcontext() as ctx:
        ctx.prec = _EXACT_DIGITS
        return money.floor_to(filled * schedule.rate * (p * (ONE - p)) ** schedule.exponent, FEE_QUANTUM)


def fee_for(shares: MoneyLike, price: MoneyLike, schedule: FeeSchedule, *, is_taker: bool) -> Decimal:
    """The fee for one side of a fill: makers pay nothing on a taker-only schedule."""
    fee = taker_fee(shares, price, schedule)
    return fee if is_taker or not schedule.taker_only else ZERO.quantize(FEE_QUANTUM)


def buy_cost(shares: MoneyLike, price: MoneyLike, schedule: FeeSchedule, *, is_taker: bool = True) -> Decimal:
    """Collateral a BUY consumes: on CLOB V2 the fee is charged in collateral on top of the notional."""
    notional = money.size(shares, name="shares") * money.probability_price(price)
    return notional + fee_for(shares, price, schedule, is_taker=is_taker)


def fee_per_share(price: float, schedule: FeeSchedule = CRYPTO_FEES_V2) -> float:
    """The taker fee per share at `price`, in float for strategy arithmetic; money uses `taker_fee`."""
    return float(schedule.rate) * (price * (1.0 - price)) ** schedule.exponent
