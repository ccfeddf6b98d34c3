"""The strategy registry: names to factories, and building the configured strategies with their parameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from core.strategies.base import Strategy
from core.strategies.fair_value import FairValueParams, FairValueStrategy
from core.strategies.mean_reversion import MeanReversionParams, MeanReversionStrategy
from core.strategies.momentum import MomentumParams, MomentumStrategy


def _build(
    strategy: Callable[[Any], Strategy], params_type: type[Any], name: str, **values: object
) -> Strategy:
    known = {field.name: field for field in dataclasses.fields(params_type)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"strategy {name!r} has no parameter {', '.join(unknown)}; it has {', '.join(known)}"
        )
    coerced = {key: _coerce(name, key, value, type(known[key].default)) for key, value in values.items()}
    try:
        return strategy(params_type(**coerced))
    except ValueError as exc:
        raise ValueError(f"strategy {name!r}: {exc}") from None


def _coerce(name: str, key: str, value: object, kind: type) -> object:
    """Settings arrive as strings or JSON numbers; each becomes the type of the parameter's default."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise TypeError
        if kind is Decimal:
            return Decimal(str(value))
        if kind is int:
            if isinstance(value, float | Decimal) and value != int(value):
                raise TypeError
            return int(value)
        return float(value)
    except (TypeError, ValueError, InvalidOperation):
        raise ValueError(f"strategy {name!r}: {key}={value!r} is not a valid {kind.__name__}") from None


STRATEGIES: dict[str, Callable[..., Strategy]] = {
    "fair_value": partial(_build, FairValueStrategy, FairValueParams, "fair_value"),
    "momentum": partial(_build, MomentumStrategy, MomentumParams, "momentum"),
    "mean_reversion": partial(_build, MeanReversionStrategy, MeanReversionParams, "mean_reversion"),
}
"""Each factory takes the strategy's parameters as keyword arguments (defaults for the rest)."""


def build_strategies(
    names: Iterable[str], params: Mapping[str, Mapping[str, object]] | None = None
) -> list[Strategy]:
    """The named strategies in order, each with its parameters from `params[name]`."""
    selected = list(names)
    for name in selected:
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    duplicates = sorted({name for name in selected if selected.count(name) > 1})
    if duplicates:
        raise ValueError(f"strategy {', '.join(map(repr, duplicates))} is listed more than once")
    params = params or {}
    stray = sorted(set(params) - set(selected))
    if stray:
        raise ValueError(f"parameters given for {', '.join(map(repr, stray))}, which is not among {selected}")
    return [STRATEGIES[name](**params.get(name, {})) for name in selected]
