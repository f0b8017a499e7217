"""The console's request plumbing: the session behind the cookie, CSRF, rendering, errors.

Every ``/app`` handler runs after ``require_session`` (a router-level hook): a page starts
with ``view(request, permission)``, which refuses a member without it before anything is
read, and renders with ``View.render``; the few pages any signed-in member may see say so with
``member_view(request)``. A state-changing request without the session's CSRF token never
reaches its handler (ADR 0060).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from bijmantra.application.console import ConsoleSessions, SignedIn, tokens_match
from bijmantra.application.security import Permission, authorize, permissions_for
from bijmantra.edge import HTTP_STATUSES
from bijmantra.edge.handlers import answer_headers, refusal_of
from bijmantra.edge.timing import phase
from bijmantra.gateway.console.nav import NAV
from bijmantra.kernel import BijmantraError, Principal
from bijmantra.kernel.errors import ErrorCode
from bijmantra.observability import get_logger
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = get_logger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PREFIX = "/app"
COOKIE = "__Host-bijmantra-console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC = "console_public"  # handler opt: reachable without a console session
SIGNED_IN = "console_signed_in"  # scope state: the session the middleware found, or None
# A console form's body unless its route says otherwise: a comment of 10,000 characters,
# each percent-encoded, fits. The CSRF check parses a form before any handler (and so any
# permission) runs, and an url-encoded one of many empty fields held the gateway's loop for
# about a second per MB (31 s for 12 MB sent by a viewer to the genotype upload, whose bound
# is for multipart files). So url-encoded forms get this bound (or their route's opt
# FORM_LIMIT) on every route, uploads included, and must state their length.
FORM_BODY_LIMIT = 128 * 1024
FORM_LIMIT = "console_form_limit"
URL_ENCODED = "application/x-www-form-urlencoded"
SHOWN_DETAILS = 10  # of a refusal's field errors, on its error page

AnyRequest = Request[Any, Any, Any]


@dataclass(frozen=True)
class View:
    """What every page knows about its request: who is signed in and what they may do."""

    signed_in: SignedIn
    path: str
    granted: frozenset[str] = field(default_factory=frozenset)
    # Starts a named Server-Timing phase of this request (``data`` runs until ``render``).
    mark: Callable[[str], None] = field(default=lambda _name: None, repr=False, compare=False)
    now: datetime | None = None  # the console's clock when the request was let in

    @property
    def principal(self) -> Principal:
        return self.signed_in.principal

    @property
    def token(self) -> str:
        """The access token pages forward to domain-api (never sent to the browser)."""
        return self.signed_in.session.access_token

    @property
    def csrf_token(self) -> str:
        return self.signed_in.session.csrf_token

    def can(self, permission: str) -> bool:
        """``can('germplasm:write')`` decides what a template shows; handlers still enforce."""
        return permission in self.granted

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> Template:
        self.mark("render")
        nav = [item for item in NAV if item.permission is None or self.can(item.permission)]
        return Template(
            template_name=template,
            context={"view": self, "nav": nav, "csrf_token": self.csrf_token, **context},
            status_code=status_code,
        )


def view(request: AnyRequest, permission: Permission, *more: Permission) -> View:
    """The signed-in page, once its member holds ``permission`` (and each of ``more``):
    otherwise ``Forbidden``, the console's 403 page, before the handler reads anything."""
    page = member_view(request)
    for needed in (permission, *more):
        authorize(page.principal, needed)
    return page


def member_view(request: AnyRequest) -> View:
    """The signed-in page with no permission checked: only for what every member may do
    (the dashboard, whose parts domain-api leaves out by role; signing out)."""
    found: View = request.scope["state"]["console"]
    return found


def fragment(request: AnyRequest) -> bool:
    """An HTMX swap wants the part of the page it replaces; a history restore wants it all."""
    headers = request.headers
    return "hx-request" in headers and "hx-history-restore-request" not in headers


def _sessions(request: AnyRequest) -> ConsoleSessions:
    sessions: ConsoleSessions = request.app.state.console_sessions
    return sessions


async def require_session(request: AnyRequest) -> Response[Any] | None:
    """Router hook: load the session, refresh its tokens, check CSRF on unsafe methods."""
    if request.route_handler.opt.get(PUBLIC):
        return None
    scope = request.scope
    state = scope.get("state", {})
    if SIGNED_IN in state:  # found by ``console_session_middleware``
        signed_in: SignedIn | None = state[SIGNED_IN]
    else:
        phase(scope, "session")
        signed_in = await _sessions(request).current(request.cookies.get(COOKIE))
    if signed_in is None:
        if request.method in SAFE_METHODS:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return Redirect(f"{PREFIX}/auth/login?return_to={quote(target, safe='')}")
        return error_page(request, 401, "Your session has ended. Sign in again.")
    if request.method not in SAFE_METHODS and _form_too_large(request):
        return error_page(request, 413, "This form is too large.")
    if request.method not in SAFE_METHODS and not await _csrf_ok(request, signed_in):
        log.warning("console csrf rejected", path=request.url.path)
        return error_page(request, 403, "This form has expired or did not come from this site.")
    granted = _granted(signed_in.principal.roles)
    scope.setdefault("state", {})["console"] = View(
        signed_in,
        request.url.path,
        granted,
        lambda name: phase(scope, name),
        _sessions(request).clock.now(),
    )
    phase(scope, "data")
    return None


def console_session_middleware(app: ASGIApp) -> ASGIApp:
    """A console page's member, found before the protections run: the session behind the
    cookie becomes the request's user, so the organization's fair share and rate limits
    apply to console pages as to the API (ADR 0348). Pages skip bearer authentication, and
    the session was found only in ``require_session``, after every middleware: the
    protections saw no one and let every console request through."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        sessions: ConsoleSessions | None = getattr(scope["app"].state, "console_sessions", None)
        if (
            scope["type"] == ScopeType.HTTP
            and sessions is not None
            and handler is not None
            and (scope["path"] + "/").startswith(PREFIX + "/")
            and not handler.opt.get(PUBLIC)
        ):
            phase(scope, "session")
            signed_in = await sessions.current(ASGIConnection(scope).cookies.get(COOKIE))
            scope.setdefault("state", {})[SIGNED_IN] = signed_in
            if signed_in is not None:
                scope["user"] = signed_in.principal
        await app(scope, receive, send)

    return middleware


@functools.lru_cache(maxsize=256)
def _granted(roles: frozenset[str]) -> frozenset[str]:
    """What a set of roles may do, as the templates ask (``view.can``): the same few role
    sets on every request, so worked out once each."""
    return frozenset(str(p) for p in permissions_for(roles))


def _form_too_large(request: AnyRequest) -> bool:
    """An url-encoded body over its bound, or of unstated length (browsers state it)."""
    if not request.headers.get("content-type", "").startswith(URL_ENCODED):
        return False
    limit = request.route_handler.opt.get(FORM_LIMIT, FORM_BODY_LIMIT)
    length = request.headers.get("content-length", "")
    return not length.isdigit() or int(length) > limit


async def _csrf_ok(request: AnyRequest, signed_in: SignedIn) -> bool:
    expected = signed_in.session.csrf_token
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return tokens_match(expected, header)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith((URL_ENCODED, "multipart/form-data")):
        return False
    form = await request.form()
    given = form.get(CSRF_FIELD)
    return isinstance(given, str) and tokens_match(expected, given)


def error_page(
    request: AnyRequest,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    title: str | None = None,
    details: list[str] | None = None,
) -> Template:
    """The console's error page, headed ``title`` or its status's; a ``Retry-After`` among
    ``headers`` is said on the page too, with a link that asks again (a page read) or back
    (a form sent). A refused form links back to the console page it was sent from, to be
    read afresh (a stale board, a record moved meanwhile) and sent again."""
    state = request.scope.get("state", {})
    current = state.get("console")
    wait = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), "")
    again = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    sent = request.method not in SAFE_METHODS
    return Template(
        template_name="error.html",
        context={
            "view": current,
            "nav": [],
            "csrf_token": current.csrf_token if current else "",
            "status": status,
            "title": title,
            "message": message,
            "details": (details or [])[:SHOWN_DETAILS],
            "request_id": state.get("request_id"),
            "retry_after": int(wait) if wait.isdigit() else None,
            "again": None if sent else again,
            "back": came_from(request) if sent else None,
        },
        status_code=status,
        headers=headers,
    )


def came_from(request: AnyRequest) -> str | None:
    """The console page a form was sent from (its ``Referer``, which the console's
    same-origin referrer policy sends): only a page of this console on this host, never a
    sign-in step, never the form's own address."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc or referer.scheme != request.url.scheme:
        return None
    path = referer.path
    if not (path == PREFIX or path.startswith(f"{PREFIX}/")) or "//" in path:
        return None
    if path.startswith(f"{PREFIX}/auth/") or path == request.url.path:
        return None
    return path + (f"?{referer.query}" if referer.query else "")


# The APIs' statuses, but an invalid page request is a 400 (a page has no 422 to give): the
# console once kept a table of its own, and a code it missed (a NUL refused as ``malformed``)
# was a 500.
CONSOLE_STATUSES = {**HTTP_STATUSES, ErrorCode.VALIDATION: 400}


def console_error(request: AnyRequest, error: BijmantraError) -> Response[Any]:
    """Errors of the use cases as pages: another organization's id is simply not found. A
    request a protection refused (a rate limit, the organization's share, a body bound)
    keeps that answer's status and headers, ``Retry-After`` among them (ADR 0354)."""
    refusal = refusal_of(request)
    status = refusal.status if refusal else CONSOLE_STATUSES.get(error.code, 500)
    if status == 500:
        log.exception("console error", path=request.url.path)
    message = error.message if status < 500 else "Something went wrong on our side."
    # When to come back, as the APIs say it (a refused sign-in start, an unreachable store,
    # a rate limit), and whatever else the refusing protection said (``RateLimit``).
    wait = {k: v for k, v in answer_headers(request, error).items() if k.lower() == "retry-after"}
    # A 409 of a full organization (a cap, the limit of devices) is not a conflict to retry.
    title = "Limit reached" if error.code is ErrorCode.STORAGE_FULL and not refusal else None
    headers = {**(refusal.headers if refusal else {}), **wait}
    # What to change, field by field, as the APIs say it (the moves allowed from here, the
    # bound a value passed); never for a 5xx.
    details = [f"{d.location}: {d.message}" for d in error.details] if status < 500 else []
    return error_page(request, status, message, headers, title, details)


def console_http_error(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    """The framework's refusals as pages; a wrong method names the served ones (``Allow``)."""
    page = error_page(request, exc.status_code, exc.detail or "Request failed")
    if allowed := (exc.headers or {}).get("allow"):
        page.headers["Allow"] = allowed
    return page


CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# The distribution PDFs a console page previews in a frame: only these may be framed, and
# only by the console's own pages (ADR 0096).
PREVIEWED = re.compile(rf"^{PREFIX}/(agreements|dispatches|invoices)/[^/]+/pdf$")
FRAMED_CSP = "default-src 'none'; frame-ancestors 'self'"
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


# Built once: every response gets its own copy of the list, never these tuples changed.
PAGE_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    *HEADERS,
)
FRAMED_HEADERS = (
    (b"content-security-policy", FRAMED_CSP.encode()),
    (b"x-frame-options", b"SAMEORIGIN"),
    *HEADERS,
)
REPLACED = frozenset(k for k, _ in HEADERS)  # the edge's nosniff hook may have run first


async def console_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: security headers on every ``/app`` response, error pages included;
    pages not cached. A hook, not a middleware: Litestar answers an unknown console route or
    method (404, 405) outside the middleware stack, and the edge refuses a NUL in the URL
    before the console's middleware ran; those answers went out without a CSP (ADR 0326)."""
    if message["type"] != "http.response.start" or not scope["path"].startswith(PREFIX):
        return
    static = scope["path"].startswith(f"{PREFIX}/static/")
    replaced = REPLACED if static else REPLACED | {b"cache-control"}
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in replaced]
    headers += FRAMED_HEADERS if PREVIEWED.match(scope["path"]) else PAGE_HEADERS
    if not static:
        headers.append((b"cache-control", b"no-store"))
    message["headers"] = headers


def said(error: BijmantraError) -> str:
    """A refusal in one line, with what to change: its message and each field's reason
    ("Invalid e-mail address (email: an e-mail address)"), for the form shown again."""
    details = "; ".join(f"{d.location}: {d.message}" for d in error.details)
    return f"{error.message} ({details})" if details else error.message
