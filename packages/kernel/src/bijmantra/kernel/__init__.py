"""Kernel: the few stdlib-only building blocks every layer shares.

Public API: identifiers, the error taxonomy, pagination, the clock and the tenant context.
"""

from bijmantra.kernel.clock import Clock, FixedClock, SystemClock
from bijmantra.kernel.errors import (
    BijmantraError,
    Conflict,
    ErrorCode,
    FieldError,
    Forbidden,
    Gone,
    Internal,
    Malformed,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    RateLimited,
    StorageFull,
    Unauthorized,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)
from bijmantra.kernel.ids import new_id, new_ids, uuid7, uuid7_many
from bijmantra.kernel.pagination import Page, PageRequest, decimal_integer
from bijmantra.kernel.tenancy import Principal, TenantId

__all__ = [
    "BijmantraError",
    "Clock",
    "Conflict",
    "ErrorCode",
    "FieldError",
    "FixedClock",
    "Forbidden",
    "Gone",
    "Internal",
    "Malformed",
    "MethodNotAllowed",
    "NotFound",
    "Page",
    "PageRequest",
    "PreconditionFailed",
    "Principal",
    "RateLimited",
    "StorageFull",
    "SystemClock",
    "TenantId",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "ValidationFailed",
    "decimal_integer",
    "new_id",
    "new_ids",
    "uuid7",
    "uuid7_many",
]
