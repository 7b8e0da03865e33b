"""Operator settings: `AMANAT_*` variables, then an optional `amanat.toml`, then defaults.

Every limit of the service lives here, so there is one place to read and change it.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from amanat.core.errors import ConfigurationError

CONFIG_FILE_ENV = "AMANAT_CONFIG"
DEFAULT_CONFIG_FILE = "amanat.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AMANAT_",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("amanat-data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is the embedded SQLite file in the data directory.",
    )
    keystore_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the key store (wrapped data keys), a database apart from "
            "database_url; default is the SQLite file keys.db in the data directory."
        ),
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Master key ring '1:<base64>,2:<base64>'; default is a 0600 key file.",
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    public_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    behind_proxy: bool = False
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # The head of a request (request line and headers): its size and the time it may take.
    max_header_bytes: int = Field(default=64 * 1024, ge=8 * 1024, le=1024 * 1024)
    header_timeout_seconds: float = Field(default=10.0, ge=0.5, le=120.0)
    metrics_token: SecretStr | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    smtp_url: str | None = None
    # `amanat serve` delivers mail and runs jobs itself unless a separate `amanat worker` does.
    in_process_worker: bool = True

    # Identity limits (ASVS V7.1.1 documents them; NIST AAL2 allows at most 24 h and 1 h).
    session_idle_minutes: int = Field(default=30, ge=1, le=60)
    session_absolute_hours: int = Field(default=12, ge=1, le=24)
    max_sessions_per_user: int = Field(default=10, ge=1, le=100)
    invite_valid_hours: int = Field(default=72, ge=1, le=168)
    first_admin_link_valid_hours: int = Field(default=24, ge=1, le=72)
    password_reset_valid_minutes: int = Field(default=30, ge=5, le=120)
    signin_lock_failures: int = Field(default=10, ge=3, le=100)
    signin_lock_minutes: int = Field(default=15, ge=1, le=1440)
    address_lock_failures: int = Field(default=50, ge=10, le=10000)
    # All failed sign-ins everywhere, per lock period: beyond it an address with failures on
    # record is refused before any password is checked (docs/identity.md, Sign-in).
    global_lock_failures: int = Field(default=1000, ge=50, le=1_000_000)
    # Sign-ins waiting for or in the password pool, per core, beyond which a new one is refused
    # with 503 at once (about 30 ms of hashing each: 6 is under 200 ms of queue). 0: no bound.
    signin_queue_per_core: int = Field(default=6, ge=0, le=1000)
    min_password_length_with_mfa: int = Field(default=8, ge=8, le=64)
    signup_enabled: bool = True
    # Activity (policy §3 automatic collection, §4 data minimization): client address and
    # parsed user agent of sign-ins; raw addresses cut to /24 or /48, then events and devices go.
    activity_capture: bool = True
    activity_ip_truncate_days: int = Field(default=30, ge=1, le=365)
    activity_event_retention_days: int = Field(default=180, ge=1, le=3650)
    activity_device_retention_days: int = Field(default=400, ge=1, le=3650)
    # "New device" mails one person gets per hour at most; more new devices are only recorded.
    activity_new_device_mails_per_hour: int = Field(default=3, ge=1, le=100)
    # Personal data a new person must give besides name and email, for identity verification.
    require_identity_fields: Annotated[list[Literal["phone", "cnic", "address"]], NoDecode] = Field(
        default_factory=list
    )
    # Purpose-bound reveals of personal data one staff member or admin may make per hour (V2.4.1).
    reveal_limit_per_hour: int = Field(default=30, ge=1, le=1000)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxy_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("require_identity_fields", mode="before")
    @classmethod
    def _split_identity_fields(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(part, str) for part in value):
            # Each once, in the given order, whatever its case.
            return list(dict.fromkeys(part.strip().lower() for part in value))
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError("each entry must be an IP address or CIDR network") from None
        return value

    @field_validator("database_url", "keystore_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://", "postgresql://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        if value.startswith("postgresql://"):
            return "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        if self.behind_proxy and not self.trusted_proxies:
            raise ValueError("behind_proxy needs trusted_proxies (the proxy addresses)")
        return self

    @model_validator(mode="after")
    def _keystore_apart(self) -> Settings:
        if _same_database(self.resolved_keystore_url, self.resolved_database_url):
            # Keys inside the data would travel into every backup and undo crypto-shredding.
            raise ValueError("keystore_url must name a database apart from database_url")
        if self.environment == "production" and not self.is_sqlite and self.keystore_url is None:
            # Each node would keep a keys.db of its own: people made on one unreadable on another.
            raise ValueError("keystore_url is required in production with a PostgreSQL database")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'amanat.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_keystore_url(self) -> str:
        if self.keystore_url:
            return self.keystore_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'keys.db').resolve()}"

    @property
    def keystore_is_sqlite(self) -> bool:
        return self.resolved_keystore_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"https://{host}:{self.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def _same_database(first: str, second: str) -> bool:
    a, b = make_url(first), make_url(second)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return (
            bool(a.database)
            and Path(a.database or "").resolve() == Path(b.database or "").resolve()
        )
    return (a.host or "localhost", a.port or 5432, a.database) == (
        b.host or "localhost",
        b.port or 5432,
        b.database,
    )


def _config_file() -> Path | None:
    explicit = os.environ.get(CONFIG_FILE_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigurationError(f"{CONFIG_FILE_ENV}: no such file: {path}")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Read settings; any problem becomes one ConfigurationError naming the setting (no values)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        name = f"AMANAT_{field.upper()}" if field else "settings"
        raise ConfigurationError(f"invalid setting {name}: {first['msg']}") from None
    except ValueError as exc:
        # The TOML reader raises plain ValueErrors (tomllib.TOMLDecodeError) on a broken file.
        raise ConfigurationError(f"invalid configuration file: {exc}") from None
