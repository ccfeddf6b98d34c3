// GET: the API's Server-Sent Events, with the session's token added here. The body streams through as it
// comes (no buffering, no compression, no caching); the browser never sees the token.
import { ApiError, apiError, unreachable, apiBaseUrl } from "@/lib/api";
import { problem } from "@/lib/route";
import { acting } from "@/lib/server";

export const dynamic = "force-dynamic";

export async function GET(request: Request): Promise<Response> {
  const session = await acting();
  if (!session) return problem(401, "not logged in");
  let upstream: Response;
  let refusalBody: unknown = null;
  try {
    const { response, error } = await session.api.GET("/events/stream", {
      parseAs: "stream",
      cache: "no-store",
      signal: request.signal,
      headers: { Accept: "text/event-stream" },
    });
    upstream = response;
    refusalBody = error ?? null;
  } catch (error) {
    await session.save();
    if (error instanceof ApiError) return problem(error.status, error.message);
    return problem(502, unreachable(apiBaseUrl(), error).message);
  }
  await session.save();
  if (!upstream.ok || !upstream.body) {
    const refusal = apiError(upstream.status, refusalBody);
    return problem(session.ended() ? 401 : refusal.status, refusal.message);
  }
  // A first comment at once: the browser sees the stream open even while the round is quiet.
  const upstreamReader = upstream.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(": connected\n\n"));
    },
    async pull(controller) {
      const { done, value } = await upstreamReader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return upstreamReader.cancel(reason);
    },
  });
  return new Response(body, {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-store, no-transform",
      "X-Accel-Buffering": "no",
    },
  });
}
