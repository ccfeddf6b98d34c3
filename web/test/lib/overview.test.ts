import { describe, expect, it } from "vitest";

import { RECENT_RISK_EVENTS, initialOverview, overviewReducer, phaseAt, secondsUntil } from "@/lib/overview";
import type { LiveState, RiskEvent, Status } from "@/lib/types";

const ROUND = {
  slug: "btc-updown-15m-1796560200",
  open_at: "2026-12-06T12:30:00Z",
  close_at: "2026-12-06T12:45:00Z",
  wake_at: "2026-12-06T12:41:00Z",
  activation_at: "2026-12-06T12:42:00Z",
  phase: "waiting",
  seconds_to_activation: 600,
  seconds_to_close: 780,
  stored_status: null,
} as const;

function status(at: string, extra: Partial<Status> = {}): Status {
  return {
    at,
    mode: "paper",
    live_trading_allowed: false,
    round: { ...ROUND },
    kill_switch: { engaged: false, reason: "", source: null, code: null, since: null, set_by: null },
    pnl_today: [],
    latest_decision: null,
    live: null,
    live_unavailable: "no round is running",
    live_source: "store",
    ...extra,
  };
}

function live(at: string): LiveState {
  return { at, round_slug: ROUND.slug, phase: "active", feeds: {}, latest_decision: null } as unknown as LiveState;
}

function risk(id: string): RiskEvent {
  return { id, run_id: "paper", kind: "verdict", approved: false, reason_code: "entry_price_cap", message: id };
}

const T0 = Date.parse("2026-12-06T12:35:00Z");

describe("the overview's state", () => {
  it("starts from the server's status and knows the clock skew", () => {
    const state = initialOverview(status("2026-12-06T12:35:02Z"), [], T0);
    expect(state.skewMs).toBe(2000);
    expect(state.received).toBe(0);
  });

  it("takes the stream's state and counts it", () => {
    let state = initialOverview(status("2026-12-06T12:35:00Z"), [], T0);
    state = overviewReducer(state, { type: "event", event: { type: "state", state: live("2026-12-06T12:42:10Z") }, at: T0 });
    expect(state.live?.at).toBe("2026-12-06T12:42:10Z");
    expect(state.received).toBe(1);
    expect(state.counts.state).toBe(1);
  });

  it("shows the newest decision, from the stream or the status", () => {
    let state = initialOverview(status("2026-12-06T12:35:00Z"), [], T0);
    const row = { id: "d1", round_slug: ROUND.slug, run_id: "paper", ts: "2026-12-06T12:42:30Z", strategy: "fair_value", outcome: "up", side: "BUY", limit_price: "0.61", size: "10", reason: "edge", policy: "accepted" };
    state = overviewReducer(state, { type: "event", event: { type: "decision", row }, at: T0 });
    expect(state.latestDecision).toMatchObject({ strategy: "fair_value", at: "2026-12-06T12:42:30Z", round_slug: ROUND.slug });
    const older = { ...row, round_slug: ROUND.slug, mode: "paper", at: "2026-12-06T12:40:00Z", strategy: "momentum" };
    state = overviewReducer(state, { type: "status", status: status("2026-12-06T12:42:31Z", { latest_decision: older }), at: T0 });
    expect(state.latestDecision?.strategy).toBe("fair_value");
  });

  it("keeps the latest risk events, newest first, once each", () => {
    let state = initialOverview(status("2026-12-06T12:35:00Z"), [risk("a")], T0);
    for (const id of ["b", "c", "b"]) state = overviewReducer(state, { type: "event", event: { type: "risk_event", row: risk(id) }, at: T0 });
    expect(state.riskEvents.map((e) => e.id)).toEqual(["b", "c", "a"]);
    for (let i = 0; i < 20; i++) state = overviewReducer(state, { type: "event", event: { type: "risk_event", row: risk(`x${i}`) }, at: T0 });
    expect(state.riskEvents).toHaveLength(RECENT_RISK_EVENTS);
  });

  it("drops the running round when the status says none runs", () => {
    let state = initialOverview(status("2026-12-06T12:35:00Z", { live: live("2026-12-06T12:34:59Z") }), [], T0);
    expect(state.live).not.toBeNull();
    state = overviewReducer(state, { type: "status", status: status("2026-12-06T12:46:00Z"), at: T0 });
    expect(state.live).toBeNull();
    expect(state.received).toBe(1);
  });

  it("keeps a newer streamed state over an older polled one", () => {
    let state = initialOverview(status("2026-12-06T12:35:00Z"), [], T0);
    state = overviewReducer(state, { type: "event", event: { type: "state", state: live("2026-12-06T12:42:10Z") }, at: T0 });
    state = overviewReducer(state, { type: "status", status: status("2026-12-06T12:42:10Z", { live: live("2026-12-06T12:42:09Z") }), at: T0 });
    expect(state.live?.at).toBe("2026-12-06T12:42:10Z");
  });
});

describe("the round's clock", () => {
  it("counts down on the API's clock", () => {
    expect(secondsUntil(ROUND.close_at, Date.parse("2026-12-06T12:44:00Z"), 0)).toBe(60);
    expect(secondsUntil(ROUND.close_at, Date.parse("2026-12-06T12:44:00Z"), 5000)).toBe(55);
  });

  it.each([
    ["2026-12-06T12:40:59Z", "waiting"],
    ["2026-12-06T12:41:00Z", "warmup"],
    ["2026-12-06T12:42:00Z", "active"],
    ["2026-12-06T12:45:00Z", "closed"],
  ])("at %s the round is %s", (at, phase) => {
    expect(phaseAt({ ...ROUND }, Date.parse(at), 0)).toBe(phase);
  });
});
