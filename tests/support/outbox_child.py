"""A separate process that owns an outbox, for crash tests: the parent kills it with SIGKILL.

    python -m tests.support.outbox_child SPOOL URL --produce N [--crash-after-commits K] [--batch B]

It spools records 0..N-1 (deterministic ids), prints `spooled`, then drains to the database and prints
`drained`. With --crash-after-commits K it SIGKILLs itself on the K-th checkpoint, after the database
committed that batch and before the checkpoint is written: the worst moment for a duplicate.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import uuid
from pathlib import Path

from core.store.outbox import Outbox
from core.store.spool import Spool, SpoolPosition
from tests.support.rows import decision

NAMESPACE = uuid.UUID("6f1c1d2e-8f55-4a53-9a55-2f3f7f3f0001")


def record_id(index: int) -> str:
    return str(uuid.uuid5(NAMESPACE, str(index)))


def _crash_on_commit(after: int) -> None:
    original = Spool.commit
    count = 0

    def commit(self: Spool, position: SpoolPosition) -> None:
        nonlocal count
        count += 1
        if count >= after:
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, position)

    Spool.commit = commit  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spool", type=Path)
    parser.add_argument("url")
    parser.add_argument("--produce", type=int, default=0)
    parser.add_argument("--crash-after-commits", type=int, default=0)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    if args.crash_after_commits:
        _crash_on_commit(args.crash_after_commits)
    outbox = Outbox(args.spool, args.url, batch_size=args.batch)
    for index in range(args.produce):
        outbox.put(decision(id=record_id(index), reason=f"record {index}"), sync=index == args.produce - 1)
    print("spooled", flush=True)
    outbox.start()
    if not outbox.flush(timeout_s=120):
        sys.exit("not drained in 120 s")
    print("drained", outbox.stats.written, flush=True)
    outbox.close()


if __name__ == "__main__":
    main()
