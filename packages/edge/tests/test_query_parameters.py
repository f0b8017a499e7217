"""One rule for a repeated query parameter (ADR 0314): 400 ``malformed`` naming it on the
APIs, unless the route declares it repeatable; console pages are not checked."""

from __future__ import annotations

from typing import Any

from bijmantra.edge import REPEATABLE, exception_handlers, single_valued_parameters
from litestar import Litestar, Request, get
from litestar.testing import TestClient

AnyRequest = Request[Any, Any, Any]


def _echo(request: AnyRequest) -> dict[str, Any]:
    return {k: request.query_params.getall(k) for k in request.query_params}


@get("/api/v1/items", sync_to_thread=False)
def items(request: AnyRequest) -> dict[str, Any]:
    return _echo(request)


@get("/brapi/v2/things", sync_to_thread=False, opt={REPEATABLE: frozenset({"thingDbId"})})
def things(request: AnyRequest) -> dict[str, Any]:
    return _echo(request)


@get("/app/page", sync_to_thread=False)
def page(request: AnyRequest) -> dict[str, Any]:
    return _echo(request)


def client() -> TestClient[Litestar]:
    app = Litestar(
        [items, things, page],
        guards=[single_valued_parameters],
        exception_handlers=exception_handlers(),
    )
    return TestClient(app, raise_server_exceptions=False)


def test_a_single_valued_parameter_given_twice_is_400_naming_it_in_each_envelope() -> None:
    with client() as http:
        twice = http.get("/api/v1/items?page=1&status=open&page=9&status=done&q=x")
        assert twice.status_code == 400
        error = twice.json()["error"]
        assert error["code"] == "malformed"
        assert error["details"] == [
            {"location": "page", "message": "given 2 times; give it once"},
            {"location": "status", "message": "given 2 times; give it once"},
        ]
        empty_twice = http.get("/api/v1/items?status=&status=")  # empty values count too
        assert empty_twice.status_code == 400
        brapi = http.get("/brapi/v2/things?pageSize=1&pageSize=1000")
        assert brapi.status_code == 400
        assert brapi.json()["metadata"]["status"][1]["message"] == (
            "pageSize: given 2 times; give it once"
        )


def test_declared_repeatable_parameters_and_single_ones_given_once_pass() -> None:
    with client() as http:
        once = http.get("/api/v1/items?page=1&status=open")
        assert once.json() == {"page": ["1"], "status": ["open"]}
        many = http.get("/brapi/v2/things?thingDbId=a&thingDbId=b&thingDbId=c&page=0")
        assert many.status_code == 200
        assert many.json() == {"thingDbId": ["a", "b", "c"], "page": ["0"]}
        assert http.get("/brapi/v2/things?thingDbId=a&page=0&page=1").status_code == 400
        # A console page is not an API: it reads the value it needs.
        assert http.get("/app/page?q=a&q=b").status_code == 200
