"""The API's secrets: argon2 password hashes, signed access tokens (JWT), random bearer tokens kept only as
digests, and the key that signs sessions (from the settings, or made once and kept in the data directory)."""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from core.clock import datetime_to_ms
from core.config import Settings

ALGORITHM = "HS256"
ACCESS = "access"
API_TOKEN_PREFIX = "bta_"  # noqa: S105 - a marker in front of the random part
REFRESH_TOKEN_PREFIX = "btr_"  # noqa: S105
MIN_KEY_LENGTH = 32
KEY_FILE = Path("api") / "jwt_secret"

password_hash = PasswordHash((Argon2Hasher(),))


class TokenError(ValueError):
    """An access token refused, with the reason the caller is told."""


class SigningKeyError(RuntimeError):
    """No usable key to sign sessions: the API does not start without one."""


def hash_password(password: str) -> str:
    return password_hash.hash(password)


def verify_password(password: str, hashed: str) -> tuple[bool, str | None]:
    """Whether it matches, and a new hash when the stored one uses outdated parameters."""
    return password_hash.verify_and_update(password, hashed)


@cache
def _dummy_hash() -> str:
    return password_hash.hash(secrets.token_hex(16))


def spend_password_check(password: str) -> None:
    """Take as long as a real check, so a login for an unknown user cannot be told apart by its timing."""
    password_hash.verify(password, _dummy_hash())


def new_token(prefix: str) -> str:
    """A bearer token: a prefix that says what it is, then 256 random bits."""
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What the store keeps of a token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    expires_at_s: int


def create_access_token(subject: str, key: str, *, now: datetime, lifetime: timedelta) -> str:
    issued = datetime_to_ms(now) // 1000
    claims = {"sub": subject, "typ": ACCESS, "iat": issued, "exp": issued + int(lifetime.total_seconds())}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def decode_access_token(token: str, key: str, *, now: datetime) -> AccessClaims:
    """The claims of a token this API signed and that has not expired at `now` (the API's clock)."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat", "typ"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        raise TokenError("access token not signed by this API") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"malformed access token ({exc})") from None
    expires = claims["exp"]
    if claims["typ"] != ACCESS or not isinstance(expires, int) or not isinstance(claims["sub"], str):
        raise TokenError("not an access token of this API")
    if datetime_to_ms(now) // 1000 >= expires:
        raise TokenError("access token expired: get a new one at POST /auth/refresh")
    return AccessClaims(subject=claims["sub"], expires_at_s=expires)


class SigningKey:
    """The key that signs access tokens: `api.jwt_secret`, else the one kept in the data directory (made
    on first use, readable by its owner only). Resolved once, on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._value: str | None = None

    @property
    def path(self) -> Path:
        return self._settings.data_dir / KEY_FILE

    def get(self) -> str:
        if self._value is None:
            configured = self._settings.api.jwt_secret
            self._value = configured.get_secret_value() if configured else load_or_create_key(self.path)
        return self._value


def load_or_create_key(path: Path) -> str:
    """The key kept at `path`; a new random one when there is none (two processes starting at once agree:
    the file appears whole or not at all)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(f"{path} is readable by others (mode {stat.filemode(mode)}): chmod 600 it")
    key = path.read_text().strip()
    if len(key) < MIN_KEY_LENGTH:
        raise SigningKeyError(
            f"{path} holds fewer than {MIN_KEY_LENGTH} characters: delete it (a new key is made) "
            "or set BTC_AGENT_API__JWT_SECRET"
        )
    return key
