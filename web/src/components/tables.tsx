// The record tables several pages share: decisions with their verdicts, risk events, orders with fills.
import Link from "next/link";

import { Pill } from "@/components/ui";
import { dateTime, num } from "@/lib/format";
import { orderTone, policyTone } from "@/lib/tones";
import type { Schemas } from "@/lib/types";

function RoundLink({ slug }: { slug: string | null | undefined }) {
  return slug ? (
    <Link href={`/rounds/${slug}`} className="mono small">
      {slug}
    </Link>
  ) : (
    <span className="muted">—</span>
  );
}

export function Verdicts({ verdicts }: { verdicts: Schemas["RiskEventRecord"][] }) {
  if (verdicts.length === 0) return <span className="muted small">no order</span>;
  return (
    <>
      {verdicts.map((verdict, index) => (
        <div key={verdict.id ?? index} className="small">
          <Pill tone={verdict.approved ? "ok" : "bad"}>{verdict.approved ? "approved" : verdict.reason_code}</Pill>{" "}
          {verdict.approved ? null : <span>{verdict.message}</span>}
        </div>
      ))}
    </>
  );
}

export function DecisionsTable({ decisions, showRound = true }: { decisions: Schemas["DecisionPublic"][]; showRound?: boolean }) {
  return (
    <div className="table-wrap">
      <table data-testid="decisions-table">
        <thead>
          <tr>
            <th>time (UTC)</th>
            {showRound ? <th>round</th> : null}
            <th>strategy</th>
            <th>side</th>
            <th className="num">price × size</th>
            <th className="num">confidence</th>
            <th>policy</th>
            <th>risk verdict</th>
            <th>reason</th>
          </tr>
        </thead>
        <tbody>
          {decisions.map((decision, index) => (
            <tr key={decision.id ?? index}>
              <td className="mono small">{dateTime(decision.ts)}</td>
              {showRound ? (
                <td>
                  <RoundLink slug={decision.round_slug} />
                </td>
              ) : null}
              <td>{decision.strategy}</td>
              <td>
                {decision.side} {decision.outcome}
              </td>
              <td className="num">
                {decision.limit_price} × {num(decision.size, 0)}
              </td>
              <td className="num">{num(decision.confidence, 3)}</td>
              <td>
                <Pill tone={policyTone(decision.policy)}>{decision.policy ?? "—"}</Pill>
              </td>
              <td>
                <Verdicts verdicts={decision.verdicts} />
              </td>
              <td className="wrap small">{decision.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function RiskEventsTable({ events, showRound = true }: { events: Schemas["RiskEventRecord"][]; showRound?: boolean }) {
  return (
    <div className="table-wrap">
      <table data-testid="risk-events-table">
        <thead>
          <tr>
            <th>time (UTC)</th>
            {showRound ? <th>round</th> : null}
            <th>kind</th>
            <th>verdict</th>
            <th>reason</th>
            <th>message</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event, index) => (
            <tr key={event.id ?? index}>
              <td className="mono small">{dateTime(event.ts)}</td>
              {showRound ? (
                <td>
                  <RoundLink slug={event.round_slug} />
                </td>
              ) : null}
              <td>{event.kind}</td>
              <td>
                <Pill tone={event.approved ? "ok" : "bad"}>{event.approved ? "approved" : "refused"}</Pill>
              </td>
              <td className="mono small">{event.reason_code}</td>
              <td className="wrap small">{event.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

type AnyOrder = Schemas["OrderPublic"] & Partial<Pick<Schemas["OrderSummary"], "status" | "filled_size" | "strategy">>;

export function OrdersTable({ orders, showRound = true }: { orders: AnyOrder[]; showRound?: boolean }) {
  return (
    <div className="table-wrap">
      <table data-testid="orders-table">
        <thead>
          <tr>
            <th>time (UTC)</th>
            {showRound ? <th>round</th> : null}
            <th>strategy</th>
            <th>order</th>
            <th>status</th>
            <th>events</th>
            <th>fills</th>
          </tr>
        </thead>
        <tbody>
          {orders.map((order, index) => {
            const status = order.status ?? order.events[order.events.length - 1]?.status ?? null;
            return (
              <tr key={order.id ?? index}>
                <td className="mono small">{dateTime(order.ts)}</td>
                {showRound ? (
                  <td>
                    <RoundLink slug={order.round_slug} />
                  </td>
                ) : null}
                <td>{order.strategy ?? "—"}</td>
                <td>
                  {order.side} {order.outcome} {num(order.size, 0)} @ {order.price}
                  <div className="small muted">
                    {order.order_type}
                    {order.post_only ? " · post-only" : ""} · {order.mode}
                  </div>
                </td>
                <td>
                  <Pill tone={orderTone(status)}>{status ?? "—"}</Pill>
                  {order.filled_size !== undefined ? <div className="small muted">filled {num(order.filled_size, 0)}</div> : null}
                </td>
                <td className="small">
                  {order.events.map((event, i) => (
                    <div key={event.id ?? i}>
                      <span className="mono">{dateTime(event.ts).slice(11)}</span> {event.status}
                      {event.reason ? <span className="muted"> · {event.reason}</span> : null}
                    </div>
                  ))}
                </td>
                <td className="small">
                  {order.fills.length === 0 ? (
                    <span className="muted">none</span>
                  ) : (
                    order.fills.map((fill, i) => (
                      <div key={fill.id ?? i}>
                        {num(fill.size, 0)} @ {fill.price} · fee {num(fill.fee, 4)} · {fill.liquidity}
                      </div>
                    ))
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function FillsTable({ fills }: { fills: Schemas["FillPublic"][] }) {
  return (
    <div className="table-wrap">
      <table data-testid="fills-table">
        <thead>
          <tr>
            <th>time (UTC)</th>
            <th>round</th>
            <th>strategy</th>
            <th>fill</th>
            <th className="num">fee</th>
            <th>liquidity</th>
            <th>status</th>
          </tr>
        </thead>
        <tbody>
          {fills.map((fill, index) => (
            <tr key={fill.id ?? index}>
              <td className="mono small">{dateTime(fill.ts)}</td>
              <td>
                <RoundLink slug={fill.round_slug} />
              </td>
              <td>{fill.strategy ?? "—"}</td>
              <td>
                {fill.side} {fill.outcome} {num(fill.size, 0)} @ {fill.price}
              </td>
              <td className="num">{num(fill.fee, 4)}</td>
              <td>{fill.liquidity}</td>
              <td>{fill.status}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
