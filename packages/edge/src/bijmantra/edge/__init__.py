"""The HTTP edge shared by gateway and identity (issue 18): envelopes, the error taxonomy as
HTTP, request ids, the client's address behind proxies, and the catch-all."""

from bijmantra.edge.client_address import Network, client_address, parse_networks
from bijmantra.edge.cookies import site_cookie
from bijmantra.edge.downloads import content_disposition
from bijmantra.edge.envelopes import (
    brapi_error_body,
    brapi_metadata,
    platform_body,
    platform_error_body,
)
from bijmantra.edge.handlers import (
    REFUSAL,
    Refusal,
    answer_headers,
    error_response,
    errors_answered_inside,
    exception_handlers,
    http_exception_handler,
    nosniff,
    security_headers_middleware,
    unexpected_error_handler,
)
from bijmantra.edge.query import (
    QUERY,
    REPEATABLE,
    Query,
    UndeclaredQueryParameter,
    declared,
    declared_query_parameters,
    query_given,
    query_int,
    query_value,
    query_values,
    single_valued_parameters,
    undeclared_names,
)
from bijmantra.edge.requests import REQUEST_ID_HEADER, request_id, request_id_middleware
from bijmantra.edge.responses import platform_response
from bijmantra.edge.statuses import HTTP_STATUSES, error_headers, http_status

__all__ = [
    "HTTP_STATUSES",
    "QUERY",
    "REFUSAL",
    "REPEATABLE",
    "REQUEST_ID_HEADER",
    "Network",
    "Query",
    "Refusal",
    "UndeclaredQueryParameter",
    "answer_headers",
    "brapi_error_body",
    "brapi_metadata",
    "client_address",
    "content_disposition",
    "declared",
    "declared_query_parameters",
    "error_headers",
    "error_response",
    "errors_answered_inside",
    "exception_handlers",
    "http_exception_handler",
    "http_status",
    "nosniff",
    "parse_networks",
    "platform_body",
    "platform_error_body",
    "platform_response",
    "query_given",
    "query_int",
    "query_value",
    "query_values",
    "request_id",
    "request_id_middleware",
    "security_headers_middleware",
    "single_valued_parameters",
    "site_cookie",
    "undeclared_names",
    "unexpected_error_handler",
]
