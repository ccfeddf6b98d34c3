"""The `btc-agent` console script. Every command runs through the typer app in `flows.cli`, but `kill`
first puts the halt file down, before anything heavy is imported (typer, pydantic, the store, Prefect):
the kill switch's fast path. A running round on this machine sees the file within a tenth of a second;
`kill` then sets the store's flag and pauses the deployment, and says what it could and could not do."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["kill"]:
        fast_kill(args[1:])
    from flows.cli import app

    app()


def fast_kill(args: Sequence[str]) -> None:
    """Write the halt file for `kill [--reason R] [--actor A]`; anything else (`--help`, a typo) is left
    for typer to judge, and halts nothing here. Never raises: the kill command proper tries again."""
    options = kill_options(args)
    if options is None:
        return
    from core.live import halt

    notice = halt.HaltNotice.now(*options)
    try:
        path = halt.halt_path(halt.data_dir_from_env())
        halt.write_halt(path, notice)
    except Exception as exc:  # the kill command writes it again after loading the settings, and reports
        print(f"halt file: fast path failed ({exc}); trying again", file=sys.stderr)
        return
    halt.FAST_PATH_WRITTEN[path] = notice


def kill_options(args: Sequence[str]) -> tuple[str, str] | None:
    """(actor, reason) from `kill`'s options, with the command's defaults; None for anything unexpected."""
    values = {"--actor": os.environ.get("USER", "operator"), "--reason": "operator halt"}
    rest = list(args)
    while rest:
        name, equals, inline = rest.pop(0).partition("=")
        if name not in values:
            return None
        if equals:
            values[name] = inline
        elif rest:
            values[name] = rest.pop(0)
        else:
            return None
    return values["--actor"], values["--reason"]


if __name__ == "__main__":
    main()
