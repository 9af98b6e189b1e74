"""Routes of the login service (port 5004). The work is in logins.py and sessions.py."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, request, session

from capibara6.auth import contracts
from capibara6.auth.logins import Logins
from capibara6.auth.sessions import Sessions, describe
from capibara6.kit.auth import bearer_token, www_authenticate
from capibara6.kit.contract import Answer, operation
from capibara6.kit.errors import Unauthorized

bp = Blueprint("auth", __name__)
PROVIDER = "<any(github, google, oidc):provider>"
# The key in the signed login cookie that ties a login's state to this browser.
STATE_KEY = "login_state"
REDIRECT = Answer("A redirect", media_type="text/html", headers={"Location": "Where to go next"})


def _logins() -> Logins:
    return current_app.extensions["capibara6.auth.logins"]


def _sessions() -> Sessions:
    return current_app.extensions["capibara6.auth.sessions"]


def _token(body: contracts.TokenBody) -> str:
    """The token from 'Authorization: Bearer', else from the JSON body {"token": ...}.

    The header is the caller's credential, so it wins: with both, the body's token is
    ignored (a logout never revokes a token other than the caller's).
    """
    if "Authorization" in request.headers or body.token is None:
        return bearer_token(request.headers.get("Authorization"))
    return body.token


@bp.after_request
def protect(response):
    # Tokens travel in these responses (a Location, a body): no cache may keep them, and
    # the callback's code and state must not leak to the next page in a Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = www_authenticate(response.get_json(silent=True))
    return response


@bp.get(f"/auth/{PROVIDER}")
@operation("Start a login with a provider: a redirect to it, with a login cookie", status=302,
           ok=REDIRECT, errors=(404, 429, 502, 503))
def login(provider):
    # remote_addr is the client's own address: waitress takes it from X-Forwarded-For only
    # when the trusted proxy (nginx) sent it.
    started = _logins().start(provider, client=request.remote_addr)
    session.clear()
    session.permanent = True  # the cookie lasts as long as a login may take
    session[STATE_KEY] = started.state
    return redirect(started.redirect_url, code=302)


@bp.get(f"/auth/callback/{PROVIDER}")
@operation("Where the provider sends the browser back: a redirect to the page with #token=",
           status=302, ok=REDIRECT, query=contracts.CallbackQuery, errors=(404, 502, 503))
def callback(provider):
    logins = _logins()
    logins.provider(provider)  # a disabled provider is a 404 before the cookie is touched
    browser_state = session.pop(STATE_KEY, None)
    done = logins.finish(provider, request.args, browser_state)
    return redirect(done.redirect_url, code=302)


@bp.post("/auth/verify")
@operation("Is a token valid (signed by us, in date, not logged out)?", body=contracts.TokenBody,
           body_required=False, ok=contracts.VerifyReply, errors=(503,))
def verify(body: contracts.TokenBody):
    try:
        claims = _sessions().check(_token(body))
    except Unauthorized as error:
        raise Unauthorized(error.message, code=error.code, valid=False) from None
    return jsonify({"valid": True, **describe(claims)})


@bp.get("/auth/me")
@operation("Who the Authorization: Bearer token belongs to", ok=contracts.SessionReply, errors=(503,))
def me():
    claims = _sessions().check(bearer_token(request.headers.get("Authorization")))
    return jsonify(describe(claims))


@bp.post("/auth/logout")
@operation("Log a token out until it expires", body=contracts.TokenBody, body_required=False,
           ok=contracts.LogoutReply, errors=(503,))
def logout(body: contracts.TokenBody):
    claims = _sessions().revoke(_token(body))
    return jsonify({"success": True, "revoked": True, "user": describe(claims)["user"]})
