// Before every page and console route: no session sends a page to the login (and back afterwards), an
// access token about to expire is refreshed here, where the new cookie can be written for the browser and
// handed on to the page that renders now.
import { NextResponse, type NextRequest } from "next/server";

import { ApiError, REFRESH_EARLY_MS, refreshTokens, type Tokens } from "@/lib/api";
import { loginPath } from "@/lib/safe-next";
import { SESSION_COOKIE, cookieOptions, sealSession, unsealSession } from "@/lib/session";

/** Refresh in the proxy a little earlier than the client would, so pages rendered now never need to. */
const PROXY_EARLY_MS = REFRESH_EARLY_MS + 30_000;
/** The path of the page being rendered, for the page to come back to after a login. */
export const PATH_HEADER = "x-console-path";

const OPEN = new Set(["/login", "/api/session", "/api/session/logout", "/api/session/refresh"]);

function refuse(request: NextRequest, reason?: string): NextResponse {
  const { pathname, search } = request.nextUrl;
  const response = pathname.startsWith("/api/")
    ? NextResponse.json({ detail: reason ?? "not logged in" }, { status: 401 })
    : // Built absolute for Next, which sends it relative (same host), so it holds behind a reverse proxy.
      NextResponse.redirect(new URL(loginPath(pathname + search, reason), request.url), 307);
  if (request.cookies.has(SESSION_COOKIE)) response.cookies.delete(SESSION_COOKIE);
  return response;
}

export async function proxy(request: NextRequest): Promise<NextResponse> {
  const { pathname, search } = request.nextUrl;
  if (OPEN.has(pathname)) return NextResponse.next();

  const session = await unsealSession(request.cookies.get(SESSION_COOKIE)?.value);
  // A server action answers for itself (it sends the page to the login); a redirect here would break it.
  const isAction = request.method === "POST" && request.headers.has("next-action");
  if (!session) return isAction ? NextResponse.next() : refuse(request);

  let renewed: Tokens | null = null;
  if (session.tokens.accessExpiresAt - Date.now() < PROXY_EARLY_MS) {
    try {
      renewed = await refreshTokens(session.tokens.refresh);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403) && !isAction) {
        return refuse(request, "your session ended: log in again");
      }
      // The API is away: let the page say so rather than ending the session.
    }
  }

  const headers = new Headers(request.headers);
  headers.set(PATH_HEADER, pathname + search);
  let sealed: string | null = null;
  if (renewed) {
    sealed = await sealSession({ tokens: renewed });
    request.cookies.set(SESSION_COOKIE, sealed);
    headers.set("cookie", request.cookies.toString());
  }
  const response = NextResponse.next({ request: { headers } });
  if (sealed) response.cookies.set(SESSION_COOKIE, sealed, cookieOptions(request));
  return response;
}

export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico|icon.svg|robots.txt).*)"],
};
