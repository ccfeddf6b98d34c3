"""Where the team's real market data lives: ../shared/data beside the checkout, or BTC_AGENT_SHARED_DATA."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(
    os.environ.get("BTC_AGENT_SHARED_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data"
)
