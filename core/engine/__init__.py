"""The deterministic round engine: features, fair value, policy, the engine itself, tapes, assembly."""
