// Route handlers' side of the session: answer JSON from the API for the logged-in user, or the refusal.
import "server-only";

import { ApiError, apiBaseUrl, unwrap, type ApiClient } from "./api";
import { acting } from "./server";

type Result<T> = { data?: T; error?: unknown; response: Response };

export const NO_STORE = { "Cache-Control": "no-store" };

export function problem(status: number, detail: string): Response {
  return Response.json({ detail }, { status, headers: NO_STORE });
}

/** The API's answer to `call` as JSON for the browser; 401 when there is no session or it ended. */
export async function relayJson<T>(call: (api: ApiClient) => Promise<Result<T>>): Promise<Response> {
  const session = await acting();
  if (!session) return problem(401, "not logged in");
  try {
    const data = await unwrap(call(session.api), apiBaseUrl());
    await session.save();
    return Response.json(data, { headers: NO_STORE });
  } catch (error) {
    await session.save();
    if (error instanceof ApiError) return problem(session.ended() ? 401 : error.status, error.message);
    throw error;
  }
}
