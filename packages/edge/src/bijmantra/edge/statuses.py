"""The kernel's error taxonomy as HTTP: one status per code, and the headers it implies.

The kernel names what went wrong; only the HTTP edges say it in HTTP. Both edges (gateway,
identity) answer through this table, so a rate limit carries ``Retry-After`` and a missing
token ``WWW-Authenticate`` on every path (they once disagreed).
"""

from __future__ import annotations

from bijmantra.kernel import BijmantraError
from bijmantra.kernel.errors import ErrorCode

HTTP_STATUSES: dict[ErrorCode, int] = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.GONE: 410,
    ErrorCode.PRECONDITION_FAILED: 412,
    ErrorCode.MALFORMED: 400,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.VALIDATION: 422,
    ErrorCode.UNPROCESSABLE: 422,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    # A cap of what the organization keeps (ADR 0343): not a window that passes (429) and
    # not the server's fault (507 reads as one); deleting some resolves it, as a 409 says.
    ErrorCode.STORAGE_FULL: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}
RETRY_AFTER = "retryAfter"  # the detail location a RateLimited error names its wait in
# Seconds a client waits before retrying a 503 that names no wait: a dependency that did not
# answer (Redis, a service) is asked again soon, not in a tight loop (ADR 0317).
UNAVAILABLE_RETRY_AFTER = "1"
ALLOW = "allow"  # the detail location a MethodNotAllowed error lists the served methods in


def http_status(error: BijmantraError, *, brapi: bool = False) -> int:
    """The status of ``error``; BrAPI lists 400 for every invalid request (the platform API
    keeps 422 for a well-formed request it cannot take)."""
    if brapi and error.code is ErrorCode.VALIDATION:
        return 400
    return HTTP_STATUSES.get(error.code, 500)


def error_headers(error: BijmantraError) -> dict[str, str]:
    headers = {"Cache-Control": "no-store"}
    if error.code in (ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE):
        wait = next((d.message for d in error.details if d.location == RETRY_AFTER), None)
        if wait is None and error.code is ErrorCode.UNAVAILABLE:
            wait = UNAVAILABLE_RETRY_AFTER
        if wait is not None:
            headers["Retry-After"] = wait
    if error.code is ErrorCode.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    if error.code is ErrorCode.METHOD_NOT_ALLOWED:
        allowed = next((d.message for d in error.details if d.location == ALLOW), None)
        if allowed is not None:
            headers["Allow"] = allowed
    return headers
