import type { ReactNode } from "react";

import { NavLinks } from "@/components/nav-links";
import { getMe } from "@/lib/server";

export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  const me = await getMe();
  return (
    <>
      <header className="topbar">
        <span className="brand">BTC agent</span>
        <NavLinks role={me.ok ? me.data.acting_role : undefined} />
        <div className="who">
          {me.ok ? (
            <span data-testid="whoami">
              {me.data.name} · <span data-testid="role">{me.data.acting_role}</span>
            </span>
          ) : (
            <span className="pill bad">user unknown: {me.message}</span>
          )}
          <form method="post" action="/api/session/logout">
            <button type="submit">Log out</button>
          </form>
        </div>
      </header>
      <main className="page">{children}</main>
    </>
  );
}
