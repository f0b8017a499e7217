"""The fifteenth adversarial review (ADR 0383): tenant isolation, authorization and bounds on
the surfaces attacked least (search results, downloads and figures, the export archive,
identity's organization choice and refresh, console forms, odd paging). Each hole it found,
and what held, as an attack on a running stack (the e2e modules' shared one)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import tarfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.identity import register_member
from bijmantra.devstack.stack import DevStack

pytestmark = [pytest.mark.e2e]
PASSWORD = "pw-review15-member"
PATIENCE = 60.0  # seconds an export or analysis may take on a loaded machine (not a bound)


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> DevStack:
    """The e2e modules' shared stack: this module's organizations are its own (conftest.py)."""
    return shared_stack


def member(stack: DevStack, roles: list[str], organization: uuid.UUID | None = None) -> str:
    """The e-mail of a new member with ``roles``: of ``organization``, or of a new one."""
    email = f"r15-{uuid.uuid4().hex[:8]}@example.org"
    if organization is None:
        stack.register_member(email, PASSWORD, roles)
        return email
    assert stack.database is not None

    async def join() -> None:
        engine = create_engine(stack.database.identity_url)
        try:  # the organization is kept as it is (ON CONFLICT DO NOTHING)
            await register_member(
                engine,
                organization_id=organization,
                organization_name="kept",
                user_id=uuid.uuid4(),
                email=email,
                display_name="Member",
                password_hash=PasswordHasher().hash(PASSWORD),
                roles=roles,
            )
        finally:
            await engine.dispose()

    asyncio.run(join())
    return email


def organization_of(stack: DevStack, email: str) -> uuid.UUID:
    signed_in = sign_in(stack, email)
    return uuid.UUID(signed_in.json()["data"]["organization_id"])


def sign_in(stack: DevStack, email: str, organization: str | None = None) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "organizationId": organization}
    return httpx.post(f"{stack.gateway_url}/api/v1/auth/login", json=body, timeout=30)


def client(stack: DevStack, email: str) -> httpx.Client:
    token = sign_in(stack, email).json()["data"]["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def first(stack: DevStack) -> dict[str, str]:
    """An organization with an admin, a breeder and a viewer."""
    admin = member(stack, ["admin"])
    organization = organization_of(stack, admin)
    return {
        "admin": admin,
        "breeder": member(stack, ["breeder"], organization),
        "viewer": member(stack, ["viewer"], organization),
        "id": str(organization),
    }


@pytest.fixture(scope="module")
def stranger(stack: DevStack) -> str:
    """The admin of another organization in the same database."""
    return member(stack, ["admin"])


# --- the console, signed in through the real OAuth flow -------------------------------------


class Browser:
    """A browser's cookies over plain HTTP: the console's cookies are ``Secure``, which
    httpx's jar keeps for HTTPS only, so the jar here is a dict."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.cookies: dict[str, str] = {}

    def send(self, method: str, url: str, **options: Any) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers = {"Cookie": cookie, **options.pop("headers", {})}
        answer = self.http.request(method, url, headers=headers, **options)
        for cookie in answer.headers.get_list("set-cookie"):
            name, _, rest = cookie.partition("=")
            value = rest.split(";")[0]
            if value and "max-age=0" not in cookie.lower():
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return answer

    def form(self, path: str, fields: str) -> httpx.Response:
        """``fields`` url-encoded as given, with the session's CSRF token (a page's form's)."""
        csrf = hidden(self.send("GET", "/app/partners").text, "csrf_token")
        body = f"csrf_token={csrf}&{fields}".encode()
        content_type = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.send("POST", path, content=body, headers=content_type)


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, page[:500]
    return found.group(1)


def console(stack: DevStack, email: str) -> Browser:
    browser = Browser(stack.gateway_url)
    authorize = browser.send("GET", "/app/auth/login").headers["location"]
    login = {"action": "login", "email": email, "password": PASSWORD}
    page = browser.send("GET", authorize).text
    signed = browser.send(
        "POST", authorize, data={**login, "csrf_token": hidden(page, "csrf_token")}
    )
    assert signed.status_code == 303, signed.text
    consent = browser.send("GET", authorize).text
    chosen = re.search(r'<option value="([0-9a-f-]{36})"', consent)
    assert chosen, consent[:500]
    allow = {"action": "allow", "organization_id": chosen.group(1)}
    granted = browser.send(
        "POST", authorize, data={**allow, "csrf_token": hidden(consent, "csrf_token")}
    )
    assert granted.status_code in (302, 303), granted.text
    callback = browser.send("GET", granted.headers["location"])
    assert callback.status_code in (302, 303), callback.text
    return browser


def test_a_nul_in_a_console_form_is_a_4xx_and_stores_nothing(
    stack: DevStack, first: dict[str, str]
) -> None:
    """A NUL in a console form's text (a partner's name, a plan's title) reached domain-api,
    which refused it as ``malformed``; the console knew no status for that code and answered
    500 (logged as our error). Now the form says why beside its fields, and nothing is kept."""
    browser = console(stack, first["admin"])
    partner = "name=r15%00x&country=NL&type=company&contact_name=A&contact_email=a%40b.org"
    for path, fields in (("/app/partners", partner), ("/app/operations/plans", "title=r15%00x")):
        refused = browser.form(path, fields)
        assert refused.status_code in (400, 422), (path, refused.status_code)
        assert "NUL" in refused.text, path
    with client(stack, first["admin"]) as api:
        names = [p["name"] for p in api.get("/api/v1/partners").json()["data"]]
        titles = [i["title"] for i in api.get("/api/v1/work-items").json()["data"]]
    assert not [n for n in names + titles if n.startswith("r15")]


def test_a_console_form_field_that_is_not_utf8_is_a_400_and_stores_nothing(
    stack: DevStack, first: dict[str, str]
) -> None:
    """An url-encoded form's bytes that are not UTF-8 (``%FF``, an encoded lone surrogate)
    were replaced by U+FFFD and kept: the partner was created under another name than sent,
    where the APIs and the multipart forms (ADR 0376) refuse such text. Now a 400 naming the
    field, as a multipart form's."""
    browser = console(stack, first["admin"])
    mark = uuid.uuid4().hex[:8]
    for bad in ("%FF%FE", "%ED%A0%80"):
        fields = (
            f"name=r15{mark}{bad}&country=NL&type=company&contact_name=A&contact_email=a%40b.org"
        )
        refused = browser.form("/app/partners", fields)
        assert refused.status_code == 400, (bad, refused.status_code)
        assert "not UTF-8" in refused.text
    with client(stack, first["admin"]) as api:
        names = [p["name"] for p in api.get("/api/v1/partners").json()["data"]]
    assert not [n for n in names if mark in n]
