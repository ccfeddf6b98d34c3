"use client";

// A started backtest followed to its end: its Prefect state (asked every 2 s), task runs done, and the
// report once it completed.
import Link from "next/link";
import { useEffect, useState } from "react";

import type { BacktestRun } from "@/lib/types";

export const FINAL_STATES = new Set(["Completed", "Failed", "Crashed", "Cancelled"]);

export function BacktestProgress({ initial, pollMs = 2000 }: { initial: BacktestRun; pollMs?: number }) {
  const [run, setRun] = useState(initial);
  const [problem, setProblem] = useState<string | null>(null);
  const id = initial.flow_run_id;

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const tick = async () => {
      try {
        const response = await fetch(`/api/backtest-runs/${encodeURIComponent(id)}`, { cache: "no-store" });
        const body: unknown = await response.json().catch(() => null);
        if (stopped) return;
        if (response.ok) {
          setRun(body as BacktestRun);
          setProblem(null);
          if (FINAL_STATES.has((body as BacktestRun).state)) return;
        } else {
          setProblem(String((body as { detail?: unknown } | null)?.detail ?? `HTTP ${response.status}`));
        }
      } catch (error) {
        if (!stopped) setProblem(error instanceof Error ? error.message : "the console cannot be reached");
      }
      if (!stopped) timer = setTimeout(tick, pollMs);
    };
    if (!FINAL_STATES.has(initial.state)) timer = setTimeout(tick, 0);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [id, initial.state, pollMs]);

  const tone = run.state === "Completed" ? "ok" : FINAL_STATES.has(run.state) ? "bad" : "warn";
  return (
    <div className="card" data-testid="backtest-progress">
      <div className="row">
        <strong>{run.name}</strong>
        <span className={`pill ${tone}`} data-testid="backtest-state">
          {run.state}
        </span>
        <span className="small muted" data-testid="backtest-tasks">
          task runs {run.tasks_completed} of {run.tasks_total} done
        </span>
      </div>
      {run.state_message ? <p className="small muted">{run.state_message}</p> : null}
      {problem ? <p className="banner warn small">progress unavailable: {problem}</p> : null}
      {run.state === "Completed" ? (
        <p>
          <Link href={`/backtests/${encodeURIComponent(run.run_id)}`} data-testid="backtest-report-link">
            Report of {run.run_id}
          </Link>
        </p>
      ) : null}
      <p className="small muted mono">flow run {run.flow_run_id}</p>
    </div>
  );
}
