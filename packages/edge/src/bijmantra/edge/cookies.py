"""The cookies both edges set (identity's browser session, the console's session)."""

from __future__ import annotations

from litestar.datastructures import Cookie


def site_cookie(name: str, value: str, *, max_age: int, http_only: bool = True) -> Cookie:
    """A cookie for the whole site, sent over HTTPS only and not on cross-site requests
    (SameSite=Lax); ``max_age=0`` removes it. Script may read it only if ``http_only`` is
    False (a CSRF token the page echoes back)."""
    return Cookie(
        key=name,
        value=value,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=http_only,
        samesite="lax",
    )
