// GET: one file of a backtest's report (the PNG plots, summary.json, index.html), fetched with the
// session's token and passed through with the API's type and sandboxing policy.
import { apiBaseUrl, apiError, unreachable } from "@/lib/api";
import { problem } from "@/lib/route";
import { acting } from "@/lib/server";

export const dynamic = "force-dynamic";

const PASSED = ["Content-Type", "Content-Security-Policy", "Content-Length", "Last-Modified", "ETag"];

export async function GET(
  request: Request,
  context: RouteContext<"/api/backtests/[runId]/files/[name]">,
): Promise<Response> {
  const { runId, name } = await context.params;
  const session = await acting();
  if (!session) return problem(401, "not logged in");
  let upstream: Response;
  let refusalBody: unknown = null;
  try {
    const { response, error } = await session.api.GET("/backtests/{run_id}/files/{name}", {
      params: { path: { run_id: runId, name } },
      parseAs: "stream",
      cache: "no-store",
      signal: request.signal,
    });
    upstream = response;
    refusalBody = error ?? null;
  } catch (error) {
    await session.save();
    return problem(502, unreachable(apiBaseUrl(), error).message);
  }
  await session.save();
  if (!upstream.ok || !upstream.body) {
    const refusal = apiError(upstream.status, refusalBody);
    return problem(session.ended() ? 401 : refusal.status, refusal.message);
  }
  const headers = new Headers({ "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff" });
  for (const name of PASSED) {
    const value = upstream.headers.get(name);
    if (value) headers.set(name, value);
  }
  return new Response(upstream.body, { headers });
}
