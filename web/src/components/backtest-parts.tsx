// A backtest run's summary pieces: the variants' figures and the report's files through the console.
import { Money } from "@/components/ui";
import { num } from "@/lib/format";
import type { Schemas } from "@/lib/types";

export function fileUrl(runId: string, name: string): string {
  return `/api/backtests/${encodeURIComponent(runId)}/files/${encodeURIComponent(name)}`;
}

export function Variants({ variants, best }: { variants: Schemas["BacktestVariant"][]; best: string | null }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>variant</th>
            <th className="num">rounds</th>
            <th className="num">traded</th>
            <th className="num">wins</th>
            <th className="num">win rate</th>
            <th className="num">P&amp;L</th>
            <th className="num">fees</th>
            <th className="num">max drawdown</th>
          </tr>
        </thead>
        <tbody>
          {variants.map((variant) => (
            <tr key={variant.run_id}>
              <td>
                <span className="mono small">{variant.tag}</span> {variant.name ?? ""}
                {variant.tag === best ? <span className="pill ok">best</span> : null}
              </td>
              <td className="num">{variant.rounds}</td>
              <td className="num">{variant.traded}</td>
              <td className="num">{variant.wins ?? "—"}</td>
              <td className="num">{variant.win_rate === null ? "—" : `${(variant.win_rate * 100).toFixed(1)}%`}</td>
              <td className="num">
                <Money value={variant.pnl} />
              </td>
              <td className="num">{num(variant.fees, 2)}</td>
              <td className="num">{num(variant.max_drawdown, 2)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
