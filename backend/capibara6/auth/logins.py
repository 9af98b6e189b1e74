"""A login, from the first redirect to the token in the browser's URL fragment.

start() makes the provider's authorization URL and keeps the state, PKCE
verifier and nonce in the store; the route ties the state to the browser
with a signed cookie, so a callback only works in the browser that started
the login (no login CSRF).

finish() handles the callback. Nothing in its query string is trusted until
its state equals the browser's and is found unused in the store, which uses
it up whatever happens next: a callback URL works once. Then an RFC 9207
`iss`, when the provider sends one, must be the provider's issuer; then a
provider's error is reported, or the code is exchanged, the user read, a token issued,
and the browser sent to CAPIBARA6_AUTH_SUCCESS_URL#token=...: the fragment,
which browsers send neither to servers nor in a Referer.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlencode

from capibara6.auth.providers import Provider
from capibara6.auth.sessions import Sessions
from capibara6.auth.settings import ENABLING_SETTINGS
from capibara6.auth.store import AuthStore, PendingLogin
from capibara6.kit.auth import Identity
from capibara6.kit.errors import BadRequest, NotFound

log = logging.getLogger("capibara6.auth.login")
# How long a person may spend on the provider's pages before the login goes stale.
LOGIN_TTL_SECONDS = 600
MAX_PARAM_CHARS = 2048


@dataclass(frozen=True)
class LoginStart:
    redirect_url: str
    state: str


@dataclass(frozen=True)
class LoginDone:
    redirect_url: str
    identity: Identity


class Logins:
    def __init__(self, providers: Mapping[str, Provider], store: AuthStore, sessions: Sessions, *,
                 public_url: str, success_url: str, clock: Callable[[], float] = time.time):
        self.providers = dict(providers)
        self.store = store
        self.sessions = sessions
        self.public_url = public_url.rstrip("/")
        self.success_url = success_url
        self._clock = clock

    def provider(self, name: str) -> Provider:
        """The enabled provider called name; NotFound naming the settings that enable it."""
        provider = self.providers.get(name)
        if provider is None:
            needed = " and ".join(ENABLING_SETTINGS.get(name, ()))
            raise NotFound(f"{name} login is not enabled on this server; set {needed} to enable it",
                           code="provider_disabled", provider=name)
        return provider

    def redirect_uri(self, name: str) -> str:
        # From the configured public URL: the request's Host header is the client's to choose.
        return f"{self.public_url}/auth/callback/{name}"

    def start(self, name: str, client: str | None = None) -> LoginStart:
        """A new login from the client at this address (bounded per address by the store)."""
        provider = self.provider(name)
        authorization = provider.authorization(self.redirect_uri(name))
        self.store.add_login(PendingLogin(
            state=authorization.state, provider=name, code_verifier=authorization.code_verifier,
            nonce=authorization.nonce, expires_at=int(self._clock()) + LOGIN_TTL_SECONDS,
            client=client))
        return LoginStart(redirect_url=authorization.url, state=authorization.state)

    def finish(self, name: str, params: Mapping[str, str], browser_state: str | None) -> LoginDone:
        provider = self.provider(name)
        state = _param(params, "state")
        if state is None:
            raise BadRequest("the callback has no state; start the login again at "
                             f"/auth/{name}", code="missing_state")
        if browser_state is None:
            raise BadRequest("this browser has no login in progress (its login cookie is missing "
                             f"or expired); start again at /auth/{name}", code="invalid_state")
        if not hmac.compare_digest(state.encode(), browser_state.encode()):
            raise BadRequest("the callback's state is not the one this browser's login started "
                             "with", code="invalid_state")
        pending = self.store.take_login(state)
        if pending is None or pending.provider != name:
            raise BadRequest("this login was already completed, has expired or is unknown; start "
                             f"again at /auth/{name}", code="invalid_state")
        provider.check_issuer(_param(params, "iss"))
        error = _param(params, "error")
        if error is not None:
            description = _param(params, "error_description")
            log.warning("login refused by %s: %s", name, error)
            raise BadRequest(f"{provider.title} did not log you in: {error}"
                             + (f" ({description})" if description else ""),
                             code="provider_error", provider_error=error)
        code = _param(params, "code")
        if code is None:
            raise BadRequest("the callback has neither a code nor an error", code="missing_code")
        identity = provider.identity(code=code, redirect_uri=self.redirect_uri(name),
                                     code_verifier=pending.code_verifier, nonce=pending.nonce)
        token = self.sessions.issue(identity)
        log.info("login via %s: %s", name, identity.id)
        return LoginDone(redirect_url=f"{self.success_url}#{urlencode({'token': token})}",
                         identity=identity)


def _param(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_PARAM_CHARS:
        raise BadRequest(f"the callback's '{name}' is longer than {MAX_PARAM_CHARS} characters",
                         code="invalid_callback")
    return value
