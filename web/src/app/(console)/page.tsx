import type { Metadata } from "next";

import { LiveOverview } from "@/components/live-overview";
import { Failed } from "@/components/ui";
import { load } from "@/lib/server";

export const metadata: Metadata = { title: "Overview" };

export default async function OverviewPage() {
  const [status, risk] = await Promise.all([
    load((api) => api.GET("/status", { cache: "no-store" })),
    load((api) => api.GET("/risk-events", { params: { query: { limit: 50 } }, cache: "no-store" })),
  ]);
  if (!status.ok) {
    return (
      <section className="card">
        <h1>Overview</h1>
        <Failed what="the agent's status" result={status} />
        <p className="muted">The console asks the API at BTC_AGENT_API_URL; reload once it answers.</p>
      </section>
    );
  }
  return (
    <LiveOverview
      initialStatus={status.data}
      initialRisk={risk.ok ? risk.data.data : []}
      riskProblem={risk.ok ? undefined : risk.message}
    />
  );
}
