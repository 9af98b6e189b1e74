"""Whole logins against the fake provider, through the browser's redirects."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from capibara6.kit.auth import TokenCodec
from tests.auth.conftest import (CLIENTS, JWT_SECRET, SECRET_KEY, TOKEN_LIFETIME, log_in,
                                 start_login, token_in)

EXPECTED_USER = {
    "github": {"id": "github:1001", "email": "capi@example.org", "name": "Capi Bara", "provider": "github"},
    "google": {"id": "google:u-1001", "email": "capi@example.org", "name": "Capi Bara", "provider": "google"},
    "oidc": {"id": "oidc:u-1001", "email": "capi@example.org", "name": "Capi Bara", "provider": "oidc"},
}


@pytest.mark.parametrize("name", ["github", "google", "oidc"])
def test_login_then_verify_then_logout_then_verify_fails(auth, provider, name):
    token = log_in(auth.url, name)

    verified = requests.post(f"{auth.url}/auth/verify", json={"token": token}, timeout=10)
    assert verified.status_code == 200
    assert verified.json()["valid"] is True
    assert verified.json()["user"] == EXPECTED_USER[name]

    bearer = {"Authorization": f"Bearer {token}"}
    me = requests.get(f"{auth.url}/auth/me", headers=bearer, timeout=10)
    assert me.status_code == 200
    assert me.json()["user"] == EXPECTED_USER[name]

    logout = requests.post(f"{auth.url}/auth/logout", headers=bearer, timeout=10)
    assert logout.status_code == 200
    assert logout.json()["success"] is True

    after = requests.post(f"{auth.url}/auth/verify", headers=bearer, timeout=10)
    assert after.status_code == 401
    assert after.json() == {"error": after.json()["error"], "code": "token_revoked", "valid": False}
    assert requests.get(f"{auth.url}/auth/me", headers=bearer, timeout=10).status_code == 401


def test_token_has_the_promised_claims_and_lifetime(auth, provider):
    claims = TokenCodec(JWT_SECRET).verify(log_in(auth.url, "google"))
    assert claims["sub"] == claims["user_id"] == "google:u-1001"
    assert claims["email"] == "capi@example.org"
    assert claims["name"] == "Capi Bara"
    assert claims["provider"] == "google"
    assert len(claims["jti"]) >= 32
    assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME


def test_each_login_gets_its_own_token_id(auth, provider):
    codec = TokenCodec(JWT_SECRET)
    first, second = (codec.verify(log_in(auth.url, "github")) for _ in range(2))
    assert first["jti"] != second["jti"]


def test_token_travels_in_the_fragment_never_in_a_query_string(auth, provider, front_end):
    browser = requests.Session()
    callback = start_login(auth.url, "github", browser)
    done = browser.get(callback, allow_redirects=False, timeout=10)
    assert done.status_code == 302
    location = urlsplit(done.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == front_end.url
    assert location.query == ""
    assert token_in(done.headers["Location"])
    assert done.headers["Cache-Control"] == "no-store"
    assert done.headers["Referrer-Policy"] == "no-referrer"
    landed = browser.get(done.headers["Location"], timeout=10)
    assert landed.status_code == 200
    assert front_end.requests[-1] == "/chat.html?"  # the server side of the app never sees it


@pytest.mark.parametrize("name, openid", [("github", False), ("google", True), ("oidc", True)])
def test_login_uses_state_pkce_and_for_openid_a_nonce(auth, provider, name, openid):
    log_in(auth.url, name)
    asked = provider.authorize_requests[-1]
    assert len(asked["state"]) >= 20
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43
    assert asked["redirect_uri"] == f"{auth.url}/auth/callback/{name}"
    assert asked["client_id"] == CLIENTS[name][0]
    assert ("nonce" in asked) is openid
    exchanged = provider.token_requests[-1]
    assert 43 <= len(exchanged["code_verifier"]) <= 128
    assert exchanged["redirect_uri"] == asked["redirect_uri"]


def test_redirect_uri_comes_from_the_public_url_not_the_host_header(auth, provider):
    reply = requests.get(f"{auth.url}/auth/github", headers={"Host": "evil.example:666"},
                         allow_redirects=False, timeout=10)
    assert reply.status_code == 302
    redirect_uri = parse_qs(urlsplit(reply.headers["Location"]).query)["redirect_uri"][0]
    assert redirect_uri == f"{auth.url}/auth/callback/github"


def test_login_cookie_is_http_only_lax_and_scoped_to_auth(auth, provider):
    reply = requests.get(f"{auth.url}/auth/google", allow_redirects=False, timeout=10)
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith("capibara6_login=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/auth/" in cookie


def test_github_private_address_is_read_from_the_user_emails(auth, provider):
    provider.private_email = True
    claims = TokenCodec(JWT_SECRET).verify(log_in(auth.url, "github"))
    assert claims["email"] == "capi@example.org"


def test_oidc_asks_userinfo_when_the_id_token_lacks_email_and_name(auth, provider):
    provider.thin_id_token = True
    claims = TokenCodec(JWT_SECRET).verify(log_in(auth.url, "oidc"))
    assert (claims["email"], claims["name"]) == ("capi@example.org", "Capi Bara")


def test_health_lists_the_enabled_providers(auth):
    health = requests.get(f"{auth.url}/health", timeout=10)
    assert health.status_code == 200
    body = health.json()
    assert body["service"] == "capibara6-auth"
    assert body["status"] == "ok"
    assert body["checks"]["providers"]["enabled"] == ["github", "google", "oidc"]


def test_no_secret_token_or_code_reaches_the_log(auth, provider):
    token = log_in(auth.url, "oidc")
    used_code = provider.token_requests[-1]["code"]
    log = auth.log()
    assert "login via oidc: oidc:u-1001" in log
    for secret in [JWT_SECRET, SECRET_KEY, token, used_code, *(s for _, s in CLIENTS.values())]:
        assert secret not in log
