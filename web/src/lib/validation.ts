// The API's own checks, repeated in the forms so a mistake is named before the request goes out. The
// bounds of request fields are held to docs/api/openapi.json by a test; the risk limits' to
// core/risk/limits.py (the API answers 422 naming the limit when they drift, and the form shows that too).

export const REASON = { min: 3, max: 500 } as const;
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const PASSWORD = { min: 12, max: 128 } as const;

export type Problems = Record<string, string>;

export function reasonProblem(reason: string): string | null {
  const length = reason.trim().length;
  if (length < REASON.min) return `give a reason of at least ${REASON.min} characters (it goes into the audit)`;
  if (reason.length > REASON.max) return `at most ${REASON.max} characters`;
  return null;
}

export function newUserProblems(name: string, password: string): Problems {
  const problems: Problems = {};
  if (!USER_NAME.test(name)) {
    problems.name = "1 to 64 letters, digits or . _ @ -, starting with a letter or digit";
  }
  if (password.length < PASSWORD.min) problems.password = `at least ${PASSWORD.min} characters`;
  else if (password.length > PASSWORD.max) problems.password = `at most ${PASSWORD.max} characters`;
  return problems;
}

type LimitRule =
  | { type: "int"; min: number; max: number }
  | { type: "decimal"; min: number; max: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { type: "bool" };

/** core/risk/limits.py's RiskLimits, field by field. */
export const LIMIT_RULES: Record<string, LimitRule> = {
  max_position_shares: { type: "decimal", min: 0, minExclusive: true, max: 1_000_000 },
  max_notional_per_trade: { type: "decimal", min: 0, minExclusive: true, max: 1_000_000 },
  max_trades_per_round: { type: "int", min: 0, max: 1000 },
  max_daily_loss: { type: "decimal", min: 0, minExclusive: true, max: 1_000_000 },
  loss_streak_for_cooldown: { type: "int", min: 1, max: 1000 },
  cooldown_rounds: { type: "int", min: 0, max: 1000 },
  entry_price_cap: { type: "decimal", min: 0, minExclusive: true, max: 1, maxExclusive: true },
  min_edge_after_fees: { type: "decimal", min: 0, max: 1, maxExclusive: true },
  min_book_depth_shares: { type: "decimal", min: 0, max: 1_000_000 },
  max_divergence_bps: { type: "decimal", min: 0, max: 10_000 },
  stale_feed_seconds: { type: "decimal", min: 0, minExclusive: true, max: 600 },
  order_error_burst: { type: "int", min: 1, max: 1000 },
  min_book_depth_ticks: { type: "int", min: 0, max: 1000 },
  require_fair_probability: { type: "bool" },
};

export type LimitValue = string | number | boolean | null;

function bound(rule: { min: number; max: number; minExclusive?: boolean; maxExclusive?: boolean }): string {
  return `${rule.minExclusive ? "more than" : "at least"} ${rule.min} and ${rule.maxExclusive ? "less than" : "at most"} ${rule.max}`;
}

/** A limit's form text as the value the API takes (decimals as strings, counts as integers), or why not. */
export function parseLimit(name: string, text: string): { value: LimitValue } | { problem: string } {
  const rule = LIMIT_RULES[name];
  const trimmed = text.trim();
  if (!rule) return trimmed === "" ? { problem: "enter a value" } : { value: trimmed };
  if (rule.type === "bool") {
    if (trimmed === "true" || trimmed === "false") return { value: trimmed === "true" };
    return { problem: "true or false" };
  }
  if (trimmed === "" || !/^-?\d+(\.\d+)?$/.test(trimmed)) {
    return { problem: rule.type === "int" ? "a whole number" : "a number like 25 or 0.05" };
  }
  const n = Number(trimmed);
  if (rule.type === "int" && !Number.isInteger(n)) return { problem: "a whole number" };
  const low = rule.type === "decimal" && rule.minExclusive ? n <= rule.min : n < rule.min;
  const high = rule.type === "decimal" && rule.maxExclusive ? n >= rule.max : n > rule.max;
  if (low || high) return { problem: bound(rule) };
  return { value: rule.type === "int" ? n : trimmed };
}

/** The limits a 422 names in its message ("invalid risk limit override(s): <limit>: <why> (got ...); ..."
 * or "unknown risk limit(s): a, b; known: ..."), each with its reason, for the form's fields. */
export function limitProblemsFromMessage(message: string): Problems {
  const problems: Problems = {};
  const unknown = /unknown risk limit\(s\): ([^;]+);/.exec(message);
  if (unknown?.[1]) for (const name of unknown[1].split(",")) problems[name.trim()] = "unknown limit";
  const body = message.replace(/^.*?invalid risk limit override\(s\):\s*/, "");
  if (body !== message) {
    for (const part of body.split(/;\s*(?=[a-z_]+:)/)) {
      const match = /^([a-z_]+):\s*(.+)$/.exec(part.trim());
      if (match?.[1] && match[2]) problems[match[1]] = match[2];
    }
  }
  return problems;
}
