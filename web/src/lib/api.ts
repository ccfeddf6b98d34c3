// The one typed client of the agent's API (openapi-fetch over the generated contract). Server-side only:
// the browser never holds a token, so only route handlers, server actions and server components call it.
import "server-only";

import createClient, { type Client } from "openapi-fetch";

import type { paths } from "./api-schema";
import type { Schemas } from "./types";

export type ApiClient = Client<paths>;

export interface Tokens {
  access: string;
  refresh: string;
  /** When the access token stops working, in ms since the epoch (from the API's `expires_in`). */
  accessExpiresAt: number;
  /** When this pair was issued, in ms since the epoch. */
  issuedAt: number;
}

export interface Deps {
  baseUrl?: string;
  fetch?: (request: Request) => Promise<Response>;
  now?: () => number;
}

/** Refresh this long before the access token runs out, so a request never carries one about to expire. */
export const REFRESH_EARLY_MS = 30_000;
/** A refresh token's answer is reused this long: the API revokes a login whose refresh token comes twice. */
export const REFRESH_REUSE_MS = 60_000;

export function apiBaseUrl(env: Record<string, string | undefined> = process.env): string {
  return (env.BTC_AGENT_API_URL || "http://127.0.0.1:8000").replace(/\/+$/, "");
}

/** A refusal or failure of the API, with its reason in words and, for a 422, the reason per field. */
export class ApiError extends Error {
  readonly status: number;
  readonly fields: Readonly<Record<string, string>>;

  constructor(status: number, message: string, fields: Record<string, string> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields;
  }
}

const LOCATIONS = new Set(["body", "query", "path", "header", "cookie"]);

/** The field a 422 entry's `loc` names: its last part that is not where it was sent (`body`, `query`...). */
export function fieldOf(loc: readonly (string | number)[]): string {
  const parts = loc.filter((part, index) => !(index === 0 && LOCATIONS.has(String(part))));
  return parts.length > 0 ? String(parts[parts.length - 1]) : "";
}

/** The API's error body (`{"detail": "..."}` or a 422's `{"detail": [{loc, msg}, ...]}`) as an ApiError. */
export function apiError(status: number, body: unknown): ApiError {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string" && detail) return new ApiError(status, detail);
  if (Array.isArray(detail)) {
    const fields: Record<string, string> = {};
    const lines: string[] = [];
    for (const entry of detail as Partial<Schemas["ValidationError"]>[]) {
      const field = fieldOf(entry.loc ?? []);
      const msg = entry.msg ?? "invalid";
      fields[field] = fields[field] ? `${fields[field]}; ${msg}` : msg;
      lines.push(field ? `${field}: ${msg}` : msg);
    }
    return new ApiError(status, lines.join("; ") || `the API refused the request (${status})`, fields);
  }
  return new ApiError(status, `the API answered ${status}`);
}

export function unreachable(baseUrl: string, cause: unknown): ApiError {
  const why = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : "";
  return new ApiError(502, `the API at ${baseUrl} cannot be reached${why ? ` (${why})` : ""}`);
}

export function tokensFrom(pair: Schemas["TokenPair"], now: number): Tokens {
  return {
    access: pair.access_token,
    refresh: pair.refresh_token,
    accessExpiresAt: now + pair.expires_in * 1000,
    issuedAt: now,
  };
}

type Result<T> = { data?: T; error?: unknown; response: Response };

/** The data of an openapi-fetch call, or the API's refusal (or its absence) as an ApiError. */
export async function unwrap<T>(call: Promise<Result<T>>, baseUrl = apiBaseUrl()): Promise<T> {
  let result: Result<T>;
  try {
    result = await call;
  } catch (cause) {
    if (cause instanceof ApiError) throw cause;
    if (cause instanceof Error && cause.name === "AbortError") throw cause;
    throw unreachable(baseUrl, cause);
  }
  if (result.response.ok && result.data !== undefined) return result.data;
  throw apiError(result.response.status, result.error);
}

function plainClient(deps: Deps): ApiClient {
  return createClient<paths>({ baseUrl: deps.baseUrl ?? apiBaseUrl(), fetch: deps.fetch ?? ((r) => fetch(r)) });
}

export async function login(username: string, password: string, deps: Deps = {}): Promise<Tokens> {
  const now = deps.now ?? Date.now;
  const pair = await unwrap(
    plainClient(deps).POST("/auth/login", { body: { username, password }, cache: "no-store" }),
    deps.baseUrl ?? apiBaseUrl(),
  );
  return tokensFrom(pair, now());
}

export async function logout(refreshToken: string, deps: Deps = {}): Promise<void> {
  await unwrap(
    plainClient(deps).POST("/auth/logout", { body: { refresh_token: refreshToken }, cache: "no-store" }),
    deps.baseUrl ?? apiBaseUrl(),
  );
}

interface Flight {
  promise: Promise<Tokens>;
  settledAt: number | null;
}

const FLIGHTS = Symbol.for("btc-agent-console.refresh-flights");

function flights(): Map<string, Flight> {
  const holder = globalThis as typeof globalThis & { [FLIGHTS]?: Map<string, Flight> };
  holder[FLIGHTS] ??= new Map();
  return holder[FLIGHTS];
}

/** The next token pair for `refreshToken`. Requests that present the same refresh token at once (or within
 * REFRESH_REUSE_MS) share one answer: each refresh token works once, and a second use revokes the login. */
export function refreshTokens(refreshToken: string, deps: Deps = {}): Promise<Tokens> {
  const now = deps.now ?? Date.now;
  const table = flights();
  for (const [key, flight] of table) {
    if (flight.settledAt !== null && now() - flight.settledAt > REFRESH_REUSE_MS) table.delete(key);
  }
  const known = table.get(refreshToken);
  if (known) return known.promise;
  const flight: Flight = { promise: Promise.resolve() as unknown as Promise<Tokens>, settledAt: null };
  flight.promise = unwrap(
    plainClient(deps).POST("/auth/refresh", { body: { refresh_token: refreshToken }, cache: "no-store" }),
    deps.baseUrl ?? apiBaseUrl(),
  ).then(
    (pair) => {
      flight.settledAt = now();
      return tokensFrom(pair, now());
    },
    (error: unknown) => {
      flight.settledAt = now();
      // An API that was away has not used the token up: let the next request try again.
      if (!(error instanceof ApiError) || error.status >= 500) table.delete(refreshToken);
      throw error;
    },
  );
  table.set(refreshToken, flight);
  return flight.promise;
}

export interface SessionLink {
  /** The caller's tokens (null: not logged in; requests go without a token). */
  tokens: Tokens | null;
  /** Told of a new pair after a refresh, or null when the login is over, so the caller can save it. */
  onTokens?: (tokens: Tokens | null) => void;
  /** False where a new pair could not be saved (a server component): then no refresh is tried. */
  refresh?: boolean;
}

/** A client acting for the session: the access token on every request, refreshed when it is about to
 * expire or when the API answers 401 (expired), and the request sent once more with the new one. */
export function createApi(link: SessionLink, deps: Deps = {}): ApiClient {
  const now = deps.now ?? Date.now;
  const send = deps.fetch ?? ((request: Request) => fetch(request));
  const canRefresh = link.refresh !== false;

  async function renew(tokens: Tokens): Promise<Tokens | null> {
    try {
      const next = await refreshTokens(tokens.refresh, deps);
      link.tokens = next;
      link.onTokens?.(next);
      return next;
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        link.tokens = null;
        link.onTokens?.(null);
        return null;
      }
      throw error;
    }
  }

  function withToken(request: Request, tokens: Tokens | null): Request {
    if (tokens) request.headers.set("Authorization", `Bearer ${tokens.access}`);
    return request;
  }

  async function authedFetch(request: Request): Promise<Response> {
    let tokens = link.tokens;
    if (tokens && canRefresh && tokens.accessExpiresAt - now() < REFRESH_EARLY_MS) tokens = await renew(tokens);
    const again = request.clone();
    const first = await send(withToken(request, tokens));
    if (first.status !== 401 || !tokens || !canRefresh) return first;
    const renewed = await renew(tokens);
    if (!renewed) return first;
    // Not awaited: a body Next's fetch has teed settles its cancel only when the other branch goes too.
    first.body?.cancel().catch(() => undefined);
    return send(withToken(again, renewed));
  }

  return createClient<paths>({ baseUrl: deps.baseUrl ?? apiBaseUrl(), fetch: authedFetch });
}
