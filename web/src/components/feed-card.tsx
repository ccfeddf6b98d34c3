// One data feed of the running round: green when it delivers, amber with its age when stale, red when down.
import { age } from "@/lib/format";
import type { FeedState } from "@/lib/types";

/** A state older than this no longer vouches for its feeds, whatever it said then. */
export const STATE_STALE_S = 10;

export function FeedCard({ name, feed, stateAgeS = 0 }: { name: string; feed: FeedState; stateAgeS?: number }) {
  const lastAge = feed.last_message_age_s === null ? null : feed.last_message_age_s + Math.max(0, stateAgeS);
  const stale = feed.stale || stateAgeS > STATE_STALE_S;
  const tone = !feed.connected ? "down" : stale ? "stale" : "";
  const label = !feed.connected ? "disconnected" : stale ? "stale" : "live";
  return (
    <div className={`feed ${tone}`} data-testid={`feed-${name}`} data-stale={stale ? "true" : "false"} data-connected={feed.connected ? "true" : "false"}>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <span className="name">{name}</span>
        <span className="small">{label}</span>
      </div>
      <div className="small">
        last message:{" "}
        <span className="feed-age">{lastAge === null ? "none yet" : `${age(lastAge)} ago`}</span>
      </div>
      <div className="small muted">
        reconnects {feed.reconnects} · resyncs {feed.resyncs} · malformed {feed.malformed}
      </div>
    </div>
  );
}
