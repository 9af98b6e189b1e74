"""The login service's settings: what enables a provider, and what stops the service at start."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from capibara6.auth.settings import AuthSettings
from capibara6.kit.settings import ConfigError, Env
from tests.auth.conftest import JWT_SECRET, SECRET_KEY
from tests.processes import ROOT

BASE = {"JWT_SECRET": JWT_SECRET}
GITHUB = {"GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "github-secret-value", "SECRET_KEY": SECRET_KEY}


def settings(**env) -> AuthSettings:
    return AuthSettings.from_env(Env({k: v for k, v in env.items() if v is not None}))


@pytest.mark.parametrize("env, message", [
    ({}, "JWT_SECRET is required"),
    ({"JWT_SECRET": "short-secret"}, "JWT_SECRET: the secret must be at least 32 bytes"),
    ({**BASE, **GITHUB, "SECRET_KEY": None}, "SECRET_KEY is required when a login provider is enabled"),
    ({**BASE, **GITHUB, "SECRET_KEY": "short"}, "SECRET_KEY: the secret must be at least 32 bytes"),
    ({**BASE, "GITHUB_CLIENT_ID": "id", "SECRET_KEY": SECRET_KEY},
     "GITHUB_CLIENT_SECRET is not set but GITHUB_CLIENT_ID is"),
    ({**BASE, "GOOGLE_CLIENT_SECRET": "x", "SECRET_KEY": SECRET_KEY},
     "GOOGLE_CLIENT_ID is not set but GOOGLE_CLIENT_SECRET is"),
    ({**BASE, "CAPIBARA6_OIDC_DISCOVERY_URL": "https://id.example/.well-known/openid-configuration"},
     "CAPIBARA6_OIDC_CLIENT_ID and CAPIBARA6_OIDC_CLIENT_SECRET are not"),
    ({**BASE, "CAPIBARA6_OIDC_CLIENT_ID": "id", "CAPIBARA6_OIDC_CLIENT_SECRET": "s",
      "SECRET_KEY": SECRET_KEY}, "CAPIBARA6_OIDC_DISCOVERY_URL is not"),
    ({**BASE, **GITHUB, "CAPIBARA6_GITHUB_TOKEN_URL": "github.com/token"}, "CAPIBARA6_GITHUB_TOKEN_URL"),
    ({**BASE, "CAPIBARA6_AUTH_SUCCESS_URL": "https://app.example/#/home"}, "must not have a '#fragment'"),
    ({**BASE, "CAPIBARA6_PUBLIC_URL": "auth.example"}, "CAPIBARA6_PUBLIC_URL: expected an http(s) URL"),
    ({**BASE, "CAPIBARA6_AUTH_TOKEN_LIFETIME": "10"}, "CAPIBARA6_AUTH_TOKEN_LIFETIME: must be at least 60"),
    ({**BASE, "CAPIBARA6_AUTH_PROVIDER_TIMEOUT": "soon"},
     "CAPIBARA6_AUTH_PROVIDER_TIMEOUT: expected a number"),
])
def test_bad_settings_raise_config_error_naming_the_setting(env, message):
    with pytest.raises(ConfigError) as error:
        settings(**env)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    for value in env.values():
        if value and "secret" in value:
            assert value not in str(error.value)


def test_no_provider_needs_no_secret_key():
    assert settings(**BASE).providers == ()


def test_each_provider_is_enabled_by_its_client_id_and_secret():
    enabled = settings(**BASE, **GITHUB, GOOGLE_CLIENT_ID="g", GOOGLE_CLIENT_SECRET="google-secret-value",
                       CAPIBARA6_OIDC_DISCOVERY_URL="https://id.example/.well-known/openid-configuration",
                       CAPIBARA6_OIDC_CLIENT_ID="o", CAPIBARA6_OIDC_CLIENT_SECRET="os")
    assert enabled.provider_names == ["github", "google", "oidc"]
    google = enabled.providers[1]
    assert google.discovery_url == "https://accounts.google.com/.well-known/openid-configuration"
    assert "google-secret-value" not in repr(google)
    assert SECRET_KEY not in repr(enabled)
    assert JWT_SECRET not in repr(enabled).replace(repr(enabled.common), "")


@pytest.mark.parametrize("env, names", [
    ({}, ["JWT_SECRET"]),
    ({**BASE, **GITHUB, "SECRET_KEY": None}, ["SECRET_KEY"]),
])
def test_service_with_bad_settings_exits_2_with_one_line(tmp_path, env, names):
    full = {"PATH": "/usr/bin:/bin", "CAPIBARA6_STATE_DIR": str(tmp_path)}
    full.update({k: v for k, v in env.items() if v is not None})
    run = subprocess.run([sys.executable, "-m", "capibara6", "serve", "auth", "--port", "0"],
                         env=full, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("capibara6 auth: configuration error:")
    for name in names:
        assert name in lines[0]


def test_disabled_provider_is_404_naming_its_settings(start_auth):
    auth = start_auth(GOOGLE_CLIENT_ID=None, GOOGLE_CLIENT_SECRET=None, CAPIBARA6_OIDC_DISCOVERY_URL=None,
                      CAPIBARA6_OIDC_CLIENT_ID=None, CAPIBARA6_OIDC_CLIENT_SECRET=None)
    google = requests.get(f"{auth.url}/auth/google", allow_redirects=False, timeout=10)
    assert google.status_code == 404
    assert google.json()["code"] == "provider_disabled"
    assert "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET" in google.json()["error"]
    oidc = requests.get(f"{auth.url}/auth/callback/oidc?code=x&state=y", timeout=10)
    assert oidc.status_code == 404 and "CAPIBARA6_OIDC_DISCOVERY_URL" in oidc.json()["error"]
    unknown = requests.get(f"{auth.url}/auth/facebook", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    health = requests.get(f"{auth.url}/health", timeout=10).json()
    assert health["checks"]["providers"]["enabled"] == ["github"]
    assert requests.get(f"{auth.url}/auth/github", allow_redirects=False, timeout=10).status_code == 302


def test_without_providers_health_is_degraded_but_tokens_still_verify(service):
    from capibara6.kit.auth import Identity, TokenCodec
    auth = service("auth", {"JWT_SECRET": JWT_SECRET})
    health = requests.get(f"{auth.url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"]["providers"] == {"status": "none_enabled", "enabled": []}
    token = TokenCodec(JWT_SECRET).issue(Identity(id="github:1", provider="github"))[0]
    assert requests.post(f"{auth.url}/auth/verify", json={"token": token}, timeout=10).status_code == 200
    assert requests.get(f"{auth.url}/auth/github", timeout=10).status_code == 404
