"""The HTTP RED metrics keep the series Litestar's Prometheus middleware recorded (ADR 0373):
the same names and labels, the route template as ``path``, the status of the answer (an
error a handler raised included), ``/metrics`` and WebSockets left out, the in-progress
gauge back to zero. Read from the process's registry, as ``/metrics`` serves it."""

from __future__ import annotations

from bijmantra.observability.http import http_observability
from bijmantra.observability.tracing_setup import Tracing
from litestar import Litestar, WebSocket, get, websocket
from litestar.exceptions import NotFoundException
from litestar.testing import TestClient
from prometheus_client import REGISTRY

APP = "metrics-test"


@get("/items/{item_id:str}", sync_to_thread=False)
def item(item_id: str) -> dict[str, str]:
    if item_id == "missing":
        raise NotFoundException("no such item")
    if item_id == "broken":
        raise RuntimeError("a bug")
    return {"id": item_id}


@get("/metrics", sync_to_thread=False)
def scrape() -> str:
    return "not counted"


@websocket("/live")
async def live(socket: WebSocket[object, object, object]) -> None:
    await socket.accept()
    await socket.send_text("hello")
    await socket.close()


def _value(name: str, **labels: str) -> float:
    found = REGISTRY.get_sample_value(name, {"app_name": APP, "method": "GET", **labels})
    return 0.0 if found is None else found


def test_each_answer_is_counted_by_route_template_and_status() -> None:
    route = "/items/{item_id}"
    app = Litestar([item, scrape, live], middleware=http_observability(APP, Tracing()).middleware)
    before = {
        status: _value("http_requests_total", path=route, status_code=status)
        for status in ("200", "404", "500")
    }
    timed_before = _value("http_request_duration_seconds_count", path=route, status_code="200")
    errors_before = _value("http_requests_error_total", path=route, status_code="500")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/items/a").status_code == 200
        assert client.get("/items/b").status_code == 200
        assert client.get("/items/missing").status_code == 404
        assert client.get("/items/broken").status_code == 500
        assert client.get("/metrics").status_code == 200
        with client.websocket_connect("/live") as socket:
            assert socket.receive_text() == "hello"

    def counted(status: str) -> float:
        now = _value("http_requests_total", path=route, status_code=status)
        return now - before[status]

    assert (counted("200"), counted("404"), counted("500")) == (2, 1, 1)
    timed = _value("http_request_duration_seconds_count", path=route, status_code="200")
    assert timed - timed_before == 2
    assert _value("http_request_duration_seconds_sum", path=route, status_code="200") > 0
    assert _value("http_requests_error_total", path=route, status_code="500") - errors_before == 1
    assert _value("http_requests_total", path="/metrics", status_code="200") == 0
    assert _value("http_requests_total", path="/live", status_code="200") == 0
    assert _value("http_requests_in_progress", path=route, status_code="200") == 0
