"""Settings: command-line flags over `CALLBOARD_<NAME>` environment variables over a YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Every setting of a Callboard node. Each one is also `CALLBOARD_<NAME>` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CALLBOARD_", extra="forbid", env_parse_none_str="none"
    )

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    database_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    public_url: str | None = None

    domain: str = "callboard.lo"
    admin_username: str = "admin"
    admin_password: SecretStr | None = None
    admin_token: SecretStr | None = None
    demo: bool = True
    secret_key: SecretStr | None = None

    sip: bool = True
    sip_host: str | None = None
    sip_advertised_host: str | None = None
    sip_udp_port: int | None = 5060
    sip_tcp_port: int | None = 5060
    sip_tls_port: int | None = 5061
    sip_ws_port: int | None = 5066
    sip_wss_port: int | None = 7443
    sip_provider_port: int | None = 5080
    ring_timeout: float = 60.0

    session_ttl_seconds: int = 12 * 3600
    max_body_bytes: int = 1024 * 1024
    login_failures_per_account: int = 5
    login_failures_per_source: int = 20
    auth_failure_window_seconds: int = 300
    log_level: str = "info"

    @field_validator("domain")
    @classmethod
    def _domain_lower(cls, value: str) -> str:
        return value.strip().lower()

    @property
    def effective_database_url(self) -> str:
        """The database URL; an SQLite file in the data directory unless one is given."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'callboard.db').resolve()}"

    @property
    def http_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"{scheme}://{host}:{self.port}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; `overrides` (flags) win over the environment, which wins over the file."""

    class _FileBackedSettings(Settings):
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
            if config_file is not None:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
            return tuple(sources)

    given = {name: value for name, value in overrides.items() if value is not None}
    return _FileBackedSettings(**given)
