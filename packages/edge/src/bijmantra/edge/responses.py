"""The platform API's answer: ``data`` in ``{data, meta, links}`` with the request's id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from bijmantra.edge.envelopes import platform_body
from bijmantra.edge.requests import request_id
from litestar import Request, Response
from litestar.enums import MediaType

_encode = msgspec.json.encode


def platform_response(
    request: Request[Any, Any, Any],
    data: Any,
    *,
    status: int = 200,
    links: dict[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[bytes]:
    body = _encode(platform_body(data, request_id(request), links))
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)
