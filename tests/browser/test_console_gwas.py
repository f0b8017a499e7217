"""A GWAS from the console: a variant set genotyping a study's germplasm, a trait observed
there, and the variant set's page requests the association with that study and trait; the
Manhattan and QQ plots open, and the set's page lists its analyses. A GWAS asked without a
phenotype is refused on the set's page, the choice kept, saying what is missing."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import numpy as np
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import Page, expect

from tests.browser.conftest import axe_violations
from tests.browser.seed import seed_study

GT = {0: "0/0", 1: "0/1", 2: "1/1"}
PLOTS = 30


def _vcf(samples: list[str], variants: int = 120) -> bytes:
    rng = np.random.default_rng(11)
    lines = [
        "##fileformat=VCFv4.2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    for i in range(variants):
        calls = "\t".join(GT[int(d)] for d in rng.binomial(2, 0.4, size=len(samples)))
        lines.append(f"chr{1 + i % 2}\t{1000 + 10 * i}\tm{i}\tA\tG\t50\tPASS\t.\tGT\t{calls}")
    return ("\n".join(lines) + "\n").encode()


def _germplasm(stack: DevStack) -> list[dict[str, Any]]:
    """Germplasm of the test's own, named as a VCF may name its samples: the shared stack's
    first germplasm may carry other tests' names (tabs, markup) or none."""
    tag = uuid.uuid4().hex[:8]
    body = [
        {
            "germplasmName": f"gwas-{tag}-{i}",
            "germplasmPUI": f"urn:console-gwas:{tag}:{i}",
            "commonCropName": "Cassava",
        }
        for i in range(PLOTS)
    ]
    headers = {"Authorization": f"Bearer {stack.login()}"}
    made = httpx.post(
        f"{stack.gateway_url}/brapi/v2/germplasm", json=body, headers=headers, timeout=60
    )
    assert made.status_code == 200, made.text
    germplasm: list[dict[str, Any]] = made.json()["result"]["data"]
    return germplasm


def _observed(stack: DevStack, study: dict[str, Any], germplasm: list[dict[str, Any]]) -> list[str]:
    """Plant heights on every plot of the study; the germplasm names of the plots."""
    headers = {"Authorization": f"Bearer {stack.login()}"}
    names = {g["germplasmDbId"]: g["germplasmName"] for g in germplasm}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60) as api:
        rng = np.random.default_rng(3)
        observations = [
            {
                "observationUnitDbId": unit["observationUnitDbId"],
                "observationVariableDbId": study["height"]["observationVariableDbId"],
                "studyDbId": study["study"]["studyDbId"],
                "germplasmDbId": unit["germplasmDbId"],
                "value": f"{rng.normal(120, 15):.1f}",
            }
            for unit in study["units"]
        ]
        stored = api.post("/brapi/v2/observations", json=observations)
        assert stored.status_code == 200, stored.text
    return [names[unit["germplasmDbId"]] for unit in study["units"]]


def test_a_breeder_runs_a_gwas_from_the_variant_set_page_and_opens_its_plots(
    page: Page, console_stack: DevStack, variables: dict[str, Any]
) -> None:
    germplasm = _germplasm(console_stack)
    study = seed_study(
        console_stack.gateway_url, console_stack.login(), variables, PLOTS, germplasm
    )
    samples = _observed(console_stack, study, germplasm)
    page.goto("/app/genotypes")
    page.get_by_label("Name of the variant set").fill("GWAS panel")
    page.get_by_label("Crop").fill("Cassava")
    page.get_by_label("VCF file").set_input_files(
        files=[{"name": "gwas.vcf", "mimeType": "text/plain", "buffer": _vcf(samples)}]
    )
    page.get_by_role("button", name="Upload genotypes").click()
    expect(page).to_have_url(re.compile(r".*/app/variantsets/[^/]+$"))
    variant_set = page.url
    expect(page.get_by_text("No analysis of this set yet")).to_be_visible()

    # No phenotype: refused on the set's page, the analysis still chosen.
    page.get_by_label("Analysis").select_option("gwas")
    page.get_by_role("button", name="Request analysis").click()
    expect(page.get_by_role("alert")).to_contain_text("choose a study and a trait")
    expect(page.get_by_label("Analysis")).to_have_value("gwas")
    assert axe_violations(page) == []

    page.get_by_label("Study").select_option(study["study"]["studyDbId"])
    page.get_by_label("Trait").select_option(variables["height"]["observationVariableDbId"])
    page.get_by_role("button", name="Request analysis").click()
    expect(page).to_have_url(re.compile(r".*/app/analyses/[^/]+$"))
    analysis = page.url.rsplit("/", 1)[1]
    for figure in ("manhattan.svg", "qq.svg"):
        expect(page.locator(f"img[src$='/artifacts/{figure}']")).to_be_visible(timeout=120_000)

    page.goto(variant_set)
    row = page.get_by_role("row").filter(has_text="Genome-wide association (GWAS)")
    expect(row).to_contain_text("completed")
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf".*/app/analyses/{analysis}$"))
