// POST: log out. Ends the login at the API (its refresh tokens revoked) and drops the session cookie.
import { NextResponse, type NextRequest } from "next/server";

import { logout } from "@/lib/api";
import { SESSION_COOKIE, unsealSession } from "@/lib/session";

export async function POST(request: NextRequest): Promise<NextResponse> {
  const session = await unsealSession(request.cookies.get(SESSION_COOKIE)?.value);
  if (session) {
    try {
      await logout(session.tokens.refresh);
    } catch {
      // The cookie goes anyway; an access token left behind expires within 15 minutes.
    }
  }
  const response = new NextResponse(null, { status: 303, headers: { Location: "/login", "Cache-Control": "no-store" } });
  response.cookies.delete(SESSION_COOKIE);
  return response;
}
