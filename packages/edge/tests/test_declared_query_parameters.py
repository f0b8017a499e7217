"""A platform route's declared query parameters (ADR 0350): checked against their declaration
before the handler, in the platform envelope with the 422 the handlers' own checks gave, and
the only ones a handler can read."""

from __future__ import annotations

from typing import Any

import pytest
from bijmantra.edge import (
    QUERY,
    Query,
    declared_query_parameters,
    exception_handlers,
    query_int,
    query_value,
    query_values,
    single_valued_parameters,
)
from bijmantra.edge.query import integer_value
from bijmantra.kernel import ValidationFailed
from litestar import Litestar, Request, get
from litestar.testing import TestClient

AnyRequest = Request[Any, Any, Any]
LISTING = (
    Query("limit", "integer", minimum=1, maximum=100),
    Query("active", "boolean"),
    Query("status", enum=("open", "done")),
    Query("resource", required=True),
    Query("id", repeatable=True),
)


@get("/api/v1/things", sync_to_thread=False, opt={QUERY: LISTING})
def things(request: AnyRequest) -> dict[str, Any]:
    return {
        "limit": query_int(request, "limit", 20),
        "active": query_value(request, "active", "false"),
        "resource": query_value(request, "resource"),
        "ids": query_values(request, "id"),
    }


@get("/api/v1/sloppy", sync_to_thread=False, opt={QUERY: (Query("page", "integer"),)})
def sloppy(request: AnyRequest) -> dict[str, Any]:
    return {"colour": query_value(request, "colour")}  # reads what the route does not declare


def client() -> TestClient[Litestar]:
    app = Litestar(
        [things, sloppy],
        guards=[single_valued_parameters, declared_query_parameters],
        exception_handlers=exception_handlers(),
    )
    return TestClient(app, raise_server_exceptions=False)


def test_valid_values_reach_the_handler_and_empty_ones_count_as_not_given() -> None:
    with client() as http:
        ok = http.get("/api/v1/things?limit=5&active=TRUE&status=open&resource=r&id=a&id=b")
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"limit": 5, "active": "TRUE", "resource": "r", "ids": ["a", "b"]}
        defaults = http.get("/api/v1/things?resource=r&limit=&status=")
        assert defaults.json()["limit"] == 20


def test_each_bad_value_is_a_422_validation_naming_it() -> None:
    with client() as http:
        bad = http.get("/api/v1/things?limit=abc&active=maybe&status=lost")
        assert bad.status_code == 422
        error = bad.json()["error"]
        assert error["code"] == "validation"
        assert error["details"] == [
            {"location": "limit", "message": "must be an integer"},
            {"location": "active", "message": "true or false"},
            {"location": "status", "message": "one of open, done"},
            {"location": "resource", "message": "required"},
        ]
        for limit in ("0", "101", "-1"):
            out = http.get(f"/api/v1/things?resource=r&limit={limit}")
            assert out.status_code == 422
            assert out.json()["error"]["details"] == [
                {"location": "limit", "message": "must be between 1 and 100"}
            ]
        # One value of a parameter not declared repeatable, as before (ADR 0314).
        assert http.get("/api/v1/things?resource=r&limit=1&limit=2").status_code == 400


def test_an_integer_is_written_in_ascii_digits_only() -> None:
    """ADR 0387: ``int`` reads full-width and other scripts' digits, ``+``, ``_`` and spaces;
    a page given so was a page. Now each is the 422 of a value that is not an integer, the
    same for the guard and for a handler's own ``query_int``."""
    with client() as http:
        for limit in ("\uff15", "\u0663", "+5", "1_0", " 5", "5\n", "\U0001d7d3"):
            out = http.get("/api/v1/things", params={"resource": "r", "limit": limit})
            assert out.status_code == 422, limit
            assert out.json()["error"]["details"] == [
                {"location": "limit", "message": "must be an integer"}
            ], limit
    with pytest.raises(ValidationFailed):
        integer_value("page", "\uff11", 0)
    assert integer_value("page", "12", 0) == 12


def test_a_handler_cannot_read_a_parameter_its_route_does_not_declare() -> None:
    with client() as http:
        answer = http.get("/api/v1/sloppy?colour=red")
        assert answer.status_code == 500
        assert answer.json()["error"]["code"] == "internal"


def test_the_declaration_is_the_published_parameter() -> None:
    limit, active, status, resource, ids = (q.parameter() for q in LISTING)
    assert limit == {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    }
    assert active["schema"] == {"type": "boolean"}
    assert status["schema"] == {"type": "string", "enum": ["open", "done"]}
    assert resource["required"] is True
    assert resource["schema"] == {"type": "string", "minLength": 1}
    assert ids["schema"] == {"type": "array", "items": {"type": "string"}}
