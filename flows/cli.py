"""`btc-agent`: the core's commands plus the orchestration ones (demo, deploy, worker, kill, resume,
backtest, run). Prefect is imported only by the commands that need it, so `--help` stays quick."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer

from api.cli import register as register_api_commands
from core.cli import app, settings_or_exit
from core.market.rounds import RoundSchedule

if TYPE_CHECKING:
    from core.config import Settings
    from tasks.control import Step

PREFECT_PORT = 4200
SIM_PORT = 8765
API_PORT = 8000
CONSOLE_PORT = 3000
WEB = Path(__file__).resolve().parents[1] / "web"
DEMO_ADMIN = "demo-admin"


def _prefect_env() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")


@app.command()
def kill(
    reason: Annotated[str, typer.Option(help="Why: recorded with the operator action.")] = "operator halt",
    actor: Annotated[str, typer.Option(help="Who is halting.")] = os.environ.get("USER", "operator"),
) -> None:
    """The kill switch: the local halt file first (a running round here halts within a second, database or
    not), then the store's halt flag with an operator action, then the round deployment is paused. Each
    step is reported; exit status 1 when one of them could not be done."""
    from core.live.halt import FAST_PATH_WRITTEN, HaltNotice, data_dir_from_env, halt_path

    settings, problem = _settings_or_problem()
    data_dir = settings.data_dir if settings is not None else data_dir_from_env()
    already = FAST_PATH_WRITTEN.get(halt_path(data_dir))
    if already is not None and (already.actor, already.reason) != (actor, reason):
        already = None
    notice = already or HaltNotice.now(actor, reason)
    typer.secho(f"HALT by {actor}: {reason}", fg=typer.colors.RED, bold=True)

    from tasks.control import put_halt_file

    steps = [_show(put_halt_file(data_dir, notice, already=already))]
    if settings is None:
        typer.secho(f"store flag and deployment not touched: {problem}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    from core.risk.state import KillSource, KillSwitch
    from tasks.control import set_deployment_step, set_store_flag

    switch = KillSwitch(engaged=True, reason=reason, source=KillSource.MANUAL, since_ms=notice.at_ms)
    url = settings.resolved_database_url
    steps.append(_show(set_store_flag(url, switch, actor=actor, action="halt", reason=reason)))
    _prefect_env()
    steps.append(_show(asyncio.run(set_deployment_step(True))))
    _finish(steps, "HALTED", "halted, but not everywhere: fix what failed and run kill again")


@app.command()
def resume(
    reason: Annotated[str, typer.Option(help="Why trading may go on.")] = "operator resume",
    actor: Annotated[str, typer.Option(help="Who is resuming.")] = os.environ.get("USER", "operator"),
) -> None:
    """Undo `kill`: remove the halt file, clear the store's halt flag (recording who and why) and resume the
    round deployment (future rounds are scheduled again). A round halted earlier stays halted."""
    from core.risk.state import KillSwitch
    from tasks.control import remove_halt_file, set_deployment_step, set_store_flag

    settings = settings_or_exit()
    steps = [_show(remove_halt_file(settings.data_dir))]
    steps.append(
        _show(
            set_store_flag(
                settings.resolved_database_url, KillSwitch(), actor=actor, action="resume", reason=reason
            )
        )
    )
    _prefect_env()
    steps.append(_show(asyncio.run(set_deployment_step(False))))
    _finish(
        steps, f"resumed: {reason}", "NOT fully resumed: what failed still halts; fix it and run resume again"
    )


def _settings_or_problem() -> tuple[Settings | None, str]:
    from core.config import SettingsError, load_settings

    try:
        return load_settings(), ""
    except SettingsError as exc:
        return None, str(exc)


def _show(step: Step) -> Step:
    colour = {"done": typer.colors.GREEN, "skipped": typer.colors.YELLOW}.get(step.outcome, typer.colors.RED)
    typer.secho(f"  {step.layer:<11} {step.outcome:<8} {step.detail}", fg=colour)
    return step


def _finish(steps: list[Step], success: str, partial: str) -> None:
    if any(step.failed for step in steps):
        typer.secho(partial, fg=typer.colors.RED, bold=True)
        raise typer.Exit(1)
    typer.secho(
        success, fg=typer.colors.GREEN if success.startswith("resumed") else typer.colors.RED, bold=True
    )


@app.command()
def deploy() -> None:
    """Create the `agent` process work pool if missing, then deploy prefect.yaml (rounds on cron, backtests)."""
    _prefect_env()
    prefect = [sys.executable, "-m", "prefect"]
    pools = subprocess.run([*prefect, "work-pool", "ls"], capture_output=True, text=True, check=False)
    if " agent " not in pools.stdout:
        subprocess.run([*prefect, "work-pool", "create", "agent", "--type", "process"], check=True)
    subprocess.run([*prefect, "--no-prompt", "deploy", "--all"], check=True)


@app.command()
def worker() -> None:
    """Start a process worker on the `agent` pool: it runs the round and backtest flows. This process
    keeps the round deployment's upcoming runs named after their rounds meanwhile."""
    _prefect_env()
    from flows.run_names import RunNamer

    settings = settings_or_exit()
    # Its own session: Ctrl-C and SIGTERM reach the worker once, forwarded from here.
    child = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "agent", "--type", "process"],
        start_new_session=True,
    )

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    with RunNamer(_schedule_of(settings)):
        code = child.wait()
    if code < 0:  # the worker died of a signal: so does this process, as when it exec'ed the worker
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    raise typer.Exit(code)


@app.command()
def serve() -> None:
    """Serve the round deployment from this process, without a work pool: rounds on the cron of the
    settings' schedule (BTC_AGENT_ROUND_SECONDS, ..._WAKE_LEAD_SECONDS), upcoming runs named after their
    rounds. Needs PREFECT_API_URL pointing at a Prefect server. Ctrl-C stops serving (the deployment stays
    unpaused)."""
    _prefect_env()
    _serve_rounds(_schedule_of(settings_or_exit()))


def _schedule_of(settings: Settings) -> RoundSchedule:
    return RoundSchedule(settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds)


def _serve_rounds(schedule: RoundSchedule) -> None:
    """`round-flow/agent-rounds` served here on the schedule's cron, with a `RunNamer` beside it, and
    `backtest-flow/backtest` (no schedule: the API and the Prefect UI start its runs)."""
    from prefect import serve

    from flows.backtest import backtest_flow
    from flows.round import round_flow
    from flows.run_names import RunNamer

    deployment = round_flow.to_deployment(name="agent-rounds", cron=schedule.cron())
    backtests = backtest_flow.to_deployment(name="backtest")
    with RunNamer(schedule):
        serve(deployment, backtests, pause_on_shutdown=False)  # type: ignore[arg-type]


@app.command("run")
def run_now(
    paper: Annotated[
        bool, typer.Option("--paper/--live", help="Paper (default) or live, if settings allow live.")
    ] = True,
    slug: Annotated[str | None, typer.Option(help="A round slug; default the next round to wake.")] = None,
) -> None:
    """Run one round now, outside any deployment (the venue URLs from settings: Polymarket's by default)."""
    from flows.round import round_flow

    _prefect_env()
    settings = settings_or_exit()
    if not paper and not settings.live_trading_allowed:
        typer.secho(
            "--live needs BTC_AGENT_MODE=live, a private key and BTC_AGENT_LIVE_CONFIRMED=true",
            err=True,
            fg="red",
        )
        raise typer.Exit(2)
    outcome = asyncio.run(round_flow(round_slug=slug))
    if outcome is None:
        typer.echo(f"{slug or 'the round'}: skipped (see the log above for why)")
        return
    if outcome.status == "aborted":
        typer.secho(f"{outcome.slug}: aborted: {outcome.reason}", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(
        f"{outcome.slug}: {outcome.status}, attempt {outcome.attempt}, {outcome.orders} orders, "
        f"{outcome.fills} fills, P&L {outcome.pnl}"
    )


@app.command()
def backtest(
    start: Annotated[datetime, typer.Option(help="First round's open (UTC).")],
    end: Annotated[datetime, typer.Option(help="Rounds opening before this (UTC).")],
    source: Annotated[
        str, typer.Option(help="generated (from --price-file) or tapes (from --tape-dir).")
    ] = "generated",
    price_file: Annotated[Path | None, typer.Option(help="Binance 1m CSV for generated rounds.")] = None,
    tape_dir: Annotated[Path | None, typer.Option(help="Folder of recorded round tapes.")] = None,
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategy names.")
    ] = "fair_value,momentum,mean_reversion",
    grid: Annotated[
        str | None, typer.Option(help='Parameter grid as JSON, e.g. {"fair_value": {"margin": [0.02, 0.04]}}')
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option(help="Where the report goes; default under the data dir.")
    ] = None,
) -> None:
    """Backtest past rounds through the same engine, on a local Dask cluster (or BTC_AGENT_DASK_ADDRESS)."""
    from core.backtest.runner import BacktestError, expand_grid, parse_grid
    from flows.backtest import backtest_flow

    _prefect_env()
    settings_or_exit()
    names = [name.strip() for name in strategies.split(",") if name.strip()]
    try:
        expand_grid(names, parse_grid(grid))
        table = backtest_flow(
            source=source,
            start=start if start.tzinfo else start.replace(tzinfo=UTC),
            end=end if end.tzinfo else end.replace(tzinfo=UTC),
            strategies=names,
            params_grid=grid,
            price_file=str(price_file) if price_file else None,
            tape_dir=str(tape_dir) if tape_dir else None,
            report_dir=str(report_dir) if report_dir else None,
        )
    except BacktestError as exc:
        typer.secho(str(exc), err=True, fg="red")
        raise typer.Exit(2) from None
    for row in table:
        typer.echo(
            f"{row['variant']:<50} rounds {row['rounds']:>5}  traded {row['traded']:>5}  P&L {row['pnl']:>12}"
        )


@app.command()
def demo(
    round_seconds: Annotated[int, typer.Option(help="Round length of the demo venue.")] = 120,
    active_seconds: Annotated[int, typer.Option(help="The active window at the end of each round.")] = 36,
    fresh: Annotated[bool, typer.Option(help="Start from empty demo state (.demo/).")] = False,
) -> None:
    """The whole agent on this machine, no internet, no credentials: a Prefect server, the simulated venue
    with short rounds, and the round deployment served, trading on paper. Ctrl-C stops everything."""
    root = Path.cwd() / ".demo"
    if fresh and root.exists():
        shutil.rmtree(root)
    wake = max(60, (active_seconds + 59) // 60 * 60)
    if wake > round_seconds:
        typer.secho(
            f"rounds of {round_seconds} s cannot wake {wake} s before their close", err=True, fg="red"
        )
        raise typer.Exit(2)
    schedule = RoundSchedule(round_seconds, active_seconds, wake)
    env = {
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
        "BTC_AGENT_DATA_DIR": str(root / "data"),
        "BTC_AGENT_ROUND_SECONDS": str(round_seconds),
        "BTC_AGENT_ACTIVATION_LEAD_SECONDS": str(active_seconds),
        "BTC_AGENT_WAKE_LEAD_SECONDS": str(wake),
        "BTC_AGENT_RISK__MIN_BOOK_DEPTH_SHARES": "5",
    }
    os.environ.update(env)
    _prefect_env()
    from core.sim.market_maker import MarketMakerConfig
    from core.sim.server import SimServer
    from core.sim.venue import SimConfig

    sim = SimServer(
        SimConfig(round_seconds=round_seconds, market_maker=MarketMakerConfig(fair_noise=0.05)), port=SIM_PORT
    ).start()
    for name, url in sim.urls.model_dump().items():
        if name.endswith("_url"):
            os.environ[f"BTC_AGENT_VENUE__{name.upper()}"] = url
    (root / "prefect").mkdir(parents=True, exist_ok=True)
    server_log = (root / "prefect-server.log").open("ab")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(PREFECT_PORT),
        ],
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    password = _demo_admin()
    api_server = subprocess.Popen(
        [str(Path(sys.executable).with_name("btc-agent")), "api", "--port", str(API_PORT)],
        stdout=(root / "api.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    console = _start_console(root)
    try:
        _wait_for(f"http://127.0.0.1:{PREFECT_PORT}/api/health", "Prefect server", server)
        _wait_for(f"http://127.0.0.1:{API_PORT}/healthz", "API", api_server)
        if console is not None:
            _wait_for(f"http://127.0.0.1:{CONSOLE_PORT}/login", "console", console)
        _announce(password, console_up=console is not None)
        typer.echo(
            f"rounds of {round_seconds} s, active for the last {active_seconds} s, runs start {wake} s before the close (cron {schedule.cron()})"
        )
        env_prefix = (
            f"BTC_AGENT_DATA_DIR={env['BTC_AGENT_DATA_DIR']} PREFECT_API_URL={env['PREFECT_API_URL']}"
        )
        typer.echo(f"kill switch (another terminal): {env_prefix} .venv/bin/btc-agent kill --reason why")
        typer.echo("  (or pause the deployment in the UI); Ctrl-C stops the demo")
        _serve_rounds(schedule)
    except KeyboardInterrupt:
        typer.echo("stopping the demo")
    finally:
        for process in (console, api_server, server):
            if process is None:
                continue
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
        server_log.close()
        sim.stop()


def _announce(password: str, *, console_up: bool) -> None:
    if console_up:
        typer.secho(f"console:           http://127.0.0.1:{CONSOLE_PORT}", fg="green", bold=True)
    typer.secho(f"Prefect UI:        http://127.0.0.1:{PREFECT_PORT}", fg="green", bold=True)
    typer.secho(f"API:               http://127.0.0.1:{API_PORT}  (OpenAPI at /docs)", fg="green", bold=True)
    typer.secho(
        f"demo admin:        {DEMO_ADMIN} / {password}  (made for this demo only, new each start)",
        fg="green",
    )
    typer.secho(f"simulated venue:   http://127.0.0.1:{SIM_PORT}/_sim/state", fg="green")


def _start_console(root: Path) -> subprocess.Popen[bytes] | None:
    """The built console (`make demo` builds it) on CONSOLE_PORT, talking to the demo's API; None, with a
    line saying why, when there is no build."""
    npm = shutil.which("npm")
    if npm is None or not (WEB / ".next" / "BUILD_ID").exists():
        typer.secho("console:           not built (make web), not started", fg="yellow")
        return None
    import secrets

    env = {
        **os.environ,
        "NEXT_TELEMETRY_DISABLED": "1",
        "BTC_AGENT_API_URL": f"http://127.0.0.1:{API_PORT}",
        "CONSOLE_SESSION_SECRET": secrets.token_urlsafe(32),
        "PREFECT_UI_URL": f"http://127.0.0.1:{PREFECT_PORT}",
        "PORT": str(CONSOLE_PORT),
    }
    return subprocess.Popen(
        [npm, "run", "start", "--", "-p", str(CONSOLE_PORT), "-H", "127.0.0.1"],
        cwd=WEB,
        env=env,
        stdout=(root / "console.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _demo_admin() -> str:
    """The demo's admin with a fresh random password (the demo's own store only; there is no default)."""
    import secrets

    from sqlmodel import Session, col, select

    from api.auth import create_user
    from api.security import hash_password
    from core.store.auth import Role, UserRow
    from core.store.db import make_engine, migrate

    url = settings_or_exit().resolved_database_url
    migrate(url)
    password = secrets.token_urlsafe(12)
    store = make_engine(url)
    try:
        with Session(store) as session:
            found = session.exec(select(UserRow).where(col(UserRow.name) == DEMO_ADMIN)).first()
            if found is None:
                create_user(session, DEMO_ADMIN, Role.ADMIN, password, now=datetime.now(UTC))
            else:
                found.password_hash, found.role, found.active = (
                    hash_password(password),
                    Role.ADMIN.value,
                    True,
                )
                session.add(found)
                session.commit()
    finally:
        store.dispose()
    return password


def _wait_for(url: str, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            typer.secho(
                f"{what} exited with {process.returncode}; see .demo/prefect-server.log", err=True, fg="red"
            )
            raise typer.Exit(1)
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    typer.secho(f"{what} did not answer at {url} within 60 s", err=True, fg="red")
    raise typer.Exit(1)


register_api_commands(app)

__all__ = ["app"]

if __name__ == "__main__":
    app()
