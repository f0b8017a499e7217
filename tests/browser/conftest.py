"""One stack and one headless Chromium for every browser test of the session.

The browser is Debian's ``chromium`` at ``/usr/bin/chromium`` (``just test`` installs it),
driven by Playwright for Python; Playwright's own browser download is never used. When the
browser is missing these tests fail and say how to install it: they never skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.identity import register_member
from bijmantra.devstack.stack import (
    DEMO_EMAIL,
    DEMO_ORGANIZATION_ID,
    DEMO_PASSWORD,
    DevStack,
    running_stack,
)
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.browser.seed import seed_study, seed_variables

CHROMIUM = os.environ.get("BIJMANTRA_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("BIJMANTRA_ARTIFACTS", "test-artifacts")) / "browser"
MEMBER_PASSWORD = "console-member-2026"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    executable = shutil.which(CHROMIUM) if not os.path.isabs(CHROMIUM) else CHROMIUM
    if not executable or not os.access(executable, os.X_OK):
        pytest.fail(
            f"The browser tests need Debian's chromium at {CHROMIUM}; install it with "
            "`apt-get install chromium` (`just test` does this as root), or point "
            "BIJMANTRA_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    return executable


@pytest.fixture(scope="session")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("console-stack"), testdata=True) as stack:
        yield stack


@dataclass(frozen=True)
class Member:
    email: str
    password: str
    organization: str


@pytest.fixture(scope="session")
def viewer(console_stack: DevStack) -> Member:
    """A read-only member of an organization of their own."""
    return _member(console_stack, "viewer@console.example.org", ["viewer"])


@pytest.fixture(scope="session")
def outsider(console_stack: DevStack) -> Member:
    """A member of another organization whose sessions no test signs out."""
    return _member(console_stack, "outsider@console.example.org", ["admin"])


@pytest.fixture(scope="session")
def demo_viewer(console_stack: DevStack) -> Member:
    """A read-only member of the demo organization (where the demo admin writes)."""
    return demo_member(console_stack, "demo-viewer@console.example.org", ["viewer"])


def demo_member(stack: DevStack, email: str, roles: list[str]) -> Member:
    """Another member of the demo organization, straight into identity's tables."""
    assert stack.database is not None
    identity_url = stack.database.identity_url
    member = {
        "organization_id": uuid.UUID(DEMO_ORGANIZATION_ID),
        "organization_name": "Demo",
        "user_id": uuid.uuid4(),
        "email": email,
        "display_name": email.split("@")[0],
        "password_hash": PasswordHasher().hash(MEMBER_PASSWORD),
        "roles": roles,
    }

    async def register() -> None:
        engine = create_engine(identity_url, pool_size=1)
        try:
            await register_member(engine, **member)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, register()).result()
    return Member(email, MEMBER_PASSWORD, DEMO_ORGANIZATION_ID)


@pytest.fixture(scope="session")
def variables(console_stack: DevStack) -> dict[str, Any]:
    """Phenotyping variables (the demo import has none), made once for the session."""
    return seed_variables(console_stack.gateway_url, console_stack.login())


@pytest.fixture
def seeded(console_stack: DevStack, variables: dict[str, Any]) -> dict[str, Any]:
    """A study of the test's own with the variables and plots: what one test writes into it
    no other test reads, whatever the order they run in."""
    return seed_study(console_stack.gateway_url, console_stack.login(), variables)


def _member(stack: DevStack, email: str, roles: list[str]) -> Member:
    # register_member runs its own event loop: off this thread, where Playwright's runs.
    with ThreadPoolExecutor(1) as pool:
        organization = pool.submit(stack.register_member, email, MEMBER_PASSWORD, roles).result()
    return Member(email, MEMBER_PASSWORD, str(organization))


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


def sign_in(context: BrowserContext, base_url: str, email: str, password: str) -> Page:
    """Through identity's own pages, as a person would: /app, login form, consent, back."""
    page = context.new_page()
    page.goto(f"{base_url}/app")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(r".*/app$"))
    return page


@pytest.fixture(scope="session")
def breeder_context(browser: Browser, console_stack: DevStack) -> Iterator[BrowserContext]:
    """The demo admin, signed in once for the session."""
    context = browser.new_context(base_url=console_stack.gateway_url)
    sign_in(context, console_stack.gateway_url, DEMO_EMAIL, DEMO_PASSWORD).close()
    yield context
    context.close()


@pytest.fixture
def page(breeder_context: BrowserContext) -> Iterator[Page]:
    opened = breeder_context.new_page()
    yield opened
    opened.close()


@contextmanager
def signed_in_context(
    browser: Browser, stack: DevStack, member: Member
) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=stack.gateway_url)
    try:
        sign_in(context, stack.gateway_url, member.email, member.password).close()
        yield context
    finally:
        context.close()


@pytest.fixture(scope="session")
def viewer_context(
    browser: Browser, console_stack: DevStack, demo_viewer: Member
) -> Iterator[BrowserContext]:
    """A read-only member of the demo organization, signed in once for the session."""
    with signed_in_context(browser, console_stack, demo_viewer) as context:
        yield context


@pytest.fixture(scope="session")
def outsider_context(
    browser: Browser, console_stack: DevStack, outsider: Member
) -> Iterator[BrowserContext]:
    """An administrator of another organization, signed in once for the session."""
    with signed_in_context(browser, console_stack, outsider) as context:
        yield context


def cookies_of(context: BrowserContext) -> dict[str, str]:
    """The context's cookies as a header, for forging requests outside the browser."""
    return {"Cookie": "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())}


def csrf_of(page: Page) -> str:
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    return token


def not_found_for(outsider: BrowserContext, url: str, secrets: tuple[str, ...]) -> None:
    """Another organization's member opening ``url`` gets the 404 page with none of
    ``secrets`` on it."""
    theirs = outsider.new_page()
    try:
        answer = theirs.goto(url)
        assert answer is not None
        assert answer.status == 404
        expect(theirs.get_by_role("heading", level=1)).to_have_text("Not found")
        content = theirs.content()
        assert [s for s in secrets if s in content] == []
    finally:
        theirs.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run the vendored axe-core in the page; the serious and critical violations."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => JSON.stringify((await axe.run(document)).violations)")
    violations: list[dict[str, Any]] = json.loads(result)
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target
