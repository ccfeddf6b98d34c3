import type { Metadata } from "next";

import { ActionsTable } from "@/components/actions-table";
import { LimitsTable } from "@/components/limits-table";
import { RiskEventsTable } from "@/components/tables";
import { Card, Empty, Failed, NeedsRole, Pager, Pill } from "@/components/ui";
import { dateTime } from "@/lib/format";
import { boolOf, offsetOf, one } from "@/lib/query";
import { NEEDS, may } from "@/lib/roles";
import { getMe, load } from "@/lib/server";

export const metadata: Metadata = { title: "Risk" };

const LIMIT = 50;
const KINDS = ["verdict", "trip", "reset", "alert", "reconciliation", "control"];

export default async function RiskPage({ searchParams }: PageProps<"/risk">) {
  const search = await searchParams;
  const offset = offsetOf(search);
  const kind = one(search, "kind");
  const approved = boolOf(search, "approved");
  const me = await getMe();
  const role = me.ok ? me.data.acting_role : undefined;
  const canAudit = may(role, "readAudit");
  const [killSwitch, limits, events, trips, halts, resumes] = await Promise.all([
    load((api) => api.GET("/kill-switch", { cache: "no-store" })),
    load((api) => api.GET("/risk/limits", { cache: "no-store" })),
    load((api) => api.GET("/risk-events", { params: { query: { limit: LIMIT, offset, kind, approved } }, cache: "no-store" })),
    load((api) => api.GET("/risk-events", { params: { query: { limit: 20, kind: "trip" } }, cache: "no-store" })),
    canAudit ? load((api) => api.GET("/operator-actions", { params: { query: { limit: 25, action: "halt" } }, cache: "no-store" })) : null,
    canAudit ? load((api) => api.GET("/operator-actions", { params: { query: { limit: 25, action: "resume" } }, cache: "no-store" })) : null,
  ]);
  const history =
    halts?.ok && resumes?.ok
      ? [...halts.data.data, ...resumes.data.data].sort((a, b) => Date.parse(b.ts ?? "") - Date.parse(a.ts ?? "")).slice(0, 25)
      : [];
  return (
    <div className="stack">
      <h1>Risk</h1>
      <div className="grid wide">
        <Card title="Kill switch">
          {!killSwitch.ok ? (
            <Failed what="the kill switch" result={killSwitch} />
          ) : (
            <dl className="facts">
              <dt>state</dt>
              <dd>
                <Pill tone={killSwitch.data.engaged ? "bad" : "ok"} testId="kill-switch-state">
                  {killSwitch.data.engaged ? "engaged" : "off"}
                </Pill>
              </dd>
              {killSwitch.data.engaged ? (
                <>
                  <dt>why</dt>
                  <dd>{killSwitch.data.reason || "—"}</dd>
                  <dt>by</dt>
                  <dd>
                    {killSwitch.data.set_by ?? "—"} {killSwitch.data.source ? `(${killSwitch.data.source})` : ""}
                  </dd>
                  <dt>since</dt>
                  <dd>{dateTime(killSwitch.data.since)}</dd>
                </>
              ) : null}
            </dl>
          )}
        </Card>
        <Card title="Limits">{limits.ok ? <LimitsTable limits={limits.data} /> : <Failed what="risk limits" result={limits} />}</Card>
      </div>
      <Card title="Kill-switch history">
        <h3>Operator actions (halt, resume)</h3>
        {!canAudit ? (
          <NeedsRole role={role} needed={NEEDS.readAudit} what="The operators' kill-switch actions" />
        ) : halts && !halts.ok ? (
          <Failed what="operator actions" result={halts} />
        ) : resumes && !resumes.ok ? (
          <Failed what="operator actions" result={resumes} />
        ) : history.length === 0 ? (
          <Empty>Nobody has engaged or released the kill switch.</Empty>
        ) : (
          <ActionsTable actions={history} testId="kill-switch-history" />
        )}
        <h3>Automatic trips</h3>
        {!trips.ok ? (
          <Failed what="trips" result={trips} />
        ) : trips.data.data.length === 0 ? (
          <Empty>No trips.</Empty>
        ) : (
          <RiskEventsTable events={trips.data.data} />
        )}
      </Card>
      <Card title="Recent risk events">
        <form className="inline" method="get">
          <label>
            kind
            <select name="kind" defaultValue={kind ?? ""}>
              <option value="">any</option>
              {KINDS.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          </label>
          <label>
            verdict
            <select name="approved" defaultValue={approved === undefined ? "" : String(approved)}>
              <option value="">any</option>
              <option value="false">refused</option>
              <option value="true">approved</option>
            </select>
          </label>
          <button type="submit">Filter</button>
        </form>
        {!events.ok ? (
          <Failed what="risk events" result={events} />
        ) : events.data.data.length === 0 ? (
          <Empty>No risk events match.</Empty>
        ) : (
          <>
            <RiskEventsTable events={events.data.data} />
            <Pager path="/risk" params={{ kind, approved: approved === undefined ? undefined : String(approved) }} count={events.data.count} limit={LIMIT} offset={offset} />
          </>
        )}
      </Card>
    </div>
  );
}
