"use client";

// The kill switch: one button, then a confirmation that asks why (the reason goes into the audit). Roles
// below operator see the button disabled, and nothing they could press.
import { useActionState, useState } from "react";

import type { ActionResult } from "@/lib/server";
import { REASON, reasonProblem } from "@/lib/validation";

export type KillSwitchAction = (previous: ActionResult | null, form: FormData) => Promise<ActionResult>;

export function KillSwitchControl({ engaged, canOperate, action }: { engaged: boolean; canOperate: boolean; action: KillSwitchAction }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const [result, submit, pending] = useActionState(async (previous: ActionResult | null, form: FormData) => {
    const answer = await action(previous, form);
    if (answer.ok) {
      setOpen(false);
      setReason("");
    }
    return answer;
  }, null);
  const label = engaged ? "Release kill switch" : "Engage kill switch";
  const problem = reasonProblem(reason);
  const fieldError = result && !result.ok ? result.fields.reason : undefined;

  return (
    <div data-testid="kill-switch-control">
      <div className="row">
        <button
          type="button"
          className={engaged ? "" : "danger"}
          disabled={!canOperate || open}
          title={canOperate ? undefined : "operators and admins only"}
          onClick={() => setOpen(true)}
        >
          {label}
        </button>
        {!canOperate ? <span className="small muted">Only operators and admins may use the kill switch.</span> : null}
      </div>
      {open && canOperate ? (
        <form action={submit} className="dialog" role="dialog" aria-label={`${label}: confirm`}>
          <p>
            <strong>{engaged ? "Release the kill switch?" : "Engage the kill switch?"}</strong>{" "}
            {engaged
              ? "Trading resumes: the halt file, the store's flag and the deployment's pause are cleared."
              : "Trading stops everywhere within a second: the halt file, the store's flag and the deployment's pause. Resting orders are cancelled."}
          </p>
          <input type="hidden" name="engaged" value={engaged ? "false" : "true"} />
          <label>
            Reason (recorded in the audit)
            <input
              name="reason"
              value={reason}
              onChange={(event) => setReason(event.target.value)}
              minLength={REASON.min}
              maxLength={REASON.max}
              required
              autoFocus
              aria-invalid={fieldError ? true : undefined}
            />
          </label>
          {fieldError ? <div className="field-error">{fieldError}</div> : reason && problem ? <div className="small muted">{problem}</div> : null}
          <div className="row" style={{ marginTop: "0.6rem" }}>
            <button type="submit" className={engaged ? "primary" : "danger"} disabled={pending || problem !== null}>
              Confirm
            </button>
            <button type="button" onClick={() => setOpen(false)} disabled={pending}>
              Cancel
            </button>
            {pending ? <span className="small muted">sending…</span> : null}
          </div>
        </form>
      ) : null}
      {result ? (
        <p className={`banner ${result.ok ? "ok" : "bad"} small`} role="status" data-testid="kill-switch-result">
          {result.message}
        </p>
      ) : null}
    </div>
  );
}
