"""A breeder's day in the console, in headless Chromium, one screenshot per step:
sign in -> find a germplasm and its pedigree -> open a study -> enter observations (one
invalid: inline error, nothing stored) -> the valid values come back from BrAPI -> upload
genotypes (the progress bar reaches 100 %) -> request a GRM -> progress reaches 100 % without
a reload, and the dashboard open beside it shows the analysis running then done -> the
heatmap -> the variant set in the list -> a QC analysis's summary."""

from __future__ import annotations

import re
from typing import Any

import httpx
import numpy as np
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import Page, expect

from tests.browser.conftest import axe_violations, screenshot

GT = {0: "0/0", 1: "0/1", 2: "1/1"}


def vcf(samples: int = 40, variants: int = 400) -> bytes:
    rng = np.random.default_rng(7)
    names = [f"S{i:03d}" for i in range(samples)]
    lines = [
        "##fileformat=VCFv4.2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(names),
    ]
    for i in range(variants):
        p = rng.uniform(0.1, 0.9)
        calls = "\t".join(GT[int(d)] for d in rng.binomial(2, p, size=samples))
        lines.append(f"chr{1 + i % 2}\t{1000 + 10 * i}\tsnp{i}\tA\tG\t50\tPASS\t.\tGT\t{calls}")
    return ("\n".join(lines) + "\n").encode()


def observations(stack: DevStack, study: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{stack.gateway_url}/brapi/v2/observations",
        params={"studyDbId": study},
        headers={"Authorization": f"Bearer {stack.login()}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]["data"]


def no_axe_findings(page: Page) -> None:
    assert axe_violations(page) == [], page.url


def test_breeder_journey(page: Page, console_stack: DevStack, seeded: dict[str, Any]) -> None:
    study_id = seeded["study"]["studyDbId"]

    # Find a germplasm by its accession number and open its pedigree.
    page.goto("/app")
    screenshot(page, "01-dashboard")
    page.get_by_role("link", name="Germplasm", exact=True).click()
    page.get_by_label("Search in").select_option("accessionNumber")
    page.get_by_label("for").fill("A0000003")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results tbody tr")).to_have_count(1)
    page.locator("#results tbody a").first.click()
    pedigree = page.locator("svg#pedigree")
    expect(pedigree).to_be_visible()
    expect(pedigree.locator("rect")).to_have_count(3)  # the germplasm and both parents
    no_axe_findings(page)
    screenshot(page, "02-germplasm-pedigree")

    # Open the study and its workbench.
    page.get_by_role("link", name="Studies", exact=True).click()
    page.get_by_label("Study name").fill(seeded["study"]["studyName"])
    page.get_by_role("button", name="Search").click()
    page.locator(f"a[href='/app/studies/{study_id}']").first.click()
    expect(page.locator("tbody tr")).to_have_count(len(seeded["units"]))
    no_axe_findings(page)
    screenshot(page, "03-study")
    page.get_by_role("link", name="Open the workbench").click()

    # Enter observations, one of them outside its scale: shown in place, nothing stored.
    page.get_by_label("Plant height of Plot 1").fill("120.5")
    page.get_by_label("Plant height of Plot 2").fill("999")
    page.get_by_label("Virus score of Plot 1").fill("1")
    page.get_by_role("button", name="Save observations").click()
    bad = page.get_by_label("Plant height of Plot 2")
    expect(bad).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#grid [role=status]")).to_contain_text("Nothing was saved")
    expect(page.get_by_label("Plant height of Plot 1")).to_have_value("120.5")  # kept as typed
    no_axe_findings(page)
    screenshot(page, "04-workbench-invalid")
    assert observations(console_stack, study_id) == []

    bad.fill("80")
    page.get_by_role("button", name="Save observations").click()
    expect(page.locator("#grid [role=status]")).to_contain_text("Saved 3 value(s)")
    screenshot(page, "05-workbench-saved")
    stored = {
        (o["observationUnitName"], o["observationVariableName"]): o["value"]
        for o in observations(console_stack, study_id)
    }
    assert stored == {
        ("Plot 1", "Plant height"): "120.5",
        ("Plot 2", "Plant height"): "80",
        ("Plot 1", "Virus score"): "1",
    }

    # Upload genotypes, request a GRM and watch it finish without reloading.
    page.get_by_role("link", name="Genotypes", exact=True).click()
    page.get_by_label("Name of the variant set").fill("Journey panel")
    page.get_by_label("Crop").fill("Cassava")
    page.get_by_label("VCF file").set_input_files(
        files=[{"name": "panel.vcf", "mimeType": "text/plain", "buffer": vcf()}]
    )
    no_axe_findings(page)
    uploaded: list[int] = []  # the bar's value at each progress event (survives navigation)
    page.expose_function("recordUpload", lambda value: uploaded.append(int(value)))
    page.evaluate(
        "document.addEventListener('htmx:xhr:progress', () =>"
        " recordUpload(document.getElementById('upload-progress').value))"
    )
    page.get_by_role("button", name="Upload genotypes").click()
    expect(page.locator("dl.facts")).to_contain_text("40")
    assert uploaded, "HTMX reported the upload's progress"
    assert uploaded[-1] == 100
    no_axe_findings(page)
    screenshot(page, "06-variant-set")
    variant_set_url = page.url
    dashboard = page.context.new_page()
    dashboard.goto("/app")
    expect(dashboard.get_by_role("heading", name="Running analyses")).to_be_visible()
    dashboard.wait_for_timeout(500)  # the dashboard's socket subscribes
    page.get_by_label("Analysis").select_option("grm")
    page.get_by_role("button", name="Request analysis").click()
    expect(page).to_have_url(re.compile(r".*/app/analyses/[^/]+$"))
    analysis_id = page.url.rsplit("/", 1)[1]
    running = dashboard.locator(f"#running-list li[data-analysis='{analysis_id}']")
    expect(running).to_be_visible(timeout=30_000)
    expect(running).to_have_attribute("data-status", "completed", timeout=120_000)
    expect(running.locator("progress")).to_have_attribute("value", "100")
    no_axe_findings(dashboard)
    screenshot(dashboard, "07b-dashboard-running-analyses")
    dashboard.close()
    page.evaluate("window.__sameDocument = true")
    screenshot(page, "07-analysis-requested")
    expect(page.locator("#progress")).to_have_attribute("value", "100", timeout=120_000)
    heatmap = page.locator("img[src$='/artifacts/grm.svg']")
    expect(heatmap).to_be_visible(timeout=60_000)
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
    # Visible is not loaded: the image is fetched after it is laid out; wait until it decoded.
    page.wait_for_function(
        "() => { const i = document.querySelector(\"img[src$='/artifacts/grm.svg']\");"
        " return i !== null && i.complete && i.naturalWidth > 0; }",
        timeout=60_000,
    )
    no_axe_findings(page)
    screenshot(page, "08-grm-heatmap")

    # The variant set is in the list; its QC: call rate, MAF and heterozygosity.
    page.goto("/app/genotypes")
    expect(page.get_by_role("row").filter(has_text="Journey panel")).to_contain_text("400")
    page.goto(variant_set_url)
    page.get_by_label("Analysis").select_option("qc")
    page.get_by_role("button", name="Request analysis").click()
    summary = page.locator("section[aria-labelledby=qc-summary]")
    expect(summary).to_be_visible(timeout=120_000)
    expect(summary.locator("dl.facts")).to_contain_text("Mean call rate")
    expect(summary.locator("tbody tr")).to_have_count(40)
    expect(page.locator("img[src$='/artifacts/maf.svg']")).to_be_visible(timeout=60_000)
    no_axe_findings(page)
    screenshot(page, "09-qc-summary")
