// The overview's link to the running agent: the event stream (/api/events) while it holds, polling
// /api/status every few seconds when it does not, and a mode saying which one the page is showing.
import { SseParser, decodeEvent, type LiveEvent } from "./sse";
import type { Status } from "./types";

/** live: the stream is open; polling: the stream failed, /api/status answers; stale: neither answers. */
export type LiveMode = "connecting" | "live" | "polling" | "stale";

export interface LiveFeedOptions {
  onEvent: (event: LiveEvent) => void;
  onStatus: (status: Status) => void;
  onMode: (mode: LiveMode) => void;
  /** The session is over (a 401 from the console): the page goes to the login. */
  onUnauthorized: () => void;
  fetch?: typeof fetch;
  /** Polling period without the stream (the API's status), ms. */
  pollMs?: number;
  /** Polling period beside an open stream: the round timer, kill switch and P&L are not on the stream. */
  livePollMs?: number;
  /** How long after a failure the stream is tried again, ms. */
  retryMs?: number;
  /** Without an answer this long, what the page shows is stale, ms. */
  staleMs?: number;
  /** An open stream silent this long (no event, no keep-alive comment) counts as dead, ms. */
  silentMs?: number;
  now?: () => number;
  /** Wait this long before opening the stream, ms: a page that has settled first counts as loaded (for
   * tools that wait for the network to go quiet), and a stream that never ends would keep it busy. */
  delayMs?: number;
}

export interface LiveFeed {
  stop: () => void;
  /** Ask /api/status at once (a round just closed, say). */
  pollNow: () => void;
}

export function startLiveFeed(options: LiveFeedOptions): LiveFeed {
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 3000;
  const livePollMs = options.livePollMs ?? 5000;
  const retryMs = options.retryMs ?? 10_000;
  const staleMs = options.staleMs ?? 10_000;
  const silentMs = options.silentMs ?? 40_000;

  let stopped = false;
  let mode: LiveMode = "connecting";
  let stream: AbortController | null = null;
  let streamOpen = false;
  let lastByteAt = now();
  let lastStatusAt = now();
  let pollTimer: ReturnType<typeof setTimeout> | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let opening: ReturnType<typeof setTimeout> | null = null;
  let polling = false;

  function setMode(next: LiveMode): void {
    if (next === mode || stopped) return;
    mode = next;
    options.onMode(next);
  }

  function unauthorized(): void {
    if (stopped) return;
    stop();
    options.onUnauthorized();
  }

  function schedulePoll(delay: number): void {
    if (stopped) return;
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = setTimeout(() => void poll(), delay);
  }

  async function poll(): Promise<void> {
    pollTimer = null;
    if (stopped || polling) return;
    polling = true;
    try {
      const response = await doFetch("/api/status", { cache: "no-store", headers: { Accept: "application/json" } });
      if (response.status === 401) return unauthorized();
      if (!response.ok) throw new Error(`status ${response.status}`);
      const status = (await response.json()) as Status;
      if (stopped) return;
      lastStatusAt = now();
      options.onStatus(status);
      if (!streamOpen) setMode("polling");
    } catch {
      if (!streamOpen && now() - lastStatusAt >= staleMs) setMode("stale");
    } finally {
      polling = false;
    }
    if (streamOpen && now() - lastByteAt > silentMs) fallBack();
    schedulePoll(streamOpen ? livePollMs : pollMs);
  }

  function fallBack(): void {
    if (stopped) return;
    streamOpen = false;
    stream?.abort();
    stream = null;
    setMode(now() - lastStatusAt >= staleMs ? "stale" : "polling");
    schedulePoll(0);
    if (retryTimer === null) {
      retryTimer = setTimeout(() => {
        retryTimer = null;
        void openStream();
      }, retryMs);
    }
  }

  async function openStream(): Promise<void> {
    if (stopped) return;
    const controller = new AbortController();
    stream = controller;
    try {
      const response = await doFetch("/api/events", {
        cache: "no-store",
        headers: { Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (response.status === 401) return unauthorized();
      if (!response.ok || !response.body) return fallBack();
      streamOpen = true;
      lastByteAt = now();
      setMode("live");
      schedulePoll(livePollMs);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || stopped || stream !== controller) break;
        lastByteAt = now();
        for (const message of parser.push(value).messages) {
          const event = decodeEvent(message);
          if (event) options.onEvent(event);
        }
      }
    } catch {
      // A network error or our own abort: either way the stream is over.
    }
    if (stream === controller) fallBack();
  }

  function stop(): void {
    stopped = true;
    stream?.abort();
    stream = null;
    if (pollTimer !== null) clearTimeout(pollTimer);
    if (retryTimer !== null) clearTimeout(retryTimer);
    if (opening !== null) clearTimeout(opening);
  }

  opening = setTimeout(() => {
    opening = null;
    void openStream();
  }, options.delayMs ?? 0);
  return {
    stop,
    pollNow: () => schedulePoll(0),
  };
}
