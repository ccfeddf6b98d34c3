import { act, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { LiveOverview } from "@/components/live-overview";
import type { Status } from "@/lib/types";

function status(now: number): Status {
  const iso = (offsetS: number) => new Date(now + offsetS * 1000).toISOString();
  return {
    at: iso(0),
    mode: "paper",
    live_trading_allowed: false,
    round: {
      slug: "btc-updown-30s-1796561040",
      open_at: iso(-15),
      close_at: iso(15),
      wake_at: iso(-15),
      activation_at: iso(-5),
      phase: "active",
      seconds_to_activation: -5,
      seconds_to_close: 15,
      stored_status: "active",
    },
    kill_switch: { engaged: false, reason: "", source: null, code: null, since: null, set_by: null },
    pnl_today: [{ mode: "paper", day: "2026-12-06", rounds_settled: 2, pnl: "1.5", fees: "0.2" }],
    latest_decision: null,
    live: {
      at: iso(0),
      mode: "paper",
      round_slug: "btc-updown-30s-1796561040",
      phase: "active",
      activation_at: iso(-5),
      close_at: iso(15),
      seconds_to_activation: -5,
      seconds_to_close: 15,
      feeds: {
        market: { connected: true, stale: false, last_message_age_s: 0.2, reconnects: 0, resyncs: 0, malformed: 0 },
        rtds: { connected: true, stale: true, last_message_age_s: 7, reconnects: 1, resyncs: 0, malformed: 0 },
      },
      books: {},
      shares: { up: "10" },
      notional_spent: "5",
      open_orders: 0,
      trades_placed: 1,
      latest_decision: null,
      halted: null,
      suspended: null,
      engine: { events: 10, out_of_order: 0, evaluations: 3, decisions: 1, orders: 1, refusals: {} },
      latency: null,
      outbox: null,
    },
    live_unavailable: null,
    live_source: "store",
  };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "setInterval", "clearTimeout", "clearInterval", "Date"] });
  vi.stubGlobal("fetch", vi.fn(() => new Promise(() => undefined)));
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("the overview", () => {
  it("shows the round, its phase, countdowns, the kill switch and every feed", () => {
    render(<LiveOverview initialStatus={status(Date.now())} initialRisk={[]} />);
    expect(screen.getByTestId("round-slug")).toHaveTextContent("btc-updown-30s-1796561040");
    expect(screen.getByTestId("phase")).toHaveTextContent("active");
    expect(screen.getByTestId("seconds-to-close")).toHaveTextContent("0:15");
    expect(screen.getByTestId("kill-switch-state")).toHaveTextContent("off");
    expect(screen.getByTestId("live-indicator")).toHaveTextContent("connecting");
    expect(screen.getByTestId("events-received")).toHaveTextContent(/^0$/);
    expect(screen.getByTestId("feed-market")).toHaveAttribute("data-stale", "false");
    expect(screen.getByTestId("feed-rtds")).toHaveAttribute("data-stale", "true");
    expect(screen.getByTestId("latest-decision")).toHaveTextContent("No decision yet");
  });

  it("counts the round down between updates", () => {
    render(<LiveOverview initialStatus={status(Date.now())} initialRisk={[]} />);
    act(() => vi.advanceTimersByTime(5000));
    expect(screen.getByTestId("seconds-to-close")).toHaveTextContent("0:10");
  });

  it("names an engaged kill switch", () => {
    const engaged = status(Date.now());
    engaged.kill_switch = { engaged: true, reason: "console test", source: "manual", code: null, since: engaged.at, set_by: "admin" };
    render(<LiveOverview initialStatus={engaged} initialRisk={[]} />);
    expect(screen.getByTestId("kill-switch-state")).toHaveTextContent("engaged");
    expect(screen.getByTestId("kill-switch")).toHaveTextContent("console test");
  });
});
