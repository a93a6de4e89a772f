"""Application settings (outer layer): one pydantic-settings ``Settings`` read from ``UNILABEL_*``.

Every field maps to an environment variable ``UNILABEL_<FIELD>`` (or a ``.env`` file in the working
directory). Relative paths, including the path inside a ``sqlite:///`` URL, are resolved against
the current working directory, so ``make run`` from the repository root keeps everything in
``./var/``.

Secret key: when ``UNILABEL_SECRET_KEY`` is not set, :meth:`Settings.resolved_secret_key`
generates one on first use and persists it in ``<data_dir>/../secret_key`` (``./var/secret_key``
by default, mode 0600), so sessions survive restarts without any setup. Production deployments
should set the variable explicitly.

Invalid settings raise :class:`SettingsError` whose message names the ``UNILABEL_`` variable.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.domain.limits import DEFAULT_LIMITS, Limits

ENV_PREFIX = "UNILABEL_"
# The four-eyes rule for approvals (UNILABEL_FOUR_EYES); see app.services.reviews.
FourEyes = Literal["auto", "on", "off"]
REPO_ROOT = Path(__file__).resolve().parents[1]


class SettingsError(RuntimeError):
    """Raised at start-up when the environment holds an invalid setting."""


def _absolute_sqlite_url(url: str) -> str:
    """Turn ``sqlite:///relative/path.db`` (also ``sqla+sqlite:///``) into an absolute-path URL."""
    for prefix in ("sqla+sqlite:///", "sqlite+pysqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if path and path != ":memory:" and not path.startswith("/"):
                return prefix + str((Path.cwd() / path).resolve())
            return url
    return url


class Settings(BaseSettings):
    """All run-time configuration of web, CLI and worker processes."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    database_url: str = Field(
        default="sqlite:///var/unilabel.db",
        description="SQLAlchemy URL; SQLite file under ./var by default, PostgreSQL in production.",
    )
    broker_url: str = Field(
        default="sqla+sqlite:///var/broker.sqlite",
        description="Celery broker; serverless SQLite transport by default, redis://... in production.",
    )
    data_dir: Path = Field(default=Path("var/data"), description="Where uploads and job outputs live.")
    allowed_data_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders users may register datasets and models from (comma-separated or JSON list).",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Signs session cookies; generated under ./var when unset."
    )
    public_read: bool = Field(default=False, description="Allow anonymous reads (writes always need login).")
    public_url: str | None = Field(
        default=None,
        description="The address users open (e.g. https://unilabel.lab.example); login URLs printed by the "
        "CLI start with it. Unset: the address the last `unilabel serve` was started with.",
    )
    max_upload_bytes: int = Field(default=5_000_000, gt=0, description="Largest accepted upload (bytes).")
    cookie_secure: bool = Field(default=False, description="Send the session cookie over HTTPS only.")
    session_max_age_s: int = Field(default=14 * 24 * 3600, gt=0, description="Browser session lifetime.")
    login_token_ttl_s: int = Field(default=24 * 3600, gt=0, description="One-time login URL lifetime.")
    # Size limits of stored taxonomies and mappings (app.domain.limits; docs/backend.md "Limits").
    max_taxonomy_labels: int = Field(
        default=DEFAULT_LIMITS.max_taxonomy_labels, ge=1, description="Most labels one taxonomy may have."
    )
    max_mapping_edges: int = Field(
        default=DEFAULT_LIMITS.max_mapping_edges, ge=1, description="Most edges one mapping version may have."
    )
    max_name_length: int = Field(
        default=DEFAULT_LIMITS.max_name_length, ge=1, description="Longest taxonomy, label or mapping name."
    )
    # Password-login throttle (app.services.login_throttle; docs/backend.md "Accounts").
    login_throttle_free_failures: int = Field(
        default=5, ge=0, description="Failed logins of one account name before lockouts start."
    )
    login_throttle_client_free_failures: int = Field(
        default=20, ge=0, description="Failed logins from one client address before lockouts start."
    )
    login_throttle_base_delay_s: float = Field(
        default=1.0, gt=0, description="First lockout; each further failure doubles it."
    )
    login_throttle_max_delay_s: float = Field(default=900.0, gt=0, description="Longest lockout.")
    login_throttle_window_s: float = Field(
        default=3600.0, gt=0, description="Failure counts are forgotten after this long without a failure."
    )
    auth_touch_interval_s: int = Field(
        default=300,
        gt=0,
        description="Write a token's last-used and a session's last-seen time at most this often.",
    )
    outbox_poll_s: float = Field(
        default=2.0, gt=0, description="Seconds between outbox relay passes (messages the broker missed)."
    )
    # Connection pool of each web/worker process (see docs/backend.md "Connections and processes").
    # A web process admits at most pool_size + max_overflow requests to the database at once.
    db_pool_size: int = Field(default=10, ge=1, description="Connections kept open per process.")
    db_max_overflow: int = Field(default=10, ge=0, description="Extra connections opened under load.")
    db_pool_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a request waits for a connection before a 503."
    )
    sqlite_busy_timeout_s: float = Field(
        default=10.0, gt=0, description="SQLite: seconds a write waits for another writer's lock."
    )
    history_group_window_s: int = Field(
        default=120,
        ge=0,
        description="Version history: one person's consecutive draft edits, each saved within this many "
        "seconds of the previous one, are shown as one group (0: never group).",
    )
    four_eyes: FourEyes = Field(
        default="auto",
        description="Forbid approving a mapping version you authored: on, off, or auto (on when more "
        "than one active account has the reviewer role or higher).",
    )

    @field_validator("database_url", "broker_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must be a URL such as sqlite:///var/unilabel.db")
        return _absolute_sqlite_url(value)

    @field_validator("data_dir")
    @classmethod
    def _absolute_dir(cls, value: Path) -> Path:
        return (Path.cwd() / value).resolve() if not value.is_absolute() else value

    @field_validator("allowed_data_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.replace(os.pathsep, ",").split(",") if part.strip()]
        return value

    @field_validator("allowed_data_roots")
    @classmethod
    def _absolute_roots(cls, value: list[Path]) -> list[Path]:
        return [(Path.cwd() / p).resolve() if not p.is_absolute() else p for p in value]

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters long")
        return value

    @property
    def limits(self) -> Limits:
        """The size limits (``max_*`` fields) as the domain object the services check against."""
        return Limits(
            max_taxonomy_labels=self.max_taxonomy_labels,
            max_mapping_edges=self.max_mapping_edges,
            max_name_length=self.max_name_length,
        )

    @property
    def var_dir(self) -> Path:
        """The folder holding local state (``./var`` by default): the parent of ``data_dir``."""
        return self.data_dir.parent

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def ensure_dirs(self) -> None:
        """Create the data directory and the folders of SQLite files named by the URLs."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for url in (self.database_url, self.broker_url):
            if "sqlite:///" in url:
                path = url.split("sqlite:///", 1)[1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The configured secret key, or one generated once and persisted under ``var_dir``."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key)
        return key


def load_settings(**overrides: object) -> Settings:
    """Build ``Settings`` from the environment; raise ``SettingsError`` naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("Invalid settings:\n  " + "\n  ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached); tests build their own ``Settings`` instead."""
    return load_settings()
