// The colour a status reads in, for pills across the pages.
import type { Schemas } from "./types";

export type Tone = "ok" | "bad" | "warn" | undefined;

const ROUND_TONE: Record<Schemas["RoundStatus"], Tone> = {
  scheduled: undefined,
  active: "ok",
  settled: "ok",
  halted: "bad",
  unsettled: "warn",
  aborted: "bad",
  missed_activation: "warn",
  closed_before_start: "warn",
};

export const ROUND_STATUSES = Object.keys(ROUND_TONE) as Schemas["RoundStatus"][];

export function roundTone(status: string): Tone {
  return ROUND_TONE[status as Schemas["RoundStatus"]];
}

const ORDER_TONE: Record<Schemas["OrderStatus"], Tone> = {
  pending: undefined,
  live: undefined,
  partially_filled: "warn",
  filled: "ok",
  canceled: undefined,
  rejected: "bad",
  expired: undefined,
  unknown: "warn",
};

export const ORDER_STATUSES = Object.keys(ORDER_TONE) as Schemas["OrderStatus"][];

export function orderTone(status: string | null | undefined): Tone {
  return status ? ORDER_TONE[status as Schemas["OrderStatus"]] : undefined;
}

const POLICY_TONE: Record<Schemas["PolicyReason"], Tone> = {
  accepted: "ok",
  below_confidence: undefined,
  conflict: "warn",
  outranked: undefined,
  rate_limited: undefined,
};

export const POLICIES = Object.keys(POLICY_TONE) as Schemas["PolicyReason"][];

export function policyTone(policy: string | null | undefined): Tone {
  return policy ? POLICY_TONE[policy as Schemas["PolicyReason"]] : undefined;
}
