import type { Metadata } from "next";

import { ActionsTable } from "@/components/actions-table";
import { Card, Empty, Failed, NeedsRole, Pager } from "@/components/ui";
import { dayBound, offsetOf, one } from "@/lib/query";
import { NEEDS, may } from "@/lib/roles";
import { getMe, load } from "@/lib/server";

export const metadata: Metadata = { title: "Audit" };

const LIMIT = 50;
const ACTIONS = ["halt", "resume", "strategy_enable", "strategy_disable", "risk_limits", "user_add", "user_update", "user_disable", "backtest_start"];

export default async function AuditPage({ searchParams }: PageProps<"/audit">) {
  const search = await searchParams;
  const me = await getMe();
  const role = me.ok ? me.data.acting_role : undefined;
  if (!may(role, "readAudit")) {
    return (
      <div className="stack">
        <h1>Audit</h1>
        <NeedsRole role={role} needed={NEEDS.readAudit} what="The audit of operator actions" />
        <p className="muted">It lists who engaged the kill switch, switched strategies, changed limits or users, and started backtests.</p>
      </div>
    );
  }
  const offset = offsetOf(search);
  const filters = { actor: one(search, "actor"), action: one(search, "action"), from: one(search, "from"), to: one(search, "to") };
  const actions = await load((api) =>
    api.GET("/operator-actions", {
      params: {
        query: {
          limit: LIMIT,
          offset,
          actor: filters.actor,
          action: filters.action,
          since: dayBound(filters.from, false),
          until: dayBound(filters.to, true),
        },
      },
      cache: "no-store",
    }),
  );
  return (
    <div className="stack">
      <h1>Audit</h1>
      <Card>
        <form className="inline" method="get">
          <label>
            actor
            <input name="actor" defaultValue={filters.actor ?? ""} size={14} />
          </label>
          <label>
            action
            <select name="action" defaultValue={filters.action ?? ""}>
              <option value="">any</option>
              {ACTIONS.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          </label>
          <label>
            from (UTC day)
            <input type="date" name="from" defaultValue={filters.from ?? ""} />
          </label>
          <label>
            to (UTC day)
            <input type="date" name="to" defaultValue={filters.to ?? ""} />
          </label>
          <button type="submit">Filter</button>
        </form>
      </Card>
      <Card title="Operator actions">
        {!actions.ok ? (
          <Failed what="operator actions" result={actions} />
        ) : actions.data.data.length === 0 ? (
          <Empty>No operator actions match.</Empty>
        ) : (
          <>
            <ActionsTable actions={actions.data.data} />
            <Pager path="/audit" params={filters} count={actions.data.count} limit={LIMIT} offset={offset} />
          </>
        )}
      </Card>
    </div>
  );
}
