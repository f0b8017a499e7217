"""A member who reads faster than the rate limits allow sees a console page that says so and
when to come back, not the API's JSON (ADR 0354); a refused search typed into a page says
so above it.

A second gateway process of the session's stack has a tiny read budget (3 an hour per
member and organization: nothing refills while the test runs). It shares the stack's Redis,
so the session cookie the stack's own gateway set is good there too (cookies ignore ports).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from bijmantra.devstack.stack import DevStack
from bijmantra.testkit.servers import free_port, terminate, wait_for_port
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Member, _member, signed_in_context

TINY_READS = {"GATEWAY_RATE_LIMITS": "read=3/3", "GATEWAY_RATE_LIMIT_WINDOW": "3600"}


@pytest.fixture(scope="module")
def limited_gateway(console_stack: DevStack) -> Iterator[str]:
    port = free_port()
    process = console_stack.start_service(
        "gateway", replica="-limited", env={"GATEWAY_PORT": str(port), **TINY_READS}
    )
    try:
        wait_for_port(port, timeout=60, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        terminate(process)
        console_stack.services.pop("gateway-limited", None)


@pytest.fixture(scope="module")
def hurried(console_stack: DevStack) -> Member:
    """A member of an organization of their own: their budget is theirs alone."""
    return _member(console_stack, "hurried@console.example.org", ["breeder"])


def test_a_rate_limited_member_sees_a_console_page_not_json(
    browser: Browser, console_stack: DevStack, limited_gateway: str, hurried: Member
) -> None:
    with signed_in_context(browser, console_stack, hurried) as context:
        page: Page = context.new_page()
        first = page.goto(f"{limited_gateway}/app/germplasm")
        assert first is not None
        assert first.status == 200

        # Searching as fast as one can: HTMX asks for each; the refused one says so in place.
        notice = page.locator("#refused")
        for term in ("a", "ab", "abc", "abcd"):
            page.locator("#q").fill(term)
            with page.expect_response(re.compile(r"/app/germplasm\?")) as answered:
                page.locator("#q").press("Enter")
            if answered.value.status == 429:
                break
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("Too many read requests")
        expect(notice).to_contain_text(re.compile(r"Please wait \d+ seconds?"))

        # The next page the member opens is the console's refusal page, with its look.
        refused = page.goto(f"{limited_gateway}/app/programs?page=0")
        assert refused is not None
        assert refused.status == 429
        assert refused.headers["content-type"].startswith("text/html")
        wait = int(refused.headers["retry-after"])
        assert wait >= 1
        expect(page).to_have_title("429 · Bijmantra")
        expect(page.get_by_role("heading", level=1)).to_have_text("Too many requests")
        expect(page.get_by_role("alert")).to_contain_text("Too many read requests")
        expect(page.locator(".retry")).to_have_text(
            f"Please wait {wait} second{'s' if wait != 1 else ''}, then try again."
        )
        again = page.get_by_role("link", name="try again")
        expect(again).to_have_attribute("href", "/app/programs?page=0")
        expect(page.get_by_role("link", name="Back to the dashboard")).to_be_visible()
        expect(page.locator("link[rel=stylesheet]")).to_have_attribute(
            "href", "/app/static/console.css"
        )
        assert not page.locator("body").inner_text().lstrip().startswith("{")
