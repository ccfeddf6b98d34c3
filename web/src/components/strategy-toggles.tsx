"use client";

// Strategies on and off (operator and above), each change with a reason for the audit.
import { useActionState } from "react";

import type { ActionResult } from "@/lib/server";
import type { Schemas } from "@/lib/types";
import { REASON } from "@/lib/validation";

type Action = (previous: ActionResult | null, form: FormData) => Promise<ActionResult>;

function StrategyRow({ strategy, canToggle, action }: { strategy: Schemas["StrategyPublic"]; canToggle: boolean; action: Action }) {
  const [result, submit, pending] = useActionState(action, null);
  const fieldError = result && !result.ok ? result.fields.reason : undefined;
  return (
    <tr data-testid={`strategy-${strategy.name}`}>
      <td className="mono">{strategy.name}</td>
      <td>
        <span className={`pill ${strategy.enabled ? "ok" : "bad"}`}>{strategy.enabled ? "on" : "off"}</span>
      </td>
      <td className="wrap small">{strategy.description}</td>
      <td>
        {canToggle ? (
          <form action={submit} className="inline">
            <input type="hidden" name="name" value={strategy.name} />
            <input type="hidden" name="enabled" value={strategy.enabled ? "false" : "true"} />
            <input name="reason" placeholder="reason" minLength={REASON.min} maxLength={REASON.max} required size={18} aria-invalid={fieldError ? true : undefined} />
            <button type="submit" disabled={pending}>
              {strategy.enabled ? "Switch off" : "Switch on"}
            </button>
          </form>
        ) : (
          <button type="button" disabled title="operators and admins only">
            {strategy.enabled ? "Switch off" : "Switch on"}
          </button>
        )}
        {fieldError ? <div className="field-error">{fieldError}</div> : null}
        {result && !fieldError ? <div className={`small ${result.ok ? "pos" : "neg"}`}>{result.message}</div> : null}
      </td>
    </tr>
  );
}

export function StrategyToggles({ strategies, canToggle, action }: { strategies: Schemas["StrategyPublic"][]; canToggle: boolean; action: Action }) {
  return (
    <div className="table-wrap">
      <table data-testid="strategies-table">
        <thead>
          <tr>
            <th>strategy</th>
            <th>state</th>
            <th>what it does</th>
            <th>change</th>
          </tr>
        </thead>
        <tbody>
          {strategies.map((strategy) => (
            <StrategyRow key={strategy.name} strategy={strategy} canToggle={canToggle} action={action} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

