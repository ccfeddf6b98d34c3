import { describe, expect, it } from "vitest";

import { loginPath, safeNext } from "@/lib/safe-next";

describe("safeNext", () => {
  it("keeps a path on this site with its query", () => {
    expect(safeNext("/rounds/btc-updown-15m-1?x=1")).toBe("/rounds/btc-updown-15m-1?x=1");
  });

  it.each(["//evil.example/x", "https://evil.example", "/\\evil.example", "rounds", "", "/login", "/login?next=/x", "/api/status", "/a\nb"])(
    "sends %j to the overview instead",
    (value) => expect(safeNext(value)).toBe("/"),
  );

  it("ignores what is not a string", () => {
    expect(safeNext(null)).toBe("/");
    expect(safeNext(42)).toBe("/");
  });
});

describe("loginPath", () => {
  it("carries the page to come back to, and a reason", () => {
    expect(loginPath("/decisions?side=BUY")).toBe("/login?next=%2Fdecisions%3Fside%3DBUY");
    expect(loginPath("/", "your session ended")).toBe("/login?next=%2F&error=your+session+ended");
  });

  it("never carries a foreign address", () => {
    expect(loginPath("//evil.example")).toBe("/login?next=%2F");
  });
});
