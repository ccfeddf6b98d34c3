import type { Metadata } from "next";
import type { ReactNode } from "react";

import "uplot/dist/uPlot.min.css";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "BTC agent console", template: "%s · BTC agent console" },
  description: "Operator console of the Polymarket BTC Up/Down agent",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
