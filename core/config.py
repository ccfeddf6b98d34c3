"""Settings: the one place that reads the environment (prefix `BTC_AGENT_`, nested with `__`).

Bad values fail at start with the environment variable named; secrets are `SecretStr` and never printed.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import platformdirs
from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

ENV_PREFIX = "BTC_AGENT_"
APP_NAME = "polymarket-btc-agent"

PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Probability = Annotated[Decimal, Field(gt=0, lt=1, allow_inf_nan=False)]


SECRET_FIELDS = frozenset({"private_key", "api_key", "api_secret", "api_passphrase", "jwt_secret"})
UNECHOED_FIELDS = SECRET_FIELDS | {"urls"}
"""Fields whose bad value an error never shows: the secrets, and the alert URLs (they carry tokens)."""


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each offending environment variable."""


class RiskLimitsSettings(BaseModel):
    """Start-up values of the risk limits; operators may change them live through the settings table."""

    model_config = {"frozen": True, "extra": "forbid"}

    max_position_shares: PositiveDecimal = Decimal(100)
    max_notional_per_trade: PositiveDecimal = Decimal(25)
    max_trades_per_round: Annotated[int, Field(ge=0)] = 4
    max_daily_loss: PositiveDecimal = Decimal(50)
    loss_streak_for_cooldown: Annotated[int, Field(ge=1)] = 3
    cooldown_rounds: Annotated[int, Field(ge=0)] = 4
    entry_price_cap: Probability = Decimal("0.95")
    min_edge_after_fees: Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)] = Decimal("0.02")
    min_book_depth_shares: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(20)
    max_divergence_bps: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(50)
    stale_feed_seconds: Annotated[float, Field(gt=0)] = 5.0
    order_error_burst: Annotated[int, Field(ge=1)] = 5
    min_book_depth_ticks: Annotated[int, Field(ge=0)] = 3
    require_fair_probability: bool = True


class VenueSettings(BaseModel):
    """Where Polymarket (or the simulated venue standing in for it) answers."""

    model_config = {"frozen": True, "extra": "forbid"}

    gamma_url: str = "https://gamma-api.polymarket.com"
    clob_url: str = "https://clob.polymarket.com"
    market_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    user_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    rtds_url: str = "wss://ws-live-data.polymarket.com"
    polybolt_url: str = "wss://ws-live-v2.polymarket.com/ws"
    chain_id: int = 137

    def __repr_args__(self) -> Any:
        # A venue URL may carry credentials (`user:pass@`, `?token=`): repr and str show them masked.
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if isinstance(value, str) and "://" in value else value


class ApiSettings(BaseModel):
    """The HTTP API (`btc-agent api`): where it listens, how it signs sessions, who may reach it."""

    model_config = {"frozen": True, "extra": "forbid"}

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    jwt_secret: Annotated[SecretStr, Field(min_length=32)] | None = Field(
        default=None,
        description="Signs access tokens (32 characters or more); unset: a random one is made on first start "
        "and kept in `<data_dir>/api/jwt_secret`.",
    )
    access_token_minutes: Annotated[int, Field(gt=0, le=1440)] = 15
    refresh_token_days: Annotated[int, Field(gt=0, le=90)] = 7
    api_token_max_days: Annotated[int, Field(gt=0, le=3650)] = 365
    cors_origins: tuple[str, ...] = Field(default=(), description="Browser origins allowed; none by default.")
    admin_networks: tuple[IPvAnyNetwork, ...] = Field(
        default=(),
        description="Client networks admin routes answer (the proxy's forwarded address counts); empty: any.",
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=("127.0.0.1", "::1"),
        description="Peers whose X-Forwarded-For names the real client.",
    )
    prefect_api_url: str | None = Field(
        default=None,
        description="The Prefect API that readiness checks; default Prefect's own PREFECT_API_URL.",
    )
    backtest_price_file: Path | None = Field(
        default=None,
        description="The BTC 1-minute CSV that backtests started from the API generate rounds from; unset: "
        "only recorded tapes (in the data dir's tapes/) can be backtested from the API.",
    )
    backtest_max_days: Annotated[int, Field(gt=0, le=366)] = 31
    workers: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1, description="API worker processes (`btc-agent api`): one per core serves the most."
    )
    status_cache_seconds: Annotated[float, Field(ge=0, le=10)] = Field(
        default=1.0, description="GET /status is computed at most this often for all callers; 0: every time."
    )
    login_rate_limit: str = Field(
        default="10/minute;50/hour",
        description="Login attempts allowed per client address (limits' notation, ';' between limits); "
        "counted on Redis when BTC_AGENT_REDIS_URL is set, so every API process shares them.",
    )

    @field_validator("login_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '10/minute;50/hour': {exc}") from None
        return value


class AlertSettings(BaseModel):
    """Where alerts go (apprise URLs) and how often; every alert lands in the store, sent or not."""

    model_config = {"frozen": True, "extra": "forbid"}

    urls: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        description="Apprise URLs (json://, slack://, tgram://, mailto://, ...), as a JSON list or separated "
        "by spaces; they carry tokens, so they are secret. None: alerts are only stored.",
    )
    dedup_seconds: Annotated[float, Field(ge=0, le=86400)] = Field(
        default=300.0, description="An alert with the same code and round within this long is not sent again."
    )
    max_per_minute: Annotated[int, Field(ge=1, le=600)] = Field(
        default=10, description="At most this many alerts are sent in any 60 s; the rest are only stored."
    )
    outbox_backlog: Annotated[int, Field(ge=1)] = Field(
        default=1000, description="A round's outbox holding more records than this unwritten raises an alert."
    )
    send_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=10.0, description="The longest one alert's delivery to all its URLs may take."
    )

    @field_validator("urls", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """One environment variable: a JSON list, or URLs separated by spaces (apprise URLs have none)."""
        if not isinstance(value, str):
            return value
        if not value.lstrip().startswith("["):
            return value.split()
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("starts with [ but is not a JSON list of URLs") from None

    @field_validator("urls")
    @classmethod
    def _check(cls, urls: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for number, url in enumerate(urls, 1):
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", url.get_secret_value()):
                raise ValueError(f"URL {number} is not an apprise URL (schema://...)")
        return urls


def default_data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME)


class Settings(BaseSettings):
    """Everything the agent can be told; defaults run a paper agent with a local SQLite file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    mode: Literal["paper", "live"] = "paper"
    live_confirmed: bool = Field(
        default=False, description="Live trading also needs this explicit confirmation, besides a key."
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(
        default=None,
        repr=False,
        description="SQLAlchemy URL (it may hold a password); default a SQLite file in the data directory.",
    )
    spool_dir: Path | None = Field(
        default=None, description="The outbox's on-disk spool; default `<data_dir>/spool`."
    )
    redis_url: str | None = Field(
        default=None,
        repr=False,
        description="Redis for the live state and events (pub/sub, low latency); without it the store serves.",
    )
    redis_namespace: str = Field(
        default="btc-agent", pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="Prefix of the Redis keys."
    )
    round_seconds: Annotated[int, Field(gt=0)] = 900
    activation_lead_seconds: Annotated[int, Field(gt=0)] = 180
    wake_lead_seconds: Annotated[int, Field(gt=0)] = 240
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    kill_switch_grace_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=2.0,
        description="A round stops opening positions when its kill switch cannot be read for this long.",
    )
    official_outcome_wait_seconds: Annotated[float, Field(gt=0, le=1800)] = Field(
        default=300.0,
        description="How long a closed round's settle task keeps asking Gamma for the venue's outcome.",
    )
    official_outcome_retry_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=2.0, description="The first pause between those attempts; it doubles, up to 30 s."
    )
    dask_address: str | None = Field(
        default=None, description="An existing Dask scheduler for backtest sweeps; default a local cluster."
    )
    risk: RiskLimitsSettings = RiskLimitsSettings()
    venue: VenueSettings = VenueSettings()
    api: ApiSettings = ApiSettings()
    alerts: AlertSettings = AlertSettings()
    private_key: SecretStr | None = None
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    api_passphrase: SecretStr | None = None

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.activation_lead_seconds > self.round_seconds:
            raise ValueError(
                f"activation_lead_seconds ({self.activation_lead_seconds}) exceeds round_seconds "
                f"({self.round_seconds})"
            )
        if not self.activation_lead_seconds <= self.wake_lead_seconds <= self.round_seconds:
            raise ValueError("wake_lead_seconds must lie between activation_lead_seconds and round_seconds")
        if self.mode == "live" and (self.private_key is None or not self.live_confirmed):
            raise ValueError(
                "mode=live needs both BTC_AGENT_PRIVATE_KEY and BTC_AGENT_LIVE_CONFIRMED=true; "
                "without them the agent only paper-trades"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'agent.sqlite'}"

    @property
    def resolved_spool_dir(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

    @property
    def live_trading_allowed(self) -> bool:
        """True only when live mode, a key and the explicit confirmation are all given."""
        return self.mode == "live" and self.private_key is not None and self.live_confirmed

    def public_view(self) -> dict[str, Any]:
        """The settings as JSON-safe values with every secret masked: safe to print or log. Secret fields
        are masked by type; credentials inside any URL (`user:pass@`, `?password=`) by `mask_url`."""
        view = self.model_dump(mode="json")
        view["spool_dir"] = str(self.resolved_spool_dir)
        masked: dict[str, Any] = _mask_urls(view)
        masked["database_url"] = mask_url(self.resolved_database_url)
        return masked


MASK = "***"
_TOKEN_USERINFO_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_SECRET_QUERY = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature|sig$", re.IGNORECASE)


def mask_url(url: str) -> str:
    """A URL with its password, and any query value whose name says secret, replaced by `***`."""
    try:
        if "://" not in url:
            raise ValueError("no scheme")
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            if ":" in userinfo:
                netloc = f"{user}:{MASK}@{host}"
            elif parts.scheme in _TOKEN_USERINFO_SCHEMES:  # `https://<token>@host`: the user is the secret
                netloc = f"{MASK}@{host}"
        query = urlencode(
            [
                (name, MASK if _SECRET_QUERY.search(name) else value)
                for name, value in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="*",
        )
        # Composed by hand: urlunsplit drops the empty authority of `sqlite:////abs/path`.
        tail = (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")
        return f"{parts.scheme}://{netloc}{parts.path}{tail}"
    except ValueError:
        return "<unparseable URL>"


def _mask_urls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _mask_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_urls(item) for item in value]
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def env_name(location: tuple[int | str, ...]) -> str:
    """`('risk', 'max_daily_loss')` -> `BTC_AGENT_RISK__MAX_DAILY_LOSS`."""
    fields = [str(part) for part in location if isinstance(part, str)]
    return ENV_PREFIX + "__".join(fields).upper() if fields else "settings"


def _describe(error: Any) -> str:
    location = error["loc"]
    if not location:
        return f"settings: {error['msg']}"
    secret = any(part in UNECHOED_FIELDS for part in location)
    shown = "" if secret else f" (got {error.get('input')!r})"
    return f"{env_name(location)}: {error['msg']}{shown}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and overrides), or a SettingsError naming every bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [_describe(error) for error in exc.errors(include_url=False)]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    except SourceError as exc:
        # A nested group set as one variable (BTC_AGENT_RISK=...) must be JSON; it fails before validation.
        field = re.search(r'field "(\w+)"', str(exc))
        name = env_name((field[1],)) if field else "settings"
        raise SettingsError(
            f"invalid settings:\n  {name}: not valid JSON; set one value as {name}__<NAME> instead"
        ) from None
