"use client";

// Risk limits (admin): each limit checked as the API checks it, the API's 422 shown next to the limit.
import { useActionState, useState } from "react";

import type { ActionResult } from "@/lib/server";
import type { Schemas } from "@/lib/types";
import { LIMIT_RULES, REASON, parseLimit } from "@/lib/validation";

type Action = (previous: ActionResult | null, form: FormData) => Promise<ActionResult>;

function text(value: unknown): string {
  return value === null || value === undefined ? "" : String(value);
}

export function LimitsForm({ limits, action }: { limits: Schemas["RiskLimitsPublic"]; action: Action }) {
  const [result, submit, pending] = useActionState(action, null);
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(Object.entries(limits.effective).map(([name, value]) => [name, text(value)])),
  );
  const names = Object.keys(limits.effective);
  const serverFields = result && !result.ok ? result.fields : {};
  const problemOf = (name: string): string | undefined => {
    const value = values[name] ?? "";
    if (value.trim() !== text(limits.effective[name]).trim()) {
      const parsed = parseLimit(name, value);
      if ("problem" in parsed) return parsed.problem;
    }
    return serverFields[name];
  };
  const anyProblem = names.some((name) => problemOf(name) && values[name] !== text(limits.effective[name]));

  return (
    <form action={submit} data-testid="limits-form">
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>limit</th>
              <th>value</th>
              <th className="num">default</th>
              <th>back to default</th>
            </tr>
          </thead>
          <tbody>
            {names.map((name) => {
              const rule = LIMIT_RULES[name];
              const problem = problemOf(name);
              const overridden = Object.prototype.hasOwnProperty.call(limits.overrides, name);
              return (
                <tr key={name}>
                  <td className="mono">
                    <label htmlFor={`limit-${name}`} style={{ color: "inherit", fontSize: "inherit" }}>
                      {name}
                    </label>
                  </td>
                  <td>
                    <input type="hidden" name="limit" value={name} />
                    <input type="hidden" name={`was:${name}`} value={text(limits.effective[name])} />
                    {rule?.type === "bool" ? (
                      <select
                        id={`limit-${name}`}
                        name={`value:${name}`}
                        value={values[name]}
                        onChange={(event) => setValues({ ...values, [name]: event.target.value })}
                      >
                        <option value="true">true</option>
                        <option value="false">false</option>
                      </select>
                    ) : (
                      <input
                        id={`limit-${name}`}
                        name={`value:${name}`}
                        value={values[name] ?? ""}
                        inputMode="decimal"
                        size={12}
                        aria-invalid={problem ? true : undefined}
                        aria-describedby={problem ? `limit-${name}-error` : undefined}
                        onChange={(event) => setValues({ ...values, [name]: event.target.value })}
                      />
                    )}
                    {problem ? (
                      <div className="field-error" id={`limit-${name}-error`} data-testid={`limit-error-${name}`}>
                        {problem}
                      </div>
                    ) : null}
                  </td>
                  <td className="num muted">{text(limits.defaults[name])}</td>
                  <td>
                    {overridden ? (
                      <label className="check">
                        <input type="checkbox" name={`reset:${name}`} /> reset
                      </label>
                    ) : (
                      <span className="muted small">default</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <div className="row" style={{ marginTop: "0.6rem", alignItems: "flex-end" }}>
        <label>
          Reason (recorded in the audit)
          <input name="reason" minLength={REASON.min} maxLength={REASON.max} required size={40} aria-invalid={serverFields.reason ? true : undefined} />
        </label>
        <button type="submit" className="primary" disabled={pending || anyProblem}>
          Save limits
        </button>
      </div>
      {serverFields.reason ? <div className="field-error">{serverFields.reason}</div> : null}
      {result ? (
        <p className={`banner small ${result.ok ? "ok" : "bad"}`} role="status" data-testid="limits-result">
          {result.message}
        </p>
      ) : null}
    </form>
  );
}
