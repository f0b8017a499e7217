"""The web console's backend-for-frontend sessions (ADR 0060).

The browser holds one opaque secret (a cookie); the tokens identity issued for it live in a
``ConsoleSessionStore`` under the secret's SHA-256, and are refreshed here before they expire.
"""

from bijmantra.application.console.sessions import (
    ConsoleSession,
    ConsoleSessions,
    ConsoleSessionStore,
    PendingSignIn,
    SignedIn,
    TokenEndpoint,
    TokenGrant,
    pkce_challenge,
    safe_return_to,
    secret_key,
    tokens_match,
)

__all__ = [
    "ConsoleSession",
    "ConsoleSessionStore",
    "ConsoleSessions",
    "PendingSignIn",
    "SignedIn",
    "TokenEndpoint",
    "TokenGrant",
    "pkce_challenge",
    "safe_return_to",
    "secret_key",
    "tokens_match",
]
