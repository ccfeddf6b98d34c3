import type { Metadata } from "next";
import Link from "next/link";

import { Card, Empty, Failed, Money, Pager, Pill } from "@/components/ui";
import { dateTime, num } from "@/lib/format";
import { boolOf, offsetOf, one } from "@/lib/query";
import { load } from "@/lib/server";
import { ROUND_STATUSES, roundTone } from "@/lib/tones";
import type { Schemas } from "@/lib/types";

export const metadata: Metadata = { title: "Rounds" };

const LIMIT = 50;
export default async function RoundsPage({ searchParams }: PageProps<"/rounds">) {
  const search = await searchParams;
  const offset = offsetOf(search);
  const status = one(search, "status");
  const traded = boolOf(search, "traded");
  const rounds = await load((api) =>
    api.GET("/rounds", {
      params: { query: { limit: LIMIT, offset, status: status as Schemas["RoundStatus"] | undefined, traded } },
      cache: "no-store",
    }),
  );
  return (
    <div className="stack">
      <h1>Rounds</h1>
      <Card>
        <form className="inline" method="get">
          <label>
            status
            <select name="status" defaultValue={status ?? ""}>
              <option value="">any</option>
              {ROUND_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            traded
            <select name="traded" defaultValue={traded === undefined ? "" : String(traded)}>
              <option value="">any</option>
              <option value="true">with fills</option>
              <option value="false">without</option>
            </select>
          </label>
          <button type="submit">Filter</button>
        </form>
      </Card>
      <Card>
        {!rounds.ok ? (
          <Failed what="rounds" result={rounds} />
        ) : rounds.data.data.length === 0 ? (
          <Empty>No rounds match. Rounds appear here once the agent has run one.</Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table data-testid="rounds-table">
                <thead>
                  <tr>
                    <th>round</th>
                    <th>opened (UTC)</th>
                    <th>status</th>
                    <th>outcome</th>
                    <th className="num">strike</th>
                    <th className="num">settled at</th>
                    <th>traded</th>
                    <th className="num">P&amp;L</th>
                    <th className="num">fees</th>
                  </tr>
                </thead>
                <tbody>
                  {rounds.data.data.map((round) => (
                    <tr key={`${round.mode}-${round.slug}`} data-testid="round-row">
                      <td className="mono">
                        <Link href={`/rounds/${round.slug}`}>{round.slug}</Link>
                      </td>
                      <td className="mono small">{dateTime(round.open_at)}</td>
                      <td>
                        <Pill tone={roundTone(round.status)}>{round.status}</Pill>
                        {round.reason ? <div className="small muted">{round.reason}</div> : null}
                      </td>
                      <td>{round.winner ? <Pill tone={round.winner === "up" ? "ok" : "bad"}>{round.winner}</Pill> : <span className="muted">—</span>}</td>
                      <td className="num">{num(round.strike, 2)}</td>
                      <td className="num">{num(round.settle_price, 2)}</td>
                      <td>{round.fills > 0 ? `yes (${round.fills} fills, ${round.orders} orders)` : round.orders > 0 ? `no (${round.orders} orders unfilled)` : "no"}</td>
                      <td className="num">
                        <Money value={round.pnl} />
                      </td>
                      <td className="num">{num(round.fees, 4)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager path="/rounds" params={{ status, traded: traded === undefined ? undefined : String(traded) }} count={rounds.data.count} limit={LIMIT} offset={offset} />
          </>
        )}
      </Card>
    </div>
  );
}
