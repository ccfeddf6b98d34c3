"""One round of the simulated market: its strike, fair value over time, the market's activity, its outcome.

Ties a Chainlink feed (core.sim.prices), the fair-value model, the market maker and the matching engine
together; the server calls `step` on its own cadence and `settle` after the close.
"""

from __future__ import annotations

from decimal import Decimal
from statistics import fmean

from core.events import MarketResolved, Outcome, Side
from core.market.rounds import Round
from core.market.settlement import SettlementSource, decide_outcome, settlement_price
from core.sim.fair_value import P_MAX, P_MIN, TWAP_WINDOW_S, VolatilityEstimator, up_probability
from core.sim.market_maker import MarketMaker
from core.sim.markets import tick_for
from core.sim.matching import EngineReport, MarketRules, MatchingEngine, merge_reports
from core.sim.prices import SECOND_MS, ChainlinkFeed, whole_seconds

VOL_WARMUP_S = 3600


class RoundModel:
    """The simulated market of one round; before the open the strike is unknown and fair value is 1/2."""

    def __init__(
        self,
        *,
        round_: Round,
        market: MarketRules,
        engine: MatchingEngine,
        feed: ChainlinkFeed,
        settlement: SettlementSource,
        maker: MarketMaker,
        vol: VolatilityEstimator | None = None,
    ) -> None:
        self.round = round_
        self.market = market
        self.settlement = settlement
        self._engine = engine
        self._feed = feed
        self._maker = maker
        self._vol = vol or VolatilityEstimator()
        self._vol_next_ms: int | None = None
        self._last_step_ms: int | None = None
        self._strike: Decimal | None = None
        self._outcome: Outcome | None = None
        if not engine.has_market(market.condition_id):
            engine.add_market(market)

    @property
    def outcome(self) -> Outcome | None:
        return self._outcome

    def strike(self) -> Decimal | None:
        """The price to beat: the settlement quantity at the open (spot in effect, or the 60 s TWAP)."""
        if self._strike is None:
            self._strike = self._settlement_value(self.round.open_ms)
        return self._strike

    def fair_up(self, now_ms: int) -> float:
        """The model's probability of Up at `now_ms` (vol from the feed's trailing hour up to now)."""
        if self._outcome is not None:
            return P_MAX if self._outcome is Outcome.UP else P_MIN
        self._update_vol(now_ms)
        if now_ms < self.round.open_ms:
            return 0.5
        strike = self.strike()
        if strike is None:
            raise ValueError(f"the price path does not cover the open of {self.round.slug}")
        tau_s = max(self.round.close_ms - now_ms, 0) / 1000
        window_mean = None
        if tau_s < TWAP_WINDOW_S:
            start_ms = self.round.close_ms - TWAP_WINDOW_S * SECOND_MS
            reports = whole_seconds(start_ms, self._feed.latest_stamp(now_ms) + 1)
            window_mean = fmean(float(self._feed.report(ts)) for ts in reports) if reports else float(strike)
        spot = float(self._feed.spot_at(now_ms))
        return up_probability(
            self.settlement, spot, float(strike), self._vol.sigma, tau_s, window_mean=window_mean
        )

    def step(self, now_ms: int) -> EngineReport:
        """The tick follows the book, the market maker requotes around fair value on that tick's grid and
        other takers trade; nothing after the close."""
        elapsed_ms = 0 if self._last_step_ms is None else now_ms - self._last_step_ms
        self._last_step_ms = now_ms
        cid = self.market.condition_id
        if now_ms >= self.round.close_ms or self._outcome is not None:
            return self._engine.apply_quotes(cid, {}, now_ms)
        fair = self.fair_up(now_ms)
        book = self._engine.book(cid)
        tick = self._engine.tick_size(cid)
        refined = tick_for(tick, book.best(Side.BUY), book.best(Side.SELL))
        if refined != tick:
            self._engine.change_tick(cid, refined)
        reports = [self._engine.apply_quotes(cid, self._maker.quote(now_ms, fair, book), now_ms)]
        for intent in self._maker.takers(now_ms, fair, book, elapsed_ms):
            reports.append(self._engine.execute_taker(cid, intent, now_ms))
        return merge_reports(reports)

    def settle(self, now_ms: int) -> tuple[MarketResolved, EngineReport]:
        """Decide the outcome by core.market.settlement's rule, resolve the market and redeem winning shares."""
        if now_ms < self.round.close_ms:
            raise ValueError(f"{self.round.slug} closes at {self.round.close_ms}, not yet at {now_ms}")
        strike, final = self.strike(), self._settlement_value(self.round.close_ms)
        if strike is None or final is None:
            raise ValueError(f"the price path does not cover {self.round.slug}")
        self._outcome = decide_outcome(strike, final)
        report = self._engine.resolve(self.market.condition_id, self._outcome, now_ms)
        winner = self.market.up_token_id if self._outcome is Outcome.UP else self.market.down_token_id
        return MarketResolved(ts_ms=now_ms, winning_token_id=winner, winning_outcome=self._outcome), report

    def _settlement_value(self, at_ms: int) -> Decimal | None:
        ticks = self._feed.ticks(at_ms - (TWAP_WINDOW_S + 1) * SECOND_MS, at_ms + SECOND_MS)
        if self.settlement is SettlementSource.CHAINLINK_TWAP_60S and self._feed.twap_at(at_ms) is None:
            return None
        return settlement_price(ticks, at_ms, self.settlement)

    def _update_vol(self, now_ms: int) -> None:
        path = self._feed.path
        if self._vol_next_ms is None:
            self._vol_next_ms = max(path.start_ms, now_ms - VOL_WARMUP_S * SECOND_MS)
        stop = min(self._feed.latest_stamp(now_ms) + 1, path.end_ms)
        for ts in whole_seconds(self._vol_next_ms, stop):
            self._vol.update(ts, float(self._feed.report(ts)))
        self._vol_next_ms = max(self._vol_next_ms, stop)
