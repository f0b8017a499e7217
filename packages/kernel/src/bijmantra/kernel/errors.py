"""One error taxonomy for the whole platform.

Every edge maps these codes once, so a rule broken deep in a use case reaches every
client with the same meaning: HTTP statuses in ``bijmantra.edge.statuses``, gRPC status
codes in ``bijmantra.adapters.grpc.errors``. The kernel names no transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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


@dataclass(eq=False)
class BijmantraError(Exception):
    message: str
    details: list[FieldError] = field(default_factory=list)
    code: ErrorCode = ErrorCode.VALIDATION

    def __post_init__(self) -> None:
        super().__init__(self.message)


@dataclass(eq=False)
class NotFound(BijmantraError):
    code: ErrorCode = ErrorCode.NOT_FOUND


@dataclass(eq=False)
class Conflict(BijmantraError):
    code: ErrorCode = ErrorCode.CONFLICT


@dataclass(eq=False)
class Gone(BijmantraError):
    """Was valid once and never will be again (an expired one-time code)."""

    code: ErrorCode = ErrorCode.GONE


@dataclass(eq=False)
class PreconditionFailed(BijmantraError):
    """A conditional write whose condition no longer holds (a stale ``If-Match``)."""

    code: ErrorCode = ErrorCode.PRECONDITION_FAILED


@dataclass(eq=False)
class Malformed(BijmantraError):
    """The request cannot be read at all (not JSON, invalid UTF-8, nested too deeply): every
    API answers 400, apart from ``validation`` (readable but wrong: 422 on the platform API)."""

    code: ErrorCode = ErrorCode.MALFORMED


@dataclass(eq=False)
class ValidationFailed(BijmantraError):
    code: ErrorCode = ErrorCode.VALIDATION


@dataclass(eq=False)
class Unprocessable(BijmantraError):
    """Well-formed input that breaks a domain rule (a pedigree cycle, an unknown reference)."""

    code: ErrorCode = ErrorCode.UNPROCESSABLE


@dataclass(eq=False)
class Unauthorized(BijmantraError):
    code: ErrorCode = ErrorCode.UNAUTHORIZED


@dataclass(eq=False)
class Forbidden(BijmantraError):
    code: ErrorCode = ErrorCode.FORBIDDEN


@dataclass(eq=False)
class RateLimited(BijmantraError):
    code: ErrorCode = ErrorCode.RATE_LIMITED


@dataclass(eq=False)
class Unavailable(BijmantraError):
    code: ErrorCode = ErrorCode.UNAVAILABLE


@dataclass(eq=False)
class Internal(BijmantraError):
    """A fault of ours (a bug, a broken invariant): logged where it happened, never retried."""

    code: ErrorCode = ErrorCode.INTERNAL


ERRORS_BY_CODE: dict[ErrorCode, type[BijmantraError]] = {
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.CONFLICT: Conflict,
    ErrorCode.GONE: Gone,
    ErrorCode.PRECONDITION_FAILED: PreconditionFailed,
    ErrorCode.MALFORMED: Malformed,
    ErrorCode.VALIDATION: ValidationFailed,
    ErrorCode.UNPROCESSABLE: Unprocessable,
    ErrorCode.UNAUTHORIZED: Unauthorized,
    ErrorCode.FORBIDDEN: Forbidden,
    ErrorCode.RATE_LIMITED: RateLimited,
    ErrorCode.UNAVAILABLE: Unavailable,
    ErrorCode.INTERNAL: Internal,
}


def error_for(
    code: ErrorCode | str, message: str, details: list[FieldError] | None = None
) -> BijmantraError:
    """Rebuild a typed error from its code, e.g. on the far side of a gRPC call."""
    cls = ERRORS_BY_CODE.get(ErrorCode(code), BijmantraError)
    return cls(message, details or [])
