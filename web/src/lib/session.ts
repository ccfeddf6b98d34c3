// The console's session: the API's token pair in one httpOnly, SameSite=Lax cookie, sealed (encrypted and
// signed) with iron-session under CONSOLE_SESSION_SECRET. Nothing in it reaches the browser's scripts.
import "server-only";

import { sealData, unsealData } from "iron-session";

import type { Tokens } from "./api";
import { secretProblem } from "./secret";

export const SESSION_COOKIE = "btc_console_session";
/** How long the cookie lives: the API's refresh tokens last 7 days unless used before. */
export const SESSION_MAX_AGE_S = 7 * 24 * 3600;

export interface SessionData {
  tokens: Tokens;
}

const DEV_SECRET = Symbol.for("btc-agent-console.dev-secret");

/** The sealing secret. In production a missing or short one is an error; in development a random one is
 * made for the life of the process (sessions end when it restarts). */
export function sessionSecret(env: Record<string, string | undefined> = process.env): string {
  const problem = secretProblem(env);
  if (problem === null) return env.CONSOLE_SESSION_SECRET as string;
  if (env.NODE_ENV === "production") {
    throw new Error(`${problem}: the console refuses to serve without a session secret (32+ characters)`);
  }
  const holder = globalThis as typeof globalThis & { [DEV_SECRET]?: string };
  if (!holder[DEV_SECRET]) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    holder[DEV_SECRET] = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    console.warn(`console: ${problem}; using a random secret until this process stops`);
  }
  return holder[DEV_SECRET];
}

export async function sealSession(data: SessionData, secret = sessionSecret()): Promise<string> {
  return sealData(data, { password: secret, ttl: SESSION_MAX_AGE_S });
}

/** The session a cookie holds, or null for none, a foreign or tampered one, or one sealed too long ago. */
export async function unsealSession(value: string | undefined, secret = sessionSecret()): Promise<SessionData | null> {
  if (!value) return null;
  try {
    const data = await unsealData<Partial<SessionData>>(value, { password: secret, ttl: SESSION_MAX_AGE_S });
    const tokens = data.tokens;
    if (!tokens || typeof tokens.access !== "string" || typeof tokens.refresh !== "string") return null;
    return { tokens };
  } catch {
    return null;
  }
}

export interface CookieOptions {
  httpOnly: true;
  sameSite: "lax";
  secure: boolean;
  path: "/";
  maxAge: number;
}

/** Secure when the browser reached us over https (directly or through a proxy that says so). */
export function cookieOptions(request: { headers: Headers; url?: string }): CookieOptions {
  const forwarded = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim();
  const secure = forwarded ? forwarded === "https" : (request.url ?? "").startsWith("https:");
  return { httpOnly: true, sameSite: "lax", secure, path: "/", maxAge: SESSION_MAX_AGE_S };
}
