"""Tenancy use cases (owned by the identity service): logging in, choosing an organization."""

from bijmantra.application.tenancy.login import (
    IssuedToken,
    LoginWithPassword,
    Membership,
    PasswordHasher,
    TokenIssuer,
    UserDirectory,
    UserRecord,
)

__all__ = [
    "IssuedToken",
    "LoginWithPassword",
    "Membership",
    "PasswordHasher",
    "TokenIssuer",
    "UserDirectory",
    "UserRecord",
]
