"""Fixtures for the login service: the fake provider, a front end to land on, the service.

The module-scoped `auth` service has GitHub, Google and generic OIDC all
pointed at one FakeOAuthProvider on loopback; tests that need other settings
start their own with `start_auth`. `provider` resets the fake's faults
around each test.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.processes import ServiceProcess, free_port
from tests.fakes.oauth_provider import FakeOAuthProvider

JWT_SECRET = "jwt-secret-for-tests-only-0123456789abcdef"
SECRET_KEY = "cookie-secret-for-tests-only-0123456789abcdef"
TOKEN_LIFETIME = 3600
# client id and secret of each provider, as registered on the fake
CLIENTS = {
    "github": ("gh-client-id", "gh-client-secret-do-not-log-1"),
    "google": ("google-client-id", "google-client-secret-do-not-log-2"),
    "oidc": ("oidc-client-id", "oidc-client-secret-do-not-log-3"),
}


class FrontEnd:
    """Where a finished login lands (CAPIBARA6_AUTH_SUCCESS_URL); records what reached it."""

    def __init__(self):
        self.requests: list[str] = []

        def app(environ, start_response):
            self.requests.append(environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", ""))
            start_response("200 OK", [("Content-Type", "text/html")])
            return [b"<html>Capibara6</html>"]

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args, **kwargs):
                pass

        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self._server.port}/chat.html"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


def auth_env(fake: FakeOAuthProvider, front_end: FrontEnd, port: int, **overrides) -> dict:
    """Settings for an auth service on port with all three providers at the fake."""
    public_url = f"http://127.0.0.1:{port}"
    for name, (client_id, secret) in CLIENTS.items():
        client = fake.clients.get(client_id) or fake.register_client(client_id, secret, [])
        client.redirect_uris.append(f"{public_url}/auth/callback/{name}")
    env = {
        "JWT_SECRET": JWT_SECRET,
        "SECRET_KEY": SECRET_KEY,
        "CAPIBARA6_PUBLIC_URL": public_url,
        "CAPIBARA6_AUTH_SUCCESS_URL": front_end.url,
        "CAPIBARA6_AUTH_TOKEN_LIFETIME": str(TOKEN_LIFETIME),
        "CAPIBARA6_AUTH_PROVIDER_TIMEOUT": "1",
        "GITHUB_CLIENT_ID": CLIENTS["github"][0],
        "GITHUB_CLIENT_SECRET": CLIENTS["github"][1],
        "CAPIBARA6_GITHUB_AUTHORIZE_URL": f"{fake.url}/authorize",
        "CAPIBARA6_GITHUB_TOKEN_URL": f"{fake.url}/token",
        "CAPIBARA6_GITHUB_API_URL": f"{fake.url}/github",
        "GOOGLE_CLIENT_ID": CLIENTS["google"][0],
        "GOOGLE_CLIENT_SECRET": CLIENTS["google"][1],
        "CAPIBARA6_GOOGLE_DISCOVERY_URL": fake.discovery_url,
        "CAPIBARA6_OIDC_DISCOVERY_URL": fake.discovery_url,
        "CAPIBARA6_OIDC_CLIENT_ID": CLIENTS["oidc"][0],
        "CAPIBARA6_OIDC_CLIENT_SECRET": CLIENTS["oidc"][1],
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


@pytest.fixture(scope="module")
def oauth_provider():
    with FakeOAuthProvider() as fake:
        yield fake


@pytest.fixture
def provider(oauth_provider):
    oauth_provider.reset()
    yield oauth_provider
    oauth_provider.reset()


@pytest.fixture(scope="module")
def front_end():
    front = FrontEnd()
    yield front
    front.stop()


@pytest.fixture(scope="module")
def auth(oauth_provider, front_end, tmp_path_factory):
    port = free_port()
    proc = ServiceProcess("auth", auth_env(oauth_provider, front_end, port),
                          tmp_path_factory.mktemp("auth"), port=port).start()
    yield proc
    proc.stop()


@pytest.fixture
def start_auth(service, oauth_provider, front_end):
    """start_auth(**overrides) -> a fresh auth service; an override of None removes a setting."""
    def start(**overrides) -> ServiceProcess:
        port = free_port()
        return service("auth", auth_env(oauth_provider, front_end, port, **overrides), port=port)
    return start


def token_in(location: str) -> str | None:
    """The token in a redirect's URL fragment, if any."""
    return parse_qs(urlsplit(location).fragment).get("token", [None])[0]


def log_in(auth_url: str, provider_name: str, browser: requests.Session | None = None) -> str:
    """A whole login as a browser does it, following every redirect; returns the token."""
    browser = browser or requests.Session()
    landed = browser.get(f"{auth_url}/auth/{provider_name}", timeout=10)
    assert landed.status_code == 200, landed.text
    ours = [r for r in landed.history if r.url.startswith(f"{auth_url}/auth/callback/")]
    assert len(ours) == 1 and ours[0].status_code == 302, [r.url for r in landed.history]
    token = token_in(ours[0].headers["Location"])
    assert token
    return token


def start_login(auth_url: str, provider_name: str, browser: requests.Session) -> str:
    """Go through the provider's consent and stop before the callback; returns the callback URL."""
    to_provider = browser.get(f"{auth_url}/auth/{provider_name}", allow_redirects=False, timeout=10)
    assert to_provider.status_code == 302, to_provider.text
    back = browser.get(to_provider.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    return back.headers["Location"]


def assert_not_logged_in(reply: requests.Response, front_end: FrontEnd, seen_before: int) -> None:
    """A failed callback: JSON error, no token anywhere, and the browser never reached the app."""
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert set(body) >= {"error", "code"}
    assert "Location" not in reply.headers
    assert "token=" not in reply.text
    assert len(front_end.requests) == seen_before
