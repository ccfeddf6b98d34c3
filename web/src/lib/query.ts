// Reading a page's search parameters into the API's filters.

export type Search = Record<string, string | string[] | undefined>;

export function one(search: Search, key: string): string | undefined {
  const value = search[key];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === "" ? undefined : text;
}

export function offsetOf(search: Search): number {
  const n = Number(one(search, "offset") ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

export function boolOf(search: Search, key: string): boolean | undefined {
  const value = one(search, key);
  return value === "true" ? true : value === "false" ? false : undefined;
}

/** A date input's day as the start of that UTC day (`since`), or the start of the next one (`until`). */
export function dayBound(day: string | undefined, end: boolean): string | undefined {
  if (!day || !/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const start = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(start)) return undefined;
  return new Date(end ? start + 86_400_000 : start).toISOString();
}
