// The start-up check of `next start` (Node.js only): no session secret, no console.
import { secretProblem } from "./secret";

export function refuseWithoutSecret(env: Record<string, string | undefined> = process.env): void {
  if (env.NODE_ENV !== "production" || env.NEXT_PHASE === "phase-production-build") return;
  const problem = secretProblem(env);
  if (problem === null) return;
  console.error(
    `console: ${problem}. Set CONSOLE_SESSION_SECRET to a random string of 32 or more characters ` +
      "(e.g. `openssl rand -hex 32`): it encrypts and signs the session cookie. Not starting.",
  );
  process.exit(1);
}
