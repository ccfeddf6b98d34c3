// Server-Sent Events as the HTML standard parses them, fed text as it arrives, and the API's events
// (docs/api/README.md: `state` carries the LiveState, the record kinds `{"kind", "row"}`) decoded from them.
import type { LiveState, RiskEvent, Schemas, StreamDecision, StreamFill, StreamSettlement } from "./types";

export interface SseMessage {
  event: string;
  data: string;
  id: string | null;
}

export interface SseChunk {
  messages: SseMessage[];
  /** Comment lines (the API's keep-alive pings): proof the stream is alive though nothing happened. */
  comments: number;
}

export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private lastId: string | null = null;
  private pendingCR = false;

  push(chunk: string): SseChunk {
    const out: SseChunk = { messages: [], comments: 0 };
    let text = chunk;
    if (this.pendingCR && text.startsWith("\n")) text = text.slice(1);
    this.pendingCR = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== "\n" && ch !== "\r") continue;
      const line = this.buffer.slice(start, i);
      if (ch === "\r") {
        if (i + 1 === this.buffer.length) this.pendingCR = true;
        else if (this.buffer[i + 1] === "\n") i++;
      }
      start = i + 1;
      this.line(line, out);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string, out: SseChunk): void {
    if (line === "") {
      if (this.data.length > 0) {
        out.messages.push({ event: this.event || "message", data: this.data.join("\n"), id: this.lastId });
      }
      this.data = [];
      this.event = "";
      return;
    }
    if (line.startsWith(":")) {
      out.comments++;
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\u0000")) this.lastId = value;
  }
}

export type LiveEvent =
  | { type: "state"; state: LiveState }
  | { type: "decision"; row: StreamDecision }
  | { type: "order"; row: Omit<Schemas["OrderPublic"], "events" | "fills"> }
  | { type: "order_event"; row: Schemas["OrderEventRecord"] }
  | { type: "fill"; row: StreamFill }
  | { type: "risk_event"; row: RiskEvent }
  | { type: "settlement"; row: StreamSettlement }
  | { type: "notice"; detail: string };

const RECORD_EVENTS = new Set(["decision", "order", "order_event", "fill", "risk_event", "settlement"]);

/** One of the API's events, or null for one this console does not know or cannot read. */
export function decodeEvent(message: SseMessage): LiveEvent | null {
  let body: unknown;
  try {
    body = JSON.parse(message.data);
  } catch {
    return null;
  }
  if (body === null || typeof body !== "object") return null;
  if (message.event === "state") {
    const state = body as LiveState;
    return typeof state.round_slug === "string" && typeof state.feeds === "object" ? { type: "state", state } : null;
  }
  if (message.event === "notice") {
    const notice = body as { reason?: unknown; source?: unknown };
    return { type: "notice", detail: String(notice.reason ?? notice.source ?? "the stream's source changed") };
  }
  if (RECORD_EVENTS.has(message.event)) {
    const row = (body as { row?: unknown }).row;
    if (row === null || typeof row !== "object") return null;
    return { type: message.event, row } as LiveEvent;
  }
  return null;
}
