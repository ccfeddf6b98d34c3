"use server";

// The operator's and admin's changes, run on the server with the session's token: the kill switch,
// strategies, risk limits, users, and starting a backtest. Each checks its input as the API would, and
// answers the API's refusal in words (per field for a 422) for the form to show.
import { revalidatePath } from "next/cache";

import { utcFromLocalInput } from "./format";
import { act, refused, type ActionResult } from "./server";
import type { BacktestRun, Role, Schemas } from "./types";
import { ROLES } from "./roles";
import { LIMIT_RULES, limitProblemsFromMessage, newUserProblems, parseLimit, reasonProblem, type LimitValue } from "./validation";

function text(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === "string" ? value : "";
}

function invalid(fields: Record<string, string>, message = "check the highlighted fields"): ActionResult<never> {
  return { ok: false, message, fields };
}

export async function setKillSwitch(_previous: ActionResult | null, form: FormData): Promise<ActionResult> {
  const engaged = text(form, "engaged") === "true";
  const reason = text(form, "reason").trim();
  const problem = reasonProblem(reason);
  if (problem) return invalid({ reason: problem });
  const result = await act((api) => api.POST("/kill-switch", { body: { engaged, reason }, cache: "no-store" }));
  if (!result.ok) return refused(result.error);
  revalidatePath("/", "layout");
  const steps = result.data.steps.map((step) => `${step.layer}: ${step.outcome}`).join(", ");
  const what = engaged ? "Kill switch engaged" : "Kill switch released";
  return result.data.complete
    ? { ok: true, message: `${what} (${steps}).` }
    : { ok: false, message: `${what}, but not every layer: ${steps}. Put the failed one right.`, fields: {} };
}

export async function toggleStrategy(_previous: ActionResult | null, form: FormData): Promise<ActionResult> {
  const name = text(form, "name");
  const enabled = text(form, "enabled") === "true";
  const reason = text(form, "reason").trim();
  const problem = reasonProblem(reason);
  if (problem) return invalid({ reason: problem });
  const result = await act((api) =>
    api.PUT("/strategies/{name}", { params: { path: { name } }, body: { enabled, reason }, cache: "no-store" }),
  );
  if (!result.ok) return refused(result.error);
  revalidatePath("/settings");
  return { ok: true, message: `${name} switched ${enabled ? "on" : "off"}: rounds apply it from their next evaluation.` };
}

export async function updateLimits(_previous: ActionResult | null, form: FormData): Promise<ActionResult> {
  const reason = text(form, "reason").trim();
  const fields: Record<string, string> = {};
  const changes: Record<string, LimitValue> = {};
  const names = new Set([...Object.keys(LIMIT_RULES), ...form.getAll("limit").map(String)]);
  for (const name of names) {
    if (form.get(`reset:${name}`) === "on") {
      changes[name] = null;
      continue;
    }
    if (!form.has(`value:${name}`)) continue;
    const value = text(form, `value:${name}`);
    if (value.trim() === text(form, `was:${name}`).trim()) continue;
    const parsed = parseLimit(name, value);
    if ("problem" in parsed) fields[name] = parsed.problem;
    else changes[name] = parsed.value;
  }
  const problem = reasonProblem(reason);
  if (problem) fields.reason = problem;
  if (Object.keys(fields).length > 0) return invalid(fields);
  if (Object.keys(changes).length === 0) return invalid({}, "nothing changed");
  const result = await act((api) =>
    api.PATCH("/risk/limits", { body: { changes: changes as Schemas["RiskLimitsUpdate"]["changes"], reason }, cache: "no-store" }),
  );
  if (!result.ok) {
    const answer = refused(result.error);
    if (answer.ok) return answer;
    const perLimit = limitProblemsFromMessage(result.error.fields.changes ?? result.error.message);
    return { ...answer, fields: { ...answer.fields, ...perLimit } };
  }
  revalidatePath("/", "layout");
  return { ok: true, message: `Limits changed (${Object.keys(changes).join(", ")}): rounds apply them from their next evaluation.` };
}

export async function addUser(_previous: ActionResult | null, form: FormData): Promise<ActionResult> {
  const name = text(form, "name").trim();
  const password = text(form, "password");
  const role = text(form, "role") as Role;
  const fields = newUserProblems(name, password);
  if (!ROLES.includes(role)) fields.role = "choose a role";
  if (Object.keys(fields).length > 0) return invalid(fields);
  const result = await act((api) => api.POST("/users", { body: { name, role, password }, cache: "no-store" }));
  if (!result.ok) return refused(result.error);
  revalidatePath("/settings");
  return { ok: true, message: `User ${name} added as ${role}.` };
}

export async function updateUser(_previous: ActionResult | null, form: FormData): Promise<ActionResult> {
  const name = text(form, "name");
  const role = text(form, "role");
  const active = text(form, "active");
  const reason = text(form, "reason").trim();
  const problem = reasonProblem(reason);
  if (problem) return invalid({ reason: problem });
  const body: Schemas["UserUpdate"] = { reason };
  if (ROLES.includes(role as Role)) body.role = role as Role;
  if (active === "true" || active === "false") body.active = active === "true";
  const result = await act((api) => api.PATCH("/users/{name}", { params: { path: { name } }, body, cache: "no-store" }));
  if (!result.ok) return refused(result.error);
  revalidatePath("/settings");
  return { ok: true, message: `User ${name} updated.` };
}

export async function startBacktest(_previous: ActionResult<BacktestRun> | null, form: FormData): Promise<ActionResult<BacktestRun>> {
  const start = utcFromLocalInput(text(form, "start"));
  const end = utcFromLocalInput(text(form, "end"));
  const strategies = form.getAll("strategies").map(String).filter(Boolean);
  const source = text(form, "source") === "tapes" ? "tapes" : "generated";
  const grid = text(form, "params_grid").trim();
  const seedText = text(form, "seed").trim();
  const seed = seedText === "" ? 1 : Number(seedText);
  const fields: Record<string, string> = {};
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 31 - 1) fields.seed = "a whole number from 0 to 2147483647";
  if (!start) fields.start = "choose when the first round opens (UTC)";
  if (!end) fields.end = "choose when the range ends (UTC)";
  if (start && end && Date.parse(end) <= Date.parse(start)) fields.end = "end must be after start";
  if (strategies.length === 0) fields.strategies = "choose at least one strategy";
  if (grid) {
    try {
      JSON.parse(grid);
    } catch {
      fields.params_grid = "a JSON object, e.g. {\"fair_value\": {\"margin\": [0.02, 0.04]}}";
    }
  }
  if (Object.keys(fields).length > 0 || !start || !end) return invalid(fields);
  const result = await act((api) =>
    api.POST("/backtest-runs", {
      body: { start, end, source, strategies, params_grid: grid || null, seed },
      cache: "no-store",
    }),
  );
  if (!result.ok) return refused(result.error);
  return { ok: true, message: `Backtest started: ${result.data.name}.`, data: result.data };
}
