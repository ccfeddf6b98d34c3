"""The kill switch as the orchestration sees it: the Prefect deployment's paused state, the store's kill
flag, and the flow run's own cancellation; and the operator actions that flip them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from prefect import get_client
from prefect.runtime import deployment, flow_run
from sqlalchemy import Engine
from sqlmodel import Session

from core.risk.state import KILL_SWITCH_KEY, KillSource, KillSwitch
from core.store.models import OperatorActionRow, SettingRow

log = logging.getLogger(__name__)

ROUND_DEPLOYMENT = "round-flow/agent-rounds"


def read_kill_switch(engine: Engine) -> KillSwitch:
    with Session(engine) as session:
        row = session.get(SettingRow, KILL_SWITCH_KEY)
    return KillSwitch.from_setting(row.value) if row is not None else KillSwitch()


def write_kill_switch(engine: Engine, switch: KillSwitch, *, actor: str, action: str, reason: str) -> None:
    """Set the store's kill flag and record who did it: one transaction, so neither exists without the other."""
    with Session(engine) as session:
        row = session.get(SettingRow, KILL_SWITCH_KEY) or SettingRow(key=KILL_SWITCH_KEY, value={})
        row.value, row.updated_by, row.updated_at = switch.to_setting(), actor, datetime.now(UTC)
        session.add(row)
        session.add(OperatorActionRow(actor=actor, action=action, target=ROUND_DEPLOYMENT, reason=reason))
        session.commit()


async def set_deployment_paused(paused: bool, name: str = ROUND_DEPLOYMENT) -> str | None:
    """Pause or resume the round deployment; None when there is no such deployment (nothing deployed yet)."""
    async with get_client() as client:
        try:
            found = await client.read_deployment_by_name(name)
        except Exception as exc:  # ObjectNotFound, or no server
            log.warning("deployment %s not found: %s", name, exc)
            return None
        if paused:
            await client.pause_deployment(found.id)
        else:
            await client.resume_deployment(found.id)
        return str(found.id)


class HaltWatch:
    """Polled by the round runner: a reason to halt, or None. Cheap enough to ask twice a second."""

    def __init__(
        self, store: Engine, *, deployment_id: str | None = None, flow_run_id: str | None = None
    ) -> None:
        self._store = store
        self._deployment_id: Any = deployment_id or deployment.get_id()
        self._flow_run_id: Any = flow_run_id or flow_run.get_id()

    async def __call__(self) -> str | None:
        switch = read_kill_switch(self._store)
        if switch.engaged:
            return f"kill switch ({switch.source or KillSource.MANUAL}): {switch.reason}"
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
