"""Statements given a list are planned for their list, every time (ADR 0353).

psycopg prepares a statement at its 6th run on a connection (``prepare_threshold`` 5), and
from the 5th run of the prepared statement on PostgreSQL may plan it once for any values: a
generic plan. In it ``col = ANY($n)`` is planned for a list of 10 and is never hashed, so a
filter compares each row with the whole list: an edit naming 10,000 call sets took 23 s on
the generic plan of ``call_set_rows`` where the plan made for its list takes 0.2 s. A
statement whose list a caller sizes (a request's DbIds, a filter's values, an edit's calls)
is therefore never prepared: psycopg sends it unnamed and PostgreSQL plans it for the list.
Statements with a list of a fixed few values stay prepared (ADR 0353 lists both).

- psycopg statements: ``cursor.execute(sql, params, prepare=PLANNED_PER_CALL)``.
- SQLAlchemy statements: ``planned_per_call(text(...))``; every engine of ``create_engine``
  honours it (``plan_each_call``).
"""

from __future__ import annotations

from typing import Any, Final

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine, ExecutionContext
from sqlalchemy.sql.elements import TextClause

PLANNED_PER_CALL: Final = False  # psycopg's ``prepare=``: sent unnamed, planned for its values
_OPTION: Final = "bijmantra_planned_per_call"


def planned_per_call(statement: TextClause) -> TextClause:
    """``statement``, which psycopg will never prepare (an engine of ``create_engine``)."""
    return statement.execution_options(**{_OPTION: True})


def plan_each_call(engine: Engine) -> None:
    """Make ``engine`` run a statement marked ``planned_per_call`` unprepared.

    SQLAlchemy's psycopg dialect calls ``cursor.execute(sql, params)`` and has no way to
    pass psycopg's ``prepare=False``; for the one call the driver connection's
    ``prepare_threshold`` is ``None`` ("never prepare"), so psycopg neither prepares the
    statement nor counts its runs, and uses no statement it prepared before."""
    event.listen(engine, "do_execute", _execute)


def _execute(
    cursor: Any, statement: str, parameters: Any, context: ExecutionContext
) -> bool | None:
    if not context.execution_options.get(_OPTION):
        return None  # SQLAlchemy executes it as usual
    driver = context.root_connection.connection.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    threshold = driver.prepare_threshold
    driver.prepare_threshold = None
    try:
        cursor.execute(statement, parameters)
    finally:
        driver.prepare_threshold = threshold
    return True
