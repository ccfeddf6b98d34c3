// GET ?next=<path>: a page found its access token refused (expired). Get the next pair with the refresh
// token and go back; if the API will not give one, to the login and then back.
import { NextResponse, type NextRequest } from "next/server";

import { ApiError, refreshTokens } from "@/lib/api";
import { loginPath, safeNext } from "@/lib/safe-next";
import { SESSION_COOKIE, cookieOptions, sealSession, unsealSession } from "@/lib/session";

/** A pair this fresh that was still refused is not expired: refreshing again would loop. */
const JUST_ISSUED_MS = 10_000;

function seeOther(location: string): NextResponse {
  return new NextResponse(null, { status: 303, headers: { Location: location, "Cache-Control": "no-store" } });
}

export async function GET(request: NextRequest): Promise<NextResponse> {
  const next = safeNext(request.nextUrl.searchParams.get("next"));
  const session = await unsealSession(request.cookies.get(SESSION_COOKIE)?.value);
  if (!session) return seeOther(loginPath(next));
  const ended = (reason: string) => {
    const response = seeOther(loginPath(next, reason));
    response.cookies.delete(SESSION_COOKIE);
    return response;
  };
  if (Date.now() - session.tokens.issuedAt < JUST_ISSUED_MS) return ended("the API refused your session: log in again");
  try {
    const tokens = await refreshTokens(session.tokens.refresh);
    const response = seeOther(next);
    response.cookies.set(SESSION_COOKIE, await sealSession({ tokens }), cookieOptions(request));
    return response;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      return ended("your session ended: log in again");
    }
    if (error instanceof ApiError) return seeOther(loginPath(next, error.message));
    throw error;
  }
}
