"""Settings from the environment, with an optional .env file.

Every value is read and checked once, at start. A bad or missing value raises
ConfigError with one line naming the variable; the CLI prints it and exits
with status 2 (never a traceback). Secrets are never echoed back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from dotenv import dotenv_values

DEFAULT_CORS_ORIGINS = ("http://localhost:8000", "http://127.0.0.1:8000")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for a person."""


def load_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment over the .env file (real environment wins).

    The file is CAPIBARA6_ENV_FILE when set (it must exist), else ./.env if present.
    """
    base = dict(os.environ if environ is None else environ)
    env_file = base.get("CAPIBARA6_ENV_FILE")
    if env_file:
        if not Path(env_file).is_file():
            raise ConfigError(f"CAPIBARA6_ENV_FILE: no such file: {env_file}")
        path = Path(env_file)
    else:
        path = Path(".env")
        if not path.is_file():
            return base
    values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    values.update(base)
    return values


@dataclass(frozen=True)
class Declared:
    """One setting as the code reads it: what docs/settings.md is generated from."""

    name: str
    kind: str
    default: object = None
    minimum: object = None
    maximum: object = None
    required: bool = False
    secret: bool = False
    doc: str = ""


class Env:
    """Typed, validated access to one environment mapping. Every read is recorded in
    `declared` (name, type, default, bounds), so the settings reference is generated
    from the same calls that read the settings (capibara6 docs)."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = load_environ(environ)
        self.declared: dict[str, Declared] = {}
        self._declare("CAPIBARA6_ENV_FILE", "path", "./.env (when present)",  # load_environ reads it
                      doc="A file of more settings (the real environment wins)")

    def _declare(self, name: str, kind: str, default=None, **more) -> None:
        # The first reader wins (url() reads through str(), and the kind is url), but a
        # later reader that requires the setting (auth's JWT_SECRET) makes it required.
        first = self.declared.setdefault(name, Declared(name, kind, default, **more))
        if more.get("required") and not first.required:
            self.declared[name] = replace(first, required=True)

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value if value != "" else None

    def str(self, name: str, default: str | None = None, *, required: bool = False,
            secret: bool = False, min_length: int = 0, doc: str = "") -> str | None:
        self._declare(name, "secret" if secret else "text", None if secret else default,
                      minimum=min_length or None, required=required, secret=secret, doc=doc)
        value = self._raw(name)
        if value is None:
            if required:
                raise ConfigError(f"{name} is required but not set")
            return default
        if len(value.encode()) < min_length:
            what = "secret" if secret else "value"
            raise ConfigError(f"{name}: the {what} must be at least {min_length} bytes long")
        return value

    def int(self, name: str, default: int, *, minimum: int | None = None,
            maximum: int | None = None, doc: str = "") -> int:
        self._declare(name, "integer", default, minimum=minimum, maximum=maximum, doc=doc)
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
        return _bounded(name, number, minimum, maximum)

    def float(self, name: str, default: float, *, minimum: float | None = None,
              maximum: float | None = None, doc: str = "") -> float:
        self._declare(name, "number", default, minimum=minimum, maximum=maximum, doc=doc)
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
        return _bounded(name, number, minimum, maximum)

    def bool(self, name: str, default: bool, *, doc: str = "") -> bool:
        self._declare(name, "true/false", default, doc=doc)
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{name}: expected true or false, got {value!r}")

    def list(self, name: str, default: tuple[str, ...] = (), *, doc: str = "") -> tuple[str, ...]:
        self._declare(name, "comma-separated list", ",".join(default), doc=doc)
        value = self._raw(name)
        if value is None:
            return tuple(default)
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def url(self, name: str, default: str | None = None, *, required: bool = False,
            doc: str = "") -> str | None:
        self._declare(name, "http(s) URL", default, required=required, doc=doc)
        value = self.str(name, default, required=required)
        if value is None:
            return None
        check_http_url(name, value)
        return value.rstrip("/")

    def path(self, name: str, default: str | Path | None = None, *, doc: str = "") -> Path | None:
        self._declare(name, "path", default, doc=doc)
        value = self._raw(name)
        if value is None:
            return Path(default) if default is not None else None
        return Path(value)


def check_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: expected an http(s) URL such as http://127.0.0.1:11434, got {value!r}")


def _bounded(name, number, minimum, maximum):
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name}: must be at most {maximum}, got {number}")
    return number


@dataclass(frozen=True)
class CommonSettings:
    """What every service reads, whatever it does."""

    service: str
    cors_origins: tuple[str, ...]
    max_body_bytes: int
    threads: int
    connection_limit: int
    state_dir: Path
    cache_dir: Path
    require_auth: bool
    jwt_secret: str | None = field(repr=False)  # a secret never shows in a repr or a log
    # Where a service that requires tokens asks about revocation (kit/auth.py).
    auth_url: str = "http://127.0.0.1:5004"
    auth_timeout: float = 3.0
    auth_cache_seconds: float = 10.0
    # The reverse proxy whose X-Forwarded-For/-Proto/-Host waitress believes
    # (nginx on the same host); the same headers from anyone else are dropped.
    trusted_proxy: str = "127.0.0.1"

    @classmethod
    def from_env(cls, service: str, env: Env, *, default_threads: int = 16,
                 default_max_body_bytes: int = 1024 * 1024) -> "CommonSettings":
        origins = env.list("CAPIBARA6_CORS_ORIGINS", DEFAULT_CORS_ORIGINS,
                           doc="Origins whose pages may call the service (never *)")
        if "*" in origins:
            raise ConfigError("CAPIBARA6_CORS_ORIGINS: '*' is not allowed; list the page's origins")
        for origin in origins:
            check_http_url("CAPIBARA6_CORS_ORIGINS", origin)
        require_auth = env.bool("CAPIBARA6_REQUIRE_AUTH", False,
                                doc="Every route but /health, /metrics, /openapi.json needs a token")
        jwt_secret = env.str("JWT_SECRET", secret=True, required=require_auth, min_length=32,
                             doc="Signs and checks tokens; needed by auth and with CAPIBARA6_REQUIRE_AUTH")
        return cls(
            service=service,
            cors_origins=origins,
            max_body_bytes=env.int("CAPIBARA6_MAX_BODY_BYTES", default_max_body_bytes,
                                   minimum=1024, maximum=1024 ** 3,
                                   doc="Largest request body (bytes); larger is the JSON 413"),
            threads=env.int("CAPIBARA6_THREADS", default_threads, minimum=1, maximum=1024,
                            doc="waitress worker threads; a chat stream holds one while it lasts (chat's "
                                "default is sized for 256 at once); in chat and consensus an eighth "
                                "(at least 2) never wait on Ollama, for /health"),
            connection_limit=env.int("CAPIBARA6_CONNECTION_LIMIT", 1000, minimum=1, maximum=100000,
                                     doc="Most open connections waitress keeps"),
            state_dir=_directory(env, "STATE_DIRECTORY", "CAPIBARA6_STATE_DIR", Path("var") / service,
                                 "what the service keeps (saved conversations, revoked tokens, the index)"),
            cache_dir=_directory(env, "CACHE_DIRECTORY", "CAPIBARA6_CACHE_DIR", Path("var") / service / "cache",
                                 "what the service can rebuild (voices, model files)"),
            require_auth=require_auth,
            jwt_secret=jwt_secret,
            auth_url=env.url("CAPIBARA6_AUTH_URL", "http://127.0.0.1:5004",
                             doc="The auth service, asked about revoked tokens"),
            auth_timeout=env.float("CAPIBARA6_AUTH_TIMEOUT", 3.0, minimum=0.1, maximum=60,
                                   doc="Seconds to wait for the auth service's revocation answer"),
            auth_cache_seconds=env.float("CAPIBARA6_AUTH_CACHE_SECONDS", 10.0, minimum=0, maximum=300,
                                         doc="How long a 'not revoked' answer from the auth service is remembered"),
            trusted_proxy=env.str("CAPIBARA6_TRUSTED_PROXY", "127.0.0.1",
                                  doc="The only peer whose X-Forwarded-For/-Proto/-Host waitress believes (nginx)"),
        )


def _directory(env: Env, systemd_name: str, our_name: str, local_default: Path, what: str) -> Path:
    # systemd may pass several colon-separated directories; ours is the first.
    systemd_value = env.str(systemd_name, doc=f"Set by systemd: {what}; wins over {our_name}")
    if systemd_value:
        return Path(systemd_value.split(":")[0])
    return env.path(our_name, local_default, doc=f"Where {what} goes without systemd")
