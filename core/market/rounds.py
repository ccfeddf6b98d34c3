"""Round arithmetic: which round an instant falls in, its slug, and when the agent must wake and act.

A round is the half-open window [open, close): an instant exactly on a boundary belongs to the new round.
Everything is UTC and integer seconds or milliseconds since the epoch, so there is no rounding to argue about.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from core.clock import datetime_to_ms, ms_to_datetime

_SLUG = re.compile(r"^(?P<asset>[a-z0-9]+)-updown-(?P<count>\d+)(?P<unit>[ms])-(?P<open>-?\d+)$")


class InvalidSlugError(ValueError):
    """A string that is not the slug of a round of this schedule."""


def window_label(length_s: int) -> str:
    """The venue's length tag in a slug: 900 s is `15m`; lengths that are not whole minutes read `90s`."""
    return f"{length_s // 60}m" if length_s % 60 == 0 else f"{length_s}s"


@dataclass(frozen=True, slots=True, order=True)
class Round:
    """One market window of the schedule, identified by its open time."""

    open_s: int
    length_s: int = 900
    activation_lead_s: int = 180
    wake_lead_s: int = 240
    asset: str = "btc"

    @property
    def close_s(self) -> int:
        return self.open_s + self.length_s

    @property
    def open_ms(self) -> int:
        return self.open_s * 1000

    @property
    def close_ms(self) -> int:
        return self.close_s * 1000

    @property
    def activation_ms(self) -> int:
        """From this instant the engine may trade (T - 180 s for the venue's rounds)."""
        return (self.close_s - self.activation_lead_s) * 1000

    @property
    def wake_ms(self) -> int:
        """When the scheduler should start the run, so feeds are warm before activation."""
        return (self.close_s - self.wake_lead_s) * 1000

    @property
    def open(self) -> datetime:
        return ms_to_datetime(self.open_ms)

    @property
    def close(self) -> datetime:
        return ms_to_datetime(self.close_ms)

    @property
    def activation(self) -> datetime:
        return ms_to_datetime(self.activation_ms)

    @property
    def wake(self) -> datetime:
        return ms_to_datetime(self.wake_ms)

    @property
    def slug(self) -> str:
        return f"{self.asset}-updown-{window_label(self.length_s)}-{self.open_s}"

    def contains_ms(self, ts_ms: int) -> bool:
        return self.open_ms <= ts_ms < self.close_ms

    def next(self) -> Round:
        return self._shifted(self.length_s)

    def previous(self) -> Round:
        return self._shifted(-self.length_s)

    def _shifted(self, delta_s: int) -> Round:
        return Round(
            self.open_s + delta_s, self.length_s, self.activation_lead_s, self.wake_lead_s, self.asset
        )


@dataclass(frozen=True, slots=True)
class RoundSchedule:
    """The rolling schedule of rounds: the venue's is 900 s rounds, active for the last 180 s."""

    length_s: int = 900
    activation_lead_s: int = 180
    wake_lead_s: int = 240
    asset: str = "btc"

    def __post_init__(self) -> None:
        if self.length_s <= 0:
            raise ValueError(f"round length must be positive, got {self.length_s} s")
        if not 0 < self.activation_lead_s <= self.length_s:
            raise ValueError(
                f"activation lead {self.activation_lead_s} s must lie within "
                f"the round length {self.length_s} s"
            )
        if not self.activation_lead_s <= self.wake_lead_s <= self.length_s:
            raise ValueError(
                f"wake lead {self.wake_lead_s} s must be between the activation lead "
                f"{self.activation_lead_s} s and the round length {self.length_s} s"
            )
        if not _SLUG.match(f"{self.asset}-updown-1m-0"):
            raise ValueError(f"asset {self.asset!r} must be lowercase letters and digits")

    def round_starting(self, open_s: int) -> Round:
        if open_s % self.length_s:
            raise ValueError(f"{open_s} is not a round boundary of a {self.length_s} s schedule")
        return Round(open_s, self.length_s, self.activation_lead_s, self.wake_lead_s, self.asset)

    def round_at_ms(self, ts_ms: int) -> Round:
        """The round whose window [open, close) holds the instant."""
        length_ms = self.length_s * 1000
        return self.round_starting((ts_ms // length_ms) * self.length_s)

    def round_at(self, instant: datetime) -> Round:
        return self.round_at_ms(datetime_to_ms(instant))

    def next_to_wake(self, ts_ms: int) -> Round:
        """The first round whose wake time is at or after the instant: what a scheduler starts next."""
        current = self.round_at_ms(ts_ms)
        return current if current.wake_ms >= ts_ms else current.next()

    def rounds_between(self, start_ms: int, end_ms: int) -> Iterator[Round]:
        """Every round that opens in [start, end)."""
        first = self.round_at_ms(start_ms)
        current = first if first.open_ms >= start_ms else first.next()
        while current.open_ms < end_ms:
            yield current
            current = current.next()

    def from_slug(self, slug: str) -> Round:
        """The round a slug names; anything else is refused with the reason."""
        match = _SLUG.match(slug) if isinstance(slug, str) else None
        if match is None:
            raise InvalidSlugError(
                f"{slug!r} is not a round slug: expected '{self.asset}-updown-{window_label(self.length_s)}-"
                "<open unix seconds>'"
            )
        asset, label, open_s = match["asset"], match["count"] + match["unit"], int(match["open"])
        if asset != self.asset or label != window_label(self.length_s):
            raise InvalidSlugError(
                f"{slug!r} names a {asset} {label} round, but this schedule has "
                f"{self.asset} {window_label(self.length_s)} rounds"
            )
        if open_s % self.length_s:
            raise InvalidSlugError(f"{slug!r}: {open_s} is not a multiple of {self.length_s} s")
        found = self.round_starting(open_s)
        # Leading zeros, non-ASCII digits or a trailing newline would let two strings name one round.
        if found.slug != slug:
            raise InvalidSlugError(f"{slug!r} is not the canonical slug {found.slug!r} of its round")
        return found

    def cron(self) -> str:
        """A cron expression firing at each round's wake time, for schedules that cron can express."""
        wake_offset_s = self.length_s - self.wake_lead_s
        if self.length_s % 60 or 3600 % self.length_s or wake_offset_s % 60:
            raise ValueError(
                f"a {self.length_s} s round waking {self.wake_lead_s} s before its close is not "
                "expressible as cron; use an interval schedule"
            )
        step, first = self.length_s // 60, wake_offset_s // 60
        minutes = sorted((first + k * step) % 60 for k in range(60 // step))
        return f"{','.join(map(str, minutes))} * * * *"
