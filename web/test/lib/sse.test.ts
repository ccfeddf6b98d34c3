import { describe, expect, it } from "vitest";

import { SseParser, decodeEvent } from "@/lib/sse";

describe("SseParser", () => {
  it("reads events split anywhere across chunks", () => {
    const parser = new SseParser();
    const text = 'event: state\ndata: {"a": 1}\n\nevent: decision\nid: d1\ndata: {"kind": "decisions", "row": {}}\n\n';
    const messages = [];
    for (let i = 0; i < text.length; i += 7) messages.push(...parser.push(text.slice(i, i + 7)).messages);
    expect(messages).toEqual([
      { event: "state", data: '{"a": 1}', id: null },
      { event: "decision", data: '{"kind": "decisions", "row": {}}', id: "d1" },
    ]);
  });

  it("takes CRLF and CR line ends, also split between chunks", () => {
    const parser = new SseParser();
    const first = parser.push("data: one\r");
    const second = parser.push("\n\r\ndata: two\r\r");
    expect([...first.messages, ...second.messages].map((m) => m.data)).toEqual(["one", "two"]);
  });

  it("joins data lines and names a nameless event `message`", () => {
    const { messages } = new SseParser().push("data: a\ndata:b\ndata\n\n");
    expect(messages).toEqual([{ event: "message", data: "a\nb\n", id: null }]);
  });

  it("counts comments (keep-alive pings) and sends nothing for them", () => {
    const result = new SseParser().push(": ping - 2026-12-06 12:00:00\n\n: connected\n\n");
    expect(result).toEqual({ messages: [], comments: 2 });
  });

  it("keeps an unfinished event until its blank line comes", () => {
    const parser = new SseParser();
    expect(parser.push("event: fill\ndata: {}\n").messages).toEqual([]);
    expect(parser.push("\n").messages).toEqual([{ event: "fill", data: "{}", id: null }]);
  });
});

describe("decodeEvent", () => {
  const state = { round_slug: "btc-updown-15m-1", feeds: {}, at: "2026-12-06T12:00:00Z" };

  it("reads the round's state", () => {
    expect(decodeEvent({ event: "state", data: JSON.stringify(state), id: null })).toEqual({ type: "state", state });
  });

  it("reads a record with its kind", () => {
    const row = { id: "r1", kind: "verdict", approved: false, reason_code: "entry_price_cap", message: "too dear", run_id: "paper" };
    expect(decodeEvent({ event: "risk_event", data: JSON.stringify({ kind: "risk_events", row }), id: "r1" })).toEqual({ type: "risk_event", row });
  });

  it("reads a notice", () => {
    const notice = decodeEvent({ event: "notice", data: '{"source": "store", "reason": "redis: ConnectionError"}', id: null });
    expect(notice).toEqual({ type: "notice", detail: "redis: ConnectionError" });
  });

  it.each([
    ["state", "not json"],
    ["state", '{"feeds": {}}'],
    ["decision", '{"kind": "decisions"}'],
    ["mystery", "{}"],
  ])("drops a %s event it cannot read: %s", (event, data) => {
    expect(decodeEvent({ event, data, id: null })).toBeNull();
  });
});
