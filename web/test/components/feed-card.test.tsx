import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { FeedCard } from "@/components/feed-card";
import type { FeedState } from "@/lib/types";

const FRESH: FeedState = { connected: true, stale: false, last_message_age_s: 0.4, reconnects: 0, resyncs: 0, malformed: 0 };

describe("a feed's card", () => {
  it("is green and says live while the feed delivers", () => {
    render(<FeedCard name="market" feed={FRESH} />);
    const card = screen.getByTestId("feed-market");
    expect(card).toHaveAttribute("data-stale", "false");
    expect(card).not.toHaveClass("stale");
    expect(card).toHaveTextContent("live");
    expect(card).toHaveTextContent("0.4 s ago");
  });

  it("turns amber and shows its age when stale", () => {
    render(<FeedCard name="rtds" feed={{ ...FRESH, stale: true, last_message_age_s: 8.25 }} />);
    const card = screen.getByTestId("feed-rtds");
    expect(card).toHaveAttribute("data-stale", "true");
    expect(card).toHaveClass("feed", "stale");
    expect(card).toHaveTextContent("stale");
    expect(card).toHaveTextContent("8.3 s ago");
  });

  it("ages with the state it came in, and goes stale with it", () => {
    render(<FeedCard name="market" feed={FRESH} stateAgeS={12} />);
    const card = screen.getByTestId("feed-market");
    expect(card).toHaveAttribute("data-stale", "true");
    expect(card).toHaveTextContent("12 s ago");
  });

  it("is red when disconnected", () => {
    render(<FeedCard name="user" feed={{ ...FRESH, connected: false, last_message_age_s: null }} />);
    const card = screen.getByTestId("feed-user");
    expect(card).toHaveClass("down");
    expect(card).toHaveTextContent("disconnected");
    expect(card).toHaveTextContent("none yet");
  });
});
