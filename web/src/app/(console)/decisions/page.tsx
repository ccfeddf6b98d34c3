import type { Metadata } from "next";

import { DecisionsTable } from "@/components/tables";
import { Card, Empty, Failed, Pager } from "@/components/ui";
import type { operations } from "@/lib/api-schema";
import { dayBound, offsetOf, one } from "@/lib/query";
import { load } from "@/lib/server";
import { POLICIES } from "@/lib/tones";

export const metadata: Metadata = { title: "Decisions" };

type Query = NonNullable<operations["decisions-read_decisions"]["parameters"]["query"]>;
const LIMIT = 50;
const SIDES: NonNullable<Query["side"]>[] = ["BUY", "SELL"];
const OUTCOMES: NonNullable<Query["outcome"]>[] = ["up", "down"];

/** The verdict filter: the policy's answer (accepted or why not). */
function verdictQuery(verdict: string | undefined): Pick<Query, "accepted" | "policy"> {
  if (verdict === "accepted") return { accepted: true };
  if (verdict === "not_accepted") return { accepted: false };
  if (verdict && (POLICIES as string[]).includes(verdict)) return { policy: verdict as Query["policy"] };
  return {};
}

export default async function DecisionsPage({ searchParams }: PageProps<"/decisions">) {
  const search = await searchParams;
  const offset = offsetOf(search);
  const filters = {
    strategy: one(search, "strategy"),
    side: one(search, "side"),
    outcome: one(search, "outcome"),
    verdict: one(search, "verdict"),
    risk_reason: one(search, "risk_reason"),
    from: one(search, "from"),
    to: one(search, "to"),
    round: one(search, "round"),
  };
  const [decisions, strategies] = await Promise.all([
    load((api) =>
      api.GET("/decisions", {
        params: {
          query: {
            limit: LIMIT,
            offset,
            strategy: filters.strategy,
            side: SIDES.find((s) => s === filters.side),
            outcome: OUTCOMES.find((o) => o === filters.outcome),
            risk_reason: filters.risk_reason,
            round: filters.round,
            since: dayBound(filters.from, false),
            until: dayBound(filters.to, true),
            ...verdictQuery(filters.verdict),
          },
        },
        cache: "no-store",
      }),
    ),
    load((api) => api.GET("/strategies", { cache: "no-store" })),
  ]);
  const names = strategies.ok ? strategies.data.data.map((s) => s.name) : [];
  return (
    <div className="stack">
      <h1>Decisions</h1>
      <Card>
        <form className="inline" method="get" data-testid="decision-filters">
          <label>
            strategy
            <select name="strategy" defaultValue={filters.strategy ?? ""}>
              <option value="">any</option>
              {names.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          <label>
            side
            <select name="side" defaultValue={filters.side ?? ""}>
              <option value="">any</option>
              {SIDES.map((side) => (
                <option key={side} value={side}>
                  {side}
                </option>
              ))}
            </select>
          </label>
          <label>
            outcome
            <select name="outcome" defaultValue={filters.outcome ?? ""}>
              <option value="">any</option>
              {OUTCOMES.map((outcome) => (
                <option key={outcome} value={outcome}>
                  {outcome}
                </option>
              ))}
            </select>
          </label>
          <label>
            verdict
            <select name="verdict" defaultValue={filters.verdict ?? ""}>
              <option value="">any</option>
              <option value="accepted">accepted</option>
              <option value="not_accepted">not accepted</option>
              {POLICIES.filter((p) => p !== "accepted").map((policy) => (
                <option key={policy} value={policy}>
                  {policy.replace(/_/g, " ")}
                </option>
              ))}
            </select>
          </label>
          <label>
            risk reason code
            <input name="risk_reason" defaultValue={filters.risk_reason ?? ""} placeholder="e.g. min_edge" size={14} />
          </label>
          <label>
            from (UTC day)
            <input type="date" name="from" defaultValue={filters.from ?? ""} />
          </label>
          <label>
            to (UTC day)
            <input type="date" name="to" defaultValue={filters.to ?? ""} />
          </label>
          {filters.round ? <input type="hidden" name="round" value={filters.round} /> : null}
          <button type="submit">Filter</button>
        </form>
        {filters.round ? <p className="small muted">Round {filters.round} only.</p> : null}
      </Card>
      <Card>
        {!decisions.ok ? (
          <Failed what="decisions" result={decisions} />
        ) : decisions.data.data.length === 0 ? (
          <Empty>No decisions match these filters.</Empty>
        ) : (
          <>
            <DecisionsTable decisions={decisions.data.data} />
            <Pager path="/decisions" params={filters} count={decisions.data.count} limit={LIMIT} offset={offset} />
          </>
        )}
      </Card>
    </div>
  );
}
