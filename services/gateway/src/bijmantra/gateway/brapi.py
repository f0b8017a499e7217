"""BrAPI v2.1 routes. Documents from domain-api are spliced into the envelope as bytes."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State

from bijmantra.application.envelopes import brapi_metadata
from bijmantra.application.security import Action, Permission
from bijmantra.kernel import FieldError, Page, PageRequest, ValidationFailed

JSON = "application/json"
BRAPI_CONTEXT = b'["https://brapi.org/jsonld/context/metadata.jsonld"]'
_encode = msgspec.json.encode

# BrAPI query parameter -> GermplasmFilter field
GERMPLASM_FILTERS = {
    "germplasmDbId": "germplasm_db_ids",
    "germplasmName": "germplasm_names",
    "germplasmPUI": "germplasm_puis",
    "commonCropName": "common_crop_names",
    "accessionNumber": "accession_numbers",
    "collection": "collections",
    "genus": "genus",
    "species": "species",
    "synonym": "synonyms",
    "externalReferenceId": "external_reference_ids",
    "externalReferenceID": "external_reference_ids",
    "externalReferenceSource": "external_reference_sources",
}
# Spec filters that need entities this server does not hold yet: refuse rather than ignore.
GERMPLASM_UNSUPPORTED = ("binomialName", "parentDbId", "progenyDbId", "programDbId", "trialDbId", "studyDbId")


def _int_param(request: Request[Any, Any, Any], name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(f"Query parameter {name} must be an integer", [FieldError(name, raw)]) from None


def page_request(request: Request[Any, Any, Any]) -> PageRequest:
    return PageRequest(_int_param(request, "page", 0), _int_param(request, "pageSize", 1000))


def list_response(page: Page[bytes]) -> Response[bytes]:
    body = b"".join(
        (
            b'{"@context":', BRAPI_CONTEXT, b',"metadata":', _encode(brapi_metadata(page)),
            b',"result":{"data":[', b",".join(page.items), b"]}}",
        )
    )  # fmt: skip
    return Response(body, media_type=JSON)


def single_response(document: bytes) -> Response[bytes]:
    body = b"".join(
        (b'{"@context":', BRAPI_CONTEXT, b',"metadata":', _encode(brapi_metadata()), b',"result":', document, b"}")
    )
    return Response(body, media_type=JSON)


def germplasm_filters(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    unsupported = [p for p in GERMPLASM_UNSUPPORTED if p in request.query_params]
    if unsupported:
        raise ValidationFailed(
            "Filters not supported by this server yet",
            [FieldError(p, "not supported") for p in unsupported],
        )
    filters: dict[str, list[str]] = {}
    for parameter, field in GERMPLASM_FILTERS.items():
        values = request.query_params.getall(parameter, [])
        if values:
            filters.setdefault(field, []).extend(values)
    return filters


READ_GERMPLASM = {"permission": Permission("germplasm", Action.READ)}
WRITE_GERMPLASM = {"permission": Permission("germplasm", Action.WRITE)}


@get("/brapi/v2/germplasm", opt=READ_GERMPLASM)
async def list_germplasm(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    page = await state.germplasm.list(request.auth, germplasm_filters(request), page_request(request))
    return list_response(page)


@get("/brapi/v2/germplasm/{germplasm_db_id:str}", opt=READ_GERMPLASM)
async def get_germplasm(request: Request[Any, Any, Any], state: State, germplasm_db_id: str) -> Response[bytes]:
    return single_response(await state.germplasm.get(request.auth, germplasm_db_id))


@post("/brapi/v2/germplasm", opt=WRITE_GERMPLASM, status_code=200)
async def create_germplasm(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    documents = await state.germplasm.create(request.auth, await request.body())
    page = Page(documents, PageRequest(0, max(len(documents), 1)), len(documents))
    return list_response(page)


def serverinfo_handler(calls: list[dict[str, Any]]) -> Any:
    """``/serverinfo`` lists exactly the BrAPI routes this app mounted."""
    body = _encode(
        {
            "@context": msgspec.json.decode(BRAPI_CONTEXT),
            "metadata": brapi_metadata(),
            "result": {
                "calls": calls,
                "contactEmail": "support@bijmantra.org",
                "documentationURL": "https://brapi.org/specification",
                "location": None,
                "organizationName": "Bijmantra",
                "organizationURL": "https://bijmantra.org",
                "serverDescription": "Bijmantra plant-breeding data platform",
                "serverName": "Bijmantra",
            },
        }
    )

    @get("/brapi/v2/serverinfo", opt={"public": True})
    async def serverinfo() -> Response[bytes]:
        return Response(body, media_type=JSON)

    return serverinfo
