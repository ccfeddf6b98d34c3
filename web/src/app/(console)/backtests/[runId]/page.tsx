import type { Metadata } from "next";
import Link from "next/link";

import { Variants, fileUrl } from "@/components/backtest-parts";
import { Card, Failed } from "@/components/ui";
import { dateTime } from "@/lib/format";
import { load } from "@/lib/server";

function decoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export async function generateMetadata({ params }: PageProps<"/backtests/[runId]">): Promise<Metadata> {
  return { title: decoded((await params).runId) };
}

export default async function BacktestPage({ params }: PageProps<"/backtests/[runId]">) {
  const runId = decoded((await params).runId);
  const run = await load((api) => api.GET("/backtests/{run_id}", { params: { path: { run_id: runId } }, cache: "no-store" }));
  if (!run.ok) {
    return (
      <div className="stack">
        <h1 className="mono">{runId}</h1>
        <Failed what={`backtest ${runId}`} result={run} />
        <Link href="/backtests">All backtests</Link>
      </div>
    );
  }
  const d = run.data;
  const pictures = d.files.filter((file) => file.media_type.startsWith("image/"));
  const page = d.files.find((file) => file.name === "index.html");
  return (
    <div className="stack">
      <div className="row">
        <h1 className="mono" style={{ margin: 0 }}>
          {d.run_id}
        </h1>
        <span>{d.title ?? ""}</span>
        <Link href="/backtests" className="small">
          all backtests
        </Link>
        {page ? (
          <a href={fileUrl(d.run_id, page.name)} target="_blank" rel="noreferrer" data-testid="backtest-html-report">
            Full HTML report
          </a>
        ) : null}
      </div>
      <div className="grid wide">
        <Card title="Run">
          <dl className="facts">
            <dt>range (UTC)</dt>
            <dd>
              {dateTime(d.start)} → {dateTime(d.end)}
            </dd>
            <dt>source</dt>
            <dd>
              {d.source ?? "—"} {d.data_source ? <span className="mono small">({d.data_source})</span> : null}
            </dd>
            <dt>rounds</dt>
            <dd>
              {d.rounds_planned ?? "?"} planned{d.rounds_missing ? `, ${d.rounds_missing} missing a tape` : ""}
            </dd>
            <dt>strategies</dt>
            <dd>{d.strategies.join(", ") || "—"}</dd>
            <dt>seed</dt>
            <dd>{d.seed ?? "—"}</dd>
            <dt>Brier score</dt>
            <dd>{d.brier === null ? "—" : d.brier.toFixed(4)}</dd>
            <dt>written</dt>
            <dd>
              {dateTime(d.written_at)} · figures from the {d.summary_from}
            </dd>
          </dl>
          {d.summary_problem ? <p className="banner warn small">{d.summary_problem}</p> : null}
        </Card>
        <Card title="Settings">
          {Object.entries(d.settings).map(([section, values]) => (
            <div key={section}>
              <h3>{section}</h3>
              <dl className="facts small">
                {Object.entries(values).map(([key, value]) => (
                  <div key={key} style={{ display: "contents" }}>
                    <dt>{key}</dt>
                    <dd className="mono">{value}</dd>
                  </div>
                ))}
              </dl>
            </div>
          ))}
        </Card>
      </div>
      <Card title="Variants">
        <Variants variants={d.variants} best={d.best} />
      </Card>
      <Card title="Plots">
        {pictures.length === 0 ? (
          <p className="muted">Its report has no plots on this host.</p>
        ) : (
          <div className="grid wide">
            {pictures.map((file) => (
              <figure key={file.name} style={{ margin: 0 }}>
                {/* eslint-disable-next-line @next/next/no-img-element -- a report file behind the session, not a static asset */}
                <img className="plot" src={fileUrl(d.run_id, file.name)} alt={file.name} loading="lazy" />
                <figcaption className="small muted">{file.name}</figcaption>
              </figure>
            ))}
          </div>
        )}
      </Card>
    </div>
  );
}
