"""An analysis page that follows its job ends on the job's result, however its refreshes race.

The page refreshes when its subscription is confirmed and again when the job ends. If the
first refresh answers late, after the job ended, its stale view must not be the last word
(the second refresh used to be queued behind it and then swapped into the element the first
had replaced, off the page; CI caught it under load).
"""

from __future__ import annotations

import re
import signal
import time

import httpx
from bijmantra.devstack.stack import DEMO_EMAIL, DEMO_PASSWORD, DevStack
from playwright.sync_api import Page, Route, expect

from tests.browser.test_console_journey import vcf


def _wait_until_finished(stack: DevStack, token: str, analysis_id: str) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        for _ in range(600):
            answer = client.get(
                f"/api/v1/analyses/{analysis_id}", headers={"Authorization": f"Bearer {token}"}
            )
            if answer.json()["data"]["status"] == "completed":
                return
            time.sleep(0.1)
    raise AssertionError("the analysis did not finish in a minute")


def test_an_analysis_page_ends_on_its_result_when_an_earlier_refresh_answers_late(
    page: Page, console_stack: DevStack
) -> None:
    page.goto("/app/genotypes")
    page.get_by_label("Name of the variant set").fill("Late refresh panel")
    page.get_by_label("Crop").fill("Cassava")
    page.get_by_label("VCF file").set_input_files(
        files=[{"name": "late.vcf", "mimeType": "text/plain", "buffer": vcf(12, 60)}]
    )
    page.get_by_role("button", name="Upload genotypes").click()
    expect(page.locator("dl.facts")).to_contain_text("60")
    token = console_stack.login(DEMO_EMAIL, DEMO_PASSWORD)
    workers = [p for name, p in console_stack.services.items() if name.startswith("analytics")]
    held: list[str] = []

    def answer_the_first_refresh_late(route: Route) -> None:
        """The first refresh reads the queued job; it is answered only once the job has
        finished and its end has reached the page's socket."""
        if route.request.headers.get("hx-request") != "true" or held:
            route.continue_()
            return
        stale = route.fetch()
        held.append(stale.text())
        for worker in workers:
            worker.send_signal(signal.SIGCONT)
        _wait_until_finished(console_stack, token, route.request.url.rsplit("/", 1)[1])
        time.sleep(2)  # the job's end travels outbox -> stream -> socket -> page
        route.fulfill(response=stale)

    page.route(re.compile(r".*/app/analyses/[^/?#]+$"), answer_the_first_refresh_late)
    for worker in workers:
        worker.send_signal(signal.SIGSTOP)
    try:
        page.get_by_label("Analysis").select_option("qc")
        page.get_by_role("button", name="Request analysis").click()
        expect(page).to_have_url(re.compile(r".*/app/analyses/[^/]+$"))
        summary = page.locator("section[aria-labelledby=qc-summary]")
        expect(summary).to_be_visible(timeout=60_000)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGCONT)
    assert len(held) == 1
    assert 'data-status="queued"' in held[0]  # the late answer was a view of the queued job
