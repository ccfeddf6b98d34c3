// GET: a started backtest's progress (its Prefect state and task runs), polled by the backtests page.
import { relayJson } from "@/lib/route";

export const dynamic = "force-dynamic";

export async function GET(_request: Request, context: RouteContext<"/api/backtest-runs/[id]">): Promise<Response> {
  const { id } = await context.params;
  return relayJson((api) =>
    api.GET("/backtest-runs/{flow_run_id}", { params: { path: { flow_run_id: id } }, cache: "no-store" }),
  );
}
