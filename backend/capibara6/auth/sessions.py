"""A session is a token: issued at login, checked on every call, revoked at logout."""

from __future__ import annotations

from datetime import datetime, timezone

from capibara6.auth.store import AuthStore
from capibara6.kit.auth import Identity, TokenCodec
from capibara6.kit.errors import Unauthorized


class Sessions:
    def __init__(self, codec: TokenCodec, store: AuthStore):
        self.codec = codec
        self.store = store

    def issue(self, identity: Identity) -> str:
        token, _ = self.codec.issue(identity)
        return token

    def check(self, token: str) -> dict:
        """The claims of a token that is signed by us, in date and not logged out; else Unauthorized."""
        claims = self.codec.verify(token)
        if self.store.is_revoked(claims["jti"]):
            raise Unauthorized("the token was revoked by a logout; log in again", code="token_revoked")
        return claims

    def revoke(self, token: str) -> dict:
        """Log a token out until it expires; it must be valid now. Returns its claims."""
        claims = self.check(token)
        self.store.revoke(claims["jti"], claims["exp"])
        return claims


def describe(claims: dict) -> dict:
    """What /auth/verify and /auth/me say about a valid token."""
    return {
        "user": Identity.from_claims(claims).as_dict(),
        "issued_at": _iso(claims["iat"]),
        "expires_at": _iso(claims["exp"]),
    }


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")
