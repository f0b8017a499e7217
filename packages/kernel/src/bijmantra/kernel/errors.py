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
    VALIDATION = "validation"
    UNPROCESSABLE = "unprocessable"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input: where (a JSON-pointer-like path, with item index for batches) and why."""

    location: str
    message: str


class BijmantraError(Exception):
    """A rule broken somewhere in the platform; its class says which kind (``code``)."""

    code: ClassVar[ErrorCode] = ErrorCode.VALIDATION

    def __init__(self, message: str, details: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[FieldError] = details if details is not None else []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.details!r})"


class NotFound(BijmantraError):
    code = ErrorCode.NOT_FOUND


class Conflict(BijmantraError):
    code = ErrorCode.CONFLICT


class Gone(BijmantraError):
    """Was valid once and never will be again (an expired one-time code)."""

    code = ErrorCode.GONE


class PreconditionFailed(BijmantraError):
    """A conditional write whose condition no longer holds (a stale ``If-Match``)."""

    code = ErrorCode.PRECONDITION_FAILED


class Malformed(BijmantraError):
    """The request cannot be read at all (not JSON, invalid UTF-8, nested too deeply): every
    API answers 400, apart from ``validation`` (readable but wrong: 422 on the platform API)."""

    code = ErrorCode.MALFORMED


class ValidationFailed(BijmantraError):
    code = ErrorCode.VALIDATION


class Unprocessable(BijmantraError):
    """Well-formed input that breaks a domain rule (a pedigree cycle, an unknown reference)."""

    code = ErrorCode.UNPROCESSABLE


class Unauthorized(BijmantraError):
    code = ErrorCode.UNAUTHORIZED


class Forbidden(BijmantraError):
    code = ErrorCode.FORBIDDEN


class RateLimited(BijmantraError):
    code = ErrorCode.RATE_LIMITED


class Unavailable(BijmantraError):
    code = ErrorCode.UNAVAILABLE


class Internal(BijmantraError):
    """A fault of ours (a bug, a broken invariant): logged where it happened, never retried."""

    code = ErrorCode.INTERNAL


# One class per code; ``ValidationFailed`` is the named form of the base class's default.
ERRORS_BY_CODE: dict[ErrorCode, type[BijmantraError]] = {
    error.code: error
    for error in (
        NotFound,
        Conflict,
        Gone,
        PreconditionFailed,
        Malformed,
        ValidationFailed,
        Unprocessable,
        Unauthorized,
        Forbidden,
        RateLimited,
        Unavailable,
        Internal,
    )
}


def error_for(
    code: ErrorCode | str, message: str, details: list[FieldError] | None = None
) -> BijmantraError:
    """Rebuild a typed error from its code, e.g. on the far side of a gRPC call."""
    cls = ERRORS_BY_CODE.get(ErrorCode(code), BijmantraError)
    return cls(message, details or [])
