"""The OAuth 2 and OpenID Connect providers: GitHub, Google, any OIDC provider.

The protocol work is authlib's: its framework-free client (the classes its
Flask client is built on, over requests) makes the authorization URL with
state, PKCE (S256) and, for OpenID Connect, a nonce; exchanges the code; and
checks the ID token's signature (the provider's JWKS), issuer, audience,
expiry and nonce. This module adds what authlib leaves to us: the settings,
a timeout on every outbound call, reading the user, and turning every
failure into an error with a true status:

- the provider refused the code or the ID token is not valid -> 400
- the provider is unreachable or answered an error page       -> 502
- the provider did not answer within the timeout              -> 504
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import requests
from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OAuthError, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from joserfc.errors import JoseError

from capibara6.auth.settings import GITHUB, AuthSettings, ProviderSettings
from capibara6.kit.auth import Identity
from capibara6.kit.errors import BadRequest, UpstreamError, UpstreamTimeout, UpstreamUnavailable


class _AuthlibClient(OAuth2Mixin, OpenIDMixin, BaseApp):
    """authlib's OAuth 2 + OpenID client without a web framework; state is ours to keep."""

    client_cls = OAuth2Session


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, and what to remember until it comes back."""

    url: str
    state: str
    code_verifier: str | None
    nonce: str | None


class Provider:
    def __init__(self, settings: ProviderSettings, *, timeout: float):
        self.name = settings.name
        self.title = settings.title
        self.timeout = timeout
        self._client = _AuthlibClient(
            framework=None, name=settings.name,
            client_id=settings.client_id, client_secret=settings.client_secret,
            authorize_url=settings.authorize_url, access_token_url=settings.token_url,
            # authlib joins relative API paths onto this; without the slash it drops the last segment.
            api_base_url=f"{settings.api_url}/" if settings.api_url else None,
            server_metadata_url=settings.discovery_url,
            client_kwargs={"scope": settings.scope, "code_challenge_method": "S256",
                           "default_timeout": timeout},
        )

    def authorization(self, redirect_uri: str) -> Authorization:
        """The provider's authorization URL with a fresh state, PKCE challenge and nonce."""
        with self._calling("its discovery document"):
            started = self._client.create_authorization_url(redirect_uri)
        return Authorization(url=started["url"], state=started["state"],
                             code_verifier=started.get("code_verifier"), nonce=started.get("nonce"))

    def identity(self, *, code: str, redirect_uri: str, code_verifier: str | None,
                 nonce: str | None) -> Identity:
        """Exchange the code and read who logged in."""
        with self._calling("the code exchange"):
            token = self._client.fetch_access_token(redirect_uri=redirect_uri, code=code,
                                                    code_verifier=code_verifier)
        return self._read_user(token, nonce)

    def _read_user(self, token: dict, nonce: str | None) -> Identity:
        raise NotImplementedError

    def _issuer(self) -> str | None:
        """The provider's issuer identifier (RFC 8414), which RFC 9207's iss must equal."""
        raise NotImplementedError

    def check_issuer(self, iss: str | None) -> None:
        """RFC 9207: a callback that names its issuer must name this provider's.

        A callback without iss is accepted (most providers do not send it yet);
        one with another issuer is a mix-up (a response from another server
        replayed here) and is refused before its code goes anywhere.
        """
        if iss is None:
            return
        with self._calling("its discovery document"):
            expected = self._issuer()
        if iss != expected:
            raise BadRequest(f"the callback says it comes from the issuer '{iss}', but "
                             f"{self.title}'s issuer is '{expected}'; start the login again",
                             code="issuer_mismatch", provider=self.name)

    @contextmanager
    def _calling(self, what: str):
        try:
            yield
        except requests.Timeout:
            raise UpstreamTimeout(f"{self.title} did not answer {what} within {self.timeout:g}s",
                                  provider=self.name) from None
        except requests.ConnectionError:
            raise UpstreamUnavailable(f"{self.title} is unreachable ({what})",
                                      provider=self.name) from None
        except requests.HTTPError as error:
            raise UpstreamError(f"{self.title} answered HTTP {error.response.status_code} to {what}",
                                provider=self.name) from None
        except OAuthError as error:
            raise BadRequest(f"{self.title} refused the login: {error.error}"
                             + (f" ({error.description})" if error.description else ""),
                             code="provider_refused", provider=self.name) from None
        except JoseError as error:
            raise BadRequest(f"the ID token from {self.title} is not valid: {error.error}",
                             code="invalid_id_token", provider=self.name) from None
        except (requests.RequestException, ValueError, KeyError, TypeError, RuntimeError):
            raise UpstreamError(f"{self.title} gave an answer we cannot use to {what}",
                                provider=self.name) from None


class GitHubProvider(Provider):
    """Plain OAuth 2: the user comes from GitHub's REST API, not an ID token."""

    API_HEADERS = {"Accept": "application/vnd.github+json"}

    def __init__(self, settings: ProviderSettings, *, timeout: float):
        super().__init__(settings, timeout=timeout)
        # GitHub has no discovery document; the iss it sends (RFC 9207) is its authorize
        # endpoint's parent: https://github.com/login/oauth.
        self._authorize_parent = settings.authorize_url.rstrip("/").rsplit("/", 1)[0]

    def _issuer(self) -> str:
        return self._authorize_parent

    def _read_user(self, token: dict, nonce: str | None) -> Identity:
        with self._calling("the user lookup"):
            user = self._get_json("user", token)
            email = user.get("email")
            if not email:
                # A private address is not in /user; the verified primary one is in /user/emails.
                emails = self._get_json("user/emails", token)
                email = next((e["email"] for e in emails
                              if isinstance(e, dict) and e.get("primary") and e.get("verified")), None)
            if user.get("id") is None:
                raise ValueError("no user id")
        return Identity(id=f"{GITHUB}:{user['id']}", provider=GITHUB, email=email,
                        name=user.get("name") or user.get("login"))

    def _get_json(self, path: str, token: dict):
        response = self._client.get(path, token=token, headers=self.API_HEADERS)
        response.raise_for_status()
        return response.json()


class OpenIDProvider(Provider):
    """OpenID Connect (Google and any provider with a discovery URL): the user is in the ID token."""

    def _issuer(self) -> str | None:
        return self._client.load_server_metadata().get("issuer")

    def _read_user(self, token: dict, nonce: str | None) -> Identity:
        with self._calling("the ID token check"):
            if "id_token" not in token:
                raise ValueError("no id_token in the token response")
            claims = dict(self._client.parse_id_token(token, nonce=nonce))
        if not claims.get("email") or not claims.get("name"):
            with self._calling("the userinfo request"):
                info = dict(self._client.userinfo(token=token))
            # OIDC Core 5.3.2: a userinfo answer about another sub must not be used.
            if info.get("sub") == claims["sub"]:
                claims = {**info, **{k: v for k, v in claims.items() if v}}
        # An address the provider does not say it verified could belong to anyone: OIDC
        # Core 5.1 makes email_verified optional, so no claim means not verified.
        # (Some providers send it as the string "true".)
        verified = claims.get("email_verified") in (True, "true")
        email = claims.get("email") if verified else None
        return Identity(id=f"{self.name}:{claims['sub']}", provider=self.name, email=email,
                        name=claims.get("name") or claims.get("preferred_username"))


def build_providers(settings: AuthSettings) -> dict[str, Provider]:
    """The enabled providers by name."""
    kinds = {GITHUB: GitHubProvider}
    return {p.name: kinds.get(p.name, OpenIDProvider)(p, timeout=settings.provider_timeout)
            for p in settings.providers}
