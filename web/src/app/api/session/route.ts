// POST: the login form. Logs in against the API here, on the server, and keeps the token pair in the sealed
// session cookie; the browser goes back to the page it came from (a path on this site only).
import { NextResponse, type NextRequest } from "next/server";

import { ApiError, login } from "@/lib/api";
import { loginPath, safeNext } from "@/lib/safe-next";
import { SESSION_COOKIE, cookieOptions, sealSession } from "@/lib/session";

function seeOther(location: string): NextResponse {
  return new NextResponse(null, { status: 303, headers: { Location: location, "Cache-Control": "no-store" } });
}

export async function POST(request: NextRequest): Promise<NextResponse> {
  const form = await request.formData();
  const next = safeNext(form.get("next"));
  const username = String(form.get("username") ?? "").trim();
  const password = String(form.get("password") ?? "");
  if (!username || !password) return seeOther(loginPath(next, "enter your user name and password"));
  try {
    const tokens = await login(username, password);
    const response = seeOther(next);
    response.cookies.set(SESSION_COOKIE, await sealSession({ tokens }), cookieOptions(request));
    return response;
  } catch (error) {
    if (error instanceof ApiError) return seeOther(loginPath(next, error.message));
    throw error;
  }
}
