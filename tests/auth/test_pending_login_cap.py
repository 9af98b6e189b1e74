"""Starting a login needs no token, and each start keeps a pending login for 600 s.

The logins in progress are bounded per client address and in total: past a
bound GET /auth/<provider> is a 429 with Retry-After, and nothing is kept.
The client's address is waitress's REMOTE_ADDR, taken from X-Forwarded-For
only when the trusted proxy (nginx, here the test on 127.0.0.1) sent it.
"""

from __future__ import annotations

import requests


def start(auth, client: str) -> requests.Response:
    return requests.get(f"{auth.url}/auth/github", headers={"X-Forwarded-For": client},
                        allow_redirects=False, timeout=10)


def assert_too_many(reply: requests.Response, what: str) -> None:
    assert reply.status_code == 429, reply.text
    assert reply.json()["code"] == "too_many_pending_logins" and what in reply.json()["error"]
    assert 1 <= int(reply.headers["Retry-After"]) <= 601
    assert "Location" not in reply.headers and "capibara6_login" not in reply.headers.get("Set-Cookie", "")


def test_pending_logins_are_bounded_per_client_and_in_total(start_auth, provider):
    auth = start_auth(CAPIBARA6_AUTH_MAX_PENDING_LOGINS_PER_CLIENT="2",
                      CAPIBARA6_AUTH_MAX_PENDING_LOGINS="3")
    assert [start(auth, "192.0.2.10").status_code for _ in range(2)] == [302, 302]
    assert_too_many(start(auth, "192.0.2.10"), "from your address")
    assert start(auth, "192.0.2.20").status_code == 302  # another address still may
    assert_too_many(start(auth, "192.0.2.30"), "on this server")
