"""Transactions PostgreSQL gave up under concurrency: a retryable 503, never a 500 (ADR 0355).

A deadlock (``40P01``), a serialization failure (``40001``) or a lock not granted in time
(``55P03``) ends the transaction with nothing of it kept, and the same request sent again
succeeds. Every transaction boundary of this adapter (``opened_transaction``, a placement's
``transaction``, a unit of work's exit) turns those into ``ContendedTransaction``, whether
the statement that lost ran in the unit's body or at its ``COMMIT``. A statement timeout
(``57014``) is not among them: the same statement would time out again.
"""

from __future__ import annotations

import logging

import psycopg
from bijmantra.kernel import Unavailable
from bijmantra.observability.metrics import CONTENDED_TRANSACTIONS
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

# SQLSTATE -> condition name: the only label values ``CONTENDED_TRANSACTIONS`` takes.
TRANSIENT_SQLSTATES = {
    "40P01": "deadlock_detected",
    "40001": "serialization_failure",
    "55P03": "lock_not_available",
}


class ContendedTransaction(Unavailable):
    """The database ended this request's transaction in favour of a concurrent one (a
    deadlock, a serialization failure): nothing of it was kept; retrying succeeds."""

    def __init__(self) -> None:
        super().__init__(
            "this request collided with a concurrent one and changed nothing; retry in a moment"
        )


def contended_or(error: BaseException) -> BaseException:
    """A transaction PostgreSQL gave up under concurrency is ``ContendedTransaction`` (503,
    ``Retry-After``), logged as a warning with its SQLSTATE and counted; others unchanged.

    The error comes from SQLAlchemy (wrapping psycopg's) or from psycopg itself (pipelined
    and binary statements go to the driver directly, ``COMMIT`` among them)."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if not isinstance(cause, psycopg.Error) or cause.sqlstate not in TRANSIENT_SQLSTATES:
        return error
    sqlstate = cause.sqlstate
    CONTENDED_TRANSACTIONS.labels(sqlstate).inc()
    log.warning(
        "transaction given up under contention (%s %s); the caller may retry: %s",
        sqlstate,
        TRANSIENT_SQLSTATES[sqlstate],
        (cause.diag.message_primary or "").strip(),
    )
    return ContendedTransaction()
