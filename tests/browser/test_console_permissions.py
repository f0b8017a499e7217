"""Permissions shown and enforced: a read-only member sees no edit form and a forged POST is
refused; another organization's URLs are not found; CSV in and out of the workbench; the
console's WebSocket only opens for a signed-in page of its own origin."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from bijmantra.adapters.postgres.tenant_archive import read_manifest
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, DevStack
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import (
    axe_violations,
    cookies_of,
    csrf_of,
    demo_member,
    sign_in,
    signed_in_context,
)
from tests.browser.test_console_journey import observations


def post_workbench(
    context: BrowserContext, stack: DevStack, study: str, data: dict[str, str]
) -> httpx.Response:
    """A save posted by hand with the signed-in context's cookies, as a forger would."""
    return httpx.post(
        f"{stack.gateway_url}/app/studies/{study}/workbench",
        headers=cookies_of(context),
        data=data,
    )


def test_read_only_member_sees_values_but_no_edit_form_and_a_forged_post_is_refused(
    viewer_context: BrowserContext, console_stack: DevStack, seeded: dict[str, Any]
) -> None:
    study = seeded["study"]["studyDbId"]
    page = viewer_context.new_page()
    page.goto(f"/app/studies/{study}/workbench")
    expect(page.locator("h1")).to_contain_text("Workbench")
    expect(page.locator("form[action*='/workbench']")).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)
    assert axe_violations(page) == []
    before = observations(console_stack, study)
    unit = seeded["units"][3]["observationUnitDbId"]
    forged = post_workbench(
        viewer_context,
        console_stack,
        study,
        {
            "csrf_token": csrf_of(page),  # a valid token: the role, not CSRF, refuses it
            "unit": unit,
            "variable": seeded["height"]["observationVariableDbId"],
            "c-0-0": "42",
        },
    )
    assert forged.status_code == 403
    assert observations(console_stack, study) == before
    page.close()


def test_post_without_csrf_token_changes_no_observation(
    breeder_context: BrowserContext, console_stack: DevStack, seeded: dict[str, Any]
) -> None:
    study = seeded["study"]["studyDbId"]
    before = observations(console_stack, study)
    response = post_workbench(
        breeder_context,
        console_stack,
        study,
        {
            "unit": seeded["units"][4]["observationUnitDbId"],
            "variable": seeded["height"]["observationVariableDbId"],
            "c-0-0": "42",
        },
    )
    assert response.status_code == 403
    assert observations(console_stack, study) == before


def test_a_forged_save_without_the_grids_fields_changes_nothing_and_is_no_500(
    breeder_context: BrowserContext, console_stack: DevStack, seeded: dict[str, Any]
) -> None:
    """Found by attacking: a save with a valid token but no ``unit`` field was a KeyError."""
    study = seeded["study"]["studyDbId"]
    page = breeder_context.new_page()
    page.goto(f"/app/studies/{study}/workbench")
    before = observations(console_stack, study)
    fields = {f"c-{i}-0": "1" for i in range(5_000)}
    response = post_workbench(
        breeder_context, console_stack, study, {"csrf_token": csrf_of(page), **fields}
    )
    page.close()
    assert response.status_code < 500, response.text[:300]
    assert observations(console_stack, study) == before


@pytest.mark.parametrize(
    "path",
    [
        "/app/germplasm/germplasm3",
        "/app/studies/{study}",
        "/app/studies/{study}/workbench",
        "/app/studies/{study}/observations.csv",
        "/app/trials/{trial}",
    ],
)
def test_another_organizations_urls_are_not_found(
    outsider_context: BrowserContext, seeded: dict[str, Any], path: str
) -> None:
    url = path.format(study=seeded["study"]["studyDbId"], trial=seeded["study"]["trialDbId"])
    response = outsider_context.request.get(url, max_redirects=0)
    assert response.status == 404, (url, response.status)


def test_csv_download_and_upload_round_trip_through_the_workbench(
    page: Page, console_stack: DevStack, seeded: dict[str, Any]
) -> None:
    study = seeded["study"]["studyDbId"]
    height = seeded["height"]["observationVariableDbId"]
    score = seeded["score"]["observationVariableDbId"]
    units = [u["observationUnitDbId"] for u in seeded["units"]]
    page.goto(f"/app/studies/{study}/workbench")
    bad = f"observationUnitDbId,Plant height,{score}\n{units[5]},55,\n{units[5]},,7\n"
    page.get_by_label(re.compile("Upload observations")).set_input_files(
        files=[{"name": "obs.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    assert not [
        o for o in observations(console_stack, study) if o["observationUnitDbId"] == units[5]
    ]

    good = f"observationUnitDbId,Plant height,{score}\n{units[5]},55,3\n"
    page.get_by_label(re.compile("Upload observations")).set_input_files(
        files=[{"name": "obs.csv", "mimeType": "text/csv", "buffer": good.encode()}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#grid [role=status]")).to_contain_text("Saved 2 value(s)")
    stored = {
        o["observationVariableDbId"]: o["value"]
        for o in observations(console_stack, study)
        if o["observationUnitDbId"] == units[5]
    }
    assert stored == {height: "55", score: "3"}

    download = page.request.get(f"/app/studies/{study}/observations.csv")
    assert download.status == 200
    assert download.headers["content-type"].startswith("text/csv")
    text = download.text()
    assert text.splitlines()[0].count(height) == 1
    assert '"55"' in text


def _ws(console_stack: DevStack, headers: dict[str, str]) -> Any:
    url = console_stack.gateway_url.replace("http://", "ws://") + "/app/ws"

    async def first_frame() -> Any:
        async with websockets.connect(url, additional_headers=headers) as socket:
            return await asyncio.wait_for(socket.recv(), 10)

    with ThreadPoolExecutor(1) as pool:  # off Playwright's thread, which runs its own loop
        return pool.submit(asyncio.run, first_frame()).result()


def test_console_socket_needs_the_session_and_the_consoles_own_origin(
    breeder_context: BrowserContext, console_stack: DevStack
) -> None:
    own = console_stack.gateway_url
    assert '"ready"' in _ws(console_stack, {**cookies_of(breeder_context), "Origin": own})
    with pytest.raises(websockets.InvalidStatus):
        _ws(console_stack, {**cookies_of(breeder_context), "Origin": "https://evil.example"})
    with pytest.raises(websockets.InvalidStatus):
        _ws(console_stack, {"Origin": own})


async def _answer_pings(ws: Any) -> None:
    """Until the server closes: only the session's end (not silence) may close the socket."""
    while True:
        if '"ping"' in await asyncio.wait_for(ws.recv(), 60):
            await ws.send('{"type":"pong"}')


def test_console_socket_closes_at_its_next_ping_once_its_session_is_signed_out(
    browser: Browser, console_stack: DevStack
) -> None:
    """An open /app/ws kept streaming the organization's events after sign out everywhere,
    until its access token expired (10 minutes); now its next ping (20 s) closes it."""
    email = f"socket-{uuid.uuid4().hex[:8]}@example.org"
    member = demo_member(console_stack, email, ["viewer"])
    own = console_stack.gateway_url
    with signed_in_context(browser, console_stack, member) as context:
        page = context.new_page()
        page.goto("/app")
        csrf, cookies = csrf_of(page), cookies_of(context)

    async def close_code() -> int:
        url = own.replace("http://", "ws://") + "/app/ws"
        async with websockets.connect(url, additional_headers={**cookies, "Origin": own}) as ws:
            assert '"ready"' in await asyncio.wait_for(ws.recv(), 10)
            signed_out = await asyncio.to_thread(
                httpx.post, f"{own}/app/auth/logout", headers=cookies, data={"csrf_token": csrf}
            )
            assert signed_out.status_code == 200, signed_out.text
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await _answer_pings(ws)
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code

    with ThreadPoolExecutor(1) as pool:  # off Playwright's thread, which runs its own loop
        assert pool.submit(asyncio.run, close_code()).result() == 4401


def test_admin_pages_are_hidden_from_and_refused_to_a_read_only_member(
    viewer_context: BrowserContext, console_stack: DevStack
) -> None:
    page = viewer_context.new_page()
    page.goto("/app")
    expect(page.get_by_role("link", name="Members")).to_have_count(0)
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    assert page.request.get("/app/members").status == 403
    assert page.request.get("/app/audit").status == 403
    token = csrf_of(page)
    forged = httpx.post(
        f"{console_stack.gateway_url}/app/members/{uuid.uuid4()}/roles",
        headers=cookies_of(viewer_context),
        data={"csrf_token": token, "roles": "admin"},
    )
    assert forged.status_code == 403
    page.close()


def test_an_admin_changes_a_members_roles_and_the_member_sees_the_change(
    browser: Browser, page: Page, console_stack: DevStack
) -> None:
    member = demo_member(console_stack, "promoted@console.example.org", ["viewer"])
    page.goto("/app/members")
    row = page.locator("tr", has_text=member.email)
    row.get_by_label("viewer").uncheck()
    row.get_by_label("breeder").check()
    row.get_by_role("button", name="Save roles").click()
    expect(page.locator("tr", has_text=member.email).get_by_label("breeder")).to_be_checked()
    context = browser.new_context(base_url=console_stack.gateway_url)
    try:
        signed_in = sign_in(context, console_stack.gateway_url, member.email, member.password)
        expect(signed_in.locator(".who")).to_have_text("breeder")
    finally:
        context.close()
    # A role outside the table is refused, and nothing changes.
    response = page.request.post(
        "/app/members/" + _user_id(page, member.email) + "/roles",
        form={"csrf_token": csrf_of(page), "roles": "owner"},
    )
    assert response.status == 422
    page.reload()
    expect(page.locator("tr", has_text=member.email).get_by_label("breeder")).to_be_checked()


def _user_id(page: Page, email: str) -> str:
    action = page.locator("tr", has_text=email).locator("form").get_attribute("action")
    assert action is not None
    return action.split("/")[3]


def test_an_admin_exports_the_organization_from_the_console(
    breeder_context: BrowserContext, viewer_context: BrowserContext
) -> None:
    """ADR 0285 in the console: ask, watch the status refresh itself, download the archive
    (its SHA-256 as shown); a read-only member is refused the page."""
    page = breeder_context.new_page()
    page.goto("/app/export")
    page.get_by_role("button", name="Export now").click()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "ready", timeout=180_000)
    assert axe_violations(page) == []
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download the archive").click()
    archive = Path(downloaded.value.path())
    shown = page.locator("#export-status code").inner_text()
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == shown
    assert read_manifest(archive)["organization"]["id"] == DEMO_ORGANIZATION_ID
    page.close()
    refused = viewer_context.new_page()
    response = refused.goto("/app/export")
    assert response is not None
    assert response.status == 403
    refused.close()
