import type { Metadata } from "next";
import Link from "next/link";

import { Chart } from "@/components/chart";
import { DecisionsTable, OrdersTable, RiskEventsTable } from "@/components/tables";
import { Card, Empty, Failed, Money, Pill } from "@/components/ui";
import { flowRunUrl } from "@/lib/config";
import { dateTime, num } from "@/lib/format";
import { roundChartData } from "@/lib/round-series";
import { load } from "@/lib/server";
import { roundTone } from "@/lib/tones";

export async function generateMetadata({ params }: PageProps<"/rounds/[slug]">): Promise<Metadata> {
  return { title: (await params).slug };
}

export default async function RoundPage({ params }: PageProps<"/rounds/[slug]">) {
  const { slug } = await params;
  const detail = await load((api) => api.GET("/rounds/{slug}", { params: { path: { slug } }, cache: "no-store" }));
  if (!detail.ok) {
    return (
      <div className="stack">
        <h1 className="mono">{slug}</h1>
        <Failed what={`round ${slug}`} result={detail} />
        <Link href="/rounds">All rounds</Link>
      </div>
    );
  }
  const d = detail.data;
  const round = d.round;
  const chart = roundChartData(d);
  const flowRunId = d.flow_run_id ?? round.flow_run_id;
  const strategyOf = new Map(d.decisions.map((decision) => [decision.id, decision.strategy]));
  const orders = d.orders.map((order) => ({ ...order, strategy: order.decision_id ? (strategyOf.get(order.decision_id) ?? null) : null }));
  return (
    <div className="stack">
      <div className="row">
        <h1 className="mono" style={{ margin: 0 }} data-testid="round-title">
          {round.slug}
        </h1>
        <Pill tone={roundTone(round.status)} testId="round-status">
          {round.status}
        </Pill>
        <span className="muted">{round.mode}</span>
        <Link href="/rounds" className="small">
          all rounds
        </Link>
      </div>
      <p data-testid="round-headline">{d.headline}</p>
      <div className="grid">
        <Card title="Round">
          <dl className="facts">
            <dt>window (UTC)</dt>
            <dd>
              {dateTime(round.open_at)} – {dateTime(round.close_at).slice(11)}
            </dd>
            <dt>strike</dt>
            <dd>{num(round.strike, 2)}</dd>
            <dt>status</dt>
            <dd>
              {round.status}
              {round.reason ? ` · ${round.reason}` : ""}
            </dd>
            <dt>orders / fills</dt>
            <dd>
              {round.orders} / {round.fills}
            </dd>
            <dt>Prefect flow run</dt>
            <dd>
              {flowRunId ? (
                <a href={flowRunUrl(flowRunId)} target="_blank" rel="noreferrer" data-testid="flow-run-link">
                  {flowRunId}
                </a>
              ) : (
                <span className="muted" data-testid="flow-run-link">
                  none recorded (the round did not run as a Prefect flow run)
                </span>
              )}
            </dd>
            <dt>tape</dt>
            <dd className="small mono">
              {d.tape.path} {d.tape.files.length === 0 ? <span className="muted">(not on this host)</span> : `(${d.tape.files.length} files)`}
            </dd>
          </dl>
        </Card>
        <Card title="Settlement" testId="settlement">
          {d.settlement ? (
            <dl className="facts">
              <dt>winner</dt>
              <dd>
                <Pill tone={d.settlement.outcome === "up" ? "ok" : "bad"}>{d.settlement.outcome}</Pill>
              </dd>
              <dt>strike → settle</dt>
              <dd>
                {num(d.settlement.strike, 2)} → {num(d.settlement.settle_price, 2)}
              </dd>
              <dt>source</dt>
              <dd>{d.settlement.source}</dd>
              <dt>P&amp;L</dt>
              <dd>
                <Money value={d.settlement.pnl} digits={4} /> pUSD (fees {num(d.settlement.fees, 4)})
              </dd>
              <dt>settled</dt>
              <dd>{dateTime(d.settlement.ts)}</dd>
            </dl>
          ) : (
            <Empty>Not settled{round.winner ? ` (the venue says ${round.winner})` : ""}.</Empty>
          )}
        </Card>
        <Card title="P&L">
          <p>
            <span className="big">
              <Money value={d.pnl.total} digits={4} />
            </span>{" "}
            <span className="muted small">pUSD net · fees {num(d.pnl.fees, 4)}</span>
          </p>
          <dl className="facts">
            {Object.entries(d.pnl.per_strategy).map(([strategy, pnl]) => (
              <div key={strategy} style={{ display: "contents" }}>
                <dt>{strategy}</dt>
                <dd>
                  <Money value={pnl} digits={4} />
                </dd>
              </div>
            ))}
          </dl>
        </Card>
        <Card title="Counts">
          <h3>policy</h3>
          <p className="small">
            {Object.entries(d.counts.policy)
              .map(([k, v]) => `${k} ${v}`)
              .join(" · ") || "no decisions"}
          </p>
          <h3>risk verdicts</h3>
          <p className="small">
            {Object.entries(d.counts.verdicts)
              .map(([k, v]) => `${k} ${v}`)
              .join(" · ") || "no verdicts"}
          </p>
        </Card>
      </div>
      <Card title="BTC against the strike, Up and Down prices">
        <Chart data={chart} testId="round-chart" />
        <p className="legend-note">
          Left axis: BTC (Chainlink spot and its 60 s TWAP, Binance) and the strike (dashed); the settlement price at the close. Right axis: the Up
          and Down prices (book mid), decisions at their limit price, orders and fills at theirs. From {chart.sources.samples}{" "}
          tick samples and {chart.sources.decisions} decisions&apos; features; {chart.sources.orders} orders, {chart.sources.fills}{" "}
          fills. Times in UTC; the chart starts where the round&apos;s run began recording.
        </p>
      </Card>
      <Card title={`Decisions (${d.decisions.length})`}>
        {d.decisions.length === 0 ? <Empty>No decisions in this round.</Empty> : <DecisionsTable decisions={d.decisions} showRound={false} />}
      </Card>
      <Card title={`Orders and fills (${d.orders.length})`}>
        {d.orders.length === 0 ? <Empty>No orders in this round.</Empty> : <OrdersTable orders={orders} showRound={false} />}
      </Card>
      <Card title={`Risk verdicts and events (${d.risk_events.length})`}>
        {d.risk_events.length === 0 ? <Empty>No risk events in this round.</Empty> : <RiskEventsTable events={d.risk_events} showRound={false} />}
      </Card>
      {d.venue_rules ? (
        <Card title="Venue rules">
          <dl className="facts small">
            <dt>tick size / min order</dt>
            <dd>
              {d.venue_rules.tick_size} / {d.venue_rules.min_order_size}
            </dd>
            <dt>fee</dt>
            <dd>
              rate {d.venue_rules.fee_rate}, exponent {d.venue_rules.fee_exponent}
              {d.venue_rules.fee_taker_only ? ", takers only" : ""}
            </dd>
            <dt>settles on</dt>
            <dd>{d.venue_rules.settlement_source}</dd>
            <dt>condition</dt>
            <dd className="mono">{d.venue_rules.condition_id}</dd>
          </dl>
        </Card>
      ) : null}
    </div>
  );
}
