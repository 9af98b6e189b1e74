"""CAPIBARA6_REQUIRE_AUTH on the other services: no token 401, a good one serves, a revoked one 401.

Chat and consensus run as real processes beside a real auth service, which
they ask about revocation (CAPIBARA6_AUTH_CACHE_SECONDS=0 here, so a logout
counts at once). The guard's cache and its failure modes are also tested
directly, with a fake transport and clock.
"""

from __future__ import annotations

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import OctKey

from capibara6.kit.auth import (AuthUnavailable, Identity, RevocationCheck, TokenCodec,
                                bearer_token)
from capibara6.kit.errors import Unauthorized
from tests.auth.conftest import JWT_SECRET, log_in
from tests.processes import ServiceProcess, free_port
from tests.fakes.ollama_server import FakeModel, FakeOllama

USER = Identity(id="oidc:7", provider="oidc", email="eva@example.org", name="Eva")
ORIGIN = "http://localhost:8000"


def guarded_env(auth_url: str, ollama_url: str, **extra) -> dict:
    return {"CAPIBARA6_REQUIRE_AUTH": "1", "JWT_SECRET": JWT_SECRET, "CAPIBARA6_AUTH_URL": auth_url,
            "CAPIBARA6_AUTH_CACHE_SECONDS": "0", "CAPIBARA6_AUTH_TIMEOUT": "2",
            "OLLAMA_URL": ollama_url, "OLLAMA_TIMEOUT": "5", **extra}


@pytest.fixture(scope="module")
def ollama():
    with FakeOllama([FakeModel("llama3.2:latest"), FakeModel("qwen2.5:7b")]) as fake:
        yield fake


@pytest.fixture(scope="module", params=["chat", "consensus"])
def guarded(request, auth, ollama, tmp_path_factory):
    """Chat, then consensus, requiring a token, with a route each that needs one."""
    name = request.param
    proc = ServiceProcess(name, guarded_env(auth.url, ollama.url),
                          tmp_path_factory.mktemp(name)).start()
    proc.protected = {"chat": ("POST", "/api/chat", {"message": "hola"}),
                      "consensus": ("GET", "/api/consensus/models", None)}[name]
    proc.open_paths = {"chat": ["/health", "/api/health", "/metrics"],
                       "consensus": ["/health", "/api/consensus/health", "/metrics"]}[name]
    yield proc
    proc.stop()


def call(service, token: str | None = None, header: str | None = None) -> requests.Response:
    method, path, body = service.protected
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if header is not None:
        headers["Authorization"] = header
    return requests.request(method, f"{service.url}{path}", json=body, headers=headers, timeout=30)


def test_no_token_is_401(guarded):
    reply = call(guarded)
    assert reply.status_code == 401
    assert reply.json()["code"] == "missing_token"
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="capibara6"'


@pytest.mark.parametrize("header", ["Token {t}", "{t}", "Bearer", "Basic dXNlcjpwYXNz", "Bearer {t} {t}"])
def test_wrong_header_form_is_401(guarded, header):
    token = TokenCodec(JWT_SECRET).issue(USER)[0]
    reply = call(guarded, header=header.format(t=token))
    assert reply.status_code == 401
    assert reply.json()["code"] == "invalid_authorization_header"


def test_forged_token_is_401(guarded):
    forged = TokenCodec("an-attackers-secret-that-is-long-enough-000").issue(USER)[0]
    reply = call(guarded, forged)
    assert reply.status_code == 401 and reply.json()["code"] == "invalid_token"
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="capibara6", error="invalid_token"'


def test_token_with_an_absurd_expiry_is_401_here_too(guarded):
    # Signed with the right secret, exp in the year 3e12: was passed on to the auth
    # service, whose 500 made this a 503 auth_unavailable.
    claims = {**TokenCodec(JWT_SECRET).issue(USER)[1], "exp": 10**20}
    absurd = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(JWT_SECRET.encode()))
    reply = call(guarded, absurd)
    assert reply.status_code == 401 and reply.json()["code"] == "invalid_token"


def test_token_from_a_real_login_serves_until_logout(guarded, auth, oauth_provider):
    oauth_provider.reset()
    token = log_in(auth.url, "oidc")
    assert call(guarded, token).status_code == 200
    requests.post(f"{auth.url}/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    reply = call(guarded, token)
    assert reply.status_code == 401
    assert reply.json()["code"] == "token_revoked"


def test_health_metrics_and_preflight_need_no_token(guarded):
    for path in guarded.open_paths:
        assert requests.get(f"{guarded.url}{path}", timeout=10).status_code == 200, path
    method, path, _ = guarded.protected
    preflight = requests.options(f"{guarded.url}{path}", timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_auth_service_down_fails_closed_with_503(service, ollama):
    chat = service("chat", guarded_env(f"http://127.0.0.1:{free_port()}", ollama.url))
    token = TokenCodec(JWT_SECRET).issue(USER)[0]
    reply = requests.post(f"{chat.url}/api/chat", json={"message": "hola"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert reply.status_code == 503
    assert reply.json()["code"] == "auth_unavailable"


def test_require_auth_without_jwt_secret_stops_with_exit_2(tmp_path, ollama):
    proc = ServiceProcess("chat", {"CAPIBARA6_REQUIRE_AUTH": "1", "OLLAMA_URL": ollama.url}, tmp_path)
    try:
        with pytest.raises(RuntimeError, match="exited with 2"):
            proc.start(wait=30)
    finally:
        proc.stop()  # closes its log file
    assert "JWT_SECRET" in proc.log() and "Traceback" not in proc.log()


# --- the guard's parts, without processes --------------------------------------------------

class FakeResponse:
    def __init__(self, status: int, body):
        self.status_code = status
        self._body = body

    def json(self):
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


class FakeAuthService:
    def __init__(self, *replies):
        self.replies = list(replies)
        self.calls = 0

    def __call__(self, url, headers, timeout):
        self.calls += 1
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply


VALID = FakeResponse(200, {"valid": True})
REVOKED = FakeResponse(401, {"valid": False, "error": "revoked", "code": "token_revoked"})
CLAIMS = {"jti": "abc"}


def test_guard_remembers_a_yes_for_the_cache_time_only():
    now = [100.0]
    auth = FakeAuthService(VALID, REVOKED)
    check = RevocationCheck("http://auth", timeout=1, cache_seconds=10, post=auth, clock=lambda: now[0])
    check.ensure_not_revoked("t", CLAIMS)
    now[0] += 9.9
    check.ensure_not_revoked("t", CLAIMS)
    assert auth.calls == 1
    now[0] += 0.2
    with pytest.raises(Unauthorized) as refused:
        check.ensure_not_revoked("t", CLAIMS)
    assert refused.value.code == "token_revoked" and auth.calls == 2


def test_guard_without_cache_asks_every_time():
    auth = FakeAuthService(VALID)
    check = RevocationCheck("http://auth", timeout=1, cache_seconds=0, post=auth)
    for _ in range(3):
        check.ensure_not_revoked("t", CLAIMS)
    assert auth.calls == 3


@pytest.mark.parametrize("reply", [
    requests.ConnectTimeout("slow"),
    requests.ReadTimeout("slow"),
    requests.ConnectionError("refused"),
    FakeResponse(500, ValueError("html")),
    FakeResponse(200, {"valid": "yes"}),
    FakeResponse(200, ValueError("not json")),
    FakeResponse(401, ValueError("not json")),
    FakeResponse(404, {"error": "no such route", "code": "not_found"}),
])
def test_guard_fails_closed_when_the_auth_service_cannot_say(reply):
    check = RevocationCheck("http://auth", timeout=1, cache_seconds=10, post=FakeAuthService(reply))
    with pytest.raises(AuthUnavailable) as unavailable:
        check.ensure_not_revoked("t", CLAIMS)
    assert unavailable.value.status == 503


@pytest.mark.parametrize("header, token", [
    ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"),
])
def test_bearer_token_accepts_the_bearer_form(header, token):
    assert bearer_token(header) == token
