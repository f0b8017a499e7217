"""A console page refused by a protection is a page of the console, not the API's JSON
(ADR 0354): the rate limits and the organization's fair share answer through the route's
own exception handler, so ``/app`` gets HTML with ``Retry-After`` said on the page while
``/api/v1`` and ``/brapi/v2`` keep their envelopes, byte for byte."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from bijmantra.application.protection.ratelimit import Bucket, Decision
from bijmantra.edge.envelopes import brapi_error_body, platform_error_body
from bijmantra.gateway.console.web import CONSOLE_STATUSES
from bijmantra.kernel import Principal, RateLimited, TenantId
from bijmantra.kernel.errors import ErrorCode
from bijmantra.testkit.protection_fakes import FakeRateLimiter

TOKEN = "breeder-token"
# Two reads per member and per organization an hour: the third is refused, and nothing
# refills while the test runs (no wall-clock threshold).
TWO_READS = {"rate_limits": "read=2/2", "rate_limit_window": 3600.0}


def breeder() -> Principal:
    return Principal("u1", TenantId(uuid.uuid4()), frozenset({"breeder"}))


async def test_a_rate_limited_console_page_is_html_and_the_apis_keep_their_envelopes(
    gateway_on_fakes: Any,
) -> None:
    principal = breeder()
    async with gateway_on_fakes({TOKEN: principal}, **TWO_READS) as on:
        cookies = on.signed_in(principal, TOKEN)
        assert (await on.client.get("/app/", cookies=cookies)).status_code == 200
        assert (await on.client.get("/app/germplasm", cookies=cookies)).status_code == 200

        page = await on.client.get("/app/germplasm?page=2", cookies=cookies)
        assert page.status_code == 429
        assert page.headers["content-type"].startswith("text/html")
        wait = int(page.headers["retry-after"])
        assert wait >= 1
        assert page.headers["ratelimit-policy"].startswith('"organization";q=2;w=3600')
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        html = page.text
        assert "<h1>Too many requests</h1>" in html
        assert f"Please wait {wait} seconds, then" in html
        assert '<a href="/app/germplasm?page=2">try again</a>' in html
        assert '<a href="/app">Back to the dashboard</a>' in html
        assert '<link rel="stylesheet" href="/app/static/console.css">' in html
        assert "rate_limited" not in html

        # The same member's API reads share the budget and stay JSON, exactly as before.
        auth = {"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "req-1"}
        api = await on.client.get("/api/v1/devices", headers=auth)
        assert api.status_code == 429
        assert api.headers["content-type"] == "application/json"
        assert api.headers["retry-after"] == page.headers["retry-after"]
        refused = RateLimited(api.json()["error"]["message"])
        assert api.content == msgspec.json.encode(platform_error_body(refused, "req-1"))
        brapi = await on.client.get("/brapi/v2/germplasm", headers=auth)
        assert brapi.status_code == 429
        assert brapi.headers["content-type"] == "application/json"
        message = brapi.json()["metadata"]["status"][0]["message"]
        assert brapi.content == msgspec.json.encode(brapi_error_body(RateLimited(message)))


class HeldLimiter(FakeRateLimiter):
    """Admits every request, but the first waits until released: it holds its
    organization's one slot of the fair share meanwhile."""

    def __init__(self) -> None:
        super().__init__(lambda: 0.0)
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    async def acquire(self, buckets: Sequence[Bucket]) -> Decision:
        if not self.entered.is_set():
            self.entered.set()
            await self.release.wait()
        return await super().acquire(buckets)


async def test_a_console_page_past_the_organizations_share_is_html_with_retry_after(
    gateway_on_fakes: Any,
) -> None:
    principal, limiter = breeder(), HeldLimiter()
    shares = {"organization_in_flight": 1, "organization_queue": 0}
    async with gateway_on_fakes({TOKEN: principal}, limiter, **shares) as on:
        cookies = on.signed_in(principal, TOKEN)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        held = asyncio.create_task(on.client.get("/api/v1/devices", headers=auth))
        await limiter.entered.wait()

        form = {"csrf_token": "csrf", "analysis": "grm"}
        page = await on.client.post("/app/analyses", cookies=cookies, data=form)
        assert page.status_code == 429
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["retry-after"] == "1"
        assert "Please wait 1 second, then go back and send the form again." in page.text
        api = await on.client.get("/api/v1/devices", headers=auth)
        assert api.status_code == 429
        assert api.json()["error"]["code"] == "rate_limited"
        assert api.headers["retry-after"] == "1"

        limiter.release.set()
        assert (await held).status_code == 200
        assert (await on.client.get("/app/", cookies=cookies)).status_code == 200


async def test_a_console_url_refused_before_routing_to_its_handler_is_a_page_too(
    gateway_on_fakes: Any,
) -> None:
    """The edge's own refusal (a NUL in the URL, 400) answers through the same path: a page
    under ``/app``, the envelope under ``/api/v1``."""
    principal = breeder()
    async with gateway_on_fakes({TOKEN: principal}) as on:
        page = await on.client.get("/app/germplasm?q=%00", cookies=on.signed_in(principal, TOKEN))
        assert page.status_code == 400
        assert page.headers["content-type"].startswith("text/html")
        assert "The URL must not contain NUL characters" in page.text
        api = await on.client.get(
            "/api/v1/devices?q=%00", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert api.status_code == 400
        assert api.json()["error"]["code"] == "malformed"


def test_every_refusal_a_use_case_can_give_has_a_console_status() -> None:
    """The console kept a status table of its own, which missed ``malformed`` (a NUL in a
    form's text: 500), ``gone`` and ``method_not_allowed``; it now derives from the APIs'."""
    assert set(ErrorCode) <= CONSOLE_STATUSES.keys()
    assert CONSOLE_STATUSES[ErrorCode.MALFORMED] == 400
