// GET: the API's /status for the overview's polling (every 3 s while the event stream is down).
import { relayJson } from "@/lib/route";

export const dynamic = "force-dynamic";

export async function GET(): Promise<Response> {
  return relayJson((api) => api.GET("/status", { cache: "no-store" }));
}
