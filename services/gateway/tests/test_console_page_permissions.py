"""Every console page refuses a member without its permission before it reads anything: with
domain-api stopped, a page that read first would answer 503, not the console's 403 page.
The pages any member may see are named here; a new page is covered by being routed."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bijmantra.gateway.console.web import CSRF_HEADER, PUBLIC
from bijmantra.kernel import Principal, TenantId
from litestar.routes import HTTPRoute

TOKEN = "member-token"
CSRF = "csrf"
EVERY_MEMBER = frozenset({"console:dashboard", "console:logout"})  # ``member_view``
PARAMETER = re.compile(r"\{(\w+):\w+\}")


def member(*roles: str) -> Principal:
    return Principal("u1", TenantId(uuid.uuid4()), frozenset(roles))


def console_pages(on: Any) -> list[tuple[str, str, str]]:
    """(method, url, name) of every signed-in console handler, its path parameters filled."""
    found = []
    for route in on.app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/app"):
            continue
        for handler in route.route_handlers:
            if handler.opt.get(PUBLIC) or handler.name is None:
                continue
            url = PARAMETER.sub(lambda m: f"some-{m.group(1)}", route.path)
            found += [(method, url, handler.name) for method in sorted(handler.http_methods)]
    return found


async def ask(on: Any, method: str, url: str, cookies: dict[str, str]) -> Any:
    return await on.client.request(method, url, cookies=cookies, headers={CSRF_HEADER: CSRF})


async def test_a_member_without_roles_is_refused_every_page_before_it_reads(
    gateway_on_fakes: Any,
) -> None:
    principal = member()
    async with gateway_on_fakes({TOKEN: principal}) as on:
        cookies = on.signed_in(principal, TOKEN, CSRF)
        await on.stop_domain()
        pages = console_pages(on)
        assert len(pages) > 50  # the walk found the console's pages
        assert {name for _, _, name in pages} >= EVERY_MEMBER
        for method, url, name in pages:
            if name in EVERY_MEMBER:
                continue
            page = await ask(on, method, url, cookies)
            assert page.status_code == 403, (method, url, page.status_code)
            assert page.headers["content-type"].startswith("text/html")
            assert "Missing permission" in page.text, (method, url)


async def test_a_viewer_is_refused_every_form_and_reads_what_it_may(
    gateway_on_fakes: Any,
) -> None:
    """A viewer reads every context: its reads go on to domain-api (stopped here, so 503),
    while every change is refused in the gateway first."""
    principal = member("viewer")
    async with gateway_on_fakes({TOKEN: principal}) as on:
        cookies = on.signed_in(principal, TOKEN, CSRF)
        await on.stop_domain()
        assert (await ask(on, "GET", "/app/germplasm", cookies)).status_code == 503
        changes = [p for p in console_pages(on) if p[0] == "POST" and p[2] not in EVERY_MEMBER]
        assert len(changes) > 20
        for method, url, _ in changes:
            page = await ask(on, method, url, cookies)
            assert page.status_code == 403, (method, url, page.status_code)
            assert "Missing permission" in page.text, (method, url)
        for url in ("/app/devices/new", "/app/devices/some-device/enrol", "/app/members"):
            assert (await ask(on, "GET", url, cookies)).status_code == 403, url
