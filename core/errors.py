"""Errors as values with categories: what the caller may do next depends only on the category."""

from __future__ import annotations

from enum import StrEnum


class ErrorCategory(StrEnum):
    TRANSIENT = "transient"
    """Nothing happened at the venue; the same request may be retried (after `retry_after_s` if given)."""
    REJECTED = "rejected"
    """The venue (or our own pre-check of its rules) refused this request; retrying it unchanged is pointless."""
    FATAL = "fatal"
    """Trading cannot go on (auth, balance, closed-only): stop and alert."""
    UNKNOWN = "unknown"
    """The request may or may not have taken effect: reconcile with the venue before sending anything else."""


class VenueError(Exception):
    """A failed venue request, classified; `reason` is a short code, `message` the venue's own words."""

    def __init__(
        self,
        category: ErrorCategory,
        reason: str,
        message: str,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(category, reason, message, status, retry_after_s)
        self.category = category
        self.reason = reason
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.category}: {self.reason}: {self.message}{status}"


class LiveStartError(Exception):
    """Live trading refused at start (credentials, funding, allowance, an unreachable venue), before any
    order: the message is one line for the operator, and nothing was traded."""
