"""/auth/verify, /auth/me and /auth/logout against every kind of bad token."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import OctKey

from capibara6.kit.auth import Identity, TokenCodec
from capibara6.kit.errors import Unauthorized
from tests.auth.conftest import JWT_SECRET

USER = Identity(id="github:42", provider="github", email="ana@example.org", name="Ana")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _good_token(**clock) -> str:
    return TokenCodec(JWT_SECRET, **clock).issue(USER)[0]


def _tampered() -> str:
    header, payload, signature = _good_token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = claims["user_id"] = "github:1"  # someone else
    return f"{header}.{_b64(claims)}.{signature}"


def _expired() -> str:
    return _good_token(clock=lambda: time.time() - 7200, lifetime_seconds=3600)


def _wrongly_signed() -> str:
    return TokenCodec("another-secret-that-is-long-enough-0123456789").issue(USER)[0]


def _alg_none() -> str:
    header, payload, _ = _good_token().split(".")
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."


def _hs512() -> str:
    claims = TokenCodec(JWT_SECRET).issue(USER)[1]
    return jwt.encode({"alg": "HS512"}, claims, OctKey.import_key(JWT_SECRET.encode()),
                      algorithms=["HS512"])


def _foreign_issuer() -> str:
    claims = {**TokenCodec(JWT_SECRET).issue(USER)[1], "iss": "someone-else"}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(JWT_SECRET.encode()))


def _without_jti() -> str:
    claims = TokenCodec(JWT_SECRET).issue(USER)[1]
    del claims["jti"]
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(JWT_SECRET.encode()))


def _with_times(**times) -> str:
    """A token signed with the right secret whose iat/exp are replaced by times."""
    claims = {**TokenCodec(JWT_SECRET).issue(USER)[1], **times}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(JWT_SECRET.encode()))


BAD_TOKENS = {
    "tampered": (_tampered, "invalid_token"),
    "expired": (_expired, "token_expired"),
    "wrongly_signed": (_wrongly_signed, "invalid_token"),
    "alg_none": (_alg_none, "invalid_token"),
    "other_algorithm": (_hs512, "invalid_token"),
    "foreign_issuer": (_foreign_issuer, "invalid_token"),
    "without_jti": (_without_jti, "invalid_token"),
    # Correctly signed, but no token of ours lives that long or was issued then:
    # these were 500s (OverflowError in the timestamp and in the SQLite bind).
    "exp_far_future": (lambda: _with_times(exp=10**20), "invalid_token"),
    "exp_past_year_9999": (lambda: _with_times(exp=253402300800), "invalid_token"),
    "exp_beyond_lifetime": (lambda: _with_times(exp=int(time.time()) + 40 * 86400), "invalid_token"),
    "iat_far_past": (lambda: _with_times(iat=-10**20), "invalid_token"),
    "iat_negative": (lambda: _with_times(iat=-1), "invalid_token"),
    "exp_float": (lambda: _with_times(exp=1e300), "invalid_token"),
    "exp_string": (lambda: _with_times(exp="9999999999"), "invalid_token"),
    "exp_bool": (lambda: _with_times(exp=True), "invalid_token"),
    "garbage": (lambda: "not.a.jwt", "invalid_token"),
    "one_segment": (lambda: "abc", "invalid_token"),
    "too_long": (lambda: "a" * 9000, "invalid_token"),
}


def test_verify_accepts_the_token_in_the_body_or_as_bearer(auth):
    token = _good_token()
    by_body = requests.post(f"{auth.url}/auth/verify", json={"token": token}, timeout=10)
    by_header = requests.post(f"{auth.url}/auth/verify", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
    for reply in (by_body, by_header):
        assert reply.status_code == 200
        assert reply.json()["valid"] is True
        assert reply.json()["user"] == USER.as_dict()


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_verify_refuses_bad_tokens_with_401(auth, kind):
    make, code = BAD_TOKENS[kind]
    token = make()
    reply = requests.post(f"{auth.url}/auth/verify", json={"token": token}, timeout=10)
    assert reply.status_code == 401
    assert reply.json() == {"error": reply.json()["error"], "code": code, "valid": False}
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    me = requests.get(f"{auth.url}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 401 and me.json()["code"] == code
    logout = requests.post(f"{auth.url}/auth/logout", json={"token": token}, timeout=10)
    assert logout.status_code == 401


@pytest.mark.parametrize("header, code", [
    (None, "missing_token"),
    ("", "missing_token"),
    ("Bearer", "invalid_authorization_header"),
    ("Bearer ", "invalid_authorization_header"),
    ("Token {token}", "invalid_authorization_header"),
    ("Basic dXNlcjpwYXNz", "invalid_authorization_header"),
    ("{token}", "invalid_authorization_header"),
    ("Bearer {token} extra", "invalid_authorization_header"),
    ("Bearer: {token}", "invalid_authorization_header"),
])
def test_me_refuses_a_token_in_the_wrong_header_form(auth, header, code):
    headers = {} if header is None else {"Authorization": header.format(token=_good_token())}
    reply = requests.get(f"{auth.url}/auth/me", headers=headers, timeout=10)
    assert reply.status_code == 401
    assert reply.json()["code"] == code


def test_bearer_scheme_is_case_insensitive(auth):
    reply = requests.get(f"{auth.url}/auth/me", headers={"Authorization": f"bearer {_good_token()}"},
                         timeout=10)
    assert reply.status_code == 200


@pytest.mark.parametrize("body, status, code", [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    (b'{"token": 12}', 400, "invalid_field"),
    (b"{}", 401, "missing_token"),
])
def test_verify_says_what_is_wrong_with_the_body(auth, body, status, code):
    reply = requests.post(f"{auth.url}/auth/verify", data=body,
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert reply.status_code == status
    assert reply.json()["code"] == code


def test_logout_twice_the_second_is_401(auth):
    token = _good_token()
    assert requests.post(f"{auth.url}/auth/logout", json={"token": token}, timeout=10).status_code == 200
    again = requests.post(f"{auth.url}/auth/logout", json={"token": token}, timeout=10)
    assert again.status_code == 401 and again.json()["code"] == "token_revoked"


def test_logout_of_one_token_leaves_the_others_valid(auth):
    first, second = _good_token(), _good_token()
    requests.post(f"{auth.url}/auth/logout", json={"token": first}, timeout=10)
    assert requests.post(f"{auth.url}/auth/verify", json={"token": second}, timeout=10).status_code == 200


def test_revocation_survives_a_restart(service, tmp_path):
    env = {"JWT_SECRET": JWT_SECRET, "CAPIBARA6_STATE_DIR": str(tmp_path / "auth-state")}
    token = _good_token()
    first = service("auth", env)
    assert requests.post(f"{first.url}/auth/logout", json={"token": token}, timeout=10).status_code == 200
    assert first.stop() == 0
    second = service("auth", env)
    reply = requests.post(f"{second.url}/auth/verify", json={"token": token}, timeout=10)
    assert reply.status_code == 401 and reply.json()["code"] == "token_revoked"


def test_codec_refuses_a_token_once_its_clock_passes_exp():
    now = [1_000_000.0]
    codec = TokenCodec(JWT_SECRET, lifetime_seconds=600, clock=lambda: now[0])
    token, claims = codec.issue(USER)
    assert codec.verify(token)["jti"] == claims["jti"]
    now[0] += 600 + 29  # within the allowed clock skew
    assert codec.verify(token)
    now[0] += 2
    with pytest.raises(Unauthorized) as refused:
        codec.verify(token)
    assert refused.value.code == "token_expired"


def test_codec_refuses_a_token_issued_in_the_future():
    token = TokenCodec(JWT_SECRET, clock=lambda: time.time() + 3600).issue(USER)[0]
    with pytest.raises(Unauthorized):
        TokenCodec(JWT_SECRET).verify(token)


@pytest.mark.parametrize("path", ["/auth/logout", "/auth/verify"])
def test_the_authorization_header_wins_over_a_token_in_the_body(auth, path):
    # The header is the caller's credential: a body naming another token must not
    # make a logout revoke (or a verify describe) someone else's session.
    caller, other = _good_token(), _good_token()
    bearer = {"Authorization": f"Bearer {caller}"}
    reply = requests.post(f"{auth.url}{path}", headers=bearer, json={"token": other}, timeout=10)
    assert reply.status_code == 200
    caller_after = requests.post(f"{auth.url}/auth/verify", json={"token": caller}, timeout=10)
    other_after = requests.post(f"{auth.url}/auth/verify", json={"token": other}, timeout=10)
    assert other_after.status_code == 200
    assert caller_after.status_code == (401 if path == "/auth/logout" else 200)


def test_a_bad_authorization_header_is_not_replaced_by_the_body(auth):
    reply = requests.post(f"{auth.url}/auth/logout", headers={"Authorization": "Token x"},
                          json={"token": _good_token()}, timeout=10)
    assert reply.status_code == 401 and reply.json()["code"] == "invalid_authorization_header"


ABSURD_TIMES = [kind for kind in BAD_TOKENS if kind.startswith(("exp_", "iat_"))]


@pytest.mark.parametrize("kind", ABSURD_TIMES)
def test_codec_refuses_absurd_times_as_invalid(kind):
    # The guard of every other service checks tokens with this codec before asking auth.
    with pytest.raises(Unauthorized) as refused:
        TokenCodec(JWT_SECRET).verify(BAD_TOKENS[kind][0]())
    assert refused.value.code == "invalid_token"


def test_codec_accepts_the_longest_lifetime_the_service_can_be_set_to():
    token = TokenCodec(JWT_SECRET, lifetime_seconds=30 * 86400).issue(USER)[0]
    assert TokenCodec(JWT_SECRET).verify(token)["sub"] == USER.id
