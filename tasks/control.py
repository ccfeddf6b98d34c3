"""The kill switch as the orchestration sees it, and what flips it.

Four layers can halt a round: the local halt file (`core/live/halt.py`, no database), the store's kill flag
(SettingRow `kill_switch`), the Prefect deployment's paused state, and the flow run's own cancellation.
`btc-agent kill` sets the first three in that order and `resume` clears them (`put_halt_file`,
`set_store_flag`, `set_deployment_step`), each step bounded in time and reported on its own, so a dead
database or Prefect server never hides or blocks the others. `HaltWatch` is what a round polls for the
remote layers; `TripResponse` answers an automatic risk trip as `core/risk/trip_policy.py` says.

Prefect is imported only inside the functions that talk to it: the kill command imports this module right
after its halt file is down, and the store flag must not wait for Prefect's import.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session

from core.live.halt import HaltNotice, clear_halt, halt_path, write_halt
from core.risk.state import KILL_SWITCH_KEY, KillSource, KillSwitch
from core.risk.trip_policy import TripScope, is_operator_halt, trip_rule
from core.store.db import make_engine, migrate, normalize_url
from core.store.models import OperatorActionRow, SettingRow

log = logging.getLogger(__name__)

ROUND_DEPLOYMENT = "round-flow/agent-rounds"
STORE_TIMEOUT_S = 5.0
"""How long `kill` and `resume` wait for the store before saying it could not be written."""
PREFECT_TIMEOUT_S = 15.0
"""How long they wait for Prefect (its client retries a refused connection for about 1.5 s)."""
CONNECT_TIMEOUT_S = 3


def read_kill_switch(engine: Engine) -> KillSwitch:
    return _read_flag(engine)[0]


def _read_flag(engine: Engine) -> tuple[KillSwitch, str | None]:
    """The store's kill switch and who set it last."""
    with Session(engine) as session:
        row = session.get(SettingRow, KILL_SWITCH_KEY)
    if row is None:
        return KillSwitch(), None
    return KillSwitch.from_setting(row.value), row.updated_by


def describe_switch(switch: KillSwitch, actor: str | None) -> str:
    """`halted by operator alice: why`, or the automatic trip that set the flag."""
    if switch.source is KillSource.AUTOMATIC:
        code = switch.code.value if switch.code else "unknown"
        return f"halted by an automatic trip ({code}): {switch.reason or 'no reason given'}"
    return f"halted by operator {actor or 'unknown'}: {switch.reason or 'no reason given'}"


def write_kill_switch(
    engine: Engine,
    switch: KillSwitch,
    *,
    actor: str,
    action: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Set the store's kill flag and record who did it: one transaction, so neither exists without the other.
    The operator action's details carry the flag before and after, with what the caller adds (its address)."""
    with Session(engine) as session:
        row = session.get(SettingRow, KILL_SWITCH_KEY) or SettingRow(key=KILL_SWITCH_KEY, value={})
        before = dict(row.value) if isinstance(row.value, dict) else row.value
        row.value, row.updated_by, row.updated_at = switch.to_setting(), actor, datetime.now(UTC)
        session.add(row)
        session.add(
            OperatorActionRow(
                actor=actor,
                action=action,
                target=ROUND_DEPLOYMENT,
                reason=reason,
                details={"before": before or None, "after": row.value, **(details or {})},
            )
        )
        session.commit()


async def set_deployment_paused(paused: bool, name: str = ROUND_DEPLOYMENT) -> str | None:
    """Pause or resume the round deployment; None when there is none to reach (nothing deployed yet, or no
    Prefect server: the reason is logged)."""
    try:
        return await _set_paused(paused, name)
    except Exception as exc:
        log.warning("deployment %s not reachable: %s", name, _first_line(exc))
        return None


async def _set_paused(paused: bool, name: str) -> str | None:
    """The deployment's id, None when Prefect has no such deployment; raises when Prefect cannot answer."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            found = await client.read_deployment_by_name(name)
        except ObjectNotFound:
            return None
        if paused:
            await client.pause_deployment(found.id)
        else:
            await client.resume_deployment(found.id)
        return str(found.id)


# --- the operator's steps: kill and resume ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One layer of a kill or resume: done, skipped (nothing there to change) or failed, and in words."""

    layer: str
    outcome: str  # "done", "skipped", "failed"
    detail: str

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


def put_halt_file(data_dir: Path, notice: HaltNotice, *, already: HaltNotice | None = None) -> Step:
    """The local halt file; `already` when the kill command's fast path wrote this very notice."""
    path = halt_path(data_dir)
    if already is not None:
        return Step("halt file", "done", f"{path} (rounds on this machine halt within a second)")
    try:
        write_halt(path, notice)
    except OSError as exc:
        return Step("halt file", "failed", f"NOT WRITTEN at {path}: {exc}")
    return Step("halt file", "done", f"{path} (rounds on this machine halt within a second)")


def remove_halt_file(data_dir: Path) -> Step:
    path = halt_path(data_dir)
    try:
        removed = clear_halt(path)
    except OSError as exc:
        return Step("halt file", "failed", f"NOT REMOVED at {path}: {exc}")
    return Step(
        "halt file", "done" if removed else "skipped", f"{'removed' if removed else 'none'} at {path}"
    )


def set_store_flag(
    url: str,
    switch: KillSwitch,
    *,
    actor: str,
    action: str,
    reason: str,
    timeout_s: float = STORE_TIMEOUT_S,
    details: dict[str, Any] | None = None,
) -> Step:
    """The store's flag and the operator action, or a clear failure within `timeout_s` whatever the database
    does (refuses, hangs, or holds a lock). A store without the schema yet is migrated first."""
    where = make_url(url).render_as_string(hide_password=True)
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            engine = _quick_engine(url)
            try:
                if not inspect(engine).has_table(SettingRow.__tablename__):
                    migrate(url)
                write_kill_switch(engine, switch, actor=actor, action=action, reason=reason, details=details)
            finally:
                engine.dispose()
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=work, name="kill-switch-store", daemon=True)
    worker.start()
    worker.join(timeout_s)
    verb = "set" if switch.engaged else "cleared"
    if not outcome:
        return Step(
            "store flag", "failed", f"NOT {verb.upper()}: no answer from {where} in {timeout_s:.0f} s"
        )
    error = outcome[0]
    if error is not None:
        return Step("store flag", "failed", f"NOT {verb.upper()} in {where}: {_first_line(error)}")
    reach = " (runs on every machine halt within a second)" if switch.engaged else ""
    return Step("store flag", "done", f"{verb} in {where}, operator action recorded{reach}")


def _quick_engine(url: str) -> Engine:
    if normalize_url(url).get_backend_name() == "postgresql":
        return make_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    return make_engine(url)


async def set_deployment_step(
    paused: bool, name: str = ROUND_DEPLOYMENT, timeout_s: float = PREFECT_TIMEOUT_S
) -> Step:
    """Pause (or resume) the round deployment, or say why not within `timeout_s`."""
    from prefect.settings import get_current_settings

    verb = "paused" if paused else "resumed"
    api = get_current_settings().api.url
    if not api:
        return Step("deployment", "skipped", f"not {verb}: no Prefect API configured (PREFECT_API_URL)")
    try:
        found = await asyncio.wait_for(_set_paused(paused, name), timeout_s)
    except TimeoutError:
        return Step("deployment", "failed", f"NOT {verb.upper()}: no answer from {api} in {timeout_s:.0f} s")
    except Exception as exc:
        return Step("deployment", "failed", f"NOT {verb.upper()}: {api}: {_first_line(exc)}")
    if found is None:
        return Step("deployment", "skipped", f"not {verb}: {name} is not deployed on {api}")
    reach = " (no new round runs start)" if paused else " (future rounds are scheduled again)"
    return Step("deployment", "done", f"{name} {verb}{reach}")


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:300] if text else 'no message'}"


# --- what a round polls, and how it answers a trip ---------------------------------------------------


class KillSwitchUnreadable(RuntimeError):
    """No layer could say whether the kill switch is engaged."""


class HaltWatch:
    """Polled by the round runner for the remote layers: a reason to halt, or None; raises when it cannot
    tell (the runner then fails closed after the grace). The store is read on a worker thread, so a dead
    database never stalls the round's event loop."""

    def __init__(
        self, store: Engine, *, deployment_id: str | None = None, flow_run_id: str | None = None
    ) -> None:
        from prefect.runtime import deployment, flow_run

        self._store = store
        self._deployment_id: Any = deployment_id or deployment.get_id()
        self._flow_run_id: Any = flow_run_id or flow_run.get_id()

    async def __call__(self) -> str | None:
        """Each layer is read even when another fails: with the database down, a paused deployment still
        halts the round; only when no layer names a reason does a failure raise `KillSwitchUnreadable`."""
        errors = []
        try:
            switch, actor = await asyncio.to_thread(_read_flag, self._store)
        except Exception as exc:
            errors.append(f"store: {_first_line(exc)}")
        else:
            if switch.engaged:
                return describe_switch(switch, actor)
        try:
            reason = await self._prefect()
        except Exception as exc:
            errors.append(f"Prefect: {_first_line(exc)}")
        else:
            if reason:
                return reason
        if errors:
            raise KillSwitchUnreadable("; ".join(errors))
        return None

    async def _prefect(self) -> str | None:
        if not self._deployment_id and not self._flow_run_id:
            return None
        from prefect import get_client

        async with get_client() as client:
            if self._deployment_id:
                found = await client.read_deployment(self._deployment_id)
                if found.paused:
                    return "the round deployment was paused"
            if self._flow_run_id:
                run = await client.read_flow_run(self._flow_run_id)
                if run.state is not None and run.state.is_cancelling():
                    return "the flow run was cancelled"
        return None


class TripResponse:
    """A round's `on_trip`: says what a kill-switch trip means, in an operator's words, and applies the trip
    policy. Called with `"<reason code>: <message>"` from inside the round's event loop.

    A pause runs on a thread of its own (non-daemon, with the caller's context): a daily-loss trip comes
    with the round's very last record, and the pause must not be lost when the round's loop ends."""

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        *,
        pause: Callable[[bool], Awaitable[str | None]] | None = None,
    ) -> None:
        self.logger = logger
        self._pause = pause or (lambda paused: _set_paused(paused, ROUND_DEPLOYMENT))
        self.pending: set[threading.Thread] = set()

    def __call__(self, line: str) -> None:
        code, _, message = line.partition(": ")
        if is_operator_halt(code):
            self.logger.warning(
                "%s - this round opens no positions, cancels what rests and still settles", message
            )
            return
        rule = trip_rule(code)
        if rule.scope is TripScope.ROUND:
            self.logger.warning(
                "automatic trip %s (%s): this round stops opening positions; trading resumes %s. "
                "The deployment keeps running",
                code,
                message,
                rule.ends,
            )
        elif rule.scope is TripScope.COOLDOWN:
            self.logger.warning(
                "automatic trip %s (%s): no new positions; trading resumes %s. The deployment keeps running",
                code,
                message,
                rule.ends,
            )
        else:
            self.logger.error(
                "automatic trip %s (%s): pausing the round deployment; trading resumes %s",
                code,
                message,
                rule.ends,
            )
            context = contextvars.copy_context()
            pausing = threading.Thread(
                target=context.run, args=(self._pause_in_thread, code), name=f"pause-after-{code}"
            )
            self.pending.add(pausing)
            pausing.start()

    def _pause_in_thread(self, code: str) -> None:
        try:
            asyncio.run(self._pause_deployment(code))
        finally:
            self.pending.discard(threading.current_thread())

    async def _pause_deployment(self, code: str) -> None:
        try:
            found = await asyncio.wait_for(self._pause(True), PREFECT_TIMEOUT_S)
        except Exception as exc:
            self.logger.error("could not pause the round deployment after %s: %s", code, _first_line(exc))
            return
        if found is None:
            self.logger.warning("no round deployment to pause after %s; this run stops on its own", code)
        else:
            self.logger.warning("round deployment paused after %s; `btc-agent resume` once understood", code)

    async def wait(self) -> None:
        """Until every pause asked for has been answered (for tests and a tidy shutdown)."""
        while self.pending:
            for pausing in list(self.pending):
                await asyncio.to_thread(pausing.join)
