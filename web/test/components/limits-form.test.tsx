import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { LimitsForm } from "@/components/limits-form";
import type { ActionResult } from "@/lib/server";

const LIMITS = {
  effective: { max_trades_per_round: 4, max_notional_per_trade: "25", require_fair_probability: true },
  defaults: { max_trades_per_round: 4, max_notional_per_trade: "25", require_fair_probability: true },
  overrides: {},
};

describe("the risk limits form", () => {
  it("names a bad value next to its limit before sending", async () => {
    const user = userEvent.setup();
    render(<LimitsForm limits={LIMITS} action={vi.fn()} />);
    const field = screen.getByLabelText("max_trades_per_round");
    await user.clear(field);
    await user.type(field, "5000");
    expect(screen.getByTestId("limit-error-max_trades_per_round")).toHaveTextContent("at least 0 and at most 1000");
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByRole("button", { name: "Save limits" })).toBeDisabled();
  });

  it("shows the API's 422 next to the limit it names", async () => {
    const user = userEvent.setup();
    const action = vi.fn(async (): Promise<ActionResult> => ({
      ok: false,
      message: "changes: invalid risk limit override(s): max_notional_per_trade: Input should be greater than 0",
      fields: { max_notional_per_trade: "Input should be greater than 0 (got '0.000')" },
    }));
    render(<LimitsForm limits={LIMITS} action={action} />);
    await user.clear(screen.getByLabelText("max_notional_per_trade"));
    await user.type(screen.getByLabelText("max_notional_per_trade"), "12");
    await user.type(screen.getByLabelText(/reason/i), "tighter for the test");
    await user.click(screen.getByRole("button", { name: "Save limits" }));
    await waitFor(() =>
      expect(screen.getByTestId("limit-error-max_notional_per_trade")).toHaveTextContent("Input should be greater than 0"),
    );
    expect(screen.getByTestId("limits-result")).toHaveTextContent("invalid risk limit override");
  });
});
