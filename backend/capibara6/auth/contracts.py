"""The login service's request and response bodies (kit/contract.py)."""

from __future__ import annotations

from pydantic import Field

from capibara6.kit.contract import Model, Reply, Text


class TokenBody(Model):
    token: Text | None = Field(None, description="The token, used only without an "
                                                 "Authorization: Bearer header (the header wins)")


class CallbackQuery(Model):
    """What the provider sends back to the callback (checked by logins.py: each at most 4096 characters)."""

    code: str | None = Field(None, description="The authorization code")
    state: str | None = Field(None, description="The state the login started with")
    error: str | None = Field(None, description="Why the provider did not log the user in")
    error_description: str | None = None


class User(Reply):
    id: str
    email: str | None
    name: str | None
    provider: str


class SessionReply(Reply):
    user: User
    issued_at: str
    expires_at: str


class VerifyReply(SessionReply):
    valid: bool


class LogoutReply(Reply):
    success: bool
    revoked: bool
    user: User
