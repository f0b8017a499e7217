"""The console deletes an analysis and then its variant set (ADR 0345): the set is refused while
its analysis remains, with the reason; a read-only member is offered neither button."""

from __future__ import annotations

import re
import uuid

from bijmantra.devstack.stack import DevStack
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Member, signed_in_context
from tests.browser.test_console_journey import vcf


def test_an_analysis_then_its_variant_set_are_deleted_from_their_pages(
    page: Page, browser: Browser, console_stack: DevStack, demo_viewer: Member
) -> None:
    name = f"Panel to delete {uuid.uuid4().hex[:6]}"
    page.goto("/app/genotypes")
    page.get_by_label("Name of the variant set").fill(name)
    page.get_by_label("Crop").fill("Cassava")
    page.get_by_label("VCF file").set_input_files(
        files=[{"name": "gone.vcf", "mimeType": "text/plain", "buffer": vcf(12, 60)}]
    )
    page.get_by_role("button", name="Upload genotypes").click()
    expect(page.locator("dl.facts")).to_contain_text("60")
    set_url = page.url
    with signed_in_context(browser, console_stack, demo_viewer) as context:
        viewer = context.new_page()
        viewer.goto(set_url)
        expect(viewer.locator("dl.facts")).to_contain_text("60")
        expect(viewer.get_by_role("button", name="Delete variant set")).to_have_count(0)
    page.get_by_label("Analysis").select_option("qc")
    page.get_by_role("button", name="Request analysis").click()
    expect(page).to_have_url(re.compile(r".*/app/analyses/[^/]+$"))
    analysis_url = page.url
    delete_analysis = page.get_by_role("button", name="Delete analysis and its results")
    expect(delete_analysis).to_be_visible(timeout=60_000)  # once the job has finished

    page.goto(set_url)
    page.get_by_role("button", name="Delete variant set").click()
    expect(page.get_by_role("alert")).to_contain_text("analyses computed from it")

    page.goto(analysis_url)
    page.get_by_role("button", name="Delete analysis and its results").click()
    expect(page).to_have_url(set_url)
    page.get_by_role("button", name="Delete variant set").click()
    expect(page).to_have_url(re.compile(r".*/app/genotypes$"))
    expect(page.get_by_text(name)).to_have_count(0)
    gone = page.goto(analysis_url)
    assert gone is not None
    assert gone.status == 404
