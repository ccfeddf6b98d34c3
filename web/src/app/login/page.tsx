import type { Metadata } from "next";

import { safeNext } from "@/lib/safe-next";

export const metadata: Metadata = { title: "Log in" };

export default async function LoginPage({ searchParams }: PageProps<"/login">) {
  const query = await searchParams;
  const next = safeNext(typeof query.next === "string" ? query.next : "/");
  const error = typeof query.error === "string" ? query.error : null;
  return (
    <main className="login card">
      <h1>BTC agent console</h1>
      <p className="muted small">Log in with your user of the agent&apos;s API.</p>
      {error ? (
        <p className="banner bad" role="alert" data-testid="login-error">
          {error}
        </p>
      ) : null}
      <form method="post" action="/api/session">
        <input type="hidden" name="next" value={next} />
        <label>
          User name
          <input name="username" autoComplete="username" required autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        <button type="submit" className="primary">
          Log in
        </button>
      </form>
    </main>
  );
}
