"""Upcoming round runs are named after their rounds from when Prefect schedules them, seen from outside.

A real `prefect server start` (its scheduler service creates the runs; the test harness's ephemeral
server runs no scheduler) and `btc-agent serve` as a child process; the test reads the deployment's
scheduled runs through the client and checks each name against the slug of the round its expected start
falls in, computed here, again after a pause (which deletes them) and a resume (which recreates them).

Rounds are an hour long and wake at a minute of the hour at least 20 minutes away, so no run starts while
the test looks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
import pytest

from core.market.rounds import RoundSchedule
from flows.run_names import deployment_runs

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun
    from prefect.client.schemas.responses import DeploymentResponse

pytestmark = [pytest.mark.slow]

ROUND_S = 3600
BTC_AGENT = Path(sys.executable).with_name("btc-agent")
DEPLOYMENT = "round-flow/agent-rounds"
PREFECT_SERVER = [sys.executable, "-m", "prefect", "server", "start", "--no-ui"]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BTC_AGENT_", "PREFECT_"))}
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_HOME=str(home))
    return env


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect server with its services (the scheduler among them); its API URL."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = base_env(home)
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [*PREFECT_SERVER, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}/api"
        try:
            until(lambda: _healthy(url), 60, "the Prefect server to answer")
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def until(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout_s} s for {what}")


def wake_lead_far_from_now() -> int:
    """A wake lead whose wake minute (of each hour) is 20 to 30 minutes from now."""
    minute = datetime.now(UTC).minute
    for ahead in (30, 25, 20):
        wake_minute = (minute + ahead) % 60
        if wake_minute * 60 <= ROUND_S - 180:  # waking no later than the activation (T-180 s)
            return ROUND_S - wake_minute * 60
    raise AssertionError("unreachable: one of three minutes is at most 57")


def expected_slug(run: FlowRun) -> str:
    """The round a run belongs to, worked out here: the hour its expected start falls in."""
    assert run.expected_start_time is not None
    start_s = int(run.expected_start_time.timestamp())
    return f"btc-updown-60m-{start_s // ROUND_S * ROUND_S}"


def scheduled_runs(client: SyncPrefectClient) -> list[FlowRun]:
    from prefect.client.schemas.objects import StateType

    return deployment_runs(client, [StateType.SCHEDULED], DEPLOYMENT)


def all_named(client: SyncPrefectClient, at_least: int) -> list[FlowRun] | None:
    runs = scheduled_runs(client)
    if len(runs) >= at_least and all(run.name == expected_slug(run) for run in runs):
        return runs
    return None


def agent_env(prefect_api: str, tmp_path: Path, wake_lead_s: int) -> dict[str, str]:
    env = base_env(tmp_path / "prefect-home")
    env.update(
        PREFECT_API_URL=prefect_api,
        BTC_AGENT_DATA_DIR=str(tmp_path / "data"),
        BTC_AGENT_ROUND_SECONDS=str(ROUND_S),
        BTC_AGENT_WAKE_LEAD_SECONDS=str(wake_lead_s),
    )
    return env


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    return process.returncode


def test_the_worker_names_upcoming_runs_too(prefect_api: str, tmp_path: Path) -> None:
    """`btc-agent worker` (production: prefect.yaml on a process work pool) runs the namer beside the
    Prefect worker, and stops both on SIGTERM."""
    from prefect.client.orchestration import SyncPrefectClient

    wake_lead = wake_lead_far_from_now()
    env = agent_env(prefect_api, tmp_path, wake_lead)
    cron = RoundSchedule(ROUND_S, 180, wake_lead).cron()
    apply = f"from flows.round import round_flow; round_flow.to_deployment(name='agent-rounds', cron={cron!r}).apply()"
    subprocess.run([sys.executable, "-c", apply], env=env, check=True, timeout=120, capture_output=True)
    with SyncPrefectClient(prefect_api) as client, (tmp_path / "worker.log").open("wb") as log:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        worker = subprocess.Popen(
            [str(BTC_AGENT), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            until(lambda: all_named(client, 3), 60, "the worker to name the scheduled runs")
            assert worker.poll() is None
        finally:
            code = stop(worker)
            client.delete_deployment(deployment.id)  # the next tests serve it afresh
    assert code in {0, -signal.SIGTERM}  # stopped, as `prefect worker start` would be
    assert "named" in (tmp_path / "worker.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def served(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    """`btc-agent serve` against the server, on hour-long rounds; stopped with SIGTERM afterwards."""
    tmp_path = tmp_path_factory.mktemp("serve")
    env = agent_env(prefect_api, tmp_path, wake_lead_far_from_now())
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BTC_AGENT), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            stop(process)
    print((tmp_path / "serve.log").read_text(errors="replace")[-3000:])


def test_scheduled_runs_carry_their_round_slugs_through_pause_and_resume(
    prefect_api: str, served: subprocess.Popen[bytes]
) -> None:
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(prefect_api) as client:
        runs = until(lambda: all_named(client, 3), 60, "three scheduled runs named after their rounds")
        assert served.poll() is None
        starts = sorted(run.expected_start_time for run in runs if run.expected_start_time)
        assert starts[0] > datetime.now(UTC) + timedelta(minutes=15)
        assert len({run.name for run in runs}) == len(runs)  # one run per round
        assert all(run.name.startswith("btc-updown-60m-") for run in runs)

        deployment = client.read_deployment_by_name(DEPLOYMENT)
        client.pause_deployment(deployment.id)
        until(lambda: not scheduled_runs(client) or None, 20, "the pause to delete the scheduled runs")
        client.resume_deployment(deployment.id)
        recreated = until(lambda: all_named(client, 3), 60, "the recreated runs to be named")
        assert {run.id for run in recreated}.isdisjoint({run.id for run in runs})
        assert {run.name for run in recreated} >= {run.name for run in runs}


def test_an_ad_hoc_run_is_named_after_its_round_slug_parameter(
    prefect_api: str, served: subprocess.Popen[bytes]
) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.states import Scheduled

    open_s = (int(time.time()) // ROUND_S + 30) * ROUND_S
    slug = f"btc-updown-60m-{open_s}"
    with SyncPrefectClient(prefect_api) as client:
        deployment = until(lambda: _deployment(client), 60, "btc-agent serve to create the deployment")
        run = client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"round_slug": slug},
            state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(days=2)),
        )
        assert run.name != slug
        until(lambda: client.read_flow_run(run.id).name == slug, 20, f"the ad-hoc run to be named {slug}")
        client.delete_flow_run(run.id)


def _deployment(client: SyncPrefectClient) -> DeploymentResponse | None:
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name(DEPLOYMENT)
    except ObjectNotFound:
        return None
