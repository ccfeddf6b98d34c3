// What the overview shows, kept up to date from /status answers and stream events alike.
import type { LiveEvent } from "./sse";
import type { LiveState, RiskEvent, Schemas, Status } from "./types";

/** A decision as the overview shows it, whichever source told of it last. */
export type DecisionView = Schemas["LatestDecision"] & { round_slug?: string };

export interface OverviewState {
  status: Status;
  /** Local time (ms) the status arrived, and the API's clock minus ours then. */
  statusAt: number;
  skewMs: number;
  live: LiveState | null;
  latestDecision: DecisionView | null;
  riskEvents: RiskEvent[];
  /** Updates received since the page opened: stream events and status answers. */
  received: number;
  streamEvents: number;
  counts: Partial<Record<LiveEvent["type"], number>>;
  notice: string | null;
}

export const RECENT_RISK_EVENTS = 10;

function newer(a: DecisionView | null, b: DecisionView | null): DecisionView | null {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(b.at) >= Date.parse(a.at) ? b : a;
}

function decisionOf(status: Status): DecisionView | null {
  return newer(status.latest_decision ?? null, status.live?.latest_decision ?? null);
}

export function initialOverview(status: Status, riskEvents: RiskEvent[], at: number): OverviewState {
  return {
    status,
    statusAt: at,
    skewMs: Date.parse(status.at) - at,
    live: status.live ?? null,
    latestDecision: decisionOf(status),
    riskEvents: riskEvents.slice(0, RECENT_RISK_EVENTS),
    received: 0,
    streamEvents: 0,
    counts: {},
    notice: null,
  };
}

export type OverviewAction = { type: "status"; status: Status; at: number } | { type: "event"; event: LiveEvent; at: number };

export function overviewReducer(state: OverviewState, action: OverviewAction): OverviewState {
  if (action.type === "status") {
    const { status, at } = action;
    const live = status.live ?? null;
    const keepStreamed = state.live !== null && (live === null || Date.parse(state.live.at) > Date.parse(live.at));
    return {
      ...state,
      status,
      statusAt: at,
      skewMs: Date.parse(status.at) - at,
      // A null `live` means no fresh heartbeat: the round stopped, whatever the stream said before.
      live: live === null ? null : keepStreamed ? state.live : live,
      latestDecision: newer(state.latestDecision, decisionOf(status)),
      received: state.received + 1,
    };
  }
  const { event } = action;
  const counted: OverviewState = {
    ...state,
    received: state.received + 1,
    streamEvents: state.streamEvents + 1,
    counts: { ...state.counts, [event.type]: (state.counts[event.type] ?? 0) + 1 },
  };
  switch (event.type) {
    case "state":
      return {
        ...counted,
        live: event.state,
        latestDecision: newer(state.latestDecision, event.state.latest_decision ?? null),
      };
    case "decision": {
      const row = event.row;
      const view: DecisionView = {
        at: row.ts ?? new Date(action.at).toISOString(),
        strategy: row.strategy,
        side: row.side,
        outcome: row.outcome,
        size: row.size ?? "",
        limit_price: row.limit_price ?? "",
        policy: row.policy ?? "",
        reason: row.reason,
        round_slug: row.round_slug,
      };
      return { ...counted, latestDecision: newer(state.latestDecision, view) };
    }
    case "risk_event": {
      const others = state.riskEvents.filter((known) => !event.row.id || known.id !== event.row.id);
      return { ...counted, riskEvents: [event.row, ...others].slice(0, RECENT_RISK_EVENTS) };
    }
    case "notice":
      return { ...counted, notice: event.detail };
    default:
      return counted;
  }
}

/** Seconds from the API's now (our clock corrected by the skew) to `iso`. */
export function secondsUntil(iso: string, nowMs: number, skewMs: number): number {
  return (Date.parse(iso) - (nowMs + skewMs)) / 1000;
}

/** The schedule's phase of the round at this instant (as /status computes it). */
export function phaseAt(round: Schemas["RoundTimer"], nowMs: number, skewMs: number): "waiting" | "warmup" | "active" | "closed" {
  if (secondsUntil(round.close_at, nowMs, skewMs) <= 0) return "closed";
  if (secondsUntil(round.activation_at, nowMs, skewMs) <= 0) return "active";
  if (secondsUntil(round.wake_at, nowMs, skewMs) <= 0) return "warmup";
  return "waiting";
}
