// The risk limits: what rounds enforce, the settings' default, and the operator's override if any.
import type { Schemas } from "@/lib/types";

function show(value: unknown): string {
  if (value === undefined) return "—";
  if (value === null) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function LimitsTable({ limits }: { limits: Schemas["RiskLimitsPublic"] }) {
  const names = Object.keys(limits.effective);
  return (
    <div className="table-wrap">
      <table data-testid="limits-table">
        <thead>
          <tr>
            <th>limit</th>
            <th className="num">effective</th>
            <th className="num">default</th>
            <th>override</th>
          </tr>
        </thead>
        <tbody>
          {names.map((name) => {
            const overridden = Object.prototype.hasOwnProperty.call(limits.overrides, name);
            return (
              <tr key={name}>
                <td className="mono">{name}</td>
                <td className="num">{show(limits.effective[name])}</td>
                <td className="num muted">{show(limits.defaults[name])}</td>
                <td>{overridden ? <span className="pill warn">{show(limits.overrides[name])}</span> : <span className="muted">—</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
