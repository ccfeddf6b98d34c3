// Who may do what (docs/api.md): each role includes the ones before it.
import type { Role } from "./types";

const RANK: Record<Role, number> = { viewer: 0, analyst: 1, operator: 2, admin: 3 };

export function atLeast(role: Role | null | undefined, needed: Role): boolean {
  return role != null && RANK[role] >= RANK[needed];
}

/** The least role each console action needs, as the API enforces it. */
export const NEEDS = {
  startBacktest: "analyst",
  killSwitch: "operator",
  toggleStrategies: "operator",
  readAudit: "operator",
  editLimits: "admin",
  manageUsers: "admin",
} as const satisfies Record<string, Role>;

export type Permission = keyof typeof NEEDS;

export function may(role: Role | null | undefined, permission: Permission): boolean {
  return atLeast(role, NEEDS[permission]);
}

export const ROLES: readonly Role[] = ["viewer", "analyst", "operator", "admin"];
