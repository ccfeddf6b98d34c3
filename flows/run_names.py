"""Upcoming round runs carry their round's name from the moment Prefect schedules them.

Prefect applies a flow's `flow_run_name` only when a run starts: the runs its scheduler creates ahead of
time (and recreates when a paused deployment is resumed) get random names ("glorious-falcon") until then,
and Prefect 3.9 has no name template for scheduled runs. So every process that serves the round deployment
(`btc-agent serve`, `demo` and `worker`) also runs a `RunNamer`: every two seconds it reads the
deployment's runs still waiting to start (Scheduled, Late) and renames each whose name is not its round's,
with the client's `update_flow_run(name=...)`. `round_run_name` is the one convention, and the flow names
itself with it when it starts, so a run keeps its name from scheduled to finished.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.clock import WallClock, datetime_to_ms
from core.market.rounds import RoundSchedule
from tasks.control import ROUND_DEPLOYMENT

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun, StateType

NAMING_INTERVAL_S = 2.0
MAX_UPCOMING = 200
"""Prefect keeps at most 100 scheduled runs per schedule; one page of the API holds them all."""


def round_run_name(
    parameters: Mapping[str, Any], expected_start: datetime | None, schedule: RoundSchedule
) -> str:
    """The name of a round's flow run: its slug, from the `round_slug` parameter or else from the round
    its expected start (the round's wake time) falls in; a run without a start time takes the round of now."""
    slug = parameters.get("round_slug")
    if slug:
        return str(slug)
    at_ms = datetime_to_ms(expected_start) if expected_start is not None else WallClock().now_ms()
    return schedule.round_at_ms(at_ms).slug


def deployment_runs(
    client: SyncPrefectClient, states: Sequence[StateType] = (), deployment: str = ROUND_DEPLOYMENT
) -> list[FlowRun]:
    """The deployment's runs in `states` (any state when empty), soonest first; [] before it exists."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    try:
        found = client.read_deployment_by_name(deployment)
    except ObjectNotFound:
        return []
    flow_run_filter = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[found.id]))
    if states:
        flow_run_filter.state = FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states)))
    return client.read_flow_runs(
        flow_run_filter=flow_run_filter, sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=MAX_UPCOMING
    )


def name_upcoming_runs(
    client: SyncPrefectClient, schedule: RoundSchedule, deployment: str = ROUND_DEPLOYMENT
) -> int:
    """Rename the deployment's runs that have not started yet after their rounds; how many were renamed
    (0 when the deployment does not exist yet)."""
    import httpx
    from prefect.client.schemas.objects import StateType

    upcoming = deployment_runs(client, [StateType.SCHEDULED], deployment)
    renamed = 0
    for run in upcoming:
        name = round_run_name(run.parameters, run.expected_start_time, schedule)
        if run.name == name:
            continue
        try:
            client.update_flow_run(run.id, name=name)
        except httpx.HTTPStatusError as exc:  # deleted meanwhile (a pause deletes scheduled runs)
            if exc.response.status_code != 404:
                raise
            continue
        renamed += 1
    return renamed


class RunNamer:
    """A daemon thread that keeps the round deployment's upcoming runs named after their rounds.

    It waits for the deployment to exist, survives the Prefect server going away (one warning per outage)
    and stops with `stop()` or with the process."""

    def __init__(
        self,
        schedule: RoundSchedule,
        deployment: str = ROUND_DEPLOYMENT,
        interval_s: float = NAMING_INTERVAL_S,
    ) -> None:
        self.schedule = schedule
        self.deployment = deployment
        self.interval_s = interval_s
        self.renamed = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-namer", daemon=True)

    def start(self) -> RunNamer:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def __enter__(self) -> RunNamer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _loop(self) -> None:
        from prefect import get_client
        from prefect.logging import get_logger

        log = get_logger("run-namer")
        failing = False
        while not self._stopping.is_set():
            try:
                with get_client(sync_client=True) as client:
                    while not self._stopping.is_set():
                        renamed = name_upcoming_runs(client, self.schedule, self.deployment)
                        if failing:
                            log.info("naming upcoming runs of %s again", self.deployment)
                            failing = False
                        if renamed:
                            self.renamed += renamed
                            log.info(
                                "named %d upcoming run(s) of %s after their rounds", renamed, self.deployment
                            )
                        self._stopping.wait(self.interval_s)
            except Exception as exc:  # the server away or restarting: try again, say so once
                if not failing:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    log.warning("upcoming runs of %s not named: %s", self.deployment, first)
                    failing = True
                self._stopping.wait(self.interval_s)
