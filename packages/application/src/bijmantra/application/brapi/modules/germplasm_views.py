"""BrAPI-Germplasm's derived reads: MCPD passport data and the v2.0-style pedigree and progeny."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bijmantra.application.brapi.entity import DocumentReader, ViewQuery
from bijmantra.application.brapi.queries import containment
from bijmantra.application.brapi.schema import SchemaSet, empty, stored_objects

SCHEMAS = SchemaSet("BrAPI-Germplasm")


async def mcpd_view(
    reader: DocumentReader, germplasm: dict[str, Any], _params: ViewQuery
) -> dict[str, Any]:
    """The germplasm in FAO/Bioversity Multi-Crop Passport Descriptors form."""
    document = empty(SCHEMAS.named("GermplasmMCPD"))
    for key in (
        "accessionNumber",
        "acquisitionDate",
        "biologicalStatusOfAccessionCode",
        "commonCropName",
        "genus",
        "germplasmDbId",
        "germplasmPUI",
        "instituteCode",
        "species",
        "speciesAuthority",
    ):
        document[key] = germplasm.get(key)
    document.update(
        accessionNames=[
            s["synonym"] for s in stored_objects(germplasm.get("synonyms")) if s.get("synonym")
        ],
        alternateIDs=[
            r["referenceId"]
            for r in stored_objects(germplasm.get("externalReferences"))
            if r.get("referenceId")
        ],
        ancestralData=germplasm.get("pedigree"),
        countryOfOrigin=germplasm.get("countryOfOriginCode"),
        subtaxon=germplasm.get("subtaxa"),
        subtaxonAuthority=germplasm.get("subtaxaAuthority"),
        storageTypeCodes=[
            s["code"] for s in stored_objects(germplasm.get("storageTypes")) if s.get("code")
        ],
        breedingInstitutes=[],
        safetyDuplicateInstitutes=[],
    )
    donors = stored_objects(germplasm.get("donors"))
    if donors:
        donor = donors[0]
        document["donorInfo"] = {
            "donorAccessionNumber": donor.get("donorAccessionNumber"),
            "donorAccessionPui": None,
            "donorInstitute": {
                "instituteCode": donor.get("donorInstituteCode"),
                "instituteName": None,
            },
        }
    return document


async def pedigree_view(
    reader: DocumentReader, germplasm: dict[str, Any], _params: ViewQuery
) -> dict[str, Any]:
    """The deprecated v2.0-style pedigree of one germplasm, from its pedigree node."""
    node = (await reader.documents("pedigree", [germplasm["germplasmDbId"]])).get(
        germplasm["germplasmDbId"]
    ) or {}
    return {
        "germplasmDbId": germplasm["germplasmDbId"],
        "germplasmName": germplasm["germplasmName"],
        "pedigree": node.get("pedigreeString") or germplasm.get("pedigree"),
        "crossingProjectDbId": node.get("crossingProjectDbId"),
        "crossingYear": node.get("crossingYear"),
        "familyCode": node.get("familyCode"),
        "parents": [
            {
                "germplasmDbId": p.get("germplasmDbId"),
                "germplasmName": p.get("germplasmName"),
                "parentType": p.get("parentType"),
            }
            for p in stored_objects(node.get("parents"))
        ],
        "siblings": [
            {"germplasmDbId": s.get("germplasmDbId"), "germplasmName": s.get("germplasmName")}
            for s in stored_objects(node.get("siblings"))
        ],
    }


async def progeny_view(
    reader: DocumentReader, germplasm: dict[str, Any], _params: ViewQuery
) -> dict[str, Any]:
    db_id = germplasm["germplasmDbId"]
    progeny: dict[str, dict[str, Any]] = defaultdict(dict)
    for child in await reader.matching("pedigree", containment("parents.*.germplasmDbId", db_id)):
        for parent in stored_objects(child.get("parents")):
            if parent.get("germplasmDbId") == db_id:
                progeny[child["germplasmDbId"]] = {
                    "germplasmDbId": child["germplasmDbId"],
                    "germplasmName": child.get("germplasmName"),
                    "parentType": parent.get("parentType") or "POPULATION",
                }
    return {
        "germplasmDbId": db_id,
        "germplasmName": germplasm["germplasmName"],
        "progeny": list(progeny.values()),
    }
