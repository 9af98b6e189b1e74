"""The login service: GitHub, Google and OIDC login; JWT sessions; verify and logout."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

from capibara6.kit.app import Runtime, create_app as create_base_app
from capibara6.kit.settings import Env


def create_app(environ=None):
    from capibara6.auth.app import bp
    from capibara6.auth.logins import LOGIN_TTL_SECONDS, Logins
    from capibara6.auth.providers import build_providers
    from capibara6.auth.sessions import Sessions
    from capibara6.auth.settings import AuthSettings
    from capibara6.auth.store import SCHEMA, SQLITE_FILE, AuthStore
    from capibara6.kit.auth import TokenCodec
    from capibara6.kit.storage import open_database

    settings = AuthSettings.from_env(Env(environ))
    store = AuthStore(open_database(settings.storage, SCHEMA, SQLITE_FILE),
                      limits=settings.login_limits)
    sessions = Sessions(TokenCodec(settings.jwt_secret, lifetime_seconds=settings.token_lifetime), store)
    logins = Logins(build_providers(settings), store, sessions,
                    public_url=settings.public_url, success_url=settings.success_url)

    def providers_check():
        enabled = settings.provider_names
        details = {"status": "ok" if enabled else "none_enabled", "enabled": enabled}
        return bool(enabled), details

    runtime = Runtime(
        "auth",
        checks={"providers": providers_check, "storage": store.check},
        status=lambda: "serving; login with " + (", ".join(settings.provider_names) or "no provider"),
    )
    # Tokens come from here and the login routes must stay open: this service checks
    # tokens itself, so the kit's CAPIBARA6_REQUIRE_AUTH guard is never installed on it.
    common = replace(settings.common, require_auth=False)
    app = create_base_app(common, blueprints=[bp], runtime=runtime)
    app.secret_key = settings.secret_key
    app.config.update(
        SESSION_COOKIE_NAME="capibara6_login",
        SESSION_COOKIE_PATH=(urlsplit(settings.public_url).path.rstrip("/") or "") + "/auth/",
        SESSION_COOKIE_HTTPONLY=True,
        # Lax: the provider's redirect back to us is a top-level GET, which carries it.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=LOGIN_TTL_SECONDS),
    )
    app.extensions.update({
        "capibara6.auth.settings": settings,
        "capibara6.auth.logins": logins,
        "capibara6.auth.sessions": sessions,
    })
    return app
