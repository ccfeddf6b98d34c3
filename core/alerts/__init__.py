"""Alerts: what an operator must hear of (feed down, order-failure bursts, kill-switch trips, missed
activations, settlement mismatches, outbox backlog), deduplicated, rate limited, sent through apprise and
kept in the store whether sent or not."""
