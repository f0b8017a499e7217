"""The web console's backend-for-frontend sessions (ADR 0060).

The browser holds one opaque secret (a cookie); the tokens identity issued for it live in a
``ConsoleSessionStore`` under the secret's SHA-256, and are refreshed here before they expire.
"""

from bijmantra.application.console.observations import (
    MAX_ENTRIES,
    Entry,
    Existing,
    Plan,
    csv_entries,
    plan_entries,
)
from bijmantra.application.console.sessions import (
    ConsoleSession,
    ConsoleSessions,
    ConsoleSessionStore,
    PendingSignIn,
    SignedIn,
    SignOut,
    TokenEndpoint,
    TokenGrant,
    pkce_challenge,
    safe_return_to,
    secret_key,
    tokens_match,
)

__all__ = [
    "MAX_ENTRIES",
    "ConsoleSession",
    "ConsoleSessionStore",
    "ConsoleSessions",
    "Entry",
    "Existing",
    "PendingSignIn",
    "Plan",
    "SignOut",
    "SignedIn",
    "TokenEndpoint",
    "TokenGrant",
    "csv_entries",
    "pkce_challenge",
    "plan_entries",
    "safe_return_to",
    "secret_key",
    "tokens_match",
]
