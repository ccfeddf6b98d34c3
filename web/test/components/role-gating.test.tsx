import { render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

import { NavLinks } from "@/components/nav-links";
import { StrategyToggles } from "@/components/strategy-toggles";
import { atLeast, may } from "@/lib/roles";
import type { Role } from "@/lib/types";

vi.mock("next/navigation", () => ({ usePathname: () => "/settings" }));

const STRATEGIES = [
  { name: "fair_value", enabled: true, description: "prices Up" },
  { name: "momentum", enabled: false, description: "follows the move" },
];

describe("roles", () => {
  it("rank viewer < analyst < operator < admin", () => {
    expect(atLeast("admin", "operator")).toBe(true);
    expect(atLeast("operator", "admin")).toBe(false);
    expect(atLeast(undefined, "viewer")).toBe(false);
  });

  it.each<[Role, boolean, boolean, boolean, boolean]>([
    ["viewer", false, false, false, false],
    ["analyst", true, false, false, false],
    ["operator", true, true, true, false],
    ["admin", true, true, true, true],
  ])("a %s: backtests %s, kill switch %s, audit %s, users %s", (role, backtest, kill, audit, users) => {
    expect(may(role, "startBacktest")).toBe(backtest);
    expect(may(role, "killSwitch")).toBe(kill);
    expect(may(role, "readAudit")).toBe(audit);
    expect(may(role, "manageUsers")).toBe(users);
    expect(may(role, "editLimits")).toBe(users);
  });
});

describe("what a role sees", () => {
  it("hides the audit from a viewer's navigation", () => {
    render(<NavLinks role="viewer" />);
    expect(screen.queryByRole("link", { name: "Audit" })).toBeNull();
    expect(screen.getByRole("link", { name: "Settings" })).toHaveAttribute("aria-current", "page");
  });

  it("shows the audit to an operator", () => {
    render(<NavLinks role="operator" />);
    expect(screen.getByRole("link", { name: "Audit" })).toBeInTheDocument();
  });

  it("gives a viewer disabled strategy switches and no form", () => {
    render(<StrategyToggles strategies={STRATEGIES} canToggle={false} action={vi.fn()} />);
    for (const button of screen.getAllByRole("button")) expect(button).toBeDisabled();
    expect(screen.queryByRole("textbox")).toBeNull();
  });

  it("gives an operator a switch per strategy, each with a reason", () => {
    render(<StrategyToggles strategies={STRATEGIES} canToggle action={vi.fn()} />);
    expect(screen.getByRole("button", { name: "Switch off" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Switch on" })).toBeEnabled();
    expect(screen.getAllByPlaceholderText("reason")).toHaveLength(2);
  });
});
