// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { startLiveFeed, type LiveFeed, type LiveMode } from "@/lib/live";
import type { LiveEvent } from "@/lib/sse";
import type { Status } from "@/lib/types";

const STATUS = { at: "2026-12-06T12:00:00Z", mode: "paper" } as unknown as Status;

/** A stream the test writes SSE text into, as /api/events would. */
function stream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  const encoder = new TextEncoder();
  return {
    response: new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } }),
    send: (text: string) => controller.enqueue(encoder.encode(text)),
    fail: () => controller.error(new Error("network gone")),
    end: () => controller.close(),
  };
}

function harness(events: (() => Response | Promise<Response>)[], status: () => Response) {
  const modes: LiveMode[] = [];
  const received: LiveEvent[] = [];
  const statuses: Status[] = [];
  const unauthorized = vi.fn();
  const calls: string[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL) => {
    const url = String(input);
    calls.push(url);
    if (url === "/api/events") {
      const next = events.shift();
      if (!next) throw new TypeError("fetch failed");
      return next();
    }
    return status();
  }) as unknown as typeof globalThis.fetch;
  const feed = startLiveFeed({
    fetch,
    onEvent: (event) => received.push(event),
    onStatus: (s) => statuses.push(s),
    onMode: (mode) => modes.push(mode),
    onUnauthorized: unauthorized,
    pollMs: 3000,
    livePollMs: 5000,
    retryMs: 10_000,
    staleMs: 10_000,
  });
  return { feed, modes, received, statuses, unauthorized, calls };
}

const ok = () => Response.json(STATUS);

let feed: LiveFeed | null = null;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  feed?.stop();
  feed = null;
  vi.useRealTimers();
});

describe("the live feed", () => {
  it("goes live on the stream and hands on each event", async () => {
    const s = stream();
    const h = harness([() => s.response], ok);
    feed = h.feed;
    await vi.advanceTimersByTimeAsync(0);
    expect(h.modes).toEqual(["live"]);
    s.send(': connected\n\nevent: state\ndata: {"round_slug": "r", "feeds": {}}\n\nevent: decision\ndata: {"kind": "decisions", "row": {"id": "d"}}\n\n');
    await vi.advanceTimersByTimeAsync(10);
    expect(h.received.map((e) => e.type)).toEqual(["state", "decision"]);
  });

  it("still asks for the status now and then while live (timers and P&L are not on the stream)", async () => {
    const s = stream();
    const h = harness([() => s.response], ok);
    feed = h.feed;
    await vi.advanceTimersByTimeAsync(5001);
    expect(h.statuses).toHaveLength(1);
    expect(h.modes).toEqual(["live"]);
  });

  it("falls back to polling every 3 s when the stream breaks, and goes live again when it returns", async () => {
    const first = stream();
    const second = stream();
    const h = harness([() => first.response, () => second.response], ok);
    feed = h.feed;
    await vi.advanceTimersByTimeAsync(0);
    first.fail();
    await vi.advanceTimersByTimeAsync(10);
    expect(h.modes).toEqual(["live", "polling"]);
    const polled = h.statuses.length;
    await vi.advanceTimersByTimeAsync(6000);
    expect(h.statuses.length - polled).toBe(2);
    await vi.advanceTimersByTimeAsync(4100);
    expect(h.modes).toEqual(["live", "polling", "live"]);
  });

  it("polls when the stream cannot be opened at all", async () => {
    const h = harness([() => new Response("no", { status: 502 })], ok);
    feed = h.feed;
    await vi.advanceTimersByTimeAsync(10);
    expect(h.modes).toEqual(["polling"]);
    expect(h.statuses).toHaveLength(1);
  });

  it("says stale when neither the stream nor the status answers", async () => {
    const h = harness([], () => new Response("down", { status: 502 }));
    feed = h.feed;
    await vi.advanceTimersByTimeAsync(12_000);
    expect(h.modes.at(-1)).toBe("stale");
  });

  it("sends the user to the login when the session is over", async () => {
    const h = harness([() => Response.json({ detail: "not logged in" }, { status: 401 })], ok);
    feed = h.feed;
    await vi.advanceTimersByTimeAsync(10);
    expect(h.unauthorized).toHaveBeenCalledOnce();
    const calls = h.calls.length;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(h.calls.length).toBe(calls);
  });

  it("counts a silent stream as dead", async () => {
    const s = stream();
    const h = harness([() => s.response], ok);
    feed = h.feed;
    await vi.advanceTimersByTimeAsync(46_000);
    expect(h.modes).toContain("polling");
  });
});

describe("opening late", () => {
  it("opens the stream only after the delay, and not at all when stopped before", async () => {
    const s = stream();
    const h = harness([() => s.response], ok);
    h.feed.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(h.calls).toEqual([]);
  });
});
