// How numbers and times read on the console. Money stays a decimal string from the API; only its display
// is rounded here.

export function money(value: string | null | undefined, digits = 2): string {
  if (value === null || value === undefined || value === "") return "—";
  const n = Number(value);
  if (!Number.isFinite(n)) return value;
  const text = Math.abs(n).toFixed(digits);
  return n < 0 ? `−${text}` : n > 0 ? `+${text}` : text;
}

export function num(value: string | number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || value === "") return "—";
  const n = Number(value);
  return Number.isFinite(n) ? n.toFixed(digits) : String(value);
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}`;
}

export function clock(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(11, 19);
}

/** 87 -> "1:27"; negative -> "−0:05". */
export function countdown(seconds: number): string {
  const sign = seconds < 0 ? "−" : "";
  const s = Math.floor(Math.abs(seconds));
  return `${sign}${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "no data yet";
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}

/** A datetime-local input's value (read as UTC) as ISO 8601 with a zone, or null when empty or invalid. */
export function utcFromLocalInput(value: string): string | null {
  if (!value) return null;
  const withSeconds = /T\d\d:\d\d$/.test(value) ? `${value}:00` : value;
  const d = new Date(`${withSeconds}Z`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** ISO 8601 as a datetime-local input's value, in UTC. */
export function localInputFromUtc(iso: string): string {
  return new Date(iso).toISOString().slice(0, 16);
}
