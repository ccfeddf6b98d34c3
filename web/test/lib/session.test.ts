import { describe, expect, it } from "vitest";

import { secretProblem } from "@/lib/secret";
import { cookieOptions, sealSession, sessionSecret, unsealSession } from "@/lib/session";

const SECRET = "a-secret-for-tests-only-0123456789abcdef";
const TOKENS = { access: "a", refresh: "r", accessExpiresAt: 1, issuedAt: 0 };

describe("the session cookie", () => {
  it("seals and unseals the tokens", async () => {
    const sealed = await sealSession({ tokens: TOKENS }, SECRET);
    expect(sealed).not.toContain("\"r\"");
    expect(await unsealSession(sealed, SECRET)).toEqual({ tokens: TOKENS });
  });

  it("refuses a cookie sealed with another secret or changed", async () => {
    const sealed = await sealSession({ tokens: TOKENS }, SECRET);
    expect(await unsealSession(sealed, `${SECRET}-other`)).toBeNull();
    expect(await unsealSession(`${sealed.slice(0, -3)}abc`, SECRET)).toBeNull();
    expect(await unsealSession(undefined, SECRET)).toBeNull();
  });

  it("is httpOnly and SameSite=Lax, Secure behind https", () => {
    const plain = cookieOptions({ headers: new Headers(), url: "http://127.0.0.1:3000/" });
    expect(plain).toMatchObject({ httpOnly: true, sameSite: "lax", secure: false, path: "/" });
    expect(cookieOptions({ headers: new Headers({ "x-forwarded-proto": "https" }), url: "http://127.0.0.1:3000/" }).secure).toBe(true);
  });
});

describe("the session secret", () => {
  it("must be 32 characters or more", () => {
    expect(secretProblem({})).toBe("CONSOLE_SESSION_SECRET is not set");
    expect(secretProblem({ CONSOLE_SESSION_SECRET: "short" })).toMatch(/5 characters; it needs at least 32/);
    expect(secretProblem({ CONSOLE_SESSION_SECRET: SECRET })).toBeNull();
  });

  it("is required in production", () => {
    expect(() => sessionSecret({ NODE_ENV: "production" })).toThrow(/CONSOLE_SESSION_SECRET is not set/);
    expect(sessionSecret({ NODE_ENV: "production", CONSOLE_SESSION_SECRET: SECRET })).toBe(SECRET);
  });

  it("is made up for a development server", () => {
    const made = sessionSecret({ NODE_ENV: "development" });
    expect(made.length).toBeGreaterThanOrEqual(32);
    expect(sessionSecret({ NODE_ENV: "development" })).toBe(made);
  });
});
