// Where the console links to, from the environment at request time (server only).
import "server-only";

export function prefectUiUrl(env: Record<string, string | undefined> = process.env): string {
  return (env.PREFECT_UI_URL || "http://127.0.0.1:4200").replace(/\/+$/, "");
}

export function flowRunUrl(flowRunId: string, env: Record<string, string | undefined> = process.env): string {
  return `${prefectUiUrl(env)}/runs/flow-run/${encodeURIComponent(flowRunId)}`;
}
