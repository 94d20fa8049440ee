"""Every setting Roomcast reads, from the environment or a .env file, validated once."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigError

# The development secret is public (it is in this file): production refuses it.
DEVELOPMENT_JWT_SECRET = "roomcast-development-secret-change-me-0123456789"
MIN_SECRET_LENGTH = 32

Environment = Literal["development", "test", "production"]
RegistrationMode = Literal["open", "invite", "closed"]
SmtpTls = Literal["auto", "starttls", "tls", "none"]
SigningAlgorithm = Literal["HS256", "RS256", "EdDSA"]


class Settings(BaseSettings):
    # Errors name the setting, never its value: a secret must not reach a log or a terminal.
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_file=".env",
                                      hide_input_in_errors=True)

    env: Environment = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = True

    # Services. Unset means the embedded default for that part.
    mongo_uri: str | None = None
    mongo_db: str = "roomcast"
    mongo_timeout_ms: int = Field(default=2000, ge=100)
    redis_url: str | None = None
    # The shared redis-py pool (presence, history reads, revocations, rate limits): at most
    # this many connections; a caller waits up to the timeout for one instead of failing.
    redis_max_connections: int = Field(default=100, ge=1, le=10_000)
    redis_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket: str = "roomcast"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    data_dir: Path = Path(".roomcast")
    # The embedded store (without MONGO_URI): a snapshot is written, and the files it makes
    # redundant dropped, once the journal has grown past this many bytes.
    store_journal_max_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024)

    # Tokens. HS256 uses jwt_secret; RS256/EdDSA use PEM key files. The previous key keeps
    # tokens signed before a rotation valid until they expire.
    jwt_algorithm: SigningAlgorithm = "HS256"
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_private_key_file: Path | None = None
    jwt_kid: str = "k1"
    jwt_previous_secret: SecretStr | None = None
    jwt_previous_public_key_file: Path | None = None
    jwt_previous_kid: str | None = None
    jwt_issuer: str = "roomcast"
    jwt_audience: str = "roomcast"
    access_token_ttl_seconds: int = Field(default=900, ge=10)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)

    # First admin, created at start-up if both are set and no such user exists.
    roomcast_admin_email: str | None = None
    roomcast_admin_password: SecretStr | None = None

    # OpenID Connect sign-in, enabled only when all three are set.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    session_secret: SecretStr | None = None

    # HTTP edge.
    cors_origins: Annotated[list[str], NoDecode] = []
    # Proxies whose X-Forwarded-For names the client (addresses or networks); none by default.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    upload_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    # Documents (any file a project shares): the cap on one file, and on what a project keeps
    # in all (every version of every document counts).
    document_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    project_storage_quota_bytes: int = Field(default=10 * 1024 * 1024 * 1024, ge=1024)
    # Previews: an image with more pixels, or a PDF page larger than this many points a side,
    # is not rendered (the job fails `too_large`); every preview renders in a child process
    # held to these seconds of CPU and bytes of memory.
    preview_max_pixels: int = Field(default=50_000_000, ge=1)
    preview_max_page_points: int = Field(default=14_400, ge=72)
    preview_max_seconds: int = Field(default=30, ge=1)
    preview_max_memory_bytes: int = Field(default=1024 * 1024 * 1024, ge=64 * 1024 * 1024)
    # Row predictions: the fitted models each serving process keeps in memory (their arrays'
    # bytes, least recently used out first; 0 keeps none).
    model_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    rate_limit_ip_per_minute: int = Field(default=600, ge=1)
    rate_limit_user_per_minute: int = Field(default=1200, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_backoff_seconds: float = Field(default=1.0, ge=0)
    login_backoff_max_seconds: float = Field(default=300.0, ge=0)

    # Realtime.
    # None: long-polling (then the upgrade to WebSocket) on a single process (no REDIS_URL),
    # where the official client's defaults need it; off with REDIS_URL, where several
    # processes would need sticky sessions (docs/operations.md). True or False decides.
    socket_allow_polling: bool | None = None
    socket_compression: bool = False
    socket_max_payload_bytes: int = Field(default=64 * 1024, ge=256)
    socket_events_per_second: float = Field(default=20.0, gt=0)
    socket_event_burst: int = Field(default=40, ge=1)
    socket_abuse_disconnect_after: int = Field(default=50, ge=1)
    socket_outbound_queue: int = Field(default=1000, ge=1)
    socket_ping_interval: float = Field(default=25.0, gt=0)
    socket_ping_timeout: float = Field(default=20.0, gt=0)
    # A connection that sends no Socket.IO CONNECT within this is closed (1008).
    socket_connect_timeout: float = Field(default=45.0, gt=0)
    # On SIGTERM: how long events already being handled get to finish and send their acks.
    socket_drain_seconds: float = Field(default=5.0, gt=0)
    presence_ttl_seconds: float = Field(default=30.0, gt=0)
    stream_max_len: int = Field(default=1000, ge=1)
    stream_max_age_seconds: int = Field(default=24 * 3600, ge=1)
    meeting_message_max_chars: int = Field(default=4000, ge=1)

    # Jobs.
    job_max_attempts: int = Field(default=3, ge=1)
    job_retry_base_seconds: float = Field(default=1.0, ge=0)
    job_progress_per_second: float = Field(default=5.0, gt=0)
    worker_concurrency: int = Field(default=2, ge=1)
    job_reclaim_idle_ms: int = Field(default=60_000, ge=1000)
    # A running job's lease: renewed while it runs; another worker may take it over once expired.
    job_lease_seconds: float = Field(default=30.0, gt=0)
    # Pause at every job step: for demonstrations and tests that must catch a job mid-run.
    job_step_delay_ms: int = Field(default=0, ge=0)
    # Threads that run job work (parsing, fits), apart from the pool that serves requests.
    job_threads: int = Field(default=2, ge=1)
    # How often a job reading a file in a thread looks for a cancel.
    job_cancel_poll_ms: int = Field(default=200, ge=10)
    # One ingestion's bounds: cells read (padding included) and seconds of reading.
    ingest_max_cells: int = Field(default=100_000_000, ge=1)
    ingest_max_seconds: float = Field(default=600.0, gt=0)

    # People: sign-up, mail, reminders (docs/operations.md, "Mail and reminders").
    registration: RegistrationMode = "open"
    smtp_url: SecretStr | None = None  # smtp://user:password@host:port; unset: files in DATA_DIR
    smtp_tls: SmtpTls = "auto"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "Roomcast <roomcast@localhost>"
    mail_max_attempts: int = Field(default=8, ge=1)
    mail_retry_base_seconds: float = Field(default=30.0, ge=0)
    password_reset_ttl_minutes: int = Field(default=60, ge=1)
    email_verification_ttl_hours: int = Field(default=48, ge=1)
    invitation_ttl_days: int = Field(default=7, ge=1)
    meeting_max_occurrences: int = Field(default=100, ge=1, le=1000)
    scheduler_refresh_seconds: float = Field(default=5.0, gt=0)
    task_reminder_hour: int = Field(default=9, ge=0, le=23)
    digest_hour: int = Field(default=8, ge=0, le=23)

    # Observability (docs/operations.md, "Metrics").
    worker_metrics_port: int = Field(default=9108, ge=0, le=65535)  # 0: no /metrics port
    worker_metrics_host: str = "127.0.0.1"
    # How often queue depths and service availability are sampled into the metrics.
    metrics_sample_seconds: float = Field(default=5.0, gt=0)
    # Tracing (docs/operations.md, "Tracing"): off unless the OTLP endpoint is set.
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return value

    @model_validator(mode="after")
    def _check_keys(self) -> Settings:
        # ConfigError is not a ValueError, so pydantic lets it through as it is: the message
        # reaches the operator alone, as the production checks' do.
        if self.jwt_algorithm != "HS256" and self.jwt_private_key_file is None:
            raise ConfigError(f"JWT_ALGORITHM={self.jwt_algorithm} needs JWT_PRIVATE_KEY_FILE")
        self._check_previous_key()
        return self

    def _check_previous_key(self) -> None:
        secret, key_file = "JWT_PREVIOUS_SECRET", "JWT_PREVIOUS_PUBLIC_KEY_FILE"
        given = {secret: self.jwt_previous_secret, key_file: self.jwt_previous_public_key_file}
        name, stray = (secret, key_file) if self.jwt_algorithm == "HS256" else (key_file, secret)
        if given[stray] is not None:
            raise ConfigError(f"{stray} does not apply to JWT_ALGORITHM={self.jwt_algorithm}: "
                              f"the previous key goes in {name}")
        _check_previous_kid(name, given[name] is not None, self.jwt_previous_kid, self.jwt_kid)

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    def check_production(self) -> None:
        """Refuse settings that are only safe on a developer's machine."""
        if self.env != "production":
            return
        if self.jwt_algorithm == "HS256":
            secret = self.jwt_secret.get_secret_value()
            if secret == DEVELOPMENT_JWT_SECRET:
                raise ConfigError("ENV=production refuses the default JWT_SECRET: set your own")
            if len(secret) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"ENV=production needs a JWT_SECRET of at least {MIN_SECRET_LENGTH} characters"
                )
        if self.oidc_enabled and not self.session_secret:
            raise ConfigError("ENV=production with OIDC needs SESSION_SECRET")


def _check_previous_kid(name: str, has_key: bool, kid: str | None, current_kid: str) -> None:
    """Refuse a rotation that would silently verify nothing signed before it: verification
    picks the key by the token's `kid`, so the previous key needs its own, distinct kid."""
    if has_key and not kid:
        raise ConfigError(f"{name} needs JWT_PREVIOUS_KID: the kid its tokens carry (the "
                          "JWT_KID in force before the rotation)")
    if kid and not has_key:
        raise ConfigError(f"JWT_PREVIOUS_KID is set but {name} is not: set the previous key, "
                          "or unset JWT_PREVIOUS_KID")
    if kid and kid == current_kid:
        raise ConfigError(f"JWT_PREVIOUS_KID and JWT_KID are both {kid!r}: give the new key a "
                          "new JWT_KID, or every token signed before the rotation fails")


def polling_enabled(settings: Settings) -> bool:
    """Whether Socket.IO's long-polling transport is served (SOCKET_ALLOW_POLLING)."""
    if settings.socket_allow_polling is not None:
        return settings.socket_allow_polling
    return settings.redis_url is None
