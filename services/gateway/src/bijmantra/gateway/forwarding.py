"""``/api/v1`` routes that only forward: the caller's token, path values and body go to a
domain-api client, and its JSON answer is spliced undecoded into ``{data, meta, links}``.

Most platform handlers do nothing else; written out one by one they were the same ten lines
each. Here a route is one row: the Litestar decorator (path, permission, declared answer,
body bound) and the client call. The handler takes the row's name, which the published
contract uses as its operationId.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from bijmantra.edge import query_value
from bijmantra.edge.requests import request_id
from bijmantra.gateway.compliance import page_body, page_query
from bijmantra.kernel import Page, PageRequest
from litestar import Request, Response
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler

JSON = "application/json"
Req = Request[Any, Any, Any]
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Route opt: a POST that takes no body (it acts on the record its path names); the published
# contract declares none. A body sent anyway is still bounded by the route and ignored.
BODYLESS = "bodyless"
_encode = msgspec.json.encode


def document_body(
    request: Req, document: bytes, status: int = 200, etag: str | None = None
) -> Response[bytes]:
    """One domain-api document in the envelope, as bytes (the gateway never decodes it)."""
    meta = _encode({"request_id": request_id(request)})
    body = b"".join((b'{"data":', document, b',"meta":', meta, b',"links":{}}'))
    headers = {"ETag": etag} if etag else None
    return Response(body, status_code=status, media_type=JSON, headers=headers)


@dataclass(frozen=True, slots=True)
class Call:
    """A forwarded request as a row's client call sees it."""

    request: Req
    body: bytes  # b"" for a method that carries none

    @property
    def auth(self) -> Any:
        return self.request.auth

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    @property
    def key(self) -> str:
        """The path's one parameter: the id of the record acted on."""
        (value,) = self.request.path_params.values()
        return str(value)

    def query(self, name: str) -> str:
        """A query parameter the route declares (``opt[QUERY]``, ADR 0350)."""
        return query_value(self.request, name)

    def page(self) -> PageRequest:
        return page_query(self.request)


# A document; a document and its ETag (a versioned record); or one page of documents.
Answer = bytes | tuple[bytes, str] | Page[bytes]
Forward = Callable[[State, Call], Awaitable[Answer]]


def forward(
    name: str, route: HTTPRouteHandler, call: Forward, summary: str | None = None
) -> HTTPRouteHandler:
    """``route`` (e.g. ``get(path, opt=...)``, not yet applied) around a handler ``name`` that
    awaits ``call`` and answers with the route's status code; ``summary`` is its docstring."""
    reads_body = bool(route.http_methods & _BODY_METHODS)

    async def handler(request: Req, state: State) -> Response[bytes]:
        answer = await call(state, Call(request, await request.body() if reads_body else b""))
        if isinstance(answer, Page):
            return page_body(request, answer)
        if isinstance(answer, tuple):
            return document_body(request, answer[0], route.status_code, answer[1])
        return document_body(request, answer, route.status_code)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = summary
    return route(handler)
