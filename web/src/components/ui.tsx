// Small building blocks every page uses: a card, a refusal in words, money with its sign, a pager.
import Link from "next/link";
import type { ReactNode } from "react";

import { money } from "@/lib/format";
import type { Loaded } from "@/lib/server";

export function Card({ title, children, className, testId }: { title?: ReactNode; children: ReactNode; className?: string; testId?: string }) {
  return (
    <section className={`card ${className ?? ""}`} data-testid={testId}>
      {title ? <h2>{title}</h2> : null}
      {children}
    </section>
  );
}

/** What the API said instead of the data: shown where the data would be, so a page is never blank. */
export function Failed({ what, result }: { what: string; result: Extract<Loaded<unknown>, { ok: false }> }) {
  return (
    <p className="banner bad" role="alert">
      Could not load {what}: {result.message}
      {result.status ? <span className="muted small"> (HTTP {result.status})</span> : null}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="muted">{children}</p>;
}

export function Money({ value, digits = 2 }: { value: string | null | undefined; digits?: number }) {
  const n = Number(value);
  const tone = value == null || value === "" || !Number.isFinite(n) || n === 0 ? "" : n > 0 ? "pos" : "neg";
  return <span className={`num ${tone}`}>{money(value, digits)}</span>;
}

export function Pill({ tone, children, testId }: { tone?: "ok" | "bad" | "warn"; children: ReactNode; testId?: string }) {
  return (
    <span className={`pill ${tone ?? ""}`} data-testid={testId}>
      {children}
    </span>
  );
}

export function Pager({ path, params, count, limit, offset }: { path: string; params: Record<string, string | undefined>; count: number; limit: number; offset: number }) {
  const href = (nextOffset: number) => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value) query.set(key, value);
    if (nextOffset > 0) query.set("offset", String(nextOffset));
    const text = query.toString();
    return text ? `${path}?${text}` : path;
  };
  const last = Math.min(offset + limit, count);
  return (
    <div className="pager small">
      <span className="muted">
        {count === 0 ? "none" : `${offset + 1}–${last} of ${count}`}
      </span>
      {offset > 0 ? <Link href={href(Math.max(0, offset - limit))}>← newer</Link> : null}
      {last < count ? <Link href={href(offset + limit)}>older →</Link> : null}
    </div>
  );
}

/** A role below what a part of the page needs: said plainly instead of showing controls that would fail. */
export function NeedsRole({ role, needed, what }: { role: string | undefined; needed: string; what: string }) {
  return (
    <p className="banner" data-testid="needs-role">
      {what} needs the {needed} role or above; you act as {role ?? "unknown"}.
    </p>
  );
}
