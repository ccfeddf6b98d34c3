"use client";

// The console's one chart: uPlot (canvas) behind a small React component. Everything that touches uPlot
// lives here; callers hand it ChartData (lib/round-series.ts builds the round's).
import { useEffect, useRef } from "react";
import type uPlot from "uplot";

import type { ChartData, SeriesSpec } from "@/lib/round-series";

const AXIS = { stroke: "#5f6b7a", grid: { stroke: "#eceff3", width: 1 }, ticks: { stroke: "#dde1e7", width: 1 } };

function seriesOptions(spec: SeriesSpec): uPlot.Series {
  if (spec.kind === "markers") {
    return {
      label: spec.label,
      scale: spec.scale,
      stroke: spec.stroke,
      paths: () => null,
      points: { show: true, size: spec.size ?? 8, stroke: spec.stroke, fill: spec.stroke, width: 1 },
    };
  }
  return {
    label: spec.label,
    scale: spec.scale,
    stroke: spec.stroke,
    width: spec.width ?? 1.5,
    dash: spec.dash,
    spanGaps: true,
    points: { show: false },
  };
}

function options(UPlot: typeof uPlot, data: ChartData, width: number, height: number): uPlot.Options {
  const money = (_: uPlot, values: number[]) => values.map((v) => (v == null ? "" : v.toLocaleString("en-US", { maximumFractionDigits: 0 })));
  return {
    width,
    height,
    tzDate: (ts) => UPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    cursor: { drag: { x: true, y: false } },
    legend: { live: true },
    scales: {
      x: { time: true, range: (_u, min, max) => [Math.min(min, data.window.from), Math.max(max, data.window.close)] },
      usd: { auto: true },
      p: { range: [0, 1] },
    },
    axes: [
      { ...AXIS },
      { ...AXIS, scale: "usd", label: "BTC (USD)", size: 70, values: money },
      { ...AXIS, scale: "p", side: 1, label: "price (pUSD)", size: 50, grid: { show: false } },
    ],
    series: [{ label: "time (UTC)" }, ...data.series.map((s) => seriesOptions(s.spec))],
  };
}

export function Chart({ data, height = 380, testId }: { data: ChartData; height?: number; testId?: string }) {
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let plot: uPlot | null = null;
    let observer: ResizeObserver | null = null;
    let cancelled = false;
    void import("uplot").then(({ default: UPlot }) => {
      const element = box.current;
      if (cancelled || !element) return;
      const aligned: uPlot.AlignedData = [data.xs, ...data.series.map((s) => s.values)];
      plot = new UPlot(options(UPlot, data, Math.max(320, element.clientWidth), height), aligned, element);
      observer = new ResizeObserver(() => {
        if (plot && element.clientWidth > 0) plot.setSize({ width: element.clientWidth, height });
      });
      observer.observe(element);
    });
    return () => {
      cancelled = true;
      observer?.disconnect();
      plot?.destroy();
    };
  }, [data, height]);

  return <div ref={box} className="chart-box" data-testid={testId} />;
}
