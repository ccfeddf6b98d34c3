import { readFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { LIMIT_RULES, PASSWORD, REASON, USER_NAME, limitProblemsFromMessage, newUserProblems, parseLimit, reasonProblem } from "@/lib/validation";

type Schema = { properties: Record<string, { minLength?: number; maxLength?: number; pattern?: string }> };
const openapi = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "docs", "api", "openapi.json"), "utf8")) as {
  components: { schemas: Record<string, Schema> };
};
const schemas = openapi.components.schemas;

describe("the forms check what the API checks", () => {
  it("holds the same bounds as the contract", () => {
    for (const name of ["KillSwitchRequest", "StrategyToggle", "RiskLimitsUpdate", "UserUpdate"]) {
      expect(schemas[name]?.properties.reason).toMatchObject({ minLength: REASON.min, maxLength: REASON.max });
    }
    expect(schemas.UserCreate?.properties.password).toMatchObject({ minLength: PASSWORD.min, maxLength: PASSWORD.max });
    expect(schemas.UserCreate?.properties.name?.pattern).toBe(USER_NAME.source);
  });

  it("wants a reason for the audit", () => {
    expect(reasonProblem("ok")).toMatch(/at least 3/);
    expect(reasonProblem("  a ")).toMatch(/at least 3/);
    expect(reasonProblem("feed outage")).toBeNull();
    expect(reasonProblem("x".repeat(501))).toMatch(/at most 500/);
  });

  it("checks a new user", () => {
    expect(newUserProblems("ann", "long enough password")).toEqual({});
    expect(newUserProblems("-ann", "short")).toEqual({ name: expect.any(String), password: "at least 12 characters" });
  });
});

describe("risk limits", () => {
  it("knows every limit of core/risk/limits.py", () => {
    expect(Object.keys(LIMIT_RULES)).toHaveLength(14);
  });

  it.each([
    ["max_trades_per_round", "4", 4],
    ["max_trades_per_round", "0", 0],
    ["max_notional_per_trade", "10.5", "10.5"],
    ["entry_price_cap", "0.9", "0.9"],
    ["min_edge_after_fees", "0", "0"],
    ["require_fair_probability", "false", false],
  ])("takes %s = %s", (name, text, value) => {
    expect(parseLimit(name, text)).toEqual({ value });
  });

  it.each([
    ["max_trades_per_round", "1001", "at least 0 and at most 1000"],
    ["max_trades_per_round", "2.5", "a whole number"],
    ["loss_streak_for_cooldown", "0", "at least 1 and at most 1000"],
    ["max_notional_per_trade", "0", "more than 0 and at most 1000000"],
    ["entry_price_cap", "1", "more than 0 and less than 1"],
    ["max_daily_loss", "-5", "more than 0 and at most 1000000"],
    ["stale_feed_seconds", "abc", "a number like 25 or 0.05"],
    ["require_fair_probability", "yes", "true or false"],
  ])("refuses %s = %s", (name, text, problem) => {
    expect(parseLimit(name, text)).toEqual({ problem });
  });

  it("reads the API's 422 into the limits it names", () => {
    const message =
      "invalid risk limit override(s): max_trades_per_round: Input should be less than or equal to 1000 (got 5000); entry_price_cap: Input should be less than 1 (got '1.5')";
    expect(limitProblemsFromMessage(message)).toEqual({
      max_trades_per_round: "Input should be less than or equal to 1000 (got 5000)",
      entry_price_cap: "Input should be less than 1 (got '1.5')",
    });
    expect(limitProblemsFromMessage("unknown risk limit(s): max_fun, min_joy; known: a, b")).toEqual({ max_fun: "unknown limit", min_joy: "unknown limit" });
  });
});
