"""`btc-agent`: the operator's command line for what the core knows (settings, store, round and fee math).

Orchestration commands (deploy, worker, kill, demo) join this app from the flows layer, so core stays free
of Prefect.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated

import typer

from core.clock import WallClock
from core.config import Settings, SettingsError, load_settings
from core.market.fees import CRYPTO_FEES_V2, FeeSchedule, buy_cost, taker_fee
from core.market.rounds import InvalidSlugError, RoundSchedule
from core.money import MoneyError

app = typer.Typer(
    name="btc-agent",
    help="An agent for Polymarket's 15-minute BTC Up/Down rounds. Paper trading unless told otherwise.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(
    help="The audit store (SQLite by default, PostgreSQL in production).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
sim_app = typer.Typer(
    help="The simulated venue: Polymarket's wire protocol on loopback.", no_args_is_help=True
)
app.add_typer(sim_app, name="sim")


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def schedule_of(settings: Settings) -> RoundSchedule:
    return RoundSchedule(settings.round_seconds, settings.activation_lead_seconds, settings.wake_lead_seconds)


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(package_version("polymarket-btc-agent"))


@app.command()
def config() -> None:
    """Show the effective settings as JSON, secrets masked."""
    typer.echo(json.dumps(settings_or_exit().public_view(), indent=2))


@app.command("round")
def round_info(
    slug: Annotated[str | None, typer.Option(help="A round slug, e.g. btc-updown-15m-1778437800.")] = None,
    at: Annotated[
        datetime | None, typer.Option(help="An instant (ISO 8601, UTC if no zone); default now.")
    ] = None,
) -> None:
    """Show a round: slug, window, activation and wake times, and the cron that starts its runs."""
    schedule = schedule_of(settings_or_exit())
    try:
        if slug is not None:
            current = schedule.from_slug(slug)
        else:
            instant = at if at is not None else WallClock().now()
            current = schedule.round_at(instant if instant.tzinfo else instant.replace(tzinfo=UTC))
    except InvalidSlugError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    try:
        cron = schedule.cron()
    except ValueError as exc:
        cron = f"n/a ({exc})"
    rows = {
        "slug": current.slug,
        "open": current.open.isoformat(),
        "close": current.close.isoformat(),
        "activation": current.activation.isoformat(),
        "wake": current.wake.isoformat(),
        "cron": cron,
    }
    for key, value in rows.items():
        typer.echo(f"{key:<11}{value}")


@app.command()
def fee(
    shares: Annotated[str, typer.Argument(help="Shares filled, e.g. 100.")],
    price: Annotated[str, typer.Argument(help="Fill price in (0, 1), e.g. 0.50.")],
    rate: Annotated[str, typer.Option(help="feeSchedule.rate of the market.")] = str(CRYPTO_FEES_V2.rate),
    exponent: Annotated[
        int, typer.Option(help="feeSchedule.exponent of the market.")
    ] = CRYPTO_FEES_V2.exponent,
) -> None:
    """The taker fee and the total cost of a BUY, as the venue computes them."""
    try:
        schedule = FeeSchedule(rate=Decimal(rate), exponent=exponent)
        fee_amount = taker_fee(shares, price, schedule)
        cost = buy_cost(shares, price, schedule)
    except (MoneyError, ArithmeticError) as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    typer.echo(f"taker fee  {fee_amount}\nbuy cost   {cost}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's schema to the latest revision."""
    from core.store.db import migrate

    settings = settings_or_exit()
    migrate(settings.resolved_database_url)
    typer.echo(f"store at {settings.public_view()['database_url']} is up to date")


@sim_app.command("serve")
def sim_serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of prices, books and ids: same seed, same market.")] = 7,
    round_seconds: Annotated[int, typer.Option(help="Round length; short rounds for demos.")] = 900,
    price_source: Annotated[
        str,
        typer.Option(help="model (seeded GBM), binance (1m CSV, bridged to 1 s) or chainlink (1 s CSV.gz)."),
    ] = "model",
    price_file: Annotated[Path | None, typer.Option(help="The CSV for binance/chainlink replays.")] = None,
    collateral: Annotated[str, typer.Option(help="pUSD each new API key starts with.")] = "1000",
    taker_delay_ms: Annotated[
        int, typer.Option(help="How long a taker order waits as `delayed` (about 250 ms on the real venue).")
    ] = 250,
) -> None:
    """Serve Gamma, the CLOB REST API and the market, user and price websockets, until Ctrl-C."""
    import uvicorn

    from core.clock import WallClock
    from core.sim.server import build_app, venue_urls
    from core.sim.venue import SimConfig, SimVenue

    if price_source not in ("model", "binance", "chainlink"):
        typer.secho(f"--price-source {price_source!r}: use model, binance or chainlink", err=True, fg="red")
        raise typer.Exit(2)
    if price_source != "model" and (price_file is None or not price_file.exists()):
        typer.secho(f"--price-source {price_source} needs an existing --price-file", err=True, fg="red")
        raise typer.Exit(2)
    config = SimConfig(
        seed=seed,
        round_seconds=round_seconds,
        price_source=price_source,  # type: ignore[arg-type]
        price_file=price_file,
        initial_collateral=Decimal(collateral),
        taker_delay_ms=taker_delay_ms,
    )
    venue = SimVenue(config, WallClock())
    urls = venue_urls(port)
    typer.echo(
        f"simulated venue on 127.0.0.1:{port} ({round_seconds} s rounds, seed {seed}); point the agent at it:"
    )
    for name, url in urls.model_dump().items():
        if name.endswith("_url"):
            typer.echo(f"  BTC_AGENT_VENUE__{name.upper()}={url}")
    typer.echo(
        f"  faults: POST http://127.0.0.1:{port}/_sim/faults   state: GET http://127.0.0.1:{port}/_sim/state"
    )
    uvicorn.run(build_app(venue), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


if __name__ == "__main__":
    app()
