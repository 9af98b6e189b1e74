"""What the service believes of a provider's answer: the RFC 9207 issuer, a verified email."""

from __future__ import annotations

import pytest
import requests

from capibara6.kit.auth import TokenCodec
from tests.auth.conftest import JWT_SECRET, assert_not_logged_in, log_in


@pytest.mark.parametrize("name", ["github", "google", "oidc"])
def test_callback_with_the_providers_own_issuer_logs_in(auth, provider, name):
    provider.callback_iss = provider.url
    assert TokenCodec(JWT_SECRET).verify(log_in(auth.url, name))["provider"] == name


@pytest.mark.parametrize("name", ["github", "google", "oidc"])
def test_callback_from_another_issuer_is_refused(auth, provider, front_end, name):
    # RFC 9207 2.4: a response whose iss is not the issuer the login was sent to is a mix-up.
    provider.callback_iss = "https://attacker.example"
    seen, exchanges = len(front_end.requests), len(provider.token_requests)
    reply = requests.Session().get(f"{auth.url}/auth/{name}", timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] == "issuer_mismatch"
    assert "https://attacker.example" in reply.json()["error"]
    assert len(provider.token_requests) == exchanges  # the code was never sent anywhere
    assert_not_logged_in(reply, front_end, seen)


def test_provider_error_from_another_issuer_is_refused_as_a_mix_up(auth, provider, front_end):
    provider.deny = True
    provider.callback_iss = "https://attacker.example"
    reply = requests.Session().get(f"{auth.url}/auth/oidc", timeout=10)
    assert reply.status_code == 400 and reply.json()["code"] == "issuer_mismatch"


def test_callback_with_the_right_issuer_reports_the_providers_error(auth, provider, front_end):
    provider.deny = True
    provider.callback_iss = provider.url
    reply = requests.Session().get(f"{auth.url}/auth/oidc", timeout=10)
    assert reply.status_code == 400 and reply.json()["code"] == "provider_error"


@pytest.mark.parametrize("name", ["google", "oidc"])
@pytest.mark.parametrize("verified", [None, False])
def test_openid_email_not_said_to_be_verified_is_not_kept(auth, provider, name, verified):
    # OIDC Core 5.1: without email_verified true, the address may belong to anyone.
    provider.email_verified = verified
    claims = TokenCodec(JWT_SECRET).verify(log_in(auth.url, name))
    assert claims["email"] is None
    assert claims["sub"] == f"{name}:u-1001" and claims["name"] == "Capi Bara"


def test_openid_email_from_userinfo_needs_verification_too(auth, provider):
    provider.thin_id_token = True
    provider.email_verified = None
    claims = TokenCodec(JWT_SECRET).verify(log_in(auth.url, "oidc"))
    assert claims["email"] is None and claims["name"] == "Capi Bara"


def test_openid_email_said_to_be_verified_is_kept(auth, provider):
    provider.email_verified = True
    assert TokenCodec(JWT_SECRET).verify(log_in(auth.url, "google"))["email"] == "capi@example.org"


def test_github_keeps_its_own_rule_for_the_address(auth, provider):
    # GitHub has no email_verified claim: its public /user address, or the verified primary one.
    provider.email_verified = None
    assert TokenCodec(JWT_SECRET).verify(log_in(auth.url, "github"))["email"] == "capi@example.org"
    provider.private_email = True
    assert TokenCodec(JWT_SECRET).verify(log_in(auth.url, "github"))["email"] == "capi@example.org"
