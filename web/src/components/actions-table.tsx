// Operator actions: who did what, before and after, from where.
import { dateTime } from "@/lib/format";
import type { Schemas } from "@/lib/types";

function brief(value: unknown): string {
  if (value === undefined || value === null) return "—";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

export function ActionsTable({ actions, testId = "actions-table" }: { actions: Schemas["OperatorActionRecord"][]; testId?: string }) {
  return (
    <div className="table-wrap">
      <table data-testid={testId}>
        <thead>
          <tr>
            <th>time (UTC)</th>
            <th>actor</th>
            <th>action</th>
            <th>target</th>
            <th>reason</th>
            <th>before → after</th>
            <th>from</th>
          </tr>
        </thead>
        <tbody>
          {actions.map((action, index) => {
            const details = (action.details ?? {}) as Record<string, unknown>;
            return (
              <tr key={action.id ?? index}>
                <td className="mono small">{dateTime(action.ts)}</td>
                <td>{action.actor}</td>
                <td>
                  <span className="pill">{action.action}</span>
                </td>
                <td className="mono small">{action.target ?? "—"}</td>
                <td className="wrap">{action.reason ?? <span className="muted">—</span>}</td>
                <td className="wrap small mono">
                  {brief(details.before)} → {brief(details.after)}
                </td>
                <td className="small">
                  {brief(details.client)}
                  {details.via ? ` · ${brief(details.via)}` : ""}
                  {details.role ? ` · ${brief(details.role)}` : ""}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
