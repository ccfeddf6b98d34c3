import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { KillSwitchControl } from "@/components/kill-switch";
import type { ActionResult } from "@/lib/server";

function done(message: string): ActionResult {
  return { ok: true, message };
}

describe("the kill switch", () => {
  it("asks for a reason before it engages", async () => {
    const user = userEvent.setup();
    const action = vi.fn(async (_previous: ActionResult | null, form: FormData) => {
      expect(form.get("engaged")).toBe("true");
      expect(form.get("reason")).toBe("feed outage");
      return done("Kill switch engaged (halt file: done, store flag: done, deployment: done).");
    });
    render(<KillSwitchControl engaged={false} canOperate action={action} />);
    expect(screen.queryByRole("button", { name: "Confirm" })).toBeNull();

    await user.click(screen.getByRole("button", { name: "Engage kill switch" }));
    const confirm = screen.getByRole("button", { name: "Confirm" });
    expect(confirm).toBeDisabled();
    await user.type(screen.getByRole("textbox", { name: /reason/i }), "no");
    expect(confirm).toBeDisabled();
    expect(action).not.toHaveBeenCalled();

    await user.type(screen.getByRole("textbox", { name: /reason/i }), "pe");
    await user.clear(screen.getByRole("textbox", { name: /reason/i }));
    await user.type(screen.getByRole("textbox", { name: /reason/i }), "feed outage");
    expect(confirm).toBeEnabled();
    await user.click(confirm);
    await waitFor(() => expect(screen.getByTestId("kill-switch-result")).toHaveTextContent("Kill switch engaged"));
    expect(action).toHaveBeenCalledOnce();
    expect(screen.queryByRole("button", { name: "Confirm" })).toBeNull();
  });

  it("releases with the same confirmation", async () => {
    const user = userEvent.setup();
    const action = vi.fn(async (_previous: ActionResult | null, form: FormData) => {
      expect(form.get("engaged")).toBe("false");
      return done("Kill switch released.");
    });
    render(<KillSwitchControl engaged canOperate action={action} />);
    await user.click(screen.getByRole("button", { name: "Release kill switch" }));
    await user.type(screen.getByRole("textbox", { name: /reason/i }), "all clear");
    await user.click(screen.getByRole("button", { name: "Confirm" }));
    await waitFor(() => expect(action).toHaveBeenCalledOnce());
  });

  it("shows the API's refusal next to the reason", async () => {
    const user = userEvent.setup();
    const action = vi.fn(async (): Promise<ActionResult> => ({ ok: false, message: "reason: too short", fields: { reason: "String should have at least 3 characters" } }));
    render(<KillSwitchControl engaged={false} canOperate action={action} />);
    await user.click(screen.getByRole("button", { name: "Engage kill switch" }));
    await user.type(screen.getByRole("textbox", { name: /reason/i }), "abc");
    await user.click(screen.getByRole("button", { name: "Confirm" }));
    await waitFor(() => expect(screen.getByText("String should have at least 3 characters")).toBeInTheDocument());
    expect(screen.getByRole("textbox", { name: /reason/i })).toHaveAttribute("aria-invalid", "true");
  });

  it("gives a viewer nothing to press", async () => {
    const action = vi.fn();
    render(<KillSwitchControl engaged={false} canOperate={false} action={action} />);
    const button = screen.getByRole("button", { name: "Engage kill switch" });
    expect(button).toBeDisabled();
    await userEvent.setup().click(button);
    expect(screen.queryByRole("button", { name: "Confirm" })).toBeNull();
    expect(screen.queryByRole("textbox")).toBeNull();
  });
});
