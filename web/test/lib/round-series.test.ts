import { describe, expect, it } from "vitest";

import { roundChartData } from "@/lib/round-series";
import type { RoundDetail } from "@/lib/types";

const OPEN = "2026-12-06T12:44:00Z";
const CLOSE = "2026-12-06T12:46:00Z";
const s = (iso: string) => Date.parse(iso) / 1000;

function detail(extra: Partial<RoundDetail> = {}): RoundDetail {
  return {
    round: {
      slug: "btc-updown-2m-1796561040",
      mode: "paper",
      status: "settled",
      reason: null,
      open_at: OPEN,
      close_at: CLOSE,
      length_s: 120,
      strike: "95812.09",
      flow_run_id: null,
      winner: "up",
      settle_price: "95828.20",
      pnl: "6.73",
      fees: "0.39",
      orders: 1,
      fills: 1,
    },
    headline: "UP won",
    venue_rules: null,
    settlement: null,
    pnl: { total: "6.73", fees: "0.39", per_strategy: {} },
    counts: { policy: {}, verdicts: {} },
    decisions: [],
    risk_events: [],
    orders: [],
    tape: { path: "tapes/x", files: [] },
    flow_run_id: null,
    samples: [],
    ...extra,
  };
}

const series = (data: ReturnType<typeof roundChartData>, label: string) => {
  const found = data.series.find((x) => x.spec.label === label);
  if (!found) throw new Error(`no series ${label}`);
  return found.values.map((v) => (v === null ? null : Math.round(v * 1e6) / 1e6));
};

describe("the round's chart data", () => {
  it("draws BTC and the book mids from the tick samples, and the strike across", () => {
    const data = roundChartData(
      detail({
        samples: [
          { round_slug: "r", run_id: "paper", ts: "2026-12-06T12:45:05Z", chainlink: "95800", binance: "95801", up_bid: "0.40", up_ask: "0.42", down_bid: "0.58", down_ask: "0.60" },
          { round_slug: "r", run_id: "paper", ts: "2026-12-06T12:45:10Z", chainlink: "95810", binance: null, up_bid: null, up_ask: "0.50", down_bid: null, down_ask: null },
        ],
      }),
    );
    expect(data.xs).toEqual([s("2026-12-06T12:45:05Z"), s("2026-12-06T12:45:10Z"), s(CLOSE)]);
    expect(series(data, "BTC Chainlink")).toEqual([95800, 95810, null]);
    expect(series(data, "Up price")).toEqual([0.41, 0.5, null]);
    expect(series(data, "Down price")).toEqual([0.59, null, null]);
    expect(series(data, "Strike")).toEqual([95812.09, 95812.09, 95812.09]);
    expect(series(data, "Settlement price")).toEqual([null, null, 95828.2]);
    expect(data.window.from).toBe(s("2026-12-06T12:45:05Z"));
    expect(data.sources.samples).toBe(2);
  });

  it("adds the decisions' features and marks decisions, orders and fills at their prices", () => {
    const data = roundChartData(
      detail({
        decisions: [
          {
            id: "d1",
            round_slug: "r",
            run_id: "paper",
            ts: "2026-12-06T12:45:24Z",
            strategy: "fair_value",
            outcome: "up",
            side: "BUY",
            limit_price: "0.749",
            size: "10",
            confidence: "0.8",
            reason: "edge",
            policy: "accepted",
            features: { now_ms: Date.parse("2026-12-06T12:45:24Z"), chainlink: 95833.77, up_bid: 0.74, up_ask: 0.75 },
            verdicts: [],
          },
        ],
        orders: [
          {
            id: "o1",
            round_slug: "r",
            run_id: "paper",
            ts: "2026-12-06T12:45:24.200Z",
            mode: "paper",
            token_id: "t",
            outcome: "up",
            side: "BUY",
            order_type: "FAK",
            post_only: false,
            price: "0.749",
            size: "10",
            events: [],
            fills: [{ order_id: "o1", round_slug: "r", run_id: "paper", trade_id: "x", token_id: "t", outcome: "up", side: "BUY", liquidity: "taker", status: "MATCHED", mode: "paper", ts: "2026-12-06T12:45:24.300Z", price: "0.749", size: "10" }],
          },
        ],
      }),
    );
    const at = data.xs.indexOf(s("2026-12-06T12:45:24Z"));
    expect(series(data, "BTC Chainlink")[at]).toBe(95833.77);
    expect(series(data, "Decision (Up)")[at]).toBe(0.749);
    expect(series(data, "Order")[data.xs.indexOf(s("2026-12-06T12:45:24.200Z"))]).toBe(0.749);
    expect(series(data, "Fill")[data.xs.indexOf(s("2026-12-06T12:45:24.300Z"))]).toBe(0.749);
  });

  it("still has an axis for a round with nothing recorded", () => {
    const data = roundChartData(detail({ round: { ...detail().round, strike: null, settle_price: null } }));
    expect(data.xs).toEqual([s(OPEN), s(CLOSE)]);
    expect(data.window.from).toBe(s(OPEN));
  });
});
