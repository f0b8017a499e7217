"""Platform API for genotypes and analyses (``/api/v1``): uploads stream through to domain-api.

A VCF (or, with ``format=hapmap``, a HapMap file) is sent as the raw request body (plain or
gzipped); PLINK as multipart with the fields ``bed``, ``bim`` and ``fam``; Flapjack as
multipart with ``genotype`` and ``map``. The main file is never buffered whole by the
gateway: the body (or the spooled part) is forwarded in pieces over a gRPC client stream;
the side files (.bim, .fam, .map), at most ``SIDE_FILE_LIMIT`` each, in pieces before it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, TypeVar

import msgspec
from bijmantra.adapters.grpc.genotyping import SIDE_FILE_LIMIT
from bijmantra.application.analysis.dto import AnalysisDocument, DeletedAnalysis
from bijmantra.application.genotyping.dto import (
    DeletedVariantSet,
    ImportSummary,
    VariantSetDocument,
)
from bijmantra.application.security import Action, Permission
from bijmantra.domain.genotyping import EXPORT_FORMATS
from bijmantra.edge import (
    QUERY,
    Query,
    content_disposition,
    platform_response,
    query_given,
    query_int,
    query_value,
    query_values,
)
from bijmantra.edge.envelopes import Envelope, ListEnvelope, PageEnvelope
from bijmantra.edge.requests import request_id
from bijmantra.gateway.compliance import page_body
from bijmantra.gateway.forwarding import BODYLESS
from bijmantra.gateway.protection.idempotency import ADMITS, ADMITTED
from bijmantra.kernel import FieldError, PageRequest, ValidationFailed
from bijmantra.kernel.pagination import MAX_PAGE, MAX_PAGE_SIZE
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State, UploadFile
from litestar.response import Stream

JSON = "application/json"
T = TypeVar("T")
PIECE_BYTES = 1 << 20
# Uploads stream through to domain-api (never buffered whole), so their bound is far above
# the JSON body limit; Litestar counts the streamed bytes and answers 413 past it.
UPLOAD_LIMIT = 4 << 30
RAW_FORMATS = ("vcf", "hapmap")
# img-src data:: the points of a large figure are an image inside its SVG (ADR 0365).
ARTIFACT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
WRITE_GENOTYPES = {"permission": Permission("genotyping", Action.WRITE)}
READ_GENOTYPES = {"permission": Permission("genotyping", Action.READ)}
# Deleting an import for good is the data managers' and administrators' (ADR 0345).
DELETE_GENOTYPES = {"permission": Permission("genotyping", Action.ADMIN)}
READ_ANALYSES = {"permission": Permission("analysis", Action.READ)}
WRITE_ANALYSES = {"permission": Permission("analysis", Action.WRITE)}
NO_BODY = 64 * 1024  # the deleting POST reads no body
LISTED_BY_DEFAULT = 20
IMPORT_QUERY = (
    Query("name", required=True, description="the new variant set's name"),
    Query("commonCropName", required=True),
    Query("vendorOrderId", description="the vendor order whose results the file is"),
    Query("format", description="a raw body's format: vcf (default) or hapmap"),
)
LISTING_QUERY = (
    Query("limit", "integer", minimum=1, maximum=100, description="default 20"),
    Query("active", "boolean", description="true: queued and running only"),
)
SET_ANALYSES_PAGING = (
    Query("page", "integer", minimum=0, maximum=MAX_PAGE, description="0-based page number"),
    Query("page_size", "integer", minimum=1, maximum=100, description="default 20"),
)
RESULT_PAGING = (  # BrAPI's names: this page is BrAPI-shaped
    Query("page", "integer", minimum=0, maximum=MAX_PAGE),
    Query("pageSize", "integer", minimum=1, maximum=MAX_PAGE_SIZE),
    Query("pageToken", "integer", minimum=0, maximum=MAX_PAGE, description="BrAPI v2.0's page"),
)
_decode = msgspec.json.decode
_encode = msgspec.json.encode


class Pagination(msgspec.Struct, rename="camel"):
    page: int
    page_size: int
    total_count: int
    total_pages: int


class ResultPageMeta(msgspec.Struct):
    request_id: str | None
    pagination: Pagination


class ResultPageEnvelope(msgspec.Struct):
    """A page of a result table: rows are objects whose columns depend on the table."""

    data: list[dict[str, Any]]
    meta: ResultPageMeta
    links: dict[str, str]


def _required(request: Request[Any, Any, Any], name: str) -> str:
    value = query_value(request, name).strip()
    if not value:
        raise ValidationFailed(f"Query parameter {name} is required", [FieldError(name, "missing")])
    return value


async def _pieces(upload: UploadFile) -> AsyncIterator[bytes]:
    while piece := await upload.read(PIECE_BYTES):
        yield piece


async def _part(form: Any, name: str) -> UploadFile:
    part = form.get(name)
    if not isinstance(part, UploadFile):
        raise ValidationFailed(
            f"Multipart field {name!r} (a file) is required", [FieldError(name, "missing")]
        )
    return part


async def _side_files(form: Any, *names: str) -> list[tuple[str, AsyncIterator[bytes]]]:
    """Each side file's pieces, read from its spooled part as they are sent: read whole, a
    side file of 118 MiB took the gateway up 2.2 GB (ADR 0376). Its size is checked first."""
    parts = [(name, await _part(form, name)) for name in names]
    for name, part in parts:
        if part.file.seek(0, os.SEEK_END) > SIDE_FILE_LIMIT:
            raise ValidationFailed(
                f"Multipart field {name!r} is larger than {SIDE_FILE_LIMIT} bytes",
                [FieldError(name, f"at most {SIDE_FILE_LIMIT} bytes")],
            )
        part.file.seek(0)
    return [(name, _pieces(part)) for name, part in parts]


async def admits_import(state: State, token: str) -> None:
    """The quota's 429 for an organization whose day of calls is used up (ADR 0340)."""
    await state.genotyping.check_import(token)


@post(
    "/api/v1/genotypes/imports",
    opt={
        **WRITE_GENOTYPES,
        "returns": Envelope[ImportSummary],
        ADMITS: admits_import,
        QUERY: IMPORT_QUERY,
    },
    request_max_body_size=UPLOAD_LIMIT,
)
async def import_genotypes(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """``?name=&commonCropName=`` and a VCF body (``format=hapmap``: a HapMap body), or
    multipart ``bed``/``bim``/``fam`` (PLINK) or ``genotype``/``map`` (Flapjack)."""
    name, crop = _required(request, "name"), _required(request, "commonCropName")
    order = query_value(request, "vendorOrderId")  # the file is that order's results
    send = partial(
        state.genotyping.import_file, request.auth, name=name, crop=crop, vendor_order_id=order
    )
    if request.content_type[0] == "multipart/form-data":
        # The form is read whole before the import starts: a day of calls used up is refused
        # first (ADR 0340), unless the Idempotency-Key's middleware asked already (ADR 0347).
        # A raw body is refused by the import itself, before it is read.
        if not request.state.get(ADMITTED):
            await admits_import(state, request.auth)
        form = await request.form()
        if "genotype" in form:
            summary = await send(
                source_format="flapjack",
                data=_pieces(await _part(form, "genotype")),
                side_files=await _side_files(form, "map"),
            )
        else:
            summary = await send(
                source_format="plink",
                data=_pieces(await _part(form, "bed")),
                side_files=await _side_files(form, "bim", "fam"),
            )
    else:
        source_format = query_value(request, "format", "vcf")
        if source_format not in RAW_FORMATS:
            raise ValidationFailed(
                "A raw body is a VCF or HapMap file (PLINK and Flapjack are multipart)",
                [FieldError("format", f"one of {', '.join(RAW_FORMATS)}")],
            )
        summary = await send(source_format=source_format, data=request.stream())
    data = _decode(summary)
    links = {"variantSet": f"/api/v1/variantsets/{data['variantSetDbId']}"}
    return platform_response(request, data, status=201, links=links)


@get(
    "/api/v1/variantsets/{variant_set_db_id:str}",
    opt={**READ_GENOTYPES, "returns": Envelope[VariantSetDocument]},
)
async def get_variant_set(
    request: Request[Any, Any, Any], state: State, variant_set_db_id: str
) -> Response[bytes]:
    document = await state.genotyping.get_variant_set(request.auth, variant_set_db_id)
    return platform_response(
        request,
        _decode(document),
        links={"dosages": f"/api/v1/variantsets/{variant_set_db_id}/dosages.npy"},
    )


@delete(
    "/api/v1/variantsets/{variant_set_db_id:str}",
    opt={**DELETE_GENOTYPES, "returns": Envelope[DeletedVariantSet]},
    status_code=200,
)
async def delete_variant_set(
    request: Request[Any, Any, Any], state: State, variant_set_db_id: str
) -> Response[bytes]:
    """Remove the variant set with its call sets, variants and calls, in one transaction, and
    the room it held (ADR 0345). 409 naming the analyses computed from it while any remains
    (delete them first); 404 once deleted."""
    document = await state.genotyping.delete_variant_set(request.auth, variant_set_db_id)
    return platform_response(request, _decode(document))


async def _begun(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """``items`` with its first item already read: a download's refusal (an unknown set, call
    set or format) is raised here, while a clean 4xx can still be answered, not once the
    200 has been sent; the body is then streamed piece by piece."""
    first = await anext(items, None)

    async def whole() -> AsyncIterator[T]:
        if first is not None:
            yield first
        async for item in items:
            yield item

    return whole()


def npy_header(shape: tuple[int, int]) -> bytes:
    """NumPy format 1.0 header for a C-order int8 array (the body follows as raw bytes)."""
    text = f"{{'descr': '|i1', 'fortran_order': False, 'shape': ({shape[0]}, {shape[1]}), }}"
    padding = 64 - (10 + len(text) + 1) % 64
    text += " " * padding + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


@get(
    "/api/v1/variantsets/{variant_set_db_id:str}/dosages.npy",
    opt={
        **READ_GENOTYPES,
        QUERY: (Query("callSetDbId", repeatable=True, description="the columns, in order"),),
    },
)
async def download_dosages(
    request: Request[Any, Any, Any], state: State, variant_set_db_id: str
) -> Stream:
    """The dosage matrix (variants x call sets) as ``.npy``; ``callSetDbId`` picks columns."""
    call_sets = query_values(request, "callSetDbId")
    document = _decode(await state.genotyping.get_variant_set(request.auth, variant_set_db_id))
    width = len(call_sets) or document["callSetCount"]
    chunks = await _begun(
        state.genotyping.stream_genotypes(request.auth, variant_set_db_id, call_sets)
    )

    async def body() -> AsyncIterator[bytes]:
        """Streamed chunk by chunk: the matrix is never held whole (it can be GBs)."""
        yield npy_header((document["variantCount"], width))
        async for chunk in chunks:
            yield chunk.dosages  # raw int8: only analysis workers are sent packed chunks

    return Stream(
        body(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": content_disposition(f"{variant_set_db_id}.npy")},
    )


@get("/api/v1/variantsets/{variant_set_db_id:str}/files/{file_format:str}", opt=READ_GENOTYPES)
async def download_file(
    request: Request[Any, Any, Any], state: State, variant_set_db_id: str, file_format: str
) -> Stream:
    """The variant set as a genotype file (``vcf``, ``hapmap``): BrAPI ``availableFormats``
    point here. Streamed piece by piece from the chunks (ADR 0199)."""
    pieces = state.genotyping.export_genotypes(request.auth, variant_set_db_id, file_format)
    body = await _begun(pieces)
    chosen = EXPORT_FORMATS[file_format]
    name = f"{variant_set_db_id}.{chosen.extension}"
    return Stream(
        body,
        media_type=chosen.media_type,
        headers={"Content-Disposition": content_disposition(name)},
    )


def _links(document: dict[str, Any]) -> dict[str, str]:
    base = f"/api/v1/analyses/{document['analysisDbId']}"
    links = {"self": base}
    for table in document.get("results", {}).get("tables", []):
        links[f"table:{table['name']}"] = f"{base}/results/{table['name']}"
    for artifact in document.get("results", {}).get("artifacts", []):
        links[f"artifact:{artifact['name']}"] = f"{base}/artifacts/{artifact['name']}"
        if artifact["name"].endswith(".npy"):  # a matrix also pages as JSON rows
            links[f"table:{artifact['name'][:-4]}"] = f"{base}/results/{artifact['name'][:-4]}"
    return links


def _analysis_response(request: Request[Any, Any, Any], answer: bytes) -> Response[bytes]:
    """An analysis document as domain-api answered it, with the links to its results."""
    document = _decode(answer)
    return platform_response(request, document, links=_links(document))


@post(
    "/api/v1/analyses",
    opt={**WRITE_ANALYSES, "returns": Envelope[AnalysisDocument]},
    status_code=202,
)
async def request_analysis(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    document = _decode(await state.analyses.request(request.auth, await request.body()))
    response = platform_response(request, document, status=202, links=_links(document))
    response.headers["Location"] = _links(document)["self"]
    return response


def listing_query(request: Request[Any, Any, Any]) -> tuple[int, bool]:
    """``limit`` (1..100, default 20) and ``active`` (``true``: queued and running only)."""
    raw_limit = query_value(request, "limit", str(LISTED_BY_DEFAULT))
    raw_active = query_value(request, "active", "false").lower()
    problems = []
    whole = raw_limit.isascii() and raw_limit.isdecimal()  # ASCII digits only (ADR 0387)
    if not (whole and len(raw_limit) <= 3):  # the use case says 1..100
        problems.append(FieldError("limit", "must be a whole number"))
    if raw_active not in ("true", "false"):
        problems.append(FieldError("active", "must be true or false"))
    if problems:
        raise ValidationFailed("Bad query parameters", problems)
    return int(raw_limit), raw_active == "true"


@get(
    "/api/v1/analyses",
    opt={**READ_ANALYSES, "returns": ListEnvelope[AnalysisDocument], QUERY: LISTING_QUERY},
)
async def list_analyses(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """The organization's analyses, queued and running first, then newest first."""
    limit, active_only = listing_query(request)
    documents = _decode(
        await state.analyses.recent(request.auth, limit=limit, active_only=active_only)
    )
    return platform_response(request, documents)


@get(
    "/api/v1/variantsets/{variant_set_db_id:str}/analyses",
    opt={
        **READ_ANALYSES,
        "returns": PageEnvelope[AnalysisDocument],
        QUERY: SET_ANALYSES_PAGING,
    },
)
async def list_variant_set_analyses(
    request: Request[Any, Any, Any], state: State, variant_set_db_id: str
) -> Response[bytes]:
    """Every analysis computed from the set, newest first, a page at a time (ADR 0374); a set
    the organization does not hold has none."""
    page = PageRequest(
        query_int(request, "page", 0), query_int(request, "page_size", LISTED_BY_DEFAULT)
    )
    return page_body(
        request, await state.analyses.of_variant_set(request.auth, variant_set_db_id, page)
    )


@get(
    "/api/v1/analyses/{analysis_db_id:str}",
    opt={**READ_ANALYSES, "returns": Envelope[AnalysisDocument]},
)
async def get_analysis(
    request: Request[Any, Any, Any], state: State, analysis_db_id: str
) -> Response[bytes]:
    return _analysis_response(request, await state.analyses.get(request.auth, analysis_db_id))


@delete(
    "/api/v1/analyses/{analysis_db_id:str}",
    opt={**WRITE_ANALYSES, "returns": Envelope[AnalysisDocument]},
    status_code=200,
)
async def cancel_analysis(
    request: Request[Any, Any, Any], state: State, analysis_db_id: str
) -> Response[bytes]:
    return _analysis_response(request, await state.analyses.cancel(request.auth, analysis_db_id))


@post(
    "/api/v1/analyses/{analysis_db_id:str}/delete",
    opt={**WRITE_ANALYSES, "returns": Envelope[DeletedAnalysis], BODYLESS: True},
    status_code=200,
    request_max_body_size=NO_BODY,
)
async def delete_analysis(
    request: Request[Any, Any, Any], state: State, analysis_db_id: str
) -> Response[bytes]:
    """Remove a finished analysis with its results and artifacts, and the room they held
    (ADR 0345); a queued or running one is a 409: cancel it first (``DELETE``, which only
    cancels). 404 once deleted."""
    document = await state.analyses.delete(request.auth, analysis_db_id)
    return platform_response(request, _decode(document))


def _result_page(request: Request[Any, Any, Any]) -> PageRequest:
    """``page`` (or ``pageToken``) and ``pageSize``, as BrAPI's lists read them."""
    token = query_int(request, "pageToken", 0) if query_given(request, "page") is None else 0
    return PageRequest(query_int(request, "page", token), query_int(request, "pageSize", 1000))


@get(
    "/api/v1/analyses/{analysis_db_id:str}/results/{table:str}",
    opt={**READ_ANALYSES, "returns": ResultPageEnvelope, QUERY: RESULT_PAGING},
)
async def analysis_results(
    request: Request[Any, Any, Any], state: State, analysis_db_id: str, table: str
) -> Response[bytes]:
    page = _result_page(request)
    found = await state.analyses.result_page(request.auth, analysis_db_id, table, page)
    pagination = Pagination(page.page, page.page_size, found.total_count, found.total_pages)
    body = ResultPageEnvelope(
        _decode(found.items[0]), ResultPageMeta(request_id(request), pagination), {}
    )
    return Response(_encode(body), media_type=JSON)


@get("/api/v1/analyses/{analysis_db_id:str}/artifacts/{name:str}", opt=READ_ANALYSES)
async def analysis_artifact(
    request: Request[Any, Any, Any], state: State, analysis_db_id: str, name: str
) -> Response[bytes]:
    media_type, data = await state.analyses.artifact(request.auth, analysis_db_id, name)
    # Downloaded, never rendered as a page of ours: an SVG is a document that can carry
    # script. (An <img> still shows it; browsers run no script in images.)
    headers = {
        "Content-Disposition": content_disposition(name),
        "Content-Security-Policy": ARTIFACT_CSP,
    }
    return Response(data, media_type=media_type, headers=headers)


HANDLERS = [
    import_genotypes,
    get_variant_set,
    delete_variant_set,
    download_dosages,
    download_file,
    request_analysis,
    list_analyses,
    list_variant_set_analyses,
    get_analysis,
    cancel_analysis,
    delete_analysis,
    analysis_results,
    analysis_artifact,
]
