"""A callback that is forged, replayed, refused or left waiting: a clear 4xx/5xx JSON, no login."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.auth.conftest import assert_not_logged_in, log_in, start_login
from tests.processes import free_port


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(params)}"


def test_callback_without_state_is_refused(auth, provider, front_end):
    browser = requests.Session()
    callback = start_login(auth.url, "github", browser)
    seen = len(front_end.requests)
    reply = browser.get(_with_query(callback, {"code": _query(callback)["code"]}), timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] == "missing_state"
    assert_not_logged_in(reply, front_end, seen)


def test_callback_with_a_wrong_state_is_refused(auth, provider, front_end):
    browser = requests.Session()
    callback = start_login(auth.url, "google", browser)
    seen = len(front_end.requests)
    params = {**_query(callback), "state": "not-the-state-we-sent"}
    reply = browser.get(_with_query(callback, params), timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid_state"
    assert_not_logged_in(reply, front_end, seen)


def test_callback_in_another_browser_is_refused(auth, provider, front_end):
    """Login CSRF: a victim's browser must not finish a login the attacker started."""
    callback = start_login(auth.url, "github", requests.Session())
    seen = len(front_end.requests)
    reply = requests.Session().get(callback, timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid_state"
    assert_not_logged_in(reply, front_end, seen)


def test_replayed_callback_is_refused_even_with_the_old_cookie(auth, provider, front_end):
    browser = requests.Session()
    callback = start_login(auth.url, "oidc", browser)
    old_cookies = browser.cookies.copy()
    assert browser.get(callback, timeout=10).status_code == 200
    seen = len(front_end.requests)

    again = browser.get(callback, timeout=10)
    assert again.status_code == 400 and again.json()["code"] == "invalid_state"
    assert_not_logged_in(again, front_end, seen)

    replay = requests.Session()
    replay.cookies.update(old_cookies)
    replayed = replay.get(callback, timeout=10)
    assert replayed.status_code == 400 and replayed.json()["code"] == "invalid_state"
    assert_not_logged_in(replayed, front_end, seen)


def test_replayed_code_is_refused_by_the_provider(auth, provider, front_end):
    """An old code under a fresh, valid state: the provider says invalid_grant; we say 400."""
    used = start_login(auth.url, "github", first := requests.Session())
    assert first.get(used, timeout=10).status_code == 200
    browser = requests.Session()
    fresh = start_login(auth.url, "github", browser)
    seen = len(front_end.requests)
    params = {**_query(fresh), "code": _query(used)["code"]}
    reply = browser.get(_with_query(fresh, params), timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] == "provider_refused"
    assert "invalid_grant" in reply.json()["error"]
    assert_not_logged_in(reply, front_end, seen)


def test_code_from_another_login_fails_pkce(auth, provider, front_end):
    """A stolen, unused code is worthless without the verifier of the login it belongs to."""
    stolen = start_login(auth.url, "google", requests.Session())
    browser = requests.Session()
    mine = start_login(auth.url, "google", browser)
    seen = len(front_end.requests)
    reply = browser.get(_with_query(mine, {**_query(mine), "code": _query(stolen)["code"]}), timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] in ("provider_refused", "invalid_id_token")
    assert_not_logged_in(reply, front_end, seen)


def test_provider_error_response_is_reported(auth, provider, front_end):
    provider.deny = True
    seen = len(front_end.requests)
    reply = requests.Session().get(f"{auth.url}/auth/oidc", timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] == "provider_error"
    assert reply.json()["provider_error"] == "access_denied"
    assert_not_logged_in(reply, front_end, seen)


def test_provider_error_page_is_a_502(auth, provider, front_end):
    provider.failing_paths = {"/token"}
    seen = len(front_end.requests)
    reply = requests.Session().get(f"{auth.url}/auth/github", timeout=10)
    assert reply.status_code == 502
    assert reply.json()["code"] == "upstream_error"
    assert_not_logged_in(reply, front_end, seen)


@pytest.mark.parametrize("name, path", [
    ("github", "/token"),
    ("github", "/github/user"),
    ("google", "/token"),
    ("oidc", "/userinfo"),
])
def test_slow_provider_times_out_with_504(auth, provider, front_end, name, path):
    provider.slow_paths = {path}
    provider.thin_id_token = path == "/userinfo"
    seen = len(front_end.requests)
    reply = requests.Session().get(f"{auth.url}/auth/{name}", timeout=30)
    provider.release()
    assert reply.status_code == 504
    assert reply.json()["code"] == "upstream_timeout"
    assert_not_logged_in(reply, front_end, seen)


def test_slow_discovery_and_keys_time_out_with_504(start_auth, provider, front_end):
    """Discovery and JWKS are fetched once and cached, so this needs a fresh service."""
    auth = start_auth()
    provider.slow_paths = {"/.well-known/openid-configuration"}
    reply = requests.get(f"{auth.url}/auth/oidc", allow_redirects=False, timeout=30)
    provider.release()
    assert reply.status_code == 504 and reply.json()["code"] == "upstream_timeout"

    provider.slow_paths = {"/jwks"}
    seen = len(front_end.requests)
    reply = requests.Session().get(f"{auth.url}/auth/oidc", timeout=30)
    provider.release()
    assert reply.status_code == 504 and reply.json()["code"] == "upstream_timeout"
    assert_not_logged_in(reply, front_end, seen)

    provider.slow_paths = set()
    assert log_in(auth.url, "oidc")  # the service recovers once the provider does


def test_provider_down_is_a_502(start_auth, provider, front_end):
    dead = f"http://127.0.0.1:{free_port()}"
    auth = start_auth(CAPIBARA6_GITHUB_TOKEN_URL=f"{dead}/token",
                      CAPIBARA6_OIDC_DISCOVERY_URL=f"{dead}/.well-known/openid-configuration")
    reply = requests.get(f"{auth.url}/auth/oidc", allow_redirects=False, timeout=30)
    assert reply.status_code == 502 and reply.json()["code"] == "upstream_unavailable"

    seen = len(front_end.requests)
    reply = requests.Session().get(f"{auth.url}/auth/github", timeout=30)
    assert reply.status_code == 502 and reply.json()["code"] == "upstream_unavailable"
    assert_not_logged_in(reply, front_end, seen)


def test_id_token_signed_with_an_unknown_key_is_refused(auth, provider, front_end):
    provider.foreign_key = True
    seen = len(front_end.requests)
    reply = requests.Session().get(f"{auth.url}/auth/google", timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid_id_token"
    assert_not_logged_in(reply, front_end, seen)


def test_id_token_with_another_nonce_is_refused(auth, provider, front_end):
    provider.wrong_nonce = True
    seen = len(front_end.requests)
    reply = requests.Session().get(f"{auth.url}/auth/oidc", timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid_id_token"
    assert_not_logged_in(reply, front_end, seen)


def test_callback_with_neither_code_nor_error_is_refused(auth, provider, front_end):
    browser = requests.Session()
    callback = start_login(auth.url, "github", browser)
    seen = len(front_end.requests)
    reply = browser.get(_with_query(callback, {"state": _query(callback)["state"]}), timeout=10)
    assert reply.status_code == 400 and reply.json()["code"] == "missing_code"
    assert_not_logged_in(reply, front_end, seen)


def test_service_keeps_serving_after_the_faults(auth, provider):
    assert log_in(auth.url, "github")
    assert "Traceback" not in auth.log()
    assert "internal error" not in auth.log()


def test_a_providers_error_cannot_forge_a_log_line(auth, provider, front_end):
    # The error parameter is the provider's (or whoever crafted the link) and is logged.
    browser = requests.Session()
    callback = urlsplit(start_login(auth.url, "oidc", browser))
    state = parse_qs(callback.query)["state"][0]
    forged = "access_denied\n<6>capibara6.auth.login: login via github: github:forged"
    reply = browser.get(f"{auth.url}{callback.path}", params={"state": state, "error": forged},
                        allow_redirects=False, timeout=10)
    assert reply.status_code == 400 and reply.json()["code"] == "provider_error"
    log = auth.log()
    assert "login refused by oidc: access_denied\\n<6>capibara6.auth.login" in log
    assert "\n<6>capibara6.auth.login: login via github: github:forged" not in log
