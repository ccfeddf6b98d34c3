"use client";

import Link from "next/link";
import { useEffect, useReducer, useRef, useState } from "react";

import { FeedCard, STATE_STALE_S } from "@/components/feed-card";
import { clock, countdown, dateTime, money, num } from "@/lib/format";
import { startLiveFeed, type LiveFeed, type LiveMode } from "@/lib/live";
import { initialOverview, overviewReducer, phaseAt, secondsUntil, type OverviewState } from "@/lib/overview";
import { loginPath } from "@/lib/safe-next";
import type { RiskEvent, Status } from "@/lib/types";

const MODE_TONE: Record<LiveMode, string> = { connecting: "", live: "ok", polling: "warn", stale: "bad" };
const MODE_HELP: Record<LiveMode, string> = {
  connecting: "opening the event stream",
  live: "event stream open",
  polling: "event stream unavailable: asking every 3 s",
  stale: "the API is not answering: what you see may be out of date",
};

/** The stream opens once the page has settled (see startLiveFeed's delayMs). */
const STREAM_DELAY_MS = 1500;

/** Tick every `ms` so countdowns and ages move between updates. */
function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function isShownRiskEvent(event: RiskEvent): boolean {
  return !(event.kind === "verdict" && event.approved);
}

export function LiveOverview({ initialStatus, initialRisk, riskProblem }: { initialStatus: Status; initialRisk: RiskEvent[]; riskProblem?: string }) {
  const [state, dispatch] = useReducer(overviewReducer, null, () =>
    initialOverview(initialStatus, initialRisk.filter(isShownRiskEvent), Date.now()),
  );
  const [mode, setMode] = useState<LiveMode>("connecting");
  const feed = useRef<LiveFeed | null>(null);
  const now = useNow(500);

  useEffect(() => {
    const live = startLiveFeed({
      onStatus: (status) => dispatch({ type: "status", status, at: Date.now() }),
      onEvent: (event) => {
        if (event.type === "risk_event" && !isShownRiskEvent(event.row)) return;
        dispatch({ type: "event", event, at: Date.now() });
      },
      onMode: setMode,
      delayMs: STREAM_DELAY_MS,
      onUnauthorized: () => window.location.assign(loginPath(window.location.pathname + window.location.search, "your session ended: log in again")),
    });
    feed.current = live;
    return () => live.stop();
  }, []);

  const round = state.status.round;
  const phase = phaseAt(round, now, state.skewMs);
  const closedSlug = useRef<string | null>(null);
  useEffect(() => {
    // The round closed: the schedule has a new one, and /status knows it.
    if (phase === "closed" && closedSlug.current !== round.slug) {
      closedSlug.current = round.slug;
      feed.current?.pollNow();
    }
  }, [phase, round.slug]);

  return (
    <div className="stack">
      <div className="row">
        <h1 style={{ margin: 0 }}>Overview</h1>
        <span className={`pill ${MODE_TONE[mode]}`} data-testid="live-indicator" data-mode={mode} title={MODE_HELP[mode]}>
          {mode}
        </span>
        <span className="small muted">{MODE_HELP[mode]}</span>
        <span className="small">
          updates received: <strong data-testid="events-received">{state.received}</strong>
          <span className="muted"> (stream events {state.streamEvents})</span>
        </span>
        <span className="small muted">
          mode <strong data-testid="agent-mode">{state.status.mode}</strong>
          {state.status.live_trading_allowed ? " · live trading allowed" : " · live trading not allowed"}
        </span>
      </div>
      {state.notice ? <p className="banner warn">stream: {state.notice}</p> : null}
      <div className="grid">
        <RoundCard state={state} now={now} phase={phase} />
        <KillSwitchCard state={state} now={now} />
        <LatestDecisionCard state={state} />
        <PnlCard state={state} />
      </div>
      <RunningRound state={state} now={now} />
      <RiskEventsCard events={state.riskEvents} problem={riskProblem} />
    </div>
  );
}

function RoundCard({ state, now, phase }: { state: OverviewState; now: number; phase: string }) {
  const round = state.status.round;
  const toActivation = secondsUntil(round.activation_at, now, state.skewMs);
  const toClose = secondsUntil(round.close_at, now, state.skewMs);
  const active = phase === "active";
  return (
    <section className="card" data-testid="current-round">
      <h2>Current round</h2>
      <div className="row">
        <Link href={`/rounds/${round.slug}`} className="mono" data-testid="round-slug">
          {round.slug}
        </Link>
      </div>
      <div className="row" style={{ marginTop: "0.5rem" }}>
        <span className={`pill ${active ? "ok" : ""}`} data-testid="phase">
          {phase}
        </span>
        <span className="small" data-testid="round-active" data-active={active ? "true" : "false"}>
          {active ? "active: trading window open" : "not active"}
        </span>
      </div>
      <dl className="facts" style={{ marginTop: "0.6rem" }}>
        <dt>to activation</dt>
        <dd className="big" data-testid="seconds-to-activation" data-seconds={Math.max(0, Math.round(toActivation))}>
          {toActivation > 0 ? countdown(toActivation) : "reached"}
        </dd>
        <dt>to close</dt>
        <dd className="big" data-testid="seconds-to-close" data-seconds={Math.max(0, Math.round(toClose))}>
          {countdown(Math.max(0, toClose))}
        </dd>
        <dt>window</dt>
        <dd className="small">
          {clock(round.open_at)} – {clock(round.close_at)} UTC (wakes {clock(round.wake_at)}, active from {clock(round.activation_at)})
        </dd>
        <dt>stored status</dt>
        <dd>{round.stored_status ?? <span className="muted">no run recorded yet</span>}</dd>
      </dl>
    </section>
  );
}

function KillSwitchCard({ state, now }: { state: OverviewState; now: number }) {
  const kill = state.status.kill_switch;
  const live = state.live;
  const liveFresh = live !== null && (now + state.skewMs - Date.parse(live.at)) / 1000 <= STATE_STALE_S;
  return (
    <section className="card" data-testid="kill-switch">
      <h2>Kill switch</h2>
      {kill ? (
        <p>
          <span className={`pill ${kill.engaged ? "bad" : "ok"}`} data-testid="kill-switch-state" data-engaged={kill.engaged ? "true" : "false"}>
            {kill.engaged ? "engaged" : "off"}
          </span>{" "}
          {kill.engaged ? (
            <span className="small">
              {kill.reason || "no reason given"}
              {kill.set_by ? ` · by ${kill.set_by}` : ""}
              {kill.since ? ` · since ${dateTime(kill.since)}` : ""}
              {kill.source ? ` · ${kill.source}` : ""}
            </span>
          ) : null}
        </p>
      ) : (
        <p>
          <span className="pill bad" data-testid="kill-switch-state" data-engaged="unknown">
            unknown
          </span>{" "}
          <span className="small">{state.status.kill_switch_unavailable ?? "the store's kill switch cannot be read"}</span>
        </p>
      )}
      <h3>Fail-closed</h3>
      <p data-testid="fail-closed" data-suspended={live?.suspended ? "true" : "false"}>
        {live === null || !liveFresh ? (
          <span className="muted">no running round reporting</span>
        ) : live.suspended ? (
          <span className="pill bad">suspended: {live.suspended}</span>
        ) : (
          <span className="pill ok">reading the kill switch</span>
        )}
      </p>
      {live?.halted ? <p className="banner bad small">running round halted: {live.halted}</p> : null}
    </section>
  );
}

function LatestDecisionCard({ state }: { state: OverviewState }) {
  const decision = state.latestDecision;
  return (
    <section className="card" data-testid="latest-decision">
      <h2>Latest decision</h2>
      {decision ? (
        <>
          <p>
            <strong>
              {decision.side} {decision.outcome}
            </strong>{" "}
            {decision.size ? `${num(decision.size, 0)} @ ${decision.limit_price}` : null} · {decision.strategy}{" "}
            <span className={`pill ${decision.policy === "accepted" ? "ok" : ""}`}>{decision.policy || "—"}</span>
          </p>
          <p className="small muted" data-testid="latest-decision-at">
            {dateTime(decision.at)}
            {decision.round_slug ? ` · ${decision.round_slug}` : ""}
          </p>
          <p className="small">{decision.reason}</p>
        </>
      ) : (
        <p className="muted">No decision yet.</p>
      )}
    </section>
  );
}

function PnlCard({ state }: { state: OverviewState }) {
  return (
    <section className="card" data-testid="pnl-today">
      <h2>Today&apos;s P&amp;L (UTC)</h2>
      {state.status.pnl_today.length === 0 ? <p className="muted">Nothing settled today.</p> : null}
      <dl className="facts">
        {state.status.pnl_today.map((day) => (
          <div key={day.mode} style={{ display: "contents" }}>
            <dt>{day.mode}</dt>
            <dd>
              <span className={`big ${Number(day.pnl) > 0 ? "pos" : Number(day.pnl) < 0 ? "neg" : ""}`} data-testid={`pnl-${day.mode}`}>
                {money(day.pnl)}
              </span>{" "}
              <span className="small muted">
                pUSD · {day.rounds_settled} rounds · fees {num(day.fees, 2)}
              </span>
            </dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function RunningRound({ state, now }: { state: OverviewState; now: number }) {
  const live = state.live;
  if (!live) {
    return (
      <section className="card" data-testid="running-round">
        <h2>Running round</h2>
        <p className="muted" data-testid="live-unavailable">
          {state.status.live_unavailable ?? "No round is running now."} Feed health shows while a round runs.
        </p>
      </section>
    );
  }
  const stateAge = Math.max(0, (now + state.skewMs - Date.parse(live.at)) / 1000);
  const toClose = live.seconds_to_close - stateAge;
  const feeds = Object.entries(live.feeds);
  return (
    <section className="card" data-testid="running-round">
      <h2>
        Running round <span className="mono small">{live.round_slug}</span>{" "}
        <span className={`pill ${live.phase === "active" ? "ok" : ""}`} data-testid="engine-phase">
          {live.phase}
        </span>
      </h2>
      <p className="small muted">
        state of {clock(live.at)} UTC ({stateAge.toFixed(0)} s ago{stateAge > STATE_STALE_S ? ": stale" : ""}) · closes in{" "}
        <span data-testid="live-seconds-to-close">{countdown(Math.max(0, toClose))}</span>
      </p>
      <h3>Feeds</h3>
      {feeds.length === 0 ? <p className="muted">The round reports no feeds.</p> : null}
      <div className="feeds">
        {feeds.map(([name, feedState]) => (
          <FeedCard key={name} name={name} feed={feedState} stateAgeS={stateAge} />
        ))}
      </div>
      <div className="grid" style={{ marginTop: "0.8rem" }}>
        <div data-testid="position">
          <h3>Position</h3>
          <dl className="facts">
            {Object.entries(live.shares).map(([outcome, shares]) => (
              <div key={outcome} style={{ display: "contents" }}>
                <dt>{outcome}</dt>
                <dd>{num(shares, 2)} shares</dd>
              </div>
            ))}
            {Object.keys(live.shares).length === 0 ? (
              <>
                <dt>shares</dt>
                <dd>none</dd>
              </>
            ) : null}
            <dt>spent</dt>
            <dd>{num(live.notional_spent, 2)} pUSD</dd>
            <dt>open orders</dt>
            <dd>{live.open_orders}</dd>
            <dt>trades placed</dt>
            <dd>{live.trades_placed}</dd>
          </dl>
        </div>
        <div>
          <h3>Books</h3>
          <dl className="facts">
            {Object.entries(live.books).map(([outcome, book]) => (
              <div key={outcome} style={{ display: "contents" }}>
                <dt>{outcome}</dt>
                <dd>
                  {book.best_bid ?? "—"} / {book.best_ask ?? "—"} {book.synced ? null : <span className="pill warn">unsynced: {book.unsynced_because}</span>}
                </dd>
              </div>
            ))}
          </dl>
        </div>
        <div>
          <h3>Engine</h3>
          <dl className="facts">
            <dt>events</dt>
            <dd>{live.engine.events}</dd>
            <dt>evaluations</dt>
            <dd>{live.engine.evaluations}</dd>
            <dt>decisions</dt>
            <dd>{live.engine.decisions}</dd>
            <dt>orders</dt>
            <dd>{live.engine.orders}</dd>
            <dt>refusals</dt>
            <dd>
              {Object.entries(live.engine.refusals)
                .map(([reason, n]) => `${reason} ${n}`)
                .join(", ") || "none"}
            </dd>
            <dt>latency</dt>
            <dd>{live.latency ? `p50 ${live.latency.p50_ms.toFixed(1)} ms · p99 ${live.latency.p99_ms.toFixed(1)} ms` : "—"}</dd>
            <dt>outbox</dt>
            <dd>{live.outbox ? `backlog ${live.outbox.backlog}${live.outbox.last_error ? ` · ${live.outbox.last_error}` : ""}` : "—"}</dd>
          </dl>
        </div>
      </div>
    </section>
  );
}

function RiskEventsCard({ events, problem }: { events: RiskEvent[]; problem?: string }) {
  return (
    <section className="card" data-testid="recent-risk-events">
      <h2>Recent risk events</h2>
      {problem ? <p className="banner bad">Could not load risk events: {problem}</p> : null}
      {events.length === 0 ? (
        <p className="muted">No refusals, trips or alerts recently.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>time</th>
                <th>round</th>
                <th>kind</th>
                <th>reason</th>
                <th>message</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event, index) => (
                <tr key={event.id ?? index}>
                  <td className="mono small">{dateTime(event.ts)}</td>
                  <td className="mono small">{event.round_slug ? <Link href={`/rounds/${event.round_slug}`}>{event.round_slug}</Link> : "—"}</td>
                  <td>{event.kind}</td>
                  <td>
                    <span className={`pill ${event.approved ? "ok" : "bad"}`}>{event.reason_code}</span>
                  </td>
                  <td className="wrap small">{event.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
