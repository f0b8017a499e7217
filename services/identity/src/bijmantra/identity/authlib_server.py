"""authlib's OAuth 2 authorization server, bound to identity's use cases.

authlib's ``AuthorizationServer`` and grants are synchronous and call storage hooks
(``query_client``, ``query_authorization_code``, …) in the middle of their checks. Our
adapters are async, so the server runs in a worker thread (``anyio.to_thread``) and each
hook runs its coroutine on the event loop (``anyio.from_thread.run``). authlib owns the
protocol: client authentication, redirect-URI and response-type checks, scope resolution,
PKCE, error bodies and redirects. Our use cases own the decisions (see ADR 0037).
"""

from __future__ import annotations

import hmac
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from anyio import from_thread, to_thread
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeGrant,
    AuthorizationServer,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from bijmantra.application.security import API_SCOPE
from bijmantra.application.tenancy import (
    Membership,
    OAuthClient,
    OAuthClientDirectory,
    UserDirectory,
    hash_secret,
)
from bijmantra.application.tenancy.authorization import AuthorizationCode, AuthorizationCodes
from bijmantra.identity.tokens import ALGORITHM, SigningKeyRing, token_body
from bijmantra.kernel import Unauthorized
from joserfc.jwk import RSAKey

T = TypeVar("T")

# What discovery advertises: the scopes clients may be registered with, and id_token claims.
SCOPES_SUPPORTED = [API_SCOPE, "email", "openid", "profile"]
ID_TOKEN_CLAIMS = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "tid",
    "name",
    "email",
]


def _on_loop(function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    return from_thread.run(function, *args)


class Client(ClientMixin):
    """authlib's view of an ``OAuthClient``."""

    def __init__(self, client: OAuthClient) -> None:
        self.client = client

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.client.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scope if the client may have all of it (never silently narrowed)."""
        if not scope:
            return " ".join(sorted(self.client.scope))
        asked = scope.split()
        return " ".join(sorted(set(asked))) if set(asked) <= self.client.scope else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris  # exact match, no prefixes or wildcards

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.client.secret_hash
        return stored is not None and hmac.compare_digest(stored, hash_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.client.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.client.grant_types


@dataclass(frozen=True)
class Grantee:
    """The resource owner approving a request, and the one organization the code is for."""

    user_id: uuid.UUID
    membership: Membership
    auth_time: datetime | None = None


class RedeemedCode:
    """authlib's view of an ``AuthorizationCode`` that has just been consumed."""

    def __init__(self, code: AuthorizationCode) -> None:
        self.code = code
        self.code_challenge = code.code_challenge
        self.code_challenge_method = code.code_challenge_method

    def get_redirect_uri(self) -> str | None:
        return self.code.redirect_uri or None

    def get_scope(self) -> str:
        return self.code.scope

    def get_nonce(self) -> str | None:
        return self.code.nonce

    def get_auth_time(self) -> int | None:
        return None if self.code.auth_time is None else int(self.code.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


class S256CodeChallenge(CodeChallenge):
    """PKCE is mandatory and only S256 is accepted (``plain`` would leak the verifier)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class PkceAuthorizationCodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def generate_authorization_code(self) -> str:
        """Issued and stored in one step by the use case (tenant-bound, stored hashed)."""
        request, server = self.request, self.server
        grantee: Grantee = request.user
        code: str = _on_loop(
            lambda: server.codes.issue(
                request.client.client,
                grantee.user_id,
                grantee.membership,
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.scope,
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method=request.payload.data["code_challenge_method"],
                nonce=request.payload.data.get("nonce"),
                auth_time=grantee.auth_time,
            )
        )
        return code

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        return None  # already stored by generate_authorization_code

    def query_authorization_code(self, code: str, client: Client) -> RedeemedCode | None:
        """Consumes the code: whatever the outcome of the remaining checks, it is used up."""
        redeemed = _on_loop(self.server.codes.redeem, code, client.client)
        return None if redeemed is None else RedeemedCode(redeemed)

    def delete_authorization_code(self, authorization_code: RedeemedCode) -> None:
        return None  # consumed atomically by query_authorization_code

    def authenticate_user(self, authorization_code: RedeemedCode) -> RedeemedCode:
        return (
            authorization_code  # generate_token needs the code (organization, user), not a user row
        )


class IdentityOpenIDCode(OpenIDCode):
    """OpenID Connect on the code flow: an ``id_token`` when the granted scope has ``openid``.

    Signed like access tokens (RS256, the key ring's current kid) so one JWKS verifies both.
    ``tid`` names the organization the code was approved for; ``name``/``email`` only with
    the ``profile``/``email`` scopes.
    """

    def __init__(
        self, ring: SigningKeyRing, users: UserDirectory, *, issuer: str, ttl: int
    ) -> None:
        super().__init__(require_nonce=False)
        self._ring, self._users, self._issuer, self._ttl = ring, users, issuer, ttl
        self._pinned = threading.local()  # grants run concurrently in worker threads

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        """Never a replay at issue time: the nonce is echoed once per code, and single-use
        codes already stop a replayed authorization response; the client checks the echo."""
        return False

    def _signing_key(self) -> RSAKey:
        """The key pinned for the token being encoded, so its ``kid`` and signature agree."""
        key: RSAKey | None = getattr(self._pinned, "key", None)
        return key if key is not None else self._ring.signing_key()

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self._signing_key()

    def get_client_algorithm(self, client: Client) -> str:
        return ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": ALGORITHM, "kid": str(self._signing_key().kid), "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self._issuer,
            "aud": client.get_client_id(),
            "iat": now,
            "exp": now + self._ttl,
        }

    def generate_user_info(self, user: RedeemedCode, scope: str) -> UserInfo:
        code = user.code
        info = UserInfo(sub=str(code.user_id), tid=str(code.tenant_id))
        scopes = set(scope.split())
        if scopes & {"profile", "email"}:
            record = _on_loop(self._users.find_by_id, code.user_id)
            if record is not None and "profile" in scopes:
                info["name"] = record.display_name
            if record is not None and "email" in scopes:
                info["email"] = record.email
        return info

    def process_token(self, grant: Any, response: Any) -> Any:
        self._pinned.key = self._ring.signing_key()
        try:
            return super().process_token(grant, response)
        finally:
            self._pinned.key = None


class IdentityAuthorizationServer(AuthorizationServer):
    def __init__(
        self, clients: OAuthClientDirectory, codes: AuthorizationCodes, openid: IdentityOpenIDCode
    ) -> None:
        super().__init__()
        self.clients, self.codes = clients, codes
        self.register_grant(PkceAuthorizationCodeGrant, [S256CodeChallenge(required=True), openid])

    def query_client(self, client_id: str) -> Client | None:
        found = _on_loop(self.clients.find, client_id)
        return None if found is None else Client(found)

    def generate_token(
        self,
        grant_type: str,
        client: Client,
        user: RedeemedCode | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if user is None:
            raise InvalidGrantError("No authorization code")
        try:
            issued = _on_loop(self.codes.tokens_for, user.code, client.client)
        except Unauthorized as exc:
            raise InvalidGrantError(exc.message) from exc
        return token_body(issued)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        return None  # refresh tokens are stored by the use case; access tokens are not stored

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[Any]]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    async def consent_grant(self, request: OAuth2Request, user: Grantee | None) -> Any:
        """Validate an authorization request (raises ``OAuth2Error``)."""
        return await to_thread.run_sync(self.get_consent_grant, request, user)

    async def authorization_response(
        self, request: OAuth2Request, grantee: Grantee | None
    ) -> tuple[int, Any, Any]:
        grant = await self.consent_grant(request, grantee)
        return await to_thread.run_sync(self.create_authorization_response, request, grantee, grant)

    async def token_response(self, request: OAuth2Request) -> tuple[int, Any, Any]:
        return await to_thread.run_sync(self.create_token_response, request)


class ParsedRequest(OAuth2Request):
    """An authlib request from already-parsed, single-valued parameters (query or form).

    ``headers`` stays the framework's case-insensitive mapping (authlib reads "Authorization").
    """

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], data: dict[str, str]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self._data = data

    @property
    def form(self) -> dict[str, str]:
        return self._data

    @property
    def args(self) -> dict[str, str]:
        return self._data
