// The session secret's rule, checked at start-up (instrumentation.ts) and wherever a cookie is sealed.
export const MIN_SECRET_LENGTH = 32;

/** Why the environment's session secret cannot be used, or null when it can. */
export function secretProblem(env: Record<string, string | undefined> = process.env): string | null {
  const secret = env.CONSOLE_SESSION_SECRET;
  if (!secret) return "CONSOLE_SESSION_SECRET is not set";
  if (secret.length < MIN_SECRET_LENGTH) {
    return `CONSOLE_SESSION_SECRET has ${secret.length} characters; it needs at least ${MIN_SECRET_LENGTH}`;
  }
  return null;
}
