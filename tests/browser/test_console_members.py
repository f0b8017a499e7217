"""Inviting a member from the console: the members page offers roles to an address (identity
records the offer and mails the link), lists the offers still pending, and revokes one. A
refused offer shows the form again as it was typed, saying what to change."""

from __future__ import annotations

import uuid

import httpx
from bijmantra.devstack.stack import DEMO_EMAIL, DevStack
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import axe_violations, cookies_of, csrf_of


def _invite_form(page: Page, email: str, name: str, roles: list[str]) -> None:
    form = page.locator("form[action='/app/members/invitations']")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Name (optional)").fill(name)
    for box in form.get_by_role("checkbox").all():
        box.set_checked(box.get_attribute("value") in roles)
    form.get_by_role("button", name="Send the invitation").click()


def test_an_admin_invites_a_member_sees_the_offer_pending_and_revokes_it(page: Page) -> None:
    email = f"invitee-{uuid.uuid4().hex[:8]}@console.example.org"
    page.goto("/app/members")
    expect(page.get_by_role("heading", name="Invite a member")).to_be_visible()

    # No role chosen: refused, and what was typed is still there.
    _invite_form(page, email, "Asha Field", [])
    expect(page.get_by_role("alert")).to_contain_text("Choose one or more roles")
    form = page.locator("form[action='/app/members/invitations']")
    expect(form.get_by_label("E-mail")).to_have_value(email)
    expect(form.get_by_label("Name (optional)")).to_have_value("Asha Field")
    assert axe_violations(page) == []

    # Someone already a member: identity's refusal, the form kept.
    _invite_form(page, DEMO_EMAIL, "", ["viewer"])
    expect(page.get_by_role("alert")).to_contain_text("Already a member")
    expect(form.get_by_label("E-mail")).to_have_value(DEMO_EMAIL)

    _invite_form(page, email, "Asha Field", ["breeder", "data-manager"])
    row = page.locator("#invitations + table tr", has_text=email)
    expect(row).to_contain_text("breeder, data-manager")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(form.get_by_label("E-mail")).to_have_value("")
    assert axe_violations(page) == []

    row.get_by_role("button", name=f"Revoke the invitation to {email}").click()
    expect(page.locator("tr", has_text=email)).to_have_count(0)


def test_a_read_only_member_cannot_invite(
    viewer_context: BrowserContext, console_stack: DevStack, page: Page
) -> None:
    viewer = viewer_context.new_page()
    viewer.goto("/app")
    email = f"forged-{uuid.uuid4().hex[:8]}@console.example.org"
    forged = httpx.post(
        f"{console_stack.gateway_url}/app/members/invitations",
        headers=cookies_of(viewer_context),
        data={"csrf_token": csrf_of(viewer), "email": email, "roles": "admin"},
    )
    viewer.close()
    assert forged.status_code == 403
    page.goto("/app/members")
    expect(page.locator("tr", has_text=email)).to_have_count(0)
