"""A real OAuth 2 / OpenID Connect provider for tests, built on authlib's server side.

It stands in for GitHub, Google and any OIDC provider, which tests cannot
reach. authlib's AuthorizationServer does the protocol: the authorization
code grant with PKCE (S256) and the OpenID Connect extension (nonce, an
RS256-signed ID token), single-use codes bound to the client and the
redirect URI, client authentication, and the standard error responses.
One user always consents, unless `deny` is set.

    GET  /.well-known/openid-configuration
    GET  /authorize                 302 back to the client with code or error
    POST /token
    GET  /jwks
    GET  /userinfo                  (Bearer)
    GET  /github/user, /github/user/emails   GitHub's REST shapes (Bearer)

Faults, reset by reset(): `slow_paths` answer only after release() (or 30 s),
`failing_paths` answer HTTP 500 with an HTML page, `deny` makes the user
refuse, `foreign_key` signs ID tokens with a key not in the JWKS,
`wrong_nonce` puts another nonce in the ID token, `thin_id_token` leaves
email and name out of it (so the client must ask /userinfo),
`private_email` hides the GitHub address from /user, `email_verified` is
what the ID token and /userinfo say about the address (True; False; None
leaves the claim out), and `callback_iss`, when set, is sent as the RFC 9207
`iss` parameter on every redirect back to the client (this fake's issuer is
its url, as its discovery document says).
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server

KEY_ID = "fake-key-1"


@dataclass
class FakeUser:
    sub: str = "u-1001"
    github_id: int = 1001
    login: str = "capi"
    name: str = "Capi Bara"
    email: str = "capi@example.org"


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        allowed = {"openid", "email", "profile", "read:user", "user:email"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return hmac.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: FakeUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    wrong_nonce: bool = False
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return "not-the-nonce-that-was-sent" if self.wrong_nonce else self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


class _CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        self.server.fake.codes[code] = Code(
            code=code, client_id=request.client.client_id, redirect_uri=request.payload.redirect_uri,
            scope=request.payload.scope, user=request.user, nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            wrong_nonce=self.server.fake.wrong_nonce)
        if data.get("nonce"):
            self.server.fake.used_nonces.add(data["nonce"])

    def query_authorization_code(self, code, client):
        found = self.server.fake.codes.get(code)
        return found if found and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code):
        self.server.fake.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class _OpenIDCode(OpenIDCode):
    def __init__(self, fake: "FakeOAuthProvider"):
        super().__init__(require_nonce=True)
        self.fake = fake

    def exists_nonce(self, nonce, request):
        return nonce in self.fake.used_nonces

    def resolve_client_private_key(self, client):
        return self.fake.foreign_signing_key if self.fake.foreign_key else self.fake.signing_key

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": KEY_ID}

    def get_client_claims(self, client):
        return {"iss": self.fake.url, "aud": [client.get_client_id()]}

    def generate_user_info(self, user, scope):
        info = UserInfo(sub=user.sub)
        if self.fake.thin_id_token:
            return info
        if "email" in scope:
            info.update(email=user.email, **self.fake.email_verified_claim())
        if "profile" in scope:
            info.update(name=user.name, preferred_username=user.login)
        return info


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class FakeOAuthProvider:
    def __init__(self, user: FakeUser | None = None):
        self.user = user or FakeUser()
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.used_nonces: set[str] = set()
        self.access_tokens: dict[str, FakeUser] = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        # Generated once per provider; RS256 like Google's.
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID}, private=True)
        self.foreign_signing_key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID}, private=True)
        self._release = threading.Event()
        self.reset()
        self.app = self._build_app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-oauth",
                                        daemon=True)

    # --- faults -------------------------------------------------------------------------

    def reset(self) -> None:
        self.slow_paths: set[str] = set()
        self.failing_paths: set[str] = set()
        self.deny = False
        self.foreign_key = False
        self.thin_id_token = False
        self.wrong_nonce = False
        self.private_email = False
        self.email_verified: bool | None = True
        self.callback_iss: str | None = None
        self.release()

    def email_verified_claim(self) -> dict:
        return {} if self.email_verified is None else {"email_verified": self.email_verified}

    def release(self) -> None:
        """Let every request held by slow_paths go on."""
        self._release.set()
        self._release = threading.Event()

    # --- clients ------------------------------------------------------------------------

    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> Client:
        client = Client(client_id, client_secret, list(redirect_uris))
        self.clients[client_id] = client
        return client

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    # --- the server ---------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("fake_oauth_provider")
        server = AuthorizationServer(app, query_client=self.clients.get, save_token=self._save_token)
        server.fake = self
        server.register_grant(_CodeGrant, [_OpenIDCode(self), CodeChallenge(required=True)])

        @app.before_request
        def faults():
            if request.path in self.slow_paths:
                self._release.wait(30)
            if request.path in self.failing_paths:
                return "<html><body><h1>500 Internal Server Error</h1></body></html>", 500
            return None

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify({
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "userinfo_endpoint": f"{self.url}/userinfo",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
            })

        @app.get("/authorize")
        def authorize():
            self.authorize_requests.append(request.args.to_dict())
            user = None if self.deny else self.user
            try:
                grant = server.get_consent_grant(end_user=user)
            except OAuth2Error as error:
                return self._with_iss(server.handle_error_response(None, error))
            return self._with_iss(server.create_authorization_response(grant_user=user, grant=grant))

        @app.post("/token")
        def token():
            self.token_requests.append(request.form.to_dict())
            return server.create_token_response()

        @app.get("/jwks")
        def jwks():
            return jsonify(KeySet([self.signing_key]).as_dict(private=False))

        @app.get("/userinfo")
        def userinfo():
            user = self._bearer_user()
            if user is None:
                return jsonify({"error": "invalid_token"}), 401
            return jsonify({"sub": user.sub, "email": user.email, **self.email_verified_claim(),
                            "name": user.name})

        @app.get("/github/user")
        def github_user():
            user = self._bearer_user()
            if user is None:
                return jsonify({"message": "Bad credentials"}), 401
            return jsonify({"id": user.github_id, "login": user.login, "name": user.name,
                            "email": None if self.private_email else user.email})

        @app.get("/github/user/emails")
        def github_emails():
            user = self._bearer_user()
            if user is None:
                return jsonify({"message": "Bad credentials"}), 401
            return jsonify([{"email": "old@example.org", "primary": False, "verified": True},
                            {"email": user.email, "primary": True, "verified": True}])

        return app

    def _with_iss(self, response):
        """The redirect back to the client, with callback_iss added (RFC 9207)."""
        location = response.headers.get("Location")
        if self.callback_iss is not None and location:
            separator = "&" if "?" in location else "?"
            response.headers["Location"] = f"{location}{separator}{urlencode({'iss': self.callback_iss})}"
        return response

    def _save_token(self, token, request):
        self.access_tokens[token["access_token"]] = request.user

    def _bearer_user(self) -> FakeUser | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self.access_tokens.get(value.strip())

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> "FakeOAuthProvider":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeOAuthProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
