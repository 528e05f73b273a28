"""The one settings object: every knob of the service, read from TENWATCH_* variables."""

from functools import lru_cache
from ipaddress import ip_address
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, SecretStr, field_serializer, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.bus.format import READS as BUS_FORMATS
from notifier.bus.format import WRITES as BUS_FORMAT


class Dsn(str):
    """A database or Redis URL: the whole URL wherever it is used as text, its password hidden
    (`***`) wherever it is shown as an object (the settings' repr, a log of them)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(hidden(self))


def hidden(url: str) -> str:
    """url with its password, if it has one, shown as ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return parts._replace(netloc=f"{name}:***@{host}").geturl()


Url = Annotated[str, AfterValidator(Dsn)]
"""A URL that may carry a password: a str to every use, a Dsn to anyone who prints it."""


def _bus_format(version: int) -> int:
    if version not in BUS_FORMATS:
        raise ValueError(f"must be a bus format this release reads: {sorted(BUS_FORMATS)}")
    return version


PLACEHOLDERS = {"change-me", "changeme", "tenwatch", "password", "secret", "postgres"}
"""Secrets that are the examples' (.env.example, the old docker-compose.yml), never real ones."""


class Settings(BaseSettings):
    """TenWatch settings; the defaults run embedded (SQLite, in-process bus, console SMS)."""

    model_config = SettingsConfigDict(env_prefix="TENWATCH_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: Url = "sqlite+aiosqlite:///./tenwatch.db"
    redis_url: Url | None = None
    bus_format: Annotated[int, AfterValidator(_bus_format)] = BUS_FORMAT
    """The bus message format this process writes (it reads this release's two: see
    `notifier/bus/format.py`). A rolling upgrade that changes the format keeps the old one
    until every process runs the new release, then sets the new one (docs/operate.md)."""

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_url: str | None = None

    public_base_url: str = "http://127.0.0.1:8000"
    docs: bool | None = None
    """Serve the API's Swagger and ReDoc pages (/docs, /redoc); by default in development only.
    /openapi.json itself is always served."""
    ws_queue_size: int = 4096
    """Events a socket may have waiting in memory (references to texts every socket shares);
    beyond them it reads on from the store. A batch of a storm publishes thousands at once."""
    ws_heartbeat_seconds: float = 20.0
    outbox_poll_seconds: float = 1.0
    outbox_batch_size: int = 50
    outbox_lease_seconds: float = 5.0
    sms_concurrency: int = 8
    scheduler_poll_seconds: float = 1.0

    twilio_voice_from: str | None = None
    """Caller id of voice call-outs (a Twilio number); TENWATCH_TWILIO_FROM when unset."""
    sms_rate_per_second: float = 10.0
    """Texts and calls a second this process hands Twilio (0: no limit)."""
    sms_rate_burst: int = 20
    """Texts and calls that may go at once before the rate applies."""
    principal_cache_seconds: float = 5.0
    """How long a checked credential is trusted without asking the database again (0: never)."""
    sqlite_checkpoint_seconds: float = 1.0
    """How often SQLite's log is copied into the database from a thread (0: by SQLite itself,
    on the commit that fills it, holding the one connection)."""
    sqlite_restart_frames: int = 16384
    """Pages SQLite's log may hold before the checkpoint starts it afresh, with a short pause
    of requests (16384 pages of 4 KiB = 64 MB)."""
    gc_freeze_seconds: float = 1.0
    """How often long-lived objects are frozen out of the collector's way (0: never)."""
    gc_full_seconds: float = 3600.0
    """How often everything is collected, frozen objects included."""
    phone_menu_seconds: int = 5
    """How long a caller has to press a digit for the alarm type; then it is "help"."""
    press_wait_seconds: float = 10.0
    """How long a press waits for an unreachable database before it is answered 503 (under
    load it waits as long as its community's batches take: it is never refused for that)."""
    database_pool_seconds: float = 30.0
    """How long a request waits for a free PostgreSQL connection before it is answered 503 (a
    press is told to press again or call the group's alarm number)."""
    database_connect_seconds: float = 10.0
    """How long connecting to PostgreSQL may take before the database counts as unreachable."""
    ws_send_timeout_seconds: float = 10.0
    """How long one send to a socket may take before its client counts as too slow and the
    socket is closed (1013, with the position to resume from); seen at the heartbeat's looks."""
    drain_seconds: float = 10.0
    """On SIGTERM, how long the process waits for its sockets, told to reconnect elsewhere
    (1012 "reconnect"), to go before uvicorn's shutdown begins; 0 leaves SIGTERM to uvicorn
    (docs/operate.md, "Drain and rolling restart")."""
    graceful_shutdown_seconds: float = 20.0
    """Then how long uvicorn waits for the requests in flight (a press waits for its batch's
    commit) before it cancels them (its `timeout_graceful_shutdown`, set by `tenwatch serve`;
    0: no limit)."""
    stream_check_seconds: float = 5.0
    """How often each community's newest stored event is compared with the last one its
    sockets here were given, to fill a gap the bus left."""
    stream_degraded_check_seconds: float = 0.5
    """The same check while the bus is degraded (Redis away)."""
    ws_ping_seconds: float = 20.0
    """How often uvicorn pings each socket at the protocol level; a client that does not answer
    within as long again is dropped, so a vanished phone's socket is freed in ≈ 2 periods, not
    the ≈ 15 minutes TCP takes (0: no pings, one timer fewer a socket, ≈ 0.7 KiB)."""
    ws_max_message_bytes: int = 4096
    """The largest message a client may send (it has nothing to say: the stream is one-way); a
    larger one closes its socket with 1009 instead of being buffered whole."""

    # -- supervision: the alarm path's own test alarm, and the workers' watchdog (docs/operate.md)
    supervision_seconds: float = 30.0
    """How often each process sends a silent test alarm through the whole path — stored, heard
    back through the bus, sent by the outbox — and checks each leg (0: no supervision)."""
    supervision_deadline_seconds: float = 10.0
    """How long a round's legs may take before the round counts as failed."""
    supervision_to: str | None = None
    """A number the test alarm texts through the configured sender each round (each one is a
    text the provider charges: pick the interval to suit); unset, the outbox worker settles the
    test job itself and the provider is not asked."""
    watchdog_seconds: float = 30.0
    """A background worker whose loop has not turned for this long (and three of its polls) is
    wedged: /readyz degraded, a warning, a metric (0: no watchdog)."""

    # -- signing in -----------------------------------------------------------------------
    twilio_verify_service_sid: str | None = None
    """A Twilio Verify service (VA…): sign-in codes go through it; unset, they are printed."""
    sign_in_code_seconds: int = 300
    """How long a sign-in code is valid."""
    sign_in_tries: int = 5
    """Wrong codes allowed before a new one must be asked for."""
    sign_in_codes_per_phone: int = 5
    """Codes one number may be sent in an hour."""
    sign_in_codes_per_client: int = 20
    """Codes one client (address) may ask for in an hour."""
    session_resident_days: float = 180.0
    """How long a resident's device stays signed in (0: until signed out or revoked)."""
    session_staff_hours: float = 12.0
    """How long a staff member's device stays signed in: about a shift."""
    token_days: float = 365.0
    """How long a `tenwatch token` lasts unless told (0: until revoked)."""
    stream_ticket_seconds: float = 30.0
    """How long a one-time stream ticket may wait before its socket opens."""

    # -- Web Push (the app's notifications, with the phone's app closed) ---------------------
    vapid_private_key: SecretStr | None = None
    """The VAPID private key (PEM, or base64url raw) pushes are signed with (`tenwatch vapid`
    makes a pair); unset, push is off: what would be pushed is printed."""
    vapid_public_key: str | None = None
    """Its public key (base64url), the application server key browsers subscribe with; derived
    from the private key when unset, and checked against it when set."""
    vapid_subject: str | None = None
    """Whom a push service may contact about our pushes: mailto:… or https://…"""
    push_allow_http: bool = False
    """Accept http:// push endpoints (a test's local push service); never in production."""

    metrics_token: SecretStr | None = None
    """The bearer token Prometheus scrapes /metrics with (`authorization: credentials`); staff
    tokens are let in too. Unset, /metrics is open in development and staff-only in production
    (docs/operate.md, "Metrics")."""

    @property
    def push_url(self) -> str:
        """The push backend: Web Push when a VAPID key is set, else the console."""
        return "webpush://" if self.vapid_private_key is not None else "console://"

    @model_validator(mode="after")
    def _check_vapid(self) -> "Settings":
        if self.vapid_subject is not None and not self.vapid_subject.startswith(
            ("mailto:", "https:")
        ):
            raise ValueError("TENWATCH_VAPID_SUBJECT must be a mailto: or https: URL")
        if self.vapid_private_key is not None:
            if self.vapid_subject is None:
                raise ValueError("TENWATCH_VAPID_SUBJECT is required with a VAPID key")
            from notifier.push.webpush import public_key_of

            derived = public_key_of(self.vapid_private_key.get_secret_value())
            if self.vapid_public_key not in (None, derived):
                raise ValueError("TENWATCH_VAPID_PUBLIC_KEY is not the private key's public key")
        if self.push_allow_http and self.environment == "production":
            raise ValueError("TENWATCH_PUSH_ALLOW_HTTP is for tests; production pushes over https")
        return self

    @property
    def verify_url(self) -> str:
        """The sign-in code backend: Twilio Verify when a service is set, else the console."""
        return "twilio://" if self.twilio_verify_service_sid else "console://"

    @property
    def docs_enabled(self) -> bool:
        """Whether /docs and /redoc are served (their pages load code from a CDN, on the same
        origin as the board): in development unless TENWATCH_DOCS says otherwise."""
        return self.environment == "development" if self.docs is None else self.docs

    # -- devices: panic buttons, sirens and loudspeakers over MQTT (docs/devices.md) --
    mqtt_url: Url | None = None
    """The MQTT broker of the device link (mqtt://[user:password@]127.0.0.1:1883); unset, the
    device link stays in this process (no buttons are heard from outside)."""
    mqtt_client_id: str | None = None
    """The link's fixed client id, whose persistent session keeps presses while we are away
    (default: tenwatch-<hostname>; each replica needs its own)."""
    mqtt_topics: str = "zigbee2mqtt/+,zigbee2mqtt/+/availability,tenwatch/buttons/+"
    """The topic filters heard, comma-separated."""
    mqtt_min_backoff_seconds: float = 0.5
    """The first wait before reconnecting to a lost broker (doubling up to 30 s)."""
    button_quiet_hours: float = 26.0
    """A button not heard for this long is quiet (Zigbee buttons check in every few hours)."""
    button_low_battery: int = 20
    """A button whose battery (percent) is below this is low."""

    # -- logs (docs/operate.md, "Logs") -----------------------------------------------------
    log_format: Literal["text", "json"] = "text"
    """How each log line is written: readable text (coloured on a terminal), or one JSON
    object a line for a log collector."""
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(lambda v: str(v).upper())
    ] = "INFO"
    """The least severe lines written (INFO: a line per request, alarm step and send)."""

    @property
    def device_url(self) -> str:
        """The device link backend, chosen by URL: mqtt when configured, else in-process."""
        return self.mqtt_url or "memory://"

    @property
    def bus_url(self) -> str:
        """The event bus backend, chosen by URL: redis when configured, else in-process."""
        return self.redis_url or "memory://"

    @property
    def sms_url(self) -> str:
        """The SMS sender backend, chosen by URL: twilio when an account is set, else console."""
        return "twilio://" if self.twilio_account_sid else "console://"

    @field_serializer("database_url", "redis_url", "mqtt_url")
    def _hide_password(self, url: str | None) -> str | None:
        """A dump of the settings shows no password (the process reads the URL itself)."""
        return None if url is None else hidden(url)

    @model_validator(mode="after")
    def _check_twilio(self) -> "Settings":
        if self.twilio_account_sid:
            if self.twilio_auth_token is None:
                raise ValueError("TENWATCH_TWILIO_AUTH_TOKEN is required with an account SID")
            if not (self.twilio_from or self.twilio_messaging_service_sid):
                raise ValueError(
                    "set TENWATCH_TWILIO_FROM or TENWATCH_TWILIO_MESSAGING_SERVICE_SID"
                )
        if self.environment == "production":
            refused = self._unsafe_in_production()
            if refused:
                raise ValueError("TENWATCH_ENVIRONMENT=production refuses: " + "; ".join(refused))
        return self

    def _unsafe_in_production(self) -> list[str]:
        """Why these settings can't run production: the examples' placeholders, SQLite, a
        public URL that is not https or is this machine's own."""
        refused = []
        if self.database_url.startswith("sqlite"):
            refused.append("TENWATCH_DATABASE_URL must be postgresql+asyncpg://… (not SQLite)")
        for name, url in (("DATABASE_URL", self.database_url), ("REDIS_URL", self.redis_url)):
            password = urlsplit(url).password if url else None
            if password is not None and password.lower() in PLACEHOLDERS:
                refused.append(f"TENWATCH_{name} has an example's password")
        token = self.twilio_auth_token.get_secret_value() if self.twilio_auth_token else None
        if token is not None and token.lower() in PLACEHOLDERS:
            refused.append("TENWATCH_TWILIO_AUTH_TOKEN is the .env.example placeholder")
        for name, sid in (
            ("ACCOUNT_SID", self.twilio_account_sid),
            ("MESSAGING_SERVICE_SID", self.twilio_messaging_service_sid),
        ):
            if sid is not None and "xxxx" in sid.lower():
                refused.append(f"TENWATCH_TWILIO_{name} is the .env.example placeholder")
        metrics = self.metrics_token.get_secret_value() if self.metrics_token else None
        if metrics is not None and (metrics.lower() in PLACEHOLDERS or len(metrics) < 16):
            refused.append("TENWATCH_METRICS_TOKEN must be a random secret (16 characters or more)")
        public = urlsplit(self.public_base_url)
        if public.scheme != "https" or _local(public.hostname or ""):
            refused.append(
                "TENWATCH_PUBLIC_BASE_URL must be the https:// address people and Twilio reach"
            )
        return refused


def _local(host: str) -> bool:
    """Whether host names this machine or no machine (localhost, a loopback or unspecified
    address)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
