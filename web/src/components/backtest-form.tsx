"use client";

// Start a backtest (analyst and above): a UTC range, the strategies, the price source; then its progress.
import { useActionState } from "react";

import { BacktestProgress } from "@/components/backtest-progress";
import type { ActionResult } from "@/lib/server";
import type { BacktestRun } from "@/lib/types";

type Action = (previous: ActionResult<BacktestRun> | null, form: FormData) => Promise<ActionResult<BacktestRun>>;

export function BacktestForm({ strategies, action, defaults }: { strategies: string[]; action: Action; defaults: { start: string; end: string } }) {
  const [result, submit, pending] = useActionState(async (previous: ActionResult<BacktestRun> | null, form: FormData) => {
    const answer = await action(previous, form);
    if (answer.ok && answer.data) {
      // Keep the run in the address, so a reload follows it still.
      window.history.replaceState(null, "", `/backtests?run=${encodeURIComponent(answer.data.flow_run_id)}`);
    }
    return answer;
  }, null);
  const fields = result && !result.ok ? result.fields : {};
  const problem = (name: string) => (fields[name] ? <div className="field-error">{fields[name]}</div> : null);

  return (
    <div className="stack">
      <form action={submit} className="inline" data-testid="backtest-form">
        <label>
          start (UTC)
          <input type="datetime-local" name="start" defaultValue={defaults.start} required aria-invalid={fields.start ? true : undefined} />
          {problem("start")}
        </label>
        <label>
          end (UTC)
          <input type="datetime-local" name="end" defaultValue={defaults.end} required aria-invalid={fields.end ? true : undefined} />
          {problem("end")}
        </label>
        <fieldset style={{ border: "none", padding: 0, margin: 0 }}>
          <legend className="small muted">strategies</legend>
          <div className="row">
            {strategies.map((name) => (
              <label key={name} className="check">
                <input type="checkbox" name="strategies" value={name} defaultChecked /> {name}
              </label>
            ))}
          </div>
          {problem("strategies")}
        </fieldset>
        <label>
          prices
          <select name="source" defaultValue="generated">
            <option value="generated">generated from BTC history</option>
            <option value="tapes">recorded tapes</option>
          </select>
          {problem("source")}
        </label>
        <label>
          parameter grid (JSON, optional)
          <input name="params_grid" placeholder='{"fair_value": {"margin": [0.02, 0.04]}}' size={30} aria-invalid={fields.params_grid ? true : undefined} />
          {problem("params_grid")}
        </label>
        <label>
          seed
          <input name="seed" type="number" min={0} step={1} defaultValue={1} style={{ width: "6rem" }} aria-invalid={fields.seed ? true : undefined} />
          {problem("seed")}
        </label>
        <button type="submit" className="primary" disabled={pending}>
          Start backtest
        </button>
      </form>
      {pending ? <p className="small muted">starting…</p> : null}
      {result && !result.ok ? (
        <p className="banner bad small" role="alert" data-testid="backtest-error">
          {result.message}
        </p>
      ) : null}
      {result?.ok && result.data ? <BacktestProgress key={result.data.flow_run_id} initial={result.data} /> : null}
    </div>
  );
}
