import { beforeEach, describe, expect, it, vi } from "vitest";

import {
  ApiError,
  REFRESH_REUSE_MS,
  apiBaseUrl,
  apiError,
  createApi,
  fieldOf,
  login,
  refreshTokens,
  unwrap,
  type Tokens,
} from "@/lib/api";

const BASE = "http://api.test";
const NOW = 1_800_000_000_000;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function pair(n: number) {
  return { access_token: `access-${n}`, token_type: "bearer", expires_in: 900, refresh_token: `refresh-${n}`, refresh_expires_in: 604800 };
}

function tokens(n: number, expiresInMs = 600_000): Tokens {
  return { access: `access-${n}`, refresh: `refresh-${n}`, accessExpiresAt: NOW + expiresInMs, issuedAt: NOW - 60_000 };
}

const ME = { name: "ann", role: "viewer", id: "u1", created_at: "2026-01-01T00:00:00Z", acting_role: "viewer", via: "session" };

/** A fake API: answers by path, records each request with its bearer token. */
function fakeApi(routes: Record<string, (request: Request) => Response | Promise<Response>>) {
  const calls: { path: string; auth: string | null; body?: string }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const path = new URL(request.url).pathname;
    calls.push({ path, auth: request.headers.get("Authorization"), body: request.method === "GET" ? undefined : await request.clone().text() });
    const route = routes[path];
    return route ? route(request) : json(404, { detail: `no route ${path}` });
  });
  return { fetch, calls };
}

let seq = 0;
beforeEach(() => {
  seq++;
});

describe("errors", () => {
  it("reads a refusal's detail", () => {
    const error = apiError(403, { detail: "operator role needed" });
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(403);
    expect(error.message).toBe("operator role needed");
  });

  it("maps a 422 to its fields by loc", () => {
    const error = apiError(422, {
      detail: [
        { loc: ["body", "reason"], msg: "String should have at least 3 characters", type: "string_too_short" },
        { loc: ["body", "changes"], msg: "invalid risk limit override(s): max_trades_per_round: too big", type: "value_error" },
        { loc: ["body"], msg: "Value error, end must be after start", type: "value_error" },
      ],
    });
    expect(error.fields.reason).toBe("String should have at least 3 characters");
    expect(error.fields.changes).toContain("max_trades_per_round");
    expect(error.fields[""]).toBe("Value error, end must be after start");
    expect(error.message).toContain("reason: String should have at least 3 characters");
  });

  it("names the field a loc points at", () => {
    expect(fieldOf(["body", "start"])).toBe("start");
    expect(fieldOf(["query", "limit"])).toBe("limit");
    expect(fieldOf(["body", "changes", "max_daily_loss"])).toBe("max_daily_loss");
    expect(fieldOf(["body"])).toBe("");
  });

  it("says so when the API cannot be reached", async () => {
    const failing = Promise.reject(new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:8000") }));
    await expect(unwrap(failing, BASE)).rejects.toMatchObject({ status: 502, message: expect.stringContaining("ECONNREFUSED") });
  });

  it("takes the API's address from the environment", () => {
    expect(apiBaseUrl({})).toBe("http://127.0.0.1:8000");
    expect(apiBaseUrl({ BTC_AGENT_API_URL: "http://10.1.2.3:9000/" })).toBe("http://10.1.2.3:9000");
  });
});

describe("login", () => {
  it("turns the token pair into tokens with an expiry", async () => {
    const api = fakeApi({ "/auth/login": () => json(200, pair(1)) });
    const result = await login("ann", "a long password", { baseUrl: BASE, fetch: api.fetch, now: () => NOW });
    expect(result).toEqual({ access: "access-1", refresh: "refresh-1", accessExpiresAt: NOW + 900_000, issuedAt: NOW });
    expect(JSON.parse(api.calls[0]?.body ?? "{}")).toEqual({ username: "ann", password: "a long password" });
  });

  it("passes the API's refusal on", async () => {
    const api = fakeApi({ "/auth/login": () => json(401, { detail: "wrong user name or password" }) });
    await expect(login("ann", "nope nope nope", { baseUrl: BASE, fetch: api.fetch })).rejects.toMatchObject({
      status: 401,
      message: "wrong user name or password",
    });
  });
});

describe("the session's client", () => {
  it("sends the access token", async () => {
    const api = fakeApi({ "/users/me": () => json(200, ME) });
    const client = createApi({ tokens: tokens(seq) }, { baseUrl: BASE, fetch: api.fetch, now: () => NOW });
    const me = await unwrap(client.GET("/users/me"), BASE);
    expect(me.name).toBe("ann");
    expect(api.calls[0]?.auth).toBe(`Bearer access-${seq}`);
  });

  it("refreshes an expired token on a 401 and sends the request again", async () => {
    const start = tokens(seq);
    const api = fakeApi({
      "/users/me": (request) =>
        request.headers.get("Authorization") === `Bearer access-${seq + 1000}`
          ? json(200, ME)
          : json(401, { detail: "access token expired: get a new one at POST /auth/refresh" }),
      "/auth/refresh": () => json(200, pair(seq + 1000)),
    });
    const onTokens = vi.fn();
    const client = createApi({ tokens: start, onTokens }, { baseUrl: BASE, fetch: api.fetch, now: () => NOW });
    await expect(unwrap(client.GET("/users/me"), BASE)).resolves.toMatchObject({ name: "ann" });
    expect(api.calls.map((c) => c.path)).toEqual(["/users/me", "/auth/refresh", "/users/me"]);
    expect(JSON.parse(api.calls[1]?.body ?? "{}")).toEqual({ refresh_token: start.refresh });
    expect(onTokens).toHaveBeenCalledWith(expect.objectContaining({ access: `access-${seq + 1000}` }));
  });

  it("resends a request's body after a refresh", async () => {
    let attempts = 0;
    const api = fakeApi({
      "/kill-switch": () => (++attempts === 1 ? json(401, { detail: "access token expired" }) : json(200, { engaged: true, complete: true, steps: [], kill_switch: null })),
      "/auth/refresh": () => json(200, pair(seq + 2000)),
    });
    const client = createApi({ tokens: tokens(seq) }, { baseUrl: BASE, fetch: api.fetch, now: () => NOW });
    await unwrap(client.POST("/kill-switch", { body: { engaged: true, reason: "test halt" } }), BASE);
    const posts = api.calls.filter((c) => c.path === "/kill-switch");
    expect(posts).toHaveLength(2);
    expect(JSON.parse(posts[1]?.body ?? "{}")).toEqual({ engaged: true, reason: "test halt" });
    expect(posts[1]?.auth).toBe(`Bearer access-${seq + 2000}`);
  });

  it("refreshes before sending when the token is about to expire", async () => {
    const api = fakeApi({ "/users/me": () => json(200, ME), "/auth/refresh": () => json(200, pair(seq + 3000)) });
    const client = createApi({ tokens: tokens(seq, 5_000) }, { baseUrl: BASE, fetch: api.fetch, now: () => NOW });
    await unwrap(client.GET("/users/me"), BASE);
    expect(api.calls.map((c) => c.path)).toEqual(["/auth/refresh", "/users/me"]);
    expect(api.calls[1]?.auth).toBe(`Bearer access-${seq + 3000}`);
  });

  it("ends the session when the refresh token is refused", async () => {
    const api = fakeApi({
      "/users/me": () => json(401, { detail: "access token expired" }),
      "/auth/refresh": () => json(401, { detail: "refresh token expired: log in again" }),
    });
    const onTokens = vi.fn();
    const link = { tokens: tokens(seq) as Tokens | null, onTokens };
    const client = createApi(link, { baseUrl: BASE, fetch: api.fetch, now: () => NOW });
    await expect(unwrap(client.GET("/users/me"), BASE)).rejects.toMatchObject({ status: 401 });
    expect(onTokens).toHaveBeenCalledWith(null);
    expect(link.tokens).toBeNull();
  });

  it("does not refresh where the new pair could not be kept", async () => {
    const api = fakeApi({ "/users/me": () => json(401, { detail: "access token expired" }), "/auth/refresh": () => json(200, pair(1)) });
    const client = createApi({ tokens: tokens(seq), refresh: false }, { baseUrl: BASE, fetch: api.fetch, now: () => NOW });
    await expect(unwrap(client.GET("/users/me"), BASE)).rejects.toMatchObject({ status: 401 });
    expect(api.calls.map((c) => c.path)).toEqual(["/users/me"]);
  });

  it("does not call a 403 an expired session", async () => {
    const api = fakeApi({ "/operator-actions": () => json(403, { detail: "needs operator" }) });
    const client = createApi({ tokens: tokens(seq) }, { baseUrl: BASE, fetch: api.fetch, now: () => NOW });
    await expect(unwrap(client.GET("/operator-actions"), BASE)).rejects.toMatchObject({ status: 403, message: "needs operator" });
    expect(api.calls).toHaveLength(1);
  });
});

describe("refreshing", () => {
  it("uses a refresh token once for requests that present it together", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const api = fakeApi({
      "/auth/refresh": async () => {
        await gate;
        return json(200, pair(seq + 4000));
      },
    });
    const deps = { baseUrl: BASE, fetch: api.fetch, now: () => NOW };
    const first = refreshTokens(`shared-${seq}`, deps);
    const second = refreshTokens(`shared-${seq}`, deps);
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(a).toEqual(b);
    expect(api.calls).toHaveLength(1);
  });

  it("gives a late request with the old refresh token the same new pair, for a while", async () => {
    let now = NOW;
    const api = fakeApi({ "/auth/refresh": () => json(200, pair(seq + 5000 + api.calls.length)) });
    const deps = { baseUrl: BASE, fetch: api.fetch, now: () => now };
    const first = await refreshTokens(`late-${seq}`, deps);
    now += REFRESH_REUSE_MS - 1000;
    expect(await refreshTokens(`late-${seq}`, deps)).toEqual(first);
    expect(api.calls).toHaveLength(1);
    now += 2000;
    await refreshTokens(`late-${seq}`, deps);
    expect(api.calls).toHaveLength(2);
  });

  it("lets the next request try again when the API was away", async () => {
    let down = true;
    const api = fakeApi({ "/auth/refresh": () => (down ? json(503, { detail: "store unavailable" }) : json(200, pair(seq + 6000))) });
    const deps = { baseUrl: BASE, fetch: api.fetch, now: () => NOW };
    await expect(refreshTokens(`away-${seq}`, deps)).rejects.toMatchObject({ status: 503 });
    down = false;
    await expect(refreshTokens(`away-${seq}`, deps)).resolves.toMatchObject({ access: `access-${seq + 6000}` });
  });
});
