import type { Metadata } from "next";
import Link from "next/link";

import { BacktestForm } from "@/components/backtest-form";
import { Variants, fileUrl } from "@/components/backtest-parts";
import { BacktestProgress } from "@/components/backtest-progress";
import { Card, Empty, Failed, NeedsRole, Pager } from "@/components/ui";
import { startBacktest } from "@/lib/actions";
import { dateTime } from "@/lib/format";
import { offsetOf, one } from "@/lib/query";
import { NEEDS, may } from "@/lib/roles";
import { getMe, load } from "@/lib/server";

export const metadata: Metadata = { title: "Backtests" };

const LIMIT = 10;
const PLOTS = ["equity.png", "calibration.png"];

export default async function BacktestsPage({ searchParams }: PageProps<"/backtests">) {
  const search = await searchParams;
  const offset = offsetOf(search);
  const runId = one(search, "run");
  const me = await getMe();
  const role = me.ok ? me.data.acting_role : undefined;
  const canStart = may(role, "startBacktest");
  const [runs, strategies, started] = await Promise.all([
    load((api) => api.GET("/backtests", { params: { query: { limit: LIMIT, offset } }, cache: "no-store" })),
    canStart ? load((api) => api.GET("/strategies", { cache: "no-store" })) : null,
    runId ? load((api) => api.GET("/backtest-runs/{flow_run_id}", { params: { path: { flow_run_id: runId } }, cache: "no-store" })) : null,
  ]);
  return (
    <div className="stack">
      <h1>Backtests</h1>
      <Card title="Start a backtest">
        {canStart ? (
          strategies && !strategies.ok ? (
            <Failed what="strategies" result={strategies} />
          ) : (
            <>
              <p className="small muted">
                The rounds opening in [start, end), UTC, through the same engine on paper, as a Prefect flow run of
                backtest-flow/backtest.
              </p>
              <BacktestForm strategies={strategies?.ok ? strategies.data.data.map((s) => s.name) : []} action={startBacktest} defaults={{ start: "", end: "" }} />
            </>
          )
        ) : (
          <NeedsRole role={role} needed={NEEDS.startBacktest} what="Starting a backtest" />
        )}
      </Card>
      {started ? (
        started.ok ? (
          <BacktestProgress initial={started.data} />
        ) : (
          <Failed what={`backtest run ${runId}`} result={started} />
        )
      ) : null}
      <Card title="Runs">
        {!runs.ok ? (
          <Failed what="backtest runs" result={runs} />
        ) : runs.data.data.length === 0 ? (
          <Empty>No backtest has run yet.</Empty>
        ) : (
          <div className="stack">
            {runs.data.data.map((run) => {
              const plots = PLOTS.filter((name) => run.files.some((file) => file.name === name));
              return (
                <section key={run.run_id} className="card" data-testid="backtest-run">
                  <div className="row">
                    <Link href={`/backtests/${encodeURIComponent(run.run_id)}`} className="mono">
                      {run.run_id}
                    </Link>
                    <strong>{run.title ?? ""}</strong>
                    <span className="small muted">
                      {run.source ?? "—"} · {dateTime(run.start)} → {dateTime(run.end)} · {run.rounds_planned ?? "?"} rounds · written {dateTime(run.written_at)}
                    </span>
                  </div>
                  {run.summary_problem ? <p className="banner warn small">{run.summary_problem}</p> : null}
                  <Variants variants={run.variants} best={run.best} />
                  {plots.length > 0 ? (
                    <div className="grid wide" style={{ marginTop: "0.6rem" }}>
                      {plots.map((name) => (
                        // eslint-disable-next-line @next/next/no-img-element -- a report file behind the session, not a static asset
                        <img key={name} className="plot" src={fileUrl(run.run_id, name)} alt={`${name.replace(".png", "")} of ${run.run_id}`} loading="lazy" />
                      ))}
                    </div>
                  ) : (
                    <p className="small muted">No plots in its report{run.summary_from === "store" ? " (figures summed from the store)" : ""}.</p>
                  )}
                </section>
              );
            })}
            <Pager path="/backtests" params={{}} count={runs.data.count} limit={LIMIT} offset={offset} />
          </div>
        )}
      </Card>
    </div>
  );
}
