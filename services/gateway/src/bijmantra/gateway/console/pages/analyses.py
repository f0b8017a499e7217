"""Genotype uploads, variant sets and analyses: request, live progress (``/app/ws``), results
with the worker's plots, downloads. A variant set's page lists its analyses and requests new
ones, GWAS and GBLUP among them with a trait observed in a study as their phenotype."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from bijmantra.application.security import Action, permissions
from bijmantra.edge import content_disposition
from bijmantra.gateway.console.paging import Rows, choices, document, lists, page_request, rows
from bijmantra.gateway.console.web import PREFIX, View, fragment, said, view
from bijmantra.gateway.genotypes import _pieces
from bijmantra.kernel import BijmantraError, ErrorCode, FieldError, PageRequest, ValidationFailed
from litestar import Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.response import Redirect, Template

READ_GENOTYPES, WRITE_GENOTYPES, DELETE_GENOTYPES = permissions(
    "genotyping", Action.READ, Action.WRITE, Action.ADMIN
)
READ_ANALYSES, WRITE_ANALYSES = permissions("analysis", Action.READ, Action.WRITE)
UPLOAD_LIMIT = 512 * 1024 * 1024
ANALYSES = {
    "grm": "Genomic relationship matrix (GRM)",
    "pca": "Principal components (PCA)",
    "qc": "Quality control",
    "ld": "Linkage disequilibrium (LD)",
    "gwas": "Genome-wide association (GWAS)",
    "gblup": "Genomic breeding values (GBLUP)",
}
WITH_PHENOTYPES = frozenset({"gwas", "gblup"})  # a trait observed in a study, per germplasm
# Studies and traits offered for a phenotype; more are typed as ids (the use case checks).
CHOICES_LISTED = 500
SET_ANALYSES_SHOWN = 20  # a variant set's analyses per page, newest first (ADR 0374)
FIGURES = (".svg",)


def _field(form: Any, name: str, limit: int = 200) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{name} is required", [FieldError(name, "missing")])
    return value.strip()[:limit]


@get(f"{PREFIX}/genotypes", name="console:genotypes")
async def genotypes(request: Request[Any, Any, Any], state: State) -> Template:
    """The upload form and the organization's variant sets (BrAPI ``variantsets``, paged;
    ``germplasm`` narrows them to the sets that genotype that germplasm)."""
    page = view(request, READ_GENOTYPES)
    germplasm = request.query_params.get("germplasm", "").strip()[:200]
    criteria = {"germplasmDbId": [germplasm]} if germplasm else {}
    found = await lists(state, page).list(page.token, "variantset", criteria, page_request(request))
    query = {"germplasm": germplasm} if germplasm else {}
    return page.render(
        "analyses/genotypes.html", rows=rows(found, query), germplasm=germplasm, analyses=ANALYSES
    )


@post(f"{PREFIX}/genotypes", name="console:genotypes-upload", request_max_body_size=UPLOAD_LIMIT)
async def upload_genotypes(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Plain form: a redirect to the new variant set. Sent by HTMX (which shows the upload's
    progress): ``HX-Redirect`` there instead, so the page is fetched whole."""
    page = view(request, WRITE_GENOTYPES)
    form = await request.form()
    name, crop = _field(form, "name"), _field(form, "commonCropName")
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise ValidationFailed("Choose a VCF file", [FieldError("file", "missing")])
    summary = msgspec.json.decode(
        await state.genotyping.import_file(
            page.token, source_format="vcf", name=name, crop=crop, data=_pieces(file)
        )
    )
    target = f"{PREFIX}/variantsets/{summary['variantSetDbId']}"
    if fragment(request):
        return Response(b"", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target)


@get(f"{PREFIX}/variantsets/{{db_id:str}}", name="console:variantset")
async def variant_set(request: Request[Any, Any, Any], state: State, db_id: str) -> Template:
    listed = page_request(request, SET_ANALYSES_SHOWN)
    return await _variant_set_page(state, view(request, READ_GENOTYPES), db_id, listed)


async def _analyses_of(state: State, page: View, db_id: str, listed: PageRequest) -> Rows | None:
    """One page of every analysis of the set, newest first; None for a member who may not
    read analyses."""
    if not page.can("analysis:read"):
        return None
    found = await state.analyses.of_variant_set(page.token, db_id, listed)
    items = [document(item) for item in found.items]
    return Rows(items, listed.page, found.total_count, found.total_pages, {})


async def _variant_set_page(
    state: State,
    page: View,
    db_id: str,
    listed: PageRequest,
    given: dict[str, str] | None = None,
    error: str = "",
) -> Template:
    """The set, a page of its analyses, and the request form (kept as typed, with ``error``,
    when a request was refused)."""
    doc = document(await state.genotyping.get_variant_set(page.token, db_id))
    studies, variables, requested = await asyncio.gather(
        _choices(state, page, "study"),
        _choices(state, page, "variable"),
        _analyses_of(state, page, db_id, listed),
    )
    return page.render(
        "analyses/variantset.html",
        variant_set=doc,
        analyses=ANALYSES,
        with_phenotypes=WITH_PHENOTYPES,
        requested=requested,
        studies=studies,
        variables=variables,
        given=given or {},
        error=error,
        status_code=422 if error else 200,
    )


async def _choices(state: State, page: View, entity: str) -> list[dict[str, Any]] | None:
    """The organization's studies or traits to choose a phenotype from; None when there
    are more than can be listed (the form then asks for the id)."""
    if not page.can("analysis:write"):
        return []
    return await choices(state, page, entity, CHOICES_LISTED)


@post(f"{PREFIX}/variantsets/{{db_id:str}}/delete", name="console:variantset-delete")
async def delete_variant_set(request: Request[Any, Any, Any], state: State, db_id: str) -> Redirect:
    """The set with its calls, for good (ADR 0345); refused while analyses of it remain."""
    page = view(request, DELETE_GENOTYPES)
    await state.genotyping.delete_variant_set(page.token, db_id)
    return Redirect(f"{PREFIX}/genotypes")


@post(f"{PREFIX}/analyses/{{db_id:str}}/delete", name="console:analysis-delete")
async def delete_analysis(request: Request[Any, Any, Any], state: State, db_id: str) -> Redirect:
    """A finished analysis with its results (ADR 0345); back to its variant set."""
    page = view(request, WRITE_ANALYSES)
    deleted = document(await state.analyses.delete(page.token, db_id))
    return Redirect(f"{PREFIX}/variantsets/{deleted['variantSetDbId']}")


@post(f"{PREFIX}/analyses", name="console:analysis-request")
async def request_analysis(request: Request[Any, Any, Any], state: State) -> Redirect | Template:
    """A refused request (no trait for a GWAS, non-numeric observations, too large for a
    worker) shows the set's page again with the form as chosen and the reason."""
    page = view(request, WRITE_ANALYSES)
    form = await request.form()
    kind, variant_set_id = _field(form, "type"), _field(form, "variantSetDbId")
    given = {
        k: v.strip()
        for k in ("type", "studyDbId", "observationVariableDbId")
        if isinstance(v := form.get(k, ""), str)
    }
    body: dict[str, Any] = {"type": kind, "variantSetDbId": variant_set_id}
    try:
        if kind not in ANALYSES:
            raise ValidationFailed("Unknown analysis type", [FieldError("type", kind)])
        if kind in WITH_PHENOTYPES:
            if not given["studyDbId"] or not given["observationVariableDbId"]:
                raise ValidationFailed(
                    f"{ANALYSES[kind]} needs a phenotype: choose a study and a trait observed in it"
                )
            body["studyDbId"] = given["studyDbId"]
            body["observationVariableDbId"] = given["observationVariableDbId"]
        created = msgspec.json.decode(
            await state.analyses.request(page.token, msgspec.json.encode(body))
        )
    except BijmantraError as error:
        if error.code not in (ErrorCode.VALIDATION, ErrorCode.UNPROCESSABLE):
            raise
        first = PageRequest(0, SET_ANALYSES_SHOWN)
        return await _variant_set_page(state, page, variant_set_id, first, given, said(error))
    return Redirect(f"{PREFIX}/analyses/{created['analysisDbId']}")


@get(f"{PREFIX}/analyses/{{db_id:str}}", name="console:analysis")
async def analysis(request: Request[Any, Any, Any], state: State, db_id: str) -> Template:
    page = view(request, READ_ANALYSES)
    doc = document(await state.analyses.get(page.token, db_id))
    artifacts = (doc.get("results") or {}).get("artifacts") or []
    ready = [a for a in artifacts if not a.get("pending") and not a.get("withheld")]
    figures = [a["name"] for a in ready if a["name"].endswith(FIGURES)]
    # Figures the worker will never attach, and why (ADR 0369): said instead of "drawing".
    withheld = [(a["name"], a.get("withheldMessage") or "") for a in artifacts if a.get("withheld")]
    # Figures are drawn after the job completes (no event says when): the fragment asks again.
    drawing = doc.get("status") == "completed" and any(a.get("pending") for a in artifacts)
    template = "analyses/_status.html" if fragment(request) else "analyses/analysis.html"
    samples = await _qc_samples(state, page.token, doc) if doc.get("type") == "qc" else None
    return page.render(
        template,
        analysis=doc,
        percent=round(float(doc.get("progress") or 0) * 100),
        figures=figures,
        artifacts=[a["name"] for a in ready],
        drawing=drawing,
        withheld=withheld,
        names=ANALYSES,
        samples=samples,
    )


QC_SAMPLES_SHOWN = 200


async def _qc_samples(state: State, token: str, doc: dict[str, Any]) -> list[Any] | None:
    """A completed QC's per-sample call rate and observed heterozygosity (first rows)."""
    tables = {t["name"] for t in (doc.get("results") or {}).get("tables") or []}
    if doc.get("status") != "completed" or "samples" not in tables:
        return None
    found = await state.analyses.result_page(
        token, doc["analysisDbId"], "samples", PageRequest(0, QC_SAMPLES_SHOWN)
    )
    decoded: list[Any] = msgspec.json.decode(found.items[0]) if found.items else []
    return decoded


@get(f"{PREFIX}/analyses/{{db_id:str}}/artifacts/{{name:str}}", name="console:artifact")
async def artifact(
    request: Request[Any, Any, Any], state: State, db_id: str, name: str
) -> Response[bytes]:
    page = view(request, READ_ANALYSES)
    media_type, data = await state.analyses.artifact(page.token, db_id, name)
    shown = name.endswith((".svg", ".png"))
    return Response(
        data,
        media_type=media_type,
        headers={
            "content-disposition": content_disposition(name, "inline" if shown else "attachment")
        },
    )


ROUTES = [
    genotypes,
    upload_genotypes,
    variant_set,
    delete_variant_set,
    request_analysis,
    analysis,
    delete_analysis,
    artifact,
]
