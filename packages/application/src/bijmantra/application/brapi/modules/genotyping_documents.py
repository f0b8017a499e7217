"""BrAPI-Genotyping entities kept as documents: samples, plates, genome maps, marker positions.

Unlike the genotype views (``genotyping.py``) these are ordinary engine documents. Their
rules: the germplasm, observation unit and plate a sample names are the organization's; it
sits in a well its plate's format has and no other sample of the plate holds; a sample on
a plate or of a unit belongs to that plate's / unit's study, trial and program (and takes
the unit's germplasm). Maps and marker
positions are read-only through BrAPI (the spec has no writes); their linkage groups are
derived from the marker positions, never stored (``linkagegroup`` is a view).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from bijmantra.application.brapi.entity import (
    CRUD,
    READ_ONLY,
    Bound,
    Entity,
    NoRules,
    Op,
    Ref,
    Through,
    WriteContext,
    external_reference_filters,
    fields,
)
from bijmantra.application.brapi.schema import SchemaSet
from bijmantra.domain.genotyping.plates import (
    Well,
    placement_problems,
    repeated_wells,
    sample_well,
)
from bijmantra.kernel import FieldError, Unprocessable, ValidationFailed

entity = partial(Entity, context="genotyping", schemas=SchemaSet("BrAPI-Genotyping"))
MAX_PLATE_SAMPLES = 100_000  # samples read back to check a plate's wells (a plate holds 96)
# What a sample or plate inherits from what it belongs to: (its field, the source's field).
STUDY_KEYS = (("studyDbId", "studyDbId"), ("trialDbId", "trialDbId"))
TRIAL_KEYS = (("programDbId", "programDbId"),)


def _inherit(
    where: str,
    document: dict[str, Any],
    source: dict[str, Any] | None,
    keys: Iterable[tuple[str, str]],
    problems: list[FieldError],
) -> None:
    """Take ``source``'s values; a different value the client stated is a problem."""
    for local, remote in keys:
        actual = (source or {}).get(remote)
        given = document.get(local)
        if actual is None:
            continue
        if given is not None and given != actual:
            problems.append(FieldError(f"{where}.{local}", f"must be {actual!r}"))
        else:
            document[local] = actual


async def _complete_study_line(
    context: WriteContext, documents: list[dict[str, Any]], problems: list[FieldError]
) -> None:
    """A study names its trial and a trial its program: keep documents consistent with them."""
    studies = await context.store.documents(
        "study", sorted({d["studyDbId"] for d in documents if d.get("studyDbId")})
    )
    for document in documents:
        study = studies.get(document.get("studyDbId") or "")
        _inherit(context.location(document), document, study, [STUDY_KEYS[1]], problems)
    trials = await context.store.documents(
        "trial", sorted({d["trialDbId"] for d in documents if d.get("trialDbId")})
    )
    for document in documents:
        trial = trials.get(document.get("trialDbId") or "")
        _inherit(context.location(document), document, trial, TRIAL_KEYS, problems)


class SampleRules(NoRules):
    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        wells = self._wells(context, documents)
        problems: list[FieldError] = []
        units = await context.store.documents(
            "observationunit",
            sorted({d["observationUnitDbId"] for d in documents if d.get("observationUnitDbId")}),
        )
        # Locked: every sample write on a plate waits for the others, so two writers can
        # never both take the same free well.
        plates = await context.store.documents(
            "plate",
            sorted({d["plateDbId"] for d in documents if d.get("plateDbId")}),
            for_update=True,
        )
        for document in documents:
            where = context.location(document)
            unit = units.get(document.get("observationUnitDbId") or "")
            _inherit(where, document, unit, [("germplasmDbId", "germplasmDbId")], problems)
            _inherit(where, document, unit, [("studyDbId", "studyDbId")], problems)
            plate = plates.get(document.get("plateDbId") or "")
            _inherit(where, document, plate, [("studyDbId", "studyDbId")], problems)
            _inherit(where, document, plate, [*STUDY_KEYS[1:], *TRIAL_KEYS], problems)
            well = wells[id(document)]
            if plate is None and well is not None:
                problems.append(FieldError(f"{where}.well", "a well needs a plateDbId"))
            elif plate is not None:
                problems += [
                    FieldError(f"{where}.{p.field}", p.message)
                    for p in placement_problems(plate.get("plateFormat"), well)
                ]
        await _complete_study_line(context, documents, problems)
        if problems:
            raise Unprocessable("Sample does not fit its plate, unit or study", problems)
        await self._check_free(context, documents, wells, sorted(plates))

    @staticmethod
    def _wells(context: WriteContext, documents: list[dict[str, Any]]) -> dict[int, Well | None]:
        """Each document's well, spelled canonically in all three fields."""
        problems: list[FieldError] = []
        wells: dict[int, Well | None] = {}
        for document in documents:
            where = context.location(document)
            well, found = sample_well(
                document.get("row"), document.get("column"), document.get("well")
            )
            problems += [FieldError(f"{where}.{p.field}", p.message) for p in found]
            wells[id(document)] = well
            if well is not None:
                document.update(row=well.row, column=well.column, well=well.name)
        if problems:
            raise ValidationFailed("Invalid Sample", problems)
        return wells

    @staticmethod
    async def _check_free(
        context: WriteContext,
        documents: list[dict[str, Any]],
        wells: dict[int, Well | None],
        plate_ids: list[str],
    ) -> None:
        if not plate_ids:
            return
        writing = {d.get("sampleDbId") for d in documents}
        stored = await context.store.matching(
            "sample", (tuple({"plateDbId": p} for p in plate_ids),), MAX_PLATE_SAMPLES
        )
        placed = [
            (s["sampleDbId"], s["plateDbId"], well)
            for s in stored
            if s["sampleDbId"] not in writing
            for well in [sample_well(s.get("row"), s.get("column"), s.get("well"))[0]]
            if well is not None
        ]
        label = {}
        for document in documents:
            well = wells[id(document)]
            if well is not None and document.get("plateDbId"):
                key = document.get("sampleDbId") or context.location(document)
                label[key] = context.location(document)
                placed.append((key, document["plateDbId"], well))
        clashes = repeated_wells(placed)
        if clashes:
            raise Unprocessable(
                "A plate's well holds one sample",
                [
                    FieldError(f"{label[key]}.well", f"{w.name} of plate {p!r} holds {first!r}")
                    for key, (first, p, w) in clashes.items()
                ],
            )


class PlateRules(NoRules):
    """A plate's study line is consistent; a new format must still hold its samples."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems: list[FieldError] = []
        await _complete_study_line(context, documents, problems)
        if not context.creating:
            for document in documents:
                samples = await context.store.matching(
                    "sample", (({"plateDbId": document["plateDbId"]},),), MAX_PLATE_SAMPLES
                )
                for sample in samples:
                    well = sample_well(sample.get("row"), sample.get("column"), sample.get("well"))
                    problems += [
                        FieldError(
                            f"{context.location(document)}.plateFormat",
                            f"sample {sample['sampleDbId']!r}: {p.message}",
                        )
                        for p in placement_problems(document.get("plateFormat"), well[0])
                    ]
        if problems:
            raise Unprocessable("Plate does not fit its study or its samples", problems)


SAMPLE_SEARCH_ALIASES = {
    "sampleGroupDbIds": "sampleGroupDbId",
    "plateBarcodes": "plateBarcode",
}

# Where a sample or a plate belongs; checked on every write of either.
_STUDY_TRIAL_PROGRAM = (
    Ref("studyDbId", "study"),
    Ref("trialDbId", "trial"),
    Ref("programDbId", "program"),
)

SAMPLES = entity(
    name="sample",
    schema="Sample",
    operations=CRUD | {Op.UPDATE_MANY, Op.SEARCH},
    filters={
        **fields(
            "sampleDbId",
            "sampleName",
            "sampleGroupDbId",
            "observationUnitDbId",
            "plateDbId",
            "plateName",
            "programDbId",
            "trialDbId",
            "studyDbId",
            "germplasmDbId",
        ),
        **external_reference_filters(),
    },
    unsupported_filters=("commonCropName", "germplasmName", "germplasmPUI"),
    search_aliases=SAMPLE_SEARCH_ALIASES,
    references=(
        Ref("germplasmDbId", "germplasm"),
        Ref("observationUnitDbId", "observationunit"),
        Ref("plateDbId", "plate", {"plateName": "plateName"}),
        *_STUDY_TRIAL_PROGRAM,
    ),
    rules=SampleRules(),
)

PLATES = entity(
    name="plate",
    schema="Plate",
    operations=frozenset({Op.LIST, Op.GET, Op.CREATE, Op.UPDATE_MANY, Op.SEARCH}),
    filters={
        **fields("plateDbId", "plateName", "plateBarcode", "programDbId", "trialDbId", "studyDbId"),
        **external_reference_filters(),
    },
    # Germplasm names, PUIs and crops are not kept on samples either.
    unsupported_filters=("germplasmName", "germplasmPUI", "commonCropName"),
    # Filters by the plate's samples: the plate documents do not list them (ADR 0272).
    through=Through(
        "sample",
        "plateDbId",
        frozenset(
            {"sampleDbId", "sampleName", "sampleGroupDbId", "observationUnitDbId", "germplasmDbId"}
        ),
        frozenset(
            {
                "sampleDbIds",
                "sampleNames",
                "sampleGroupDbIds",
                "observationUnitDbIds",
                "germplasmDbIds",
            }
        ),
    ),
    search_aliases=SAMPLE_SEARCH_ALIASES,
    references=_STUDY_TRIAL_PROGRAM,
    rules=PlateRules(),
)

MAPS = entity(
    name="map",
    schema="GenomeMap",
    db_id="mapDbId",
    operations=READ_ONLY,
    filters=fields("mapDbId", "mapPUI", "scientificName", "type", "commonCropName"),
    unsupported_filters=("programDbId", "trialDbId", "studyDbId"),
    children={"linkagegroups": ("linkagegroup", "mapDbId")},
)

LINKAGE_GROUPS = entity(
    name="linkagegroup",
    schema="LinkageGroup",
    db_id="linkageGroupName",
    operations=frozenset(),  # served only as a map's children, derived from marker positions
    view=True,
)

MARKER_POSITIONS = entity(
    name="markerposition",
    schema="MarkerPosition",
    operations=frozenset({Op.LIST, Op.SEARCH}),
    filters={**fields("mapDbId", "linkageGroupName", "variantDbId")},
    bounds={"minPosition": Bound("position", "low"), "maxPosition": Bound("position", "high")},
    references=(Ref("mapDbId", "map", {"mapName": "mapName"}),),
)

DOCUMENT_ENTITIES = (SAMPLES, PLATES, MAPS, LINKAGE_GROUPS, MARKER_POSITIONS)
