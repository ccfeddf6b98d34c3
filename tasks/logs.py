"""The core's warnings in the Prefect run log, where operators look: feed drops, stale feeds, a live
session's trouble. The core logs with the standard library and knows nothing of Prefect; this bridges the
two for the length of a round."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CORE_LOGGER = "core"


class _ToRunLog(logging.Handler):
    def __init__(self, target: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        super().__init__(logging.WARNING)
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.target.log(record.levelno, "%s", record.getMessage())
        except Exception:  # the run log away: the record still went to the process's own handlers
            self.handleError(record)


@contextmanager
def core_warnings_to(target: logging.Logger | logging.LoggerAdapter[Any]) -> Iterator[None]:
    """While inside, every WARNING or worse of the core's loggers is also logged to `target`."""
    handler = _ToRunLog(target)
    core = logging.getLogger(CORE_LOGGER)
    core.addHandler(handler)
    try:
        yield
    finally:
        core.removeHandler(handler)
