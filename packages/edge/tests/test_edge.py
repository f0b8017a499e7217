"""The one HTTP edge: envelopes, statuses and headers, request ids, the catch-all."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, unquote

from bijmantra.edge import (
    content_disposition,
    exception_handlers,
    nosniff,
    request_id_middleware,
    security_headers_middleware,
)
from bijmantra.edge.timing import phase
from bijmantra.kernel import (
    FieldError,
    Malformed,
    RateLimited,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from litestar import Litestar, Request, get
from litestar.testing import TestClient


@get("/brapi/v2/things", sync_to_thread=False)
def brapi_invalid() -> None:
    raise ValidationFailed("Invalid", [FieldError("body", "bad")])


@get("/api/v1/things", sync_to_thread=False)
def platform_invalid() -> None:
    raise ValidationFailed("Invalid", [FieldError("body", "bad")])


@get("/api/v1/unreadable", sync_to_thread=False)
def platform_unreadable() -> None:
    raise Malformed("Request body is not valid JSON", [FieldError("body", "truncated")])


@get("/brapi/v2/unreadable", sync_to_thread=False)
def brapi_unreadable() -> None:
    raise Malformed("Request body must be a JSON array", [FieldError("body", "truncated")])


@get("/api/v1/limited", sync_to_thread=False)
def limited() -> None:
    raise RateLimited("Slow down", [FieldError("retryAfter", "7")])


@get("/brapi/v2/limited", sync_to_thread=False)
def brapi_limited() -> None:
    raise RateLimited("Slow down", [FieldError("retryAfter", "7")])


@get(["/api/v1/down", "/brapi/v2/down"], sync_to_thread=False)
def down() -> None:
    raise Unavailable("Shared state (Redis) did not answer in time")


@get("/api/v1/anonymous", sync_to_thread=False)
def anonymous() -> None:
    raise Unauthorized("Missing bearer token")


@get("/api/v1/bug", sync_to_thread=False)
def bug() -> None:
    raise KeyError("a bug")


@get("/api/v1/fine", sync_to_thread=False)
def fine() -> dict[str, Any]:
    return {"ok": True}


@get("/api/v1/slow")
async def slow() -> dict[str, Any]:
    await asyncio.sleep(0.02)
    return {"ok": True}


@get("/api/v1/phased")
async def phased(request: Request[Any, Any, Any]) -> dict[str, Any]:
    phase(request.scope, "wait")
    await asyncio.sleep(0.02)
    phase(request.scope, "answer")
    return {"ok": True}


def client() -> TestClient[Litestar]:
    app = Litestar(
        [
            brapi_invalid,
            platform_invalid,
            platform_unreadable,
            brapi_unreadable,
            limited,
            brapi_limited,
            down,
            anonymous,
            bug,
            fine,
            phased,
            slow,
        ],
        exception_handlers=exception_handlers(),
        middleware=[request_id_middleware, security_headers_middleware],
        before_send=[nosniff],
    )
    return TestClient(app, raise_server_exceptions=False)


def test_brapi_says_400_in_its_envelope_and_the_platform_api_422_in_its_own() -> None:
    with client() as http:
        brapi = http.get("/brapi/v2/things")
        assert brapi.status_code == 400
        assert brapi.json()["metadata"]["status"][1]["message"] == "body: bad"
        platform = http.get("/api/v1/things", headers={"X-Request-ID": "req-1"})
        assert platform.status_code == 422
        assert platform.json()["error"]["code"] == "validation"
        assert platform.json()["meta"]["request_id"] == "req-1"


def test_an_unreadable_body_is_400_in_each_apis_own_envelope() -> None:
    with client() as http:
        platform = http.get("/api/v1/unreadable", headers={"X-Request-ID": "req-2"})
        assert platform.status_code == 400
        assert platform.json() == {
            "error": {
                "code": "malformed",
                "message": "Request body is not valid JSON",
                "details": [{"location": "body", "message": "truncated"}],
            },
            "meta": {"request_id": "req-2"},
        }
        brapi = http.get("/brapi/v2/unreadable")
        assert brapi.status_code == 400
        assert brapi.json()["result"] is None
        assert brapi.json()["metadata"]["status"][1]["message"] == "body: truncated"


def test_both_envelopes_carry_retry_after_and_www_authenticate() -> None:
    with client() as http:
        for path in ("/api/v1/limited", "/brapi/v2/limited"):
            answer = http.get(path)
            assert answer.status_code == 429
            assert answer.headers["retry-after"] == "7"
        assert http.get("/api/v1/anonymous").headers["www-authenticate"] == "Bearer"
        for path in ("/api/v1/down", "/brapi/v2/down"):  # a dependency that did not answer
            answer = http.get(path)
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "1"
        assert http.get("/api/v1/down").json()["error"]["code"] == "unavailable"


def test_a_wrong_method_is_405_method_not_allowed_with_allow_in_each_envelope() -> None:
    """Not ``validation`` (the request's body or parameters were never looked at)."""
    with client() as http:
        platform = http.post("/api/v1/fine", headers={"X-Request-ID": "req-3"})
        assert platform.status_code == 405
        assert "GET" in platform.headers["allow"].split(", ")
        assert platform.json() == {
            "error": {
                "code": "method_not_allowed",
                "message": "POST is not served at this path",
                "details": [{"location": "allow", "message": platform.headers["allow"]}],
            },
            "meta": {"request_id": "req-3"},
        }
        brapi = http.delete("/brapi/v2/things")
        assert brapi.status_code == 405
        assert "GET" in brapi.headers["allow"].split(", ")
        assert brapi.json()["result"] is None
        [refusal, allow] = brapi.json()["metadata"]["status"]
        assert refusal["message"] == "DELETE is not served at this path"
        assert allow["message"] == f"allow: {brapi.headers['allow']}"


def test_the_catch_all_answers_500_internal_and_logs(capsys: Any) -> None:
    with client() as http:
        answer = http.get("/api/v1/bug")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal"
    assert "a bug" not in answer.text  # the cause stays in the log
    assert "KeyError" in capsys.readouterr().out


def test_request_ids_are_adopted_only_when_sane_and_echoed() -> None:
    with client() as http:
        assert (
            http.get("/api/v1/fine", headers={"X-Request-ID": "abc"}).headers["x-request-id"]
            == "abc"
        )
        forged = http.get("/api/v1/fine", headers={"X-Request-ID": "x" * 500})
        assert len(forged.headers["x-request-id"]) == 32


def test_security_headers() -> None:
    with client() as http:
        private = http.get("/api/v1/fine", headers={"Authorization": "Bearer t"})
        assert private.headers["x-content-type-options"] == "nosniff"
        assert private.headers["cache-control"] == "no-store"
        public = http.get("/api/v1/fine")
        assert public.headers["x-content-type-options"] == "nosniff"
        assert "cache-control" not in public.headers
        # Litestar answers these outside the middleware stack; the hook still runs.
        for unrouted in (http.get("/api/v1/no-such-route"), http.put("/api/v1/fine")):
            assert unrouted.status_code in (404, 405)
            assert unrouted.headers["x-content-type-options"] == "nosniff"


def test_server_timing_counts_the_time_to_the_response_head() -> None:
    with client() as http:
        answered = http.get("/api/v1/slow")
        name, _, duration = answered.headers["server-timing"].partition(";dur=")
        assert name == "app"
        assert float(duration) >= 20  # the handler slept 20 ms before answering


def test_server_timing_names_the_phases_a_handler_marked() -> None:
    with client() as http:
        header = http.get("/api/v1/phased").headers["server-timing"]
    timings = {
        name: float(duration)
        for name, _, duration in (part.partition(";dur=") for part in header.split(", "))
    }
    assert list(timings) == ["app", "wait", "answer"]
    assert timings["wait"] >= 20  # the handler slept 20 ms in that phase
    assert timings["app"] >= timings["wait"] + timings["answer"]


def test_a_file_name_cannot_break_out_of_its_content_disposition() -> None:
    assert content_disposition("smta-report.csv") == 'attachment; filename="smta-report.csv"'
    assert content_disposition("plot.svg", "inline") == 'inline; filename="plot.svg"'
    hostile = 'a"; filename="evil.html\r\nSet-Cookie: x=1\\'
    header = content_disposition(hostile)
    assert header.count('"') == 2  # the one quoted parameter, closed where it should be
    assert not any(c in header for c in "\r\n\\")
    assert header.endswith("filename*=UTF-8''" + quote(hostile, safe=""))
    assert unquote(header.rpartition("''")[2]) == hostile  # the exact name, for browsers
    assert content_disposition("Sorgho-récolte.csv") == (
        "attachment; filename=\"Sorgho-r_colte.csv\"; filename*=UTF-8''Sorgho-r%C3%A9colte.csv"
    )
