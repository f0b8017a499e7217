"""One error taxonomy for the whole platform.

Every edge maps these codes once, so a rule broken deep in a use case reaches every
client with the same meaning: HTTP statuses in ``bijmantra.edge.statuses``, gRPC status
codes in ``bijmantra.adapters.grpc.errors``. The kernel names no transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    GONE = "gone"
    PRECONDITION_FAILED = "precondition_failed"
    MALFORMED = "malformed"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    VALIDATION = "validation"
    UNPROCESSABLE = "unprocessable"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    STORAGE_FULL = "storage_full"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input: where (a JSON-pointer-like path, with item index for batches) and why."""

    location: str
    message: str


# The class ``error_for`` rebuilds for each code: filled by the class statements below.
ERRORS_BY_CODE: dict[ErrorCode, type[BijmantraError]] = {}


class BijmantraError(Exception):
    """A rule broken somewhere in the platform; its class says which kind (``code``)."""

    code: ClassVar[ErrorCode] = ErrorCode.VALIDATION

    def __init_subclass__(cls, code: ErrorCode | None = None, **kwargs: object) -> None:
        """``class NotFound(BijmantraError, code=ErrorCode.NOT_FOUND)``: the class names its
        code once and is registered for ``error_for``; the first class to name a code keeps it."""
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
            ERRORS_BY_CODE.setdefault(code, cls)

    def __init__(self, message: str, details: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[FieldError] = details if details is not None else []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.details!r})"


class NotFound(BijmantraError, code=ErrorCode.NOT_FOUND):
    """No such thing, or none the caller may see."""


class Conflict(BijmantraError, code=ErrorCode.CONFLICT):
    """The thing's current state refuses the change (a move its lifecycle forbids, a duplicate)."""


class Gone(BijmantraError, code=ErrorCode.GONE):
    """Was valid once and never will be again (an expired one-time code)."""


class PreconditionFailed(BijmantraError, code=ErrorCode.PRECONDITION_FAILED):
    """A conditional write whose condition no longer holds (a stale ``If-Match``)."""


class Malformed(BijmantraError, code=ErrorCode.MALFORMED):
    """The request cannot be read at all (not JSON, invalid UTF-8, nested too deeply): every
    API answers 400, apart from ``validation`` (readable but wrong: 422 on the platform API)."""


class MethodNotAllowed(BijmantraError, code=ErrorCode.METHOD_NOT_ALLOWED):
    """The resource exists but is not served with the request's method (HTTP 405); the methods
    it is served with are the detail at ``allow``."""


class ValidationFailed(BijmantraError, code=ErrorCode.VALIDATION):
    """Readable input that is wrong: the named form of the base class's default code."""


class Unprocessable(BijmantraError, code=ErrorCode.UNPROCESSABLE):
    """Well-formed input that breaks a domain rule (a pedigree cycle, an unknown reference)."""


class Unauthorized(BijmantraError, code=ErrorCode.UNAUTHORIZED):
    """The caller is not known: no credential, or one that is not valid."""


class Forbidden(BijmantraError, code=ErrorCode.FORBIDDEN):
    """The caller is known but not allowed to do this."""


class RateLimited(BijmantraError, code=ErrorCode.RATE_LIMITED):
    """Too many requests in the caller's window; the same call succeeds later."""


class StorageFull(BijmantraError, code=ErrorCode.STORAGE_FULL):
    """The organization holds its cap of a stored resource (ADR 0343): the same call is
    refused until it deletes some or its cap is raised, not when a window passes."""


class Unavailable(BijmantraError, code=ErrorCode.UNAVAILABLE):
    """A dependency is down or overloaded; the same call may succeed later."""


class Internal(BijmantraError, code=ErrorCode.INTERNAL):
    """A fault of ours (a bug, a broken invariant): logged where it happened, never retried."""


def error_for(
    code: ErrorCode | str, message: str, details: list[FieldError] | None = None
) -> BijmantraError:
    """Rebuild a typed error from its code, e.g. on the far side of a gRPC call."""
    cls = ERRORS_BY_CODE.get(ErrorCode(code), BijmantraError)
    return cls(message, details or [])
