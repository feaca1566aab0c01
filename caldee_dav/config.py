"""Typed settings, read once: defaults < TOML file < CALEDEE_* environment < explicit overrides.

Every setting is documented in ``docs/configuration.md``; a test checks that the two agree.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from caldee_dav.zones import zone_named

ENV_PREFIX = "CALEDEE_"
DEFAULT_CONFIG_FILE = "config/caledee.toml"
# Storages of the `limits` library that Caledee supports (Redis needs the `redis` extra).
RATE_LIMIT_STORAGE_SCHEMES = {"memory", "redis", "rediss", "redis+sentinel", "redis+cluster"}


class ConfigError(Exception):
    """Bad configuration: the message names the setting and is printed as one line at start."""


@dataclass(frozen=True)
class AllowList:
    """Addresses and networks that outbound HTTP may call although they are not public (outbound_allow).

    It lives here, with the setting it is parsed from, because the kernel imports nothing above it;
    ``caldee_dav.calendars.outbound_http`` (which uses it) exports it too.
    """

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """``"127.0.0.1,::1,10.0.0.0/8"``: addresses or networks, comma-separated (blanks ignored).
        ValueError naming the entry for anything else (a host name, a typo)."""
        networks = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            unbracketed = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
            try:
                networks.append(ipaddress.ip_network(unbracketed, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (such as 10.0.0.0/8)") from None
        return cls(tuple(networks))

    def allows(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address.version == network.version and address in network for network in self.networks)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field("sqlite:///./var/caledee.db", description="SQLAlchemy URL of the store.")
    base_url: str = Field("", description="Public URL of the server; defaults to http://HOST:PORT.")
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port (0 picks a free port).")
    workers: int = Field(1, ge=1, le=64, description="Server processes started by `caledee serve`.")
    threads: int = Field(8, ge=1, le=256, description="Threads per server process.")
    log_level: str = Field("info", description="debug, info, warning or error.")
    max_resource_size: int = Field(
        10_000_000, ge=1024, description="Largest accepted calendar object or request body, in bytes."
    )
    occurrence_horizon_days: int = Field(
        730, ge=30, description="How far ahead recurring events are expanded into the occurrence index."
    )
    max_occurrences_per_object: int = Field(
        5000, ge=100, description="Cap on indexed instances of one recurring event; beyond it queries parse."
    )
    max_instances_per_series: int = Field(
        100_000,
        ge=100,
        description="Recurrence rules whose COUNT or UNTIL promise more instances than this are refused.",
    )
    max_components_per_object: int = Field(
        1000,
        ge=10,
        description="Components (a series and its changed instances) one object may hold; 413 beyond.",
    )
    expansion_time_limit: float = Field(
        2.0,
        gt=0,
        le=60,
        description="Seconds one recurrence expansion may take in a request before it is refused.",
    )
    default_timezone: str = Field("UTC", description="Time zone of users created without one.")
    clock_offset_days: int = Field(
        0,
        ge=-36500,
        le=36500,
        description="Testing only: run the server's clock this many days ahead (negative: behind).",
    )
    dav_fast_path: bool = Field(
        True, description="Answer common CalDAV requests (queries, listings, PUT) straight from the store."
    )
    login_failure_limit: int = Field(
        20,
        ge=0,
        le=1_000_000,
        description="Failed logins (REST or CalDAV) one client address may make per window; 0: no limit.",
    )
    login_failure_window_seconds: int = Field(
        60, ge=1, le=86_400, description="The window over which failed logins are counted, in seconds."
    )
    trusted_proxies: int = Field(
        0,
        ge=0,
        le=10,
        description="Reverse proxies in front whose X-Forwarded-For gives the client address; 0: none.",
    )
    mail_domain: str = Field(
        "localhost",
        description="Domain of the calendars' inbound addresses: cal-<id>@<mail_domain>.",
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$",
    )
    feed_refresh_minutes: int = Field(
        60,
        ge=5,
        le=10_080,
        description="How often subscribers should fetch an .ics feed again (REFRESH-INTERVAL, max-age).",
    )
    feed_requests_per_minute: int = Field(
        60, ge=0, le=100_000, description="Requests one feed token may make per minute; 0: no limit."
    )
    feed_cache_bytes: int = Field(
        64_000_000,
        ge=0,
        description="Bytes of rendered feeds (and their gzip) each server process keeps; 0: none.",
    )
    api_requests_per_minute: int = Field(
        120,
        ge=0,
        le=1_000_000,
        description="REST requests one API token may make per clock minute (/api/v2); 0: no limit.",
    )
    public_requests_per_minute: int = Field(
        120,
        ge=0,
        le=1_000_000,
        description="REST requests without a (valid) token one client address may make per clock minute.",
    )
    rate_limit_storage_url: str = Field(
        "memory://",
        description="Where failed logins, feed and REST requests are counted: memory:// (each process) or redis://host/db.",
    )
    inbound_host: str = Field("127.0.0.1", description="Address the inbound SMTP server listens on.")
    inbound_port: int = Field(2525, ge=0, le=65535, description="Port of the inbound SMTP server.")
    inbound_workers: int = Field(1, ge=1, le=64, description="Processes of the inbound SMTP server.")
    inbound_max_message_bytes: int = Field(
        10_000_000, ge=1024, description="Largest inbound mail message accepted (SMTP 552 beyond it)."
    )
    inbound_tls_cert: str = Field("", description="PEM certificate file: the inbound server offers STARTTLS.")
    inbound_tls_key: str = Field("", description="PEM private key file of inbound_tls_cert.")
    smtp_host: str = Field("", description="Relay for outgoing mail; empty: written to var/outbox/.")
    smtp_port: int = Field(587, ge=1, le=65535, description="Port of the outgoing mail relay.")
    smtp_security: str = Field("starttls", description="none, starttls or tls (implicit TLS, port 465).")
    smtp_user: str = Field("", description="User name at the relay; empty: no login.")
    smtp_password: str = Field("", description="Password at the relay.")
    mail_from: str = Field("", description="From address of outgoing mail; default caledee@<mail_domain>.")
    mail_retry_hours: int = Field(
        24, ge=1, le=720, description="How long a message the relay refuses is retried before it is given up."
    )
    mail_retry_base_seconds: int = Field(
        30,
        ge=1,
        le=3600,
        description="First pause before a message the relay refused is tried again; doubled each time.",
    )
    outbound_allow: str = Field(
        "",
        description="Addresses or networks (comma-separated) outbound HTTP may call although not public.",
    )
    outbound_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Seconds one outbound HTTP call (a webhook delivery) may take in all."
    )

    @field_validator("outbound_allow")
    @classmethod
    def _valid_allow_list(cls, value: str) -> str:
        AllowList.parse(value)
        return value

    @cached_property
    def outbound_allow_list(self) -> AllowList:
        """outbound_allow, parsed (once per settings object)."""
        return AllowList.parse(self.outbound_allow)

    webhook_retry_hours: int = Field(
        24, ge=1, le=720, description="How long a failing webhook delivery is retried before it is given up."
    )
    webhook_retry_base_seconds: float = Field(
        30,
        gt=0,
        le=3600,
        description="First pause before a failed webhook delivery is tried again; doubled each time.",
    )
    webhook_disable_after_hours: float = Field(
        24,
        gt=0,
        le=720,
        description="A webhook whose deliveries have failed this long without a success is disabled.",
    )
    webhook_lease_seconds: float = Field(
        60,
        gt=0,
        le=3600,
        description="How long a claimed webhook delivery is held before another process may retry it.",
    )
    background_in_server: bool = Field(
        True,
        description="`caledee serve` starts a `caledee worker` (mail, webhooks, time-based work) beside it.",
    )
    time_events_interval_seconds: float = Field(
        20,
        gt=0,
        le=60,
        description="Seconds between scans for event.starting/event.ending webhooks and booking reminders.",
    )

    @field_validator("smtp_security")
    @classmethod
    def _known_security(cls, value: str) -> str:
        value = value.lower()
        if value not in {"none", "starttls", "tls"}:
            raise ValueError("must be one of none, starttls, tls")
        return value

    @property
    def mail_sender(self) -> str:
        """The From address of outgoing mail."""
        return self.mail_from or f"caledee@{self.mail_domain}"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if zone_named(value) is None:
            raise ValueError(f"unknown time zone {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not (value.startswith("sqlite:") or value.startswith("postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if not value.partition("://")[1] or scheme not in RATE_LIMIT_STORAGE_SCHEMES:
            raise ValueError("must be memory:// or a redis:// (rediss://, redis+sentinel://) URL")
        return value

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")


# Other names a setting may be given in the environment (the name for the storage); the
# setting's own CALEDEE_ name wins when both are set.
ENV_ALIASES = {"CALEDEE_RATELIMIT_STORAGE": "rate_limit_storage_url"}


def _from_environment(environ: dict[str, str]) -> dict[str, str]:
    fields = Settings.model_fields
    found = {name: environ[alias] for alias, name in ENV_ALIASES.items() if alias in environ}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in fields:
                found[name] = value
    return found


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from exc
    # The file may group settings under [caledee]; flat keys work too.
    return dict(data.get("caledee", data))


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from every source; raise ConfigError naming the first bad setting."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    path = Path(config_file or environ.get(ENV_PREFIX + "CONFIG", DEFAULT_CONFIG_FILE))
    if path.is_file():
        values.update(_from_file(path))
    elif config_file is not None:
        raise ConfigError(f"config file {path}: not found")
    values.update(_from_environment(environ))
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        env_name = ENV_PREFIX + name.upper()
        raise ConfigError(f"setting {name} ({env_name}): {error['msg']}") from exc
