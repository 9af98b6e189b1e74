"""Capibara6's bearer tokens: the format, and the guard every service can turn on.

The format. The auth service (port 5004) issues JWTs signed with HS256 and
JWT_SECRET, with the claims iss, sub, user_id, email, name, provider, jti,
iat and exp. TokenCodec signs and checks them with joserfc (what authlib 1.9
recommends in place of its deprecated authlib.jose). Only HS256 is accepted,
so "alg": "none" or any other algorithm is refused before a claim is read.

The guard. With CAPIBARA6_REQUIRE_AUTH set, the app factory calls
require_token_for(app, settings): every route then needs
`Authorization: Bearer <token>`, except /health and the service's legacy
health paths, /metrics, and CORS preflight (OPTIONS), which browsers send
without credentials.

Revocation. A logout stores the token's jti in the auth service's storage
(its SQLite file, or the PostgreSQL database every GPU VM shares), which the
other services do not read themselves. So the guard checks in two steps:
first locally (signature, algorithm, expiry, claims), so a forged or expired
token never costs a network call; then it asks the auth service, POST
{CAPIBARA6_AUTH_URL}/auth/verify, whether the token is still good. A yes is
remembered for CAPIBARA6_AUTH_CACHE_SECONDS (default 10, 0 turns the cache
off), so a logout reaches every service within that time. When the auth
service does not answer within CAPIBARA6_AUTH_TIMEOUT, or answers something
other than yes or no, the guard fails closed: 503 auth_unavailable.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import requests
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, JoseError, UnsupportedAlgorithmError
from joserfc.jwk import OctKey

from capibara6.kit.errors import ApiError, Unauthorized
from capibara6.kit.settings import CommonSettings

ISSUER = "capibara6-auth"
ALGORITHM = "HS256"
# Services on other hosts may run a little ahead or behind the auth service.
CLOCK_SKEW_SECONDS = 30
# A token is a few hundred bytes; anything far larger is not ours.
MAX_TOKEN_CHARS = 8192
# The longest lifetime the auth service can be set to (CAPIBARA6_AUTH_TOKEN_LIFETIME).
MAX_TOKEN_LIFETIME_SECONDS = 30 * 86400


@dataclass(frozen=True)
class Identity:
    """Who a token speaks for. id is "<provider>:<the provider's user id>"."""

    id: str
    provider: str
    email: str | None = None
    name: str | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "email": self.email, "name": self.name, "provider": self.provider}

    @classmethod
    def from_claims(cls, claims: dict) -> "Identity":
        return cls(id=claims["sub"], provider=claims["provider"], email=claims.get("email"),
                   name=claims.get("name"))


class TokenCodec:
    """Signs and checks Capibara6 JWTs with one shared secret."""

    def __init__(self, secret: str, *, lifetime_seconds: int = 86400,
                 clock: Callable[[], float] = time.time):
        self._key = OctKey.import_key(secret.encode())
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock
        self._claims_rules = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()), leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": ISSUER},
            sub={"essential": True}, provider={"essential": True}, jti={"essential": True},
            iat={"essential": True}, exp={"essential": True},
        )

    def issue(self, identity: Identity) -> tuple[str, dict]:
        """A new token for identity, and its claims."""
        now = int(self._clock())
        claims = {
            "iss": ISSUER,
            "sub": identity.id,
            "user_id": identity.id,
            "email": identity.email,
            "name": identity.name,
            "provider": identity.provider,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, self._key), claims

    def verify(self, token: str) -> dict:
        """The claims of a token we signed and that is still in date.

        Raises Unauthorized (code invalid_token or token_expired) saying why not.
        """
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized("the token is empty or too long", code="invalid_token")
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        except UnsupportedAlgorithmError:
            raise Unauthorized(f"the token is not signed with {ALGORITHM}",
                               code="invalid_token") from None
        except BadSignatureError:
            raise Unauthorized("the token's signature is not valid", code="invalid_token") from None
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise Unauthorized("the token is not a well-formed JWT", code="invalid_token") from None
        try:
            self._claims_rules.validate(decoded.claims)
        except ExpiredTokenError:
            raise Unauthorized("the token has expired; log in again", code="token_expired") from None
        except JoseError as error:
            raise Unauthorized(f"the token's claims are not valid: {error.description}",
                               code="invalid_token") from None
        _check_times(decoded.claims)
        return decoded.claims


def _check_times(claims: dict) -> None:
    """Refuse iat/exp that no token of ours can have.

    A correctly signed token with exp = 10**20 passes the expiry check but
    breaks whatever reads the time next (a datetime, an SQLite integer);
    the secret may also be shared with other signers. Ours are whole seconds
    since 1970 and live at most MAX_TOKEN_LIFETIME_SECONDS.
    """
    iat, exp = claims.get("iat"), claims.get("exp")
    if not all(type(value) is int for value in (iat, exp)):
        raise Unauthorized("the token's iat and exp must be whole seconds", code="invalid_token")
    if not 0 <= iat < exp <= iat + MAX_TOKEN_LIFETIME_SECONDS:
        raise Unauthorized("the token's iat and exp are out of range (a lifetime of at most "
                           f"{MAX_TOKEN_LIFETIME_SECONDS} s after 1970)", code="invalid_token")


def bearer_token(header: str | None) -> str:
    """The token in an Authorization header value of the form "Bearer <token>".

    Raises Unauthorized: missing_token when there is no header, and
    invalid_authorization_header for any other form ("Token x", a bare token...).
    """
    if header is None or not header.strip():
        raise Unauthorized("no token: send the header 'Authorization: Bearer <token>'",
                           code="missing_token")
    parts = header.split()
    # The scheme is case-insensitive (RFC 7235); the token has no spaces.
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise Unauthorized("the Authorization header must have the form 'Bearer <token>'",
                           code="invalid_authorization_header")
    return parts[1]


def www_authenticate(error_body: dict | None) -> str:
    """The WWW-Authenticate value of a 401 (RFC 6750: no error code when no token was sent)."""
    if error_body and error_body.get("code") not in (None, "missing_token"):
        return 'Bearer realm="capibara6", error="invalid_token"'
    return 'Bearer realm="capibara6"'


class AuthUnavailable(ApiError):
    status = 503
    code = "auth_unavailable"


class RevocationCheck:
    """Asks the auth service whether a locally valid token was revoked; remembers yeses."""

    MAX_REMEMBERED = 10_000

    def __init__(self, auth_url: str, *, timeout: float, cache_seconds: float,
                 post: Callable[..., requests.Response] = requests.post,
                 clock: Callable[[], float] = time.monotonic):
        self.verify_url = f"{auth_url.rstrip('/')}/auth/verify"
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._post = post
        self._clock = clock
        self._good_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def ensure_not_revoked(self, token: str, claims: dict) -> None:
        """Returns when the auth service says the token is good; raises otherwise.

        Unauthorized when the auth service says no, AuthUnavailable when it
        cannot say.
        """
        jti = claims["jti"]
        now = self._clock()
        with self._lock:
            if self._good_until.get(jti, 0) > now:
                return
        try:
            response = self._post(self.verify_url, headers={"Authorization": f"Bearer {token}"},
                                  timeout=self.timeout)
        except requests.Timeout:
            raise AuthUnavailable(f"cannot check the token: the auth service at {self.verify_url} "
                                  f"did not answer within {self.timeout:g}s") from None
        except requests.RequestException:
            raise AuthUnavailable(f"cannot check the token: the auth service at {self.verify_url} "
                                  "is unreachable") from None
        body = _json_or_none(response)
        if response.status_code == 401 and body is not None:
            raise Unauthorized(str(body.get("error") or "the token is not valid"),
                               code=str(body.get("code") or "invalid_token"))
        if response.status_code != 200 or body is None or body.get("valid") is not True:
            raise AuthUnavailable(f"cannot check the token: the auth service answered "
                                  f"HTTP {response.status_code}")
        if self.cache_seconds > 0:
            with self._lock:
                if len(self._good_until) >= self.MAX_REMEMBERED:
                    self._good_until.clear()
                self._good_until[jti] = now + self.cache_seconds


def _json_or_none(response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _is_open(endpoint: str | None) -> bool:
    # The kit's app factory names health routes "health:<path>", the others "metrics" and "openapi".
    return endpoint is not None and (endpoint.startswith("health:") or endpoint in ("metrics", "openapi"))


def require_token_for(app, settings: CommonSettings) -> None:
    """Make every route of app but health, metrics and preflight need a valid, unrevoked token.

    The identity goes on flask.g.user and the claims on flask.g.token_claims.
    The guard's own settings (CAPIBARA6_AUTH_URL...) are part of CommonSettings,
    read and checked with every other setting at start.
    """
    # Imported here: the token half of this module is plain code that the auth service's
    # logic modules use without Flask.
    from flask import g, jsonify, request

    codec = TokenCodec(settings.jwt_secret)
    revocations = RevocationCheck(settings.auth_url, timeout=settings.auth_timeout,
                                  cache_seconds=settings.auth_cache_seconds)
    app.extensions["capibara6.auth.guard"] = revocations

    @app.before_request
    def require_token():
        if request.method == "OPTIONS" or _is_open(request.endpoint):
            return None
        try:
            token = bearer_token(request.headers.get("Authorization"))
            claims = codec.verify(token)
            revocations.ensure_not_revoked(token, claims)
        except ApiError as error:
            response = jsonify(error.to_dict())
            response.status_code = error.status
            if error.status == 401:
                response.headers["WWW-Authenticate"] = www_authenticate(error.to_dict())
            return response
        g.user = Identity.from_claims(claims)
        g.token_claims = claims
        return None
