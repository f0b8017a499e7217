"""A refused console form links back to the console page it was sent from (its Referer), to
be read afresh and sent again; a Referer of another site, of the sign-in steps or of no
console page gets no such link, only the dashboard's."""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId

TOKEN = "viewer-token"
BACK = "Back to the page you came from"


async def test_a_refused_form_links_back_to_the_console_page_it_came_from(
    gateway_on_fakes: Any,
) -> None:
    principal = Principal("u1", TenantId(uuid.uuid4()), frozenset({"viewer"}))
    async with gateway_on_fakes({TOKEN: principal}) as on:
        cookies = on.signed_in(principal, TOKEN)
        own = str(on.client.base_url).rstrip("/")
        scheme, host = own.split("://")
        other_scheme = ("http" if scheme == "https" else "https") + f"://{host}"

        async def refused(referer: str | None) -> str:
            headers = {"referer": referer} if referer is not None else {}
            page = await on.client.post(
                "/app/operations/items/item-1/comments",
                cookies=cookies,
                headers=headers,
                data={"csrf_token": "csrf", "body": "a viewer may not comment"},
            )
            assert page.status_code == 403
            assert '<a href="/app">Back to the dashboard</a>' in page.text
            return page.text

        board = f"{own}/app/operations/board/plan-1?x=1"
        assert f'<a href="/app/operations/board/plan-1?x=1">{BACK}</a>' in await refused(board)
        for foreign in (
            None,
            "",
            "https://elsewhere.example/app/operations",
            f"{other_scheme}/app/operations",
            f"{own}/app/auth/login",
            f"{own}/api/v1/work-items",
            f"{own}/app//elsewhere.example",
            f"{own}/app/operations/items/item-1/comments",
            "javascript:alert(1)",
        ):
            assert BACK not in await refused(foreign), foreign
