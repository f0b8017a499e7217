"""The console's shell in a real browser: sign-in through identity, the session cookie, CSRF,
security headers, sign-out everywhere, reading without JavaScript, axe and page weight."""

from __future__ import annotations

import re

import httpx
import pytest
from bijmantra.devstack.stack import DevStack
from bijmantra.gateway.console.web import FORM_BODY_LIMIT
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Member, axe_violations, screenshot, sign_in

PAGES = [
    "/app",
    "/app/germplasm",
    "/app/germplasm?field=germplasmName&q=no-such-name",
    "/app/germplasm/germplasm3",
    "/app/programs",
    "/app/programs/program1",
    "/app/trials/trial1",
    "/app/studies",
    "/app/studies/study1",
    "/app/studies/study1/workbench",
    "/app/genotypes",
    "/app/audit",
    "/app/audit?verify=1",
    "/app/members",
    "/app/export",
    "/app/operations",
    "/app/operations/mine",
    "/app/devices",
    "/app/devices/new",
    "/app/alerts",
    "/app/partners",
    "/app/seed-requests?status=all",
    "/app/agreements",
    "/app/dispatches",
    "/app/invoices",
]
MAX_PAGE_BYTES = 100 * 1024
FORM = "application/x-www-form-urlencoded"


def _cookie_header(context: BrowserContext) -> dict[str, str]:
    jar = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
    return {"Cookie": jar}


def test_session_cookie_is_opaque_host_only_httponly_and_samesite(
    breeder_context: BrowserContext,
) -> None:
    cookies = {c["name"]: c for c in breeder_context.cookies()}
    session = cookies["__Host-bijmantra-console"]
    assert session["httpOnly"]
    assert session["secure"]
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert session["value"].count(".") == 0  # not a JWT: the browser never holds a token
    assert "__Host-bijmantra-console-signin" not in cookies  # the sign-in binding is spent


def test_pages_carry_strict_csp_and_no_token(page: Page) -> None:
    response = page.goto("/app")
    assert response is not None
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    assert "eyJ" not in page.content()  # no JWT anywhere in the page


def test_germplasm_search_finds_by_name_with_htmx(page: Page) -> None:
    page.goto("/app/germplasm")
    first = page.locator("#results tbody tr a").first
    name = first.inner_text()
    page.get_by_label("for").fill(name)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results")).to_contain_text(f"matching “{name}”")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert "q=" in page.url  # the search is linkable
    screenshot(page, "shell-germplasm-search")


@pytest.mark.parametrize(
    ("path", "last"),
    [
        ("/app/germplasm?page=999", "/app/germplasm?page="),
        ("/app/germplasm?field=germplasmName&q=no-such-name&page=3", None),
        ("/app/seed-requests?status=all&page=999", None),
    ],
)
def test_a_page_past_the_end_of_a_list_links_to_its_last_page(
    page: Page, path: str, last: str | None
) -> None:
    """An old link (the list has shrunk, a search narrowed) is no dead end."""
    page.goto(path)
    pager = page.get_by_role("navigation", name="Pages")
    expect(pager).to_contain_text("is past the end")
    page.get_by_role("link", name=re.compile(r"Go to the (last|first) page")).click()
    if last is not None:
        expect(page).to_have_url(re.compile(re.escape(last) + r"[1-9][0-9]*$"))
        expect(page.locator("tbody tr").first).to_be_visible()
        expect(page.get_by_role("link", name="Next")).to_have_count(0)
    expect(page.get_by_text("is past the end")).to_have_count(0)


def _positions(page: Page) -> list[int]:
    return [int(p) for p in page.locator("tbody tr td:first-child").all_inner_texts()]


def test_audit_trail_shows_the_newest_entries_first_and_a_page_past_the_end_shows_the_last(
    page: Page,
) -> None:
    page.goto("/app/audit")
    found = re.search(r"([0-9]+) entries, newest first", page.content())
    assert found is not None
    total, newest = int(found.group(1)), _positions(page)
    assert newest == list(range(total, total - len(newest), -1))
    assert len(newest) == min(total, 25)
    page.goto("/app/audit?page=999999")  # past the end, as an old link can be
    oldest = _positions(page)
    assert oldest[-1] == 1
    assert oldest == list(range(oldest[0], 0, -1))
    page.goto("/app")
    expect(page.locator("#activity + ul li")).to_have_count(min(total, 10))


def test_pages_read_without_javascript(
    browser: Browser, breeder_context: BrowserContext, console_stack: DevStack
) -> None:
    context = browser.new_context(
        base_url=console_stack.gateway_url,
        java_script_enabled=False,
        storage_state=breeder_context.storage_state(),
    )
    try:
        page = context.new_page()
        page.goto("/app/germplasm")
        name = page.locator("tbody tr a").first.inner_text()
        page.get_by_label("for").fill(name)
        page.get_by_role("button", name="Search").click()
        expect(page.locator("tbody tr")).to_have_count(1)
    finally:
        context.close()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_passes_axe_and_weighs_under_100_kb(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200
    css = page.request.get("/app/static/console.css").body()
    assert len(response.body()) + len(css) < MAX_PAGE_BYTES
    assert axe_violations(page) == []


def test_keyboard_reaches_search_from_skip_link(page: Page) -> None:
    page.goto("/app/germplasm")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search in")).to_be_focused()


def test_post_without_csrf_token_is_refused_and_changes_nothing(
    breeder_context: BrowserContext, console_stack: DevStack
) -> None:
    headers = _cookie_header(breeder_context)
    forged = httpx.post(
        f"{console_stack.gateway_url}/app/auth/logout",
        headers=headers,
        data={"csrf_token": "not-the-token"},
    )
    assert forged.status_code == 403
    missing = httpx.post(f"{console_stack.gateway_url}/app/auth/logout", headers=headers)
    assert missing.status_code == 403
    still = httpx.get(f"{console_stack.gateway_url}/app", headers=headers)
    assert still.status_code == 200  # the session was not ended


def test_a_form_over_the_consoles_bound_is_refused_before_it_is_parsed(
    breeder_context: BrowserContext, console_stack: DevStack
) -> None:
    """The CSRF check parses a form before any handler: a megabyte of empty fields held the
    gateway's loop for a second (the genotype upload's bound is 512 MiB, for multipart files);
    an url-encoded form over the console's bound is now 413 unparsed, on every route."""
    headers = {**_cookie_header(breeder_context), "Content-Type": FORM}
    fields = b"a=&" * (FORM_BODY_LIMIT // 3 + 1) + b"csrf_token=not-the-token"
    for path in ("/app/auth/logout", "/app/genotypes"):
        url = f"{console_stack.gateway_url}{path}"
        assert httpx.post(url, headers=headers, content=fields).status_code == 413, path
    still = httpx.get(f"{console_stack.gateway_url}/app", headers=_cookie_header(breeder_context))
    assert still.status_code == 200  # the session was not ended


def test_callback_without_the_browser_that_started_sign_in_is_refused(
    console_stack: DevStack,
) -> None:
    started = httpx.get(f"{console_stack.gateway_url}/app/auth/login")
    assert started.status_code == 302
    state = re.search(r"state=([^&]+)", started.headers["location"])
    assert state is not None
    # An attacker's code for the victim's browser: no sign-in cookie, so no session.
    replayed = httpx.get(
        f"{console_stack.gateway_url}/app/auth/callback",
        params={"code": "attacker-code", "state": state.group(1)},
    )
    assert replayed.status_code == 401
    assert "set-cookie" not in replayed.headers
    # And the gateway says why (a refused callback used to leave no trace, ADR 0324).
    assert any(
        '"console.sign_in_refused"' in line and "not started in this browser" in line
        for line in _gateway_log_lines(console_stack)
    )


def _gateway_log_lines(stack: DevStack) -> list[str]:
    assert stack.log_dir is not None
    return (stack.log_dir / "gateway.log").read_text(errors="replace").splitlines()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/oauth/x"])
def test_sign_in_never_returns_to_another_site(console_stack: DevStack, target: str) -> None:
    started = httpx.get(f"{console_stack.gateway_url}/app/auth/login", params={"return_to": target})
    assert started.status_code == 302
    assert started.headers["location"].startswith("/oauth/authorize?")


def test_sign_out_ends_every_session_of_the_user(
    browser: Browser, console_stack: DevStack, viewer: Member
) -> None:
    first = browser.new_context(base_url=console_stack.gateway_url)
    second = browser.new_context(base_url=console_stack.gateway_url)
    try:
        page = sign_in(first, console_stack.gateway_url, viewer.email, viewer.password)
        other = sign_in(second, console_stack.gateway_url, viewer.email, viewer.password)
        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page.get_by_role("status")).to_contain_text("signed out on every device")
        other.goto("/app/germplasm")
        expect(other).to_have_url(re.compile(r".*/oauth/authorize\?.*"))  # signed out there too
        # ... of identity too: its password again, not one click on the consent page
        expect(other.get_by_label("Password")).to_be_visible()
        screenshot(other, "shell-signed-out-elsewhere")
    finally:
        first.close()
        second.close()
