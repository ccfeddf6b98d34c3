"""Screenshots of what operators and analysts see, taken on this machine, offline, in Debian's Chromium.

It starts what `btc-agent demo` starts, on ports of its own and in a work directory of its own: a Prefect
server with its UI, the simulated venue with short rounds, and the round deployment served on paper
(`btc-agent serve`). It lets a few rounds run, arms a feed fault in one of them through the venue's
`POST /_sim/faults` (an 8 s price-feed silence, malformed market frames, a dropped market connection),
runs `btc-agent backtest` against the same Prefect server, then opens the pages in Chromium with
Playwright and saves PNGs:

  prefect-runs.png         the flow runs list: round names, tags with status, winner and P&L
  prefect-upcoming.png     the round deployment's upcoming runs, already named after their rounds
  prefect-round.png        the fault round's run page, Artifacts tab: its report and summary cards
  prefect-round-report.png that round's report artifact (decisions, fills, feeds, halts and trips)
  prefect-history.png      the run-history table artifact: every round of the day, cumulative P&L
  backtest-report.png      the backtest's HTML report: summary, results, settings, equity per variant
  backtest-charts.png      its charts: equity per strategy, drawdown, P&L per strategy and per round,
                           calibration

Usage: .venv/bin/python deploy/scripts/screenshots.py --fresh   (about 15 minutes on 2 cores)
`--rounds 0` reuses the rounds already in the work directory and takes the pictures again (the deployment
is served meanwhile, so a round may run); `--backtest-report PATH` shoots an existing report instead of
running a backtest. On the way out the deployment is paused and a round in flight is let finish.
Needs `apt-get install chromium` and the `playwright` package (no `playwright install`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from core.market.rounds import RoundSchedule
from flows.run_names import deployment_runs

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect, Page
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
PRICE_FILE = ROOT.parent / "shared" / "data" / "binance_btcusdt_1m_30d" / "binance_1m.csv"
DEPLOYMENT = "round-flow/agent-rounds"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
FAULT = {"silence": {"rtds": 8}, "malformed": {"market": 3}, "drop": ["market"]}
FAULT_MARKER = "fault-round.txt"
HISTORY_KEY = "run-history"
QUIET_MS = 20_000
T = TypeVar("T")

SCREEN_HEIGHT = 900
OVERFLOW_JS = """() => {
  let extra = document.documentElement.scrollHeight - window.innerHeight;
  for (const el of document.querySelectorAll('*')) {
    const style = getComputedStyle(el);
    if ((style.overflowY === 'auto' || style.overflowY === 'scroll') && el.clientHeight > 300)
      extra = Math.max(extra, el.scrollHeight - el.clientHeight);
  }
  return extra;
}"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="deploy/scripts/screenshots.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=ROOT / ".demo" / "screenshots",
        help="Prefect database, agent store, logs and the backtest report (default .demo/screenshots)",
    )
    parser.add_argument("--fresh", action="store_true", help="empty the work dir first")
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds to let run (0: reuse those in the work dir)"
    )
    parser.add_argument("--round-seconds", type=int, default=120, help="round length of the venue")
    parser.add_argument("--active-seconds", type=int, default=36, help="active window at each round's end")
    parser.add_argument(
        "--fault-round",
        type=int,
        default=2,
        help="which of the rounds gets the feed fault (1-based, 0: none)",
    )
    parser.add_argument(
        "--backtest-report", type=Path, help="an existing backtest index.html to shoot instead of running one"
    )
    parser.add_argument("--backtest-start", default="2025-12-10", help="first day of the backtest (UTC)")
    parser.add_argument("--backtest-end", default="2025-12-12", help="the backtest ends before this day")
    parser.add_argument("--price-file", type=Path, default=PRICE_FILE, help="Binance 1m CSV for the backtest")
    parser.add_argument("--width", type=int, default=1440, help="browser viewport width")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave everything up after the shots until Ctrl-C"
    )
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until(probe: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 1.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting {timeout_s:.0f} s for {what}")
        time.sleep(every_s)


def say(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", flush=True)


@dataclass
class Stack:
    """The Prefect server, the simulated venue and `btc-agent serve`, and how to reach them."""

    work: Path
    schedule: RoundSchedule
    env: dict[str, str]
    api_url: str
    ui_url: str
    sim_url: str


def agent_env(work: Path, schedule: RoundSchedule, prefect_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BTC_AGENT_", "PREFECT_"))}
    env.update(
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_HOME=str(work / "prefect"),
        PREFECT_API_URL=f"http://127.0.0.1:{prefect_port}/api",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        BTC_AGENT_DATA_DIR=str(work / "data"),
        BTC_AGENT_ROUND_SECONDS=str(schedule.length_s),
        BTC_AGENT_ACTIVATION_LEAD_SECONDS=str(schedule.activation_lead_s),
        BTC_AGENT_WAKE_LEAD_SECONDS=str(schedule.wake_lead_s),
        BTC_AGENT_RISK__MIN_BOOK_DEPTH_SHARES="5",
    )
    return env


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child in a session of its own, SIGTERMed (then SIGKILLed) on the way out."""
    with log.open("ab") as out:
        child = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()


@contextlib.contextmanager
def stack(args: argparse.Namespace) -> Iterator[Stack]:
    from core.sim.market_maker import MarketMakerConfig
    from core.sim.server import SimServer
    from core.sim.venue import SimConfig

    work = args.work_dir.resolve()
    if args.fresh and work.exists():
        shutil.rmtree(work)
    (work / "prefect").mkdir(parents=True, exist_ok=True)
    wake = max(60, (args.active_seconds + 59) // 60 * 60)
    schedule = RoundSchedule(args.round_seconds, args.active_seconds, wake)
    port = free_port()
    env = agent_env(work, schedule, port)
    server_cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with process(server_cmd, env, work / "prefect-server.log") as server:
        api = env["PREFECT_API_URL"]
        until(lambda: server.poll() is None and _healthy(api), 90, "the Prefect server", 0.5)
        say(f"Prefect UI at http://127.0.0.1:{port} (log {work / 'prefect-server.log'})")
        sim_config = SimConfig(
            round_seconds=schedule.length_s, market_maker=MarketMakerConfig(fair_noise=0.05)
        )
        with SimServer(sim_config) as sim:
            for name, url in sim.urls.model_dump().items():
                if name.endswith("_url"):
                    env[f"BTC_AGENT_VENUE__{name.upper()}"] = url
            say(f"simulated venue at {sim.base_url}; rounds of {schedule.length_s} s, cron {schedule.cron()}")
            with process([str(BIN / "btc-agent"), "serve"], env, work / "serve.log") as serve:
                yield Stack(work, schedule, env, api, f"http://127.0.0.1:{port}", sim.base_url)
                if serve.poll() is not None:
                    say(f"btc-agent serve exited with {serve.returncode}; see {work / 'serve.log'}")


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def run_rounds(client: SyncPrefectClient, s: Stack, count: int, fault_round: int) -> None:
    """Let the next `count` rounds run, arming the feed fault a few seconds into the active window of the
    `fault_round`-th, and wait until each round's run has finished."""
    first = s.schedule.next_to_wake(int(time.time() * 1000) + 5_000)
    rounds = [first]
    while len(rounds) < count:
        rounds.append(rounds[-1].next())
    say(
        f"letting {count} rounds run: {rounds[0].slug} .. {rounds[-1].slug} (until {rounds[-1].close:%H:%M:%S} UTC)"
    )
    if 0 < fault_round <= count:
        faulty = rounds[fault_round - 1]
        at_s = faulty.activation_ms / 1000 + 4
        until(
            lambda: time.time() >= at_s or None, faulty.close_s - time.time() + 5, "the fault's moment", 0.2
        )
        answer = httpx.post(f"{s.sim_url}/_sim/faults", json=FAULT, timeout=5)
        answer.raise_for_status()
        say(f"feed fault armed in {faulty.slug}: {json.dumps(FAULT)}")
        (s.work / FAULT_MARKER).write_text(faulty.slug)
    slugs = {r.slug for r in rounds}

    def finished() -> list[FlowRun] | None:
        runs = [run for run in deployment_runs(client) if run.name in slugs]
        done = [run for run in runs if run.state_type is not None and run.state_type.value in FINAL]
        return done if len({run.name for run in done}) == len(slugs) else None

    wait_s = rounds[-1].close_s - time.time() + 240
    for run in sorted(until(finished, wait_s, "the rounds to finish", 3), key=lambda r: r.name):
        say(f"  {run.name}: {run.state_name} {' '.join(t for t in run.tags if ':' in t)}")


def run_backtest(s: Stack, args: argparse.Namespace) -> Path:
    report_dir = s.work / "backtest"
    if not args.price_file.exists():
        raise SystemExit(f"no price file at {args.price_file}: pass --price-file or --backtest-report")
    command = [
        str(BIN / "btc-agent"),
        "backtest",
        "--start",
        args.backtest_start,
        "--end",
        args.backtest_end,
        "--price-file",
        str(args.price_file),
        "--grid",
        '{"fair_value": {"margin": [0.02, 0.04]}}',
        "--report-dir",
        str(report_dir),
    ]
    # The venue's 15-minute rounds (not the demo's short ones), and a store of its own.
    env = {k: v for k, v in s.env.items() if not k.startswith("BTC_AGENT_")}
    env["BTC_AGENT_DATA_DIR"] = str(s.work / "backtest-data")
    say(f"backtest: {' '.join(command[1:])}")
    with (s.work / "backtest.log").open("ab") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=1800)
    pages = sorted(report_dir.rglob("index.html"), key=lambda p: p.stat().st_mtime)
    if not pages:
        raise SystemExit(
            f"the backtest wrote no index.html under {report_dir}; see {s.work / 'backtest.log'}"
        )
    return pages[-1]


def pick_round(client: SyncPrefectClient, work: Path) -> FlowRun:
    """The run to show: the last fault round's (its slug is kept in the work dir), else the latest
    finished round that traded."""
    runs = {
        run.name: run for run in deployment_runs(client) if run.state_type and run.state_type.value in FINAL
    }
    marker = work / FAULT_MARKER
    faulty = marker.read_text().strip() if marker.exists() else ""
    if faulty in runs:
        return runs[faulty]
    finished = sorted(
        runs.values(), key=lambda run: run.expected_start_time or datetime.min.replace(tzinfo=UTC)
    )
    traded = [run for run in finished if "traded:yes" in run.tags]
    if not finished:
        raise SystemExit("no finished round in the work directory: run with --rounds 1 or more")
    return (traded or finished)[-1]


def report_id(client: SyncPrefectClient, run: FlowRun) -> str:
    """The round's report: the markdown artifact its run published (the newest, should it have several)."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
    from prefect.client.schemas.sorting import ArtifactSort

    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]), type=ArtifactFilterType(any_=["markdown"])
        ),
        sort=ArtifactSort.UPDATED_DESC,
    )
    if not found:
        raise SystemExit(f"{run.name} published no markdown artifact")
    return str(found[0].id)


def history_id(client: SyncPrefectClient) -> str:
    """The latest version of the paper run-history table artifact."""
    from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

    found = client.read_latest_artifacts(
        artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(like_=HISTORY_KEY))
    )
    found = [a for a in found if a.type == "table" and "paper" in a.key] or found
    if not found:
        raise SystemExit(f"no artifact whose key holds {HISTORY_KEY!r} in Prefect")
    return str(found[0].latest_id)


@dataclass(frozen=True)
class Shot:
    """One page to save: where, the text that shows it has rendered, a tab to open first, whether to
    capture the whole page (else the first screen), or only the part from the heading `start` to the
    heading `stop` (a missing heading: from the top, or `max_height` down)."""

    name: str
    url: str
    expect: str = ""
    tab: str = ""
    whole: bool = True
    start: str = ""
    stop: str = ""
    max_height: int = 6000
    width: int = 0
    """A wider window than the others (0: the --width)."""


def shots_of(s: Stack, client: SyncPrefectClient, run: FlowRun, backtest: Path) -> list[Shot]:
    ui = s.ui_url
    report, history = report_id(client, run), history_id(client)
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    backtest_page = backtest.resolve().as_uri()
    return [
        Shot("prefect-runs.png", f"{ui}/runs", "pnl:"),
        Shot(
            "prefect-upcoming.png",
            f"{ui}/deployments/deployment/{deployment.id}",
            "btc-updown-",
            tab="Upcoming",
            whole=False,
        ),
        Shot("prefect-round.png", f"{ui}/runs/flow-run/{run.id}", run.name, "Artifacts"),
        # Wider: the feeds table has nine columns.
        Shot("prefect-round-report.png", f"{ui}/artifacts/artifact/{report}", "Decisions", width=1760),
        Shot("prefect-history.png", f"{ui}/artifacts/artifact/{history}", "cumulative"),
        Shot("backtest-report.png", backtest_page, stop="Equity per strategy"),
        Shot("backtest-charts.png", backtest_page, start="Equity per strategy", stop="Every round"),
    ]


def shoot_all(shots: list[Shot], *, out: Path, width: int) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": SCREEN_HEIGHT}, device_scale_factor=1)
        for shot in shots:
            page.set_viewport_size({"width": shot.width or width, "height": SCREEN_HEIGHT})
            shoot(page, shot, out / shot.name)
        browser.close()


def shoot(page: Page, shot: Shot, path: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(shot.url, wait_until="networkidle")
    if shot.tab:
        page.get_by_text(shot.tab, exact=True).first.click()
    if shot.expect:
        try:
            page.get_by_text(shot.expect, exact=False).first.wait_for(timeout=30_000)
        except PlaywrightTimeout:  # the page changed: take it anyway, and say so
            say(f"warning: {shot.url} shows no {shot.expect!r} after 30 s; look at {path.name}")
    page.wait_for_timeout(1500)  # charts and cards finish drawing
    if shot.start or shot.stop:
        png = page.screenshot(full_page=True, clip=section(page, shot))
    elif shot.whole:
        # The Prefect UI scrolls inside its router view, not the document: grow the window until the
        # page fits (the layout may move as it grows).
        for _ in range(4):
            extra = int(page.evaluate(OVERFLOW_JS))
            size = page.viewport_size or {"width": 1440, "height": SCREEN_HEIGHT}
            if extra <= 0 or size["height"] >= shot.max_height:
                break
            height = min(shot.max_height, size["height"] + extra + 24)
            page.set_viewport_size({"width": size["width"], "height": height})
            page.wait_for_timeout(800)
        png = page.screenshot()
    else:
        png = page.screenshot()
    path.write_bytes(shrink(png))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    say(f"saved {shown} ({path.stat().st_size // 1024} KB)")


HEADING_JS = """(text) => {
  for (const h of document.querySelectorAll('h1, h2, h3'))
    if (h.textContent.trim().startsWith(text)) return h.getBoundingClientRect().top + window.scrollY;
  return null;
}"""


def section(page: Page, shot: Shot) -> FloatRect:
    """The page's strip from the heading `start` (or the top) to just above the heading `stop`."""
    found_start = page.evaluate(HEADING_JS, shot.start) if shot.start else None
    top = max(0.0, float(found_start) - 16) if found_start is not None else 0.0
    found_stop = page.evaluate(HEADING_JS, shot.stop) if shot.stop else None
    height = float(page.evaluate("() => document.documentElement.scrollHeight")) - top
    if found_stop is not None and float(found_stop) > top:
        height = float(found_stop) - 16 - top
    width = float((page.viewport_size or {"width": 1440})["width"])
    return {"x": 0.0, "y": top, "width": width, "height": min(height, float(shot.max_height))}


def shrink(png: bytes) -> bytes:
    """Palette PNG (UI pages use few colours), optimised; keeps the full page."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(png) else png


def resume_rounds(client: SyncPrefectClient) -> None:
    """Resume the deployment if a previous run of this script left it paused, then wait for its upcoming
    runs, every one named after its round (the serving process's `RunNamer`)."""
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound

    def deployment() -> Any:
        with contextlib.suppress(ObjectNotFound):
            return client.read_deployment_by_name(DEPLOYMENT)
        return None

    found = until(deployment, 90, "btc-agent serve to create the round deployment")
    if found.paused:
        client.resume_deployment(found.id)

    def named() -> list[FlowRun] | None:
        runs = deployment_runs(client, [StateType.SCHEDULED])
        return runs if runs and all(run.name.startswith("btc-updown-") for run in runs) else None

    upcoming = sorted(run.name for run in until(named, 90, "upcoming runs named after their rounds"))
    say(f"{len(upcoming)} upcoming runs: {', '.join(upcoming[:3])}, ...")


def wind_down(client: SyncPrefectClient, schedule: RoundSchedule) -> None:
    """Let a round in flight finish, then pause the deployment while none is about to start (pausing is
    the kill switch: it would halt a running round), so Prefect deletes the scheduled runs and a later
    start runs no stale ones; stopping then leaves no cancelled or halted round behind."""
    from prefect.client.schemas.objects import StateType

    active = [StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]

    def quiet() -> bool | None:
        now_ms = int(time.time() * 1000)
        next_wake_ms = schedule.next_to_wake(now_ms).wake_ms
        return (next_wake_ms - now_ms > QUIET_MS and not deployment_runs(client, active)) or None

    with contextlib.suppress(Exception):
        say("waiting for a quiet moment (no round running, none about to start) to pause the deployment")
        with contextlib.suppress(SystemExit):  # rounds back to back: pause anyway
            until(quiet, schedule.length_s + 180, "a quiet moment")
        client.pause_deployment(client.read_deployment_by_name(DEPLOYMENT).id)
        say("deployment paused")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with stack(args) as s:
        from prefect.client.orchestration import SyncPrefectClient

        with SyncPrefectClient(s.api_url) as client:
            try:
                resume_rounds(client)
                if args.rounds > 0:
                    run_rounds(client, s, args.rounds, args.fault_round)
                backtest = args.backtest_report or run_backtest(s, args)
                run = pick_round(client, s.work)
                say(f"round shown: {run.name} ({run.state_name}, {', '.join(run.tags)})")
                shoot_all(shots_of(s, client, run, backtest), out=args.out, width=args.width)
                if args.keep_running:
                    say(f"everything is up (Prefect UI {s.ui_url}); Ctrl-C stops it")
                    with contextlib.suppress(KeyboardInterrupt):
                        signal.pause()
            finally:
                wind_down(client, s.schedule)
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
