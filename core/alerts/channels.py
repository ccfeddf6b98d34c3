"""Where alerts go: every apprise URL in the settings (webhook, Slack, Telegram, e-mail, ...), as one channel
set. Apprise is imported only when URLs are configured; URLs are never logged (they carry tokens)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from core.alerts.codes import Severity

if TYPE_CHECKING:
    import apprise

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one alert: `sent` when at least one channel took it; `error` says why any did not."""

    sent: bool
    error: str | None = None


class Channels(Protocol):
    def send(self, title: str, body: str, severity: Severity, timeout_s: float) -> Delivery:
        """Deliver to every channel, taking at most about `timeout_s`; never raises."""
        ...


class AppriseChannels:
    """The configured apprise URLs; one the library cannot use is skipped with a WARNING naming its number."""

    def __init__(self, urls: Sequence[str]) -> None:
        import apprise

        self._apprise = apprise.Apprise()
        for number, url in enumerate(urls, 1):
            if not self._apprise.add(url):
                log.warning("alert URL %d of %d is not one apprise can use: it is skipped", number, len(urls))

    def __len__(self) -> int:
        return len(self._apprise)

    def send(self, title: str, body: str, severity: Severity, timeout_s: float) -> Delivery:
        try:
            result = self._apprise.notify(
                body, title=title, notify_type=_notify_type(severity), timeout=timeout_s
            )
        except Exception as exc:
            return Delivery(False, f"{type(exc).__name__}: {exc}")
        failed = [service for service in result.results if not service]
        if not failed and result.success_count:
            return Delivery(True)
        reasons = [
            f"{service.name}: {_last_log(service) or service.status.name.lower()}" for service in failed
        ]
        return Delivery(result.success_count > 0, "; ".join(reasons) or result.status.name.lower())


def _notify_type(severity: Severity) -> apprise.NotifyType:
    import apprise

    return {
        Severity.INFO: apprise.NotifyType.INFO,
        Severity.WARNING: apprise.NotifyType.WARNING,
        Severity.CRITICAL: apprise.NotifyType.FAILURE,
    }[severity]


def _last_log(service: apprise.NotifyResult) -> str | None:
    messages = [entry.message for entry in service.logs()]
    return messages[-1] if messages else None
