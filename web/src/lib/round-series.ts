// A round's story as chart series: BTC (Chainlink spot and 60 s TWAP, Binance) against the strike on one axis, the Up and
// Down prices on the other, with decisions, orders and fills as markers. The lines come from the round's
// tick samples (every 5 s) and the features each decision recorded (denser where the engine acted).
import type { RoundDetail } from "./types";

export type Scale = "usd" | "p";

export interface SeriesSpec {
  label: string;
  stroke: string;
  scale: Scale;
  /** line: joined across gaps; markers: points only. */
  kind: "line" | "markers";
  dash?: number[];
  width?: number;
  size?: number;
}

export interface ChartData {
  /** Seconds since the epoch, ascending, unique. */
  xs: number[];
  series: { spec: SeriesSpec; values: (number | null)[] }[];
  /** The round's window, seconds since the epoch; `from` is where its data starts (a run wakes late in it). */
  window: { open: number; close: number; from: number };
  /** How many points each source gave, for the note under the chart. */
  sources: { samples: number; decisions: number; orders: number; fills: number };
}

type Point = { t: number; v: number };

function n(value: unknown): number | null {
  if (value === null || value === undefined || value === "") return null;
  const x = typeof value === "number" ? value : Number(value);
  return Number.isFinite(x) ? x : null;
}

function secondsOf(iso: string | undefined | null): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/** The mid of a book, or whichever side is known. */
function mid(bid: unknown, ask: unknown): number | null {
  const b = n(bid);
  const a = n(ask);
  if (b !== null && a !== null) return (a + b) / 2;
  return b ?? a;
}

export function roundChartData(detail: RoundDetail): ChartData {
  const open = secondsOf(detail.round.open_at) ?? 0;
  const close = secondsOf(detail.round.close_at) ?? open + detail.round.length_s;
  const chainlink: Point[] = [];
  const twap: Point[] = [];
  const binance: Point[] = [];
  const up: Point[] = [];
  const down: Point[] = [];
  const push = (list: Point[], t: number, v: number | null) => {
    if (v !== null) list.push({ t, v });
  };

  const samples = detail.samples ?? [];
  for (const sample of samples) {
    const t = secondsOf(sample.ts);
    if (t === null) continue;
    push(chainlink, t, n(sample.chainlink));
    push(twap, t, n(sample.chainlink_twap));
    push(binance, t, n(sample.binance));
    push(up, t, mid(sample.up_bid, sample.up_ask));
    push(down, t, mid(sample.down_bid, sample.down_ask));
  }

  const decisionUp: Point[] = [];
  const decisionDown: Point[] = [];
  let featureStrike: number | null = null;
  for (const decision of detail.decisions) {
    const features = (decision.features ?? {}) as Record<string, unknown>;
    const nowMs = n(features.now_ms);
    const t = nowMs !== null ? nowMs / 1000 : secondsOf(decision.ts);
    if (t === null) continue;
    push(chainlink, t, n(features.chainlink));
    push(twap, t, n(features.chainlink_twap));
    push(binance, t, n(features.binance));
    push(up, t, mid(features.up_bid, features.up_ask));
    push(down, t, mid(features.down_bid, features.down_ask));
    featureStrike ??= n(features.strike);
    const price = n(decision.limit_price);
    if (price !== null) push(decision.outcome === "down" ? decisionDown : decisionUp, t, price);
  }

  const orders: Point[] = [];
  const fills: Point[] = [];
  for (const order of detail.orders) {
    const t = secondsOf(order.ts);
    if (t !== null) push(orders, t, n(order.price));
    for (const fill of order.fills) {
      const ft = secondsOf(fill.ts);
      if (ft !== null) push(fills, ft, n(fill.price));
    }
  }

  const strike = n(detail.round.strike) ?? n(detail.settlement?.strike) ?? featureStrike;
  const settle = n(detail.round.settle_price) ?? n(detail.settlement?.settle_price);
  const settlePoints: Point[] = settle !== null ? [{ t: close, v: settle }] : [];

  const all = [chainlink, twap, binance, up, down, decisionUp, decisionDown, orders, fills, settlePoints];
  const times = new Set<number>([close]);
  for (const list of all) for (const p of list) times.add(p.t);
  const firstInWindow = Math.min(...[...times].filter((t) => t >= open && t < close), close);
  const from = firstInWindow < close ? firstInWindow : open;
  times.add(from);
  const xs = [...times].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const column = (list: Point[]): (number | null)[] => {
    const values: (number | null)[] = xs.map(() => null);
    for (const p of [...list].sort((a, b) => a.t - b.t)) values[index.get(p.t) as number] = p.v;
    return values;
  };

  const series: ChartData["series"] = [
    { spec: { label: "BTC Chainlink", stroke: "#f59e0b", scale: "usd", kind: "line", width: 2 }, values: column(chainlink) },
    { spec: { label: "BTC Chainlink TWAP 60 s", stroke: "#ea580c", scale: "usd", kind: "line", width: 1, dash: [2, 2] }, values: column(twap) },
    { spec: { label: "BTC Binance", stroke: "#a16207", scale: "usd", kind: "line", width: 1, dash: [4, 3] }, values: column(binance) },
    { spec: { label: "Strike", stroke: "#111827", scale: "usd", kind: "line", width: 1.5, dash: [8, 4] }, values: strike === null ? xs.map(() => null) : xs.map(() => strike) },
    { spec: { label: "Settlement price", stroke: "#111827", scale: "usd", kind: "markers", size: 11 }, values: column(settlePoints) },
    { spec: { label: "Up price", stroke: "#16a34a", scale: "p", kind: "line", width: 2 }, values: column(up) },
    { spec: { label: "Down price", stroke: "#dc2626", scale: "p", kind: "line", width: 2 }, values: column(down) },
    { spec: { label: "Decision (Up)", stroke: "#15803d", scale: "p", kind: "markers", size: 7 }, values: column(decisionUp) },
    { spec: { label: "Decision (Down)", stroke: "#b91c1c", scale: "p", kind: "markers", size: 7 }, values: column(decisionDown) },
    { spec: { label: "Order", stroke: "#2563eb", scale: "p", kind: "markers", size: 10 }, values: column(orders) },
    { spec: { label: "Fill", stroke: "#7c3aed", scale: "p", kind: "markers", size: 13 }, values: column(fills) },
  ];
  return {
    xs,
    series,
    window: { open, close, from },
    sources: { samples: samples.length, decisions: detail.decisions.length, orders: orders.length, fills: fills.length },
  };
}
