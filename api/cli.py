"""`btc-agent api` (serve the API, or export its OpenAPI document) and `btc-agent users add`. Only typer is
imported up front: FastAPI, uvicorn and the store load when a command runs, so `--help` stays quick."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from core.cli import settings_or_exit

users_app = typer.Typer(
    help="Users of the API (roles: viewer < analyst < operator < admin).", no_args_is_help=True
)


def api(
    openapi: Annotated[
        str | None,
        typer.Option(help="Write the OpenAPI document to this file ('-': standard output) and exit."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listen here; default BTC_AGENT_API__HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; default BTC_AGENT_API__PORT.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes; default BTC_AGENT_API__WORKERS (1)."),
    ] = None,
) -> None:
    """Serve the HTTP API (status, history, metrics) after bringing the store's schema up to date. It does
    not start without a key to sign sessions: BTC_AGENT_API__JWT_SECRET, or one it keeps in the data dir."""
    from api.main import create_app, openapi_document

    settings = settings_or_exit()
    if openapi is not None:
        document = openapi_document(create_app(settings))
        if openapi == "-":
            sys.stdout.write(document)
        else:
            Path(openapi).write_text(document)
            typer.echo(f"OpenAPI document written to {openapi}")
        return

    import uvicorn

    from api.security import SigningKey, SigningKeyError
    from api.serving import LOOP, NoDelayHttpProtocol, freeze_loaded_heap
    from core.store.db import migrate

    try:
        SigningKey(settings).get()
    except (SigningKeyError, OSError) as exc:
        typer.secho(f"the API does not start without a signing key: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    migrate(settings.resolved_database_url)
    listen_host, listen_port = host or settings.api.host, port or settings.api.port
    processes = workers or settings.api.workers
    typer.secho(
        f"API on http://{listen_host}:{listen_port} (docs at /docs), {processes} worker process(es)",
        fg=typer.colors.GREEN,
    )
    served: dict[str, Any] = {
        "host": listen_host,
        "port": listen_port,
        "http": NoDelayHttpProtocol,
        "loop": LOOP,
        "proxy_headers": False,
        "log_level": "info",
    }
    if processes == 1:
        app = create_app(settings)
        freeze_loaded_heap()
        uvicorn.run(app, **served)
        return
    # Each worker builds its app from the same environment (its own pool, caches and, without Redis, its
    # own login counts).
    uvicorn.run("api.main:app_from_environment", factory=True, workers=processes, **served)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user name to log in with.")],
    role: Annotated[
        str, typer.Option(help="What the user may do: viewer, analyst, operator or admin.")
    ] = "viewer",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input instead of asking."),
    ] = False,
) -> None:
    """Create a user. The password is asked for twice (or read from standard input); there is no default."""
    from sqlmodel import Session

    from api.auth import UserExistsError, create_user, password_problem
    from core.store.auth import Role
    from core.store.db import make_engine, migrate

    settings = settings_or_exit()
    if role not in set(Role):
        typer.secho(f"--role {role!r}: use one of {', '.join(Role)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(
            "password", hide_input=True, confirmation_prompt=True, default="", show_default=False
        )
    problem = password_problem(password)
    if problem is not None:
        typer.secho(f"user {name} not added: {problem}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    url = settings.resolved_database_url
    migrate(url)
    store = make_engine(url)
    try:
        with Session(store) as session:
            user = create_user(session, name, Role(role), password, now=datetime.now(UTC))
    except UserExistsError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    except ValueError as exc:
        typer.secho(f"user {name} not added: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    finally:
        store.dispose()
    typer.secho(f"user {user.name} added with role {user.role}", fg=typer.colors.GREEN)


def register(app: typer.Typer) -> None:
    """Add the API's commands to the `btc-agent` app."""
    app.command("api")(api)
    app.add_typer(users_app, name="users")
