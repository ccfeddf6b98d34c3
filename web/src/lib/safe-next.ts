/** Where to go after login: a path on this site only (never `//host` or a full URL), else the overview. */
export function safeNext(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 2000) return "/";
  if (!value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return "/";
  if (/[\u0000-\u001f\\]/.test(value)) return "/";
  if (value === "/login" || value.startsWith("/login?") || value.startsWith("/api/")) return "/";
  return value;
}

/** The login page that sends the user back to `path` afterwards. */
export function loginPath(path: string, error?: string): string {
  const query = new URLSearchParams();
  query.set("next", safeNext(path));
  if (error) query.set("error", error);
  return `/login?${query.toString()}`;
}
