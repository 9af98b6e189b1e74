"""The login service's settings, read and checked once at start.

A provider is enabled when its client id and secret are both set; one without
the other is a ConfigError, not a silently disabled login. The providers'
endpoints default to their public addresses and can all be pointed elsewhere
(the tests point them at a fake provider on loopback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from capibara6.auth.store import LoginLimits
from capibara6.kit.auth import MAX_TOKEN_LIFETIME_SECONDS
from capibara6.kit.settings import CommonSettings, ConfigError, Env
from capibara6.kit.storage import StorageSettings

GITHUB = "github"
GOOGLE = "google"
OIDC = "oidc"
PROVIDER_NAMES = (GITHUB, GOOGLE, OIDC)

# What a person must set to turn each provider on; the 404 of a disabled one names them.
ENABLING_SETTINGS = {
    GITHUB: ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"),
    GOOGLE: ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"),
    OIDC: ("CAPIBARA6_OIDC_DISCOVERY_URL", "CAPIBARA6_OIDC_CLIENT_ID", "CAPIBARA6_OIDC_CLIENT_SECRET"),
}
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class ProviderSettings:
    name: str                        # github, google or oidc: the path segment
    title: str                       # for messages: "GitHub"
    client_id: str
    client_secret: str = field(repr=False)
    scope: str
    discovery_url: str | None = None   # OpenID Connect providers
    authorize_url: str | None = None   # plain OAuth 2 (GitHub)
    token_url: str | None = None
    api_url: str | None = None


@dataclass(frozen=True)
class AuthSettings:
    common: CommonSettings
    jwt_secret: str = field(repr=False)
    secret_key: str | None = field(repr=False)
    public_url: str
    success_url: str
    token_lifetime: int
    provider_timeout: float
    providers: tuple[ProviderSettings, ...]
    storage: StorageSettings
    login_limits: LoginLimits

    @property
    def provider_names(self) -> list[str]:
        return [provider.name for provider in self.providers]

    @classmethod
    def from_env(cls, env: Env) -> "AuthSettings":
        providers = tuple(p for p in (_github(env), _google(env), _oidc(env)) if p is not None)
        success_url = env.url("CAPIBARA6_AUTH_SUCCESS_URL", "http://localhost:8000/chat.html",
                              doc="The page a finished login lands on, with #token=")
        if urlsplit(success_url).fragment:
            raise ConfigError("CAPIBARA6_AUTH_SUCCESS_URL: must not have a '#fragment'; "
                              "the token is put there")
        common = CommonSettings.from_env("auth", env)
        return cls(
            common=common,
            # The service exists to sign tokens: never start with a guessable or made-up key.
            jwt_secret=env.str("JWT_SECRET", required=True, secret=True, min_length=MIN_SECRET_BYTES,
                               doc="Signs and checks tokens; needed by auth and with CAPIBARA6_REQUIRE_AUTH"),
            secret_key=_secret_key(env, providers),
            public_url=env.url("CAPIBARA6_PUBLIC_URL", "http://127.0.0.1:5004",
                               doc="Where browsers reach this service; redirect URIs are built from it"),
            success_url=success_url,
            token_lifetime=env.int("CAPIBARA6_AUTH_TOKEN_LIFETIME", 86400,
                                   minimum=60, maximum=MAX_TOKEN_LIFETIME_SECONDS,
                                   doc="Seconds a login's token is valid"),
            provider_timeout=env.float("CAPIBARA6_AUTH_PROVIDER_TIMEOUT", 10.0,
                                       minimum=0.1, maximum=120,
                                       doc="Seconds to wait for a login provider's token and user endpoints"),
            providers=providers,
            storage=StorageSettings.from_env(env, common.state_dir),
            # Starting a login needs no token: bound the logins kept in progress.
            login_limits=LoginLimits(
                per_client=env.int("CAPIBARA6_AUTH_MAX_PENDING_LOGINS_PER_CLIENT", 20,
                                   minimum=1, maximum=100_000,
                                   doc="Logins in progress one client address may hold (past it, 429)"),
                total=env.int("CAPIBARA6_AUTH_MAX_PENDING_LOGINS", 10_000,
                              minimum=1, maximum=10_000_000,
                              doc="Logins in progress kept in all (past it, 429)")),
        )


def _secret_key(env: Env, providers) -> str | None:
    # SECRET_KEY signs the cookie that ties a login's state to the browser that started it.
    secret_key = env.str("SECRET_KEY", secret=True, min_length=MIN_SECRET_BYTES,
                         doc="Signs the login cookie (32+ bytes); required when a login provider is enabled")
    if secret_key is None and providers:
        raise ConfigError("SECRET_KEY is required when a login provider is enabled (it signs the "
                          f"login cookie); set at least {MIN_SECRET_BYTES} random bytes")
    return secret_key


def _client(env: Env, provider: str) -> tuple[str, str] | None:
    """The client id and secret of a provider, None when neither is set."""
    names = ENABLING_SETTINGS[provider][-2:]
    client_id = env.str(names[0], doc=f"The {provider} login's OAuth client id (enables it, with the secret)")
    client_secret = env.str(names[1], secret=True, doc=f"The {provider} login's OAuth client secret")
    if bool(client_id) != bool(client_secret):
        missing, present = (names[1], names[0]) if client_id else names
        raise ConfigError(f"{missing} is not set but {present} is; set both to enable "
                          f"{provider} login, or neither")
    return (client_id, client_secret) if client_id else None


def _github(env: Env) -> ProviderSettings | None:
    client = _client(env, GITHUB)
    if client is None:
        return None
    return ProviderSettings(
        name=GITHUB, title="GitHub", client_id=client[0], client_secret=client[1],
        scope="read:user user:email",
        authorize_url=env.url("CAPIBARA6_GITHUB_AUTHORIZE_URL", "https://github.com/login/oauth/authorize",
                              doc="GitHub's authorize endpoint"),
        token_url=env.url("CAPIBARA6_GITHUB_TOKEN_URL", "https://github.com/login/oauth/access_token",
                          doc="GitHub's token endpoint"),
        api_url=env.url("CAPIBARA6_GITHUB_API_URL", "https://api.github.com",
                        doc="GitHub's API (tests point it at a fake)"),
    )


def _google(env: Env) -> ProviderSettings | None:
    client = _client(env, GOOGLE)
    if client is None:
        return None
    return ProviderSettings(
        name=GOOGLE, title="Google", client_id=client[0], client_secret=client[1],
        scope="openid email profile",
        discovery_url=env.url("CAPIBARA6_GOOGLE_DISCOVERY_URL", GOOGLE_DISCOVERY_URL,
                              doc="Google's OpenID configuration"),
    )


def _oidc(env: Env) -> ProviderSettings | None:
    discovery_url = env.url("CAPIBARA6_OIDC_DISCOVERY_URL",
                            doc="An OIDC provider's .well-known/openid-configuration (with its client id and secret)")
    client = _client(env, OIDC)
    if client is None and discovery_url is None:
        return None
    if client is None:
        raise ConfigError("CAPIBARA6_OIDC_DISCOVERY_URL is set but CAPIBARA6_OIDC_CLIENT_ID and "
                          "CAPIBARA6_OIDC_CLIENT_SECRET are not; set all three to enable OIDC login")
    if discovery_url is None:
        raise ConfigError("CAPIBARA6_OIDC_CLIENT_ID is set but CAPIBARA6_OIDC_DISCOVERY_URL is not; "
                          "set it to the provider's .well-known/openid-configuration URL")
    return ProviderSettings(
        name=OIDC, title="the OIDC provider", client_id=client[0], client_secret=client[1],
        scope="openid email profile", discovery_url=discovery_url,
    )
