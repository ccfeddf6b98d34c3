"""The kill switch's local layer: a halt file in the data directory, and the fail-closed bookkeeping.

`btc-agent kill` writes `<data dir>/HALT` before it imports anything heavy (no Prefect, no database), and
the running round stats that path every `HALT_FILE_POLL_S`: a kill reaches the round on this machine in
well under a second, with the database or Prefect down or not. The file is written atomically (a temporary
file, fsync, rename, fsync of the folder) and says who halted, why and when; any file at that path halts,
whatever it holds, so `echo why > <data dir>/HALT` is a kill switch too. `btc-agent resume` removes it.

`FailClosed` keeps, for each place the kill switch is read from, when it was last read: a place that cannot
be read for longer than the grace makes the round stop opening positions until it can be read again.

Standard library only, on purpose: this module is imported on the kill command's fast path.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HALT_FILE = "HALT"
HALT_FILE_POLL_S = 0.1
APP_NAME = "polymarket-btc-agent"
"""`core.config.APP_NAME`, repeated so the fast path needs no pydantic (a test keeps the two equal)."""
DATA_DIR_VARIABLE = "BTC_AGENT_DATA_DIR"

FAST_PATH_WRITTEN: dict[Path, HaltNotice] = {}
"""Halt files this process already put down on the kill command's fast path, and what they say."""


def halt_path(data_dir: Path) -> Path:
    return data_dir / HALT_FILE


def data_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """The data directory exactly as `Settings.data_dir` resolves it, without loading the settings.

    Settings read `BTC_AGENT_DATA_DIR` whatever its case, else the platform's user data directory."""
    env = os.environ if environ is None else environ
    for name, value in env.items():
        if name.upper() == DATA_DIR_VARIABLE:
            return Path(value)
    import platformdirs

    return platformdirs.user_data_path(APP_NAME)


@dataclass(frozen=True, slots=True)
class HaltNotice:
    """Who halted, why and when, as the halt file holds it."""

    actor: str
    reason: str
    at_ms: int
    host: str = ""
    pid: int = 0

    @classmethod
    def now(cls, actor: str, reason: str) -> HaltNotice:
        return cls(actor, reason, int(time.time() * 1000), socket.gethostname(), os.getpid())

    @property
    def at(self) -> str:
        return datetime.fromtimestamp(self.at_ms / 1000, UTC).isoformat(timespec="milliseconds")

    def describe(self) -> str:
        """The halt as the round reports it: `halted by operator alice: venue acting up`."""
        return f"halted by operator {self.actor or 'unknown'}: {self.reason or 'no reason given'}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "halted": True,
                "actor": self.actor,
                "reason": self.reason,
                "at": self.at,
                "at_ms": self.at_ms,
                "host": self.host,
                "pid": self.pid,
            },
            indent=2,
        )

    @classmethod
    def parse(cls, text: str, *, mtime_ms: int = 0) -> HaltNotice:
        """The notice in a halt file. Anything else found there halts too: its text is the reason."""
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            at_ms, pid = value.get("at_ms"), value.get("pid")
            return cls(
                actor=str(value.get("actor") or "unknown"),
                reason=str(value.get("reason") or "no reason given"),
                at_ms=at_ms if isinstance(at_ms, int) and not isinstance(at_ms, bool) else mtime_ms,
                host=str(value.get("host") or ""),
                pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
            )
        reason = " ".join(text.split())[:200] or "halt file present"
        return cls(actor="unknown", reason=reason, at_ms=mtime_ms)


def write_halt(path: Path, notice: HaltNotice) -> None:
    """Put the halt file down atomically and durably: readers see no file or the whole notice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, (notice.to_json() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def clear_halt(path: Path) -> bool:
    """Remove the halt file; False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(path.parent)
    return True


def read_halt(path: Path) -> HaltNotice | None:
    """The notice, or None when there is no halt file. An unreadable one raises OSError: that is no answer."""
    try:
        text = path.read_text(errors="replace")
        mtime_ms = path.stat().st_mtime_ns // 1_000_000
    except FileNotFoundError:
        return None
    return HaltNotice.parse(text, mtime_ms=mtime_ms)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class HaltFileWatch:
    """Polled by the round: one `stat` per check, and the file is read again only when it changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._notice: HaltNotice | None = None

    def check(self) -> HaltNotice | None:
        """The halt notice if the file is there, else None; OSError when the path cannot be examined."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen = self._notice = None
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._seen or self._notice is None:
            try:
                self._notice = read_halt(self.path) or HaltNotice.parse("", mtime_ms=st.st_mtime_ns // 10**6)
            except OSError as exc:
                # There is a file and it cannot be read: it is still a halt.
                self._notice = HaltNotice("unknown", f"unreadable halt file ({exc})", st.st_mtime_ns // 10**6)
            self._seen = key
        return self._notice


class FailClosed:
    """When each place the kill switch is read from was last read; those silent past the grace are unreadable.

    `ok(place, now)` after a successful read (engaged or not), `failed(place, error)` after one that raised;
    `unreadable(now)` describes every place not read successfully for longer than `grace_ms`, counting from
    the watch's start."""

    def __init__(self, grace_ms: int, now_ms: int, places: tuple[str, ...]) -> None:
        self.grace_ms = grace_ms
        self._last_ok = dict.fromkeys(places, now_ms)
        self._errors: dict[str, str] = {}

    def ok(self, place: str, now_ms: int) -> None:
        self._last_ok[place] = now_ms
        self._errors.pop(place, None)

    def failed(self, place: str, error: str) -> None:
        self._errors[place] = error

    def unreadable(self, now_ms: int) -> list[str]:
        return [
            f"{place} unreadable for {(now_ms - last) / 1000:.1f} s"
            + (f" ({self._errors[place]})" if place in self._errors else " (no answer)")
            for place, last in self._last_ok.items()
            if now_ms - last > self.grace_ms
        ]
