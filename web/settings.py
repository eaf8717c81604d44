"""The one settings class of FabLab Hub, read from `FABLAB_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "development-only-secret-change-me"  # noqa: S105 - refused outside development and tests
# Secrets anyone can read in this repository: `fablab serve` refuses each of them, whatever the environment.
PUBLISHED_SECRETS = frozenset({DEV_SECRET, "change-me-to-64-random-characters"})


def is_published_secret(secret: str) -> bool:
    """Whether the secret is one printed in this repository (the default, the example file's placeholder)."""
    return secret in PUBLISHED_SECRETS or "change-me" in secret.lower()


class Settings(BaseSettings):
    """Built once at an entry point and passed down; never read from the environment elsewhere."""

    model_config = SettingsConfigDict(env_prefix="FABLAB_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///var/fablab.db"
    secret_key: str = DEV_SECRET
    # mqtt://user:pass@host:port; empty: `fablab demo`/`serve` start an embedded broker.
    mqtt_url: str = ""
    # The CA certificate an mqtts:// broker's certificate must chain to (the same as ?ca= in the URL);
    # empty: the system's CA certificates.
    mqtt_ca_file: str = ""
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    embedded_broker_port: int = 1884
    # The bridge's fixed MQTT client id (its persistent session lives at the broker under it), and an
    # optional MQTT 5 shared-subscription group for several bridge consumers.
    bridge_client_id: str = "fablab-center"
    bridge_shared_group: str = ""
    # Comma-separated sites whose gateways this center listens to; empty: every site.
    bridge_sites: str = ""
    bridge_enabled: bool = True
    # Readings (telemetry, heartbeats) one gateway may send: per second on average, and at once;
    # what is over is dropped and counted (fablab_mqtt_messages_dropped_total{reason="rate"}). 0: no limit.
    bridge_gateway_rate: float = Field(default=200.0, ge=0)
    bridge_gateway_burst: float = Field(default=500.0, ge=1)
    # Readings (telemetry, heartbeats) come in on a second connection of the bridge, so a flood of
    # them never queues ahead of a card tap. Its broker URL: empty, the broker URL itself where that
    # is plain mqtt:// (the loopback listener); over mqtts:// (8883, where the username is the client
    # id) give it a user of its own (read on fablab/v1/+/edge/#), or readings share the one connection.
    bridge_readings_url: str = ""
    scheduler_enabled: bool = True
    # /metrics answers loopback clients; anyone else needs `Authorization: Bearer <this token>`.
    metrics_token: str = ""
    # How often the scheduled jobs run, in seconds.
    offline_check_s: float = Field(default=15, gt=0)
    maintenance_check_s: float = Field(default=60, gt=0)
    session_check_s: float = Field(default=10, gt=0)
    no_show_check_s: float = Field(default=60, gt=0)
    data_dir: Path = Path("var")
    # The center's home time zone: quota periods shown to members are counted in it.
    timezone: str = "Asia/Ho_Chi_Minh"
    # Bearer tokens and sign-in sessions last this long.
    token_max_age_s: int = 30 * 24 * 3600
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=300, ge=1)
    # Sign-ins (failed or not, any account) one client address may make within the window.
    login_max_per_address: int = Field(default=30, ge=1)
    # Check-in opens this long before a booking starts.
    check_in_opens_min: int = Field(default=15, ge=0)
    # A booking with no check-in and no machine use this long after its start becomes a no-show.
    no_show_grace_min: int = Field(default=15, ge=1)
    db_pool_size: int = Field(default=20, ge=1)
    # Threads that run the routes' database work, per web process.
    web_threads: int = Field(default=40, ge=1, le=1000)
    secure_cookies: bool = False
    # Request bodies: at most this many bytes (a problem's photo: the upload limit), each part
    # arriving within this many seconds of the one before.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(default=30.0, gt=0)
    # The level of the whole process's log (the center's own loggers and the web server's).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # E-mail (CONTRACT §4): smtp://user:pass@host:port, smtps://… for TLS, ?starttls=true; empty: the
    # e-mails go to the log (the demo) and the in-app inbox.
    smtp_url: str = ""
    mail_from: str = "FabLab Hub <no-reply@fablab.local>"
    # The address links in e-mails point to.
    public_url: str = "http://127.0.0.1:8000"
    # Members are reminded of a booking or an event session this long before it starts.
    reminder_min: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # How often the outbox is worked through.
    delivery_check_s: float = Field(default=10, gt=0)
    # Anyone may open an account from the sign-in page (its address confirmed by e-mail); false: only
    # admins open accounts.
    signup_open: bool = True
    # The plan a member who signed up starts with (none: a manager gives one).
    signup_plan: str | None = None
    # Webhooks may point at loopback and private addresses (a Home Assistant on the center's LAN).
    webhook_allow_private: bool = False
    # The managers' digest leaves at this hour of each site's morning.
    digest_hour: int = Field(default=7, ge=0, le=23)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and (self.secret_key == DEV_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                "FABLAB_SECRET_KEY must be set to a random value of 32+ characters in production"
            )
        return self

    @model_validator(mode="after")
    def _ca_file_needs_tls(self) -> Settings:
        if self.mqtt_ca_file and self.mqtt_url:
            if not self.mqtt_url.startswith("mqtts://"):
                raise ValueError(
                    "FABLAB_MQTT_CA_FILE is for a TLS broker: FABLAB_MQTT_URL must start with mqtts://"
                )
            if "?" in self.mqtt_url:
                raise ValueError(
                    "FABLAB_MQTT_URL names its CA file already (?ca=); give it in one place only"
                )
        return self

    @property
    def broker_url(self) -> str:
        """FABLAB_MQTT_URL with FABLAB_MQTT_CA_FILE folded in (`?ca=`), as the MQTT client reads it."""
        if not self.mqtt_ca_file or not self.mqtt_url:
            return self.mqtt_url
        return f"{self.mqtt_url}?ca={quote(self.mqtt_ca_file, safe='/')}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
