"""BrAPI-Phenotyping's rules as the write engine runs them: each reads the documents into the
domain's typed values (``bijmantra.domain.phenotyping``), asks the domain, and writes back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bijmantra.application.brapi.entity import NoRules, WriteContext
from bijmantra.domain.phenotyping import (
    Scale,
    UnitPosition,
    hierarchy_problems,
    image_problem,
    level_order,
    scale_of,
    scale_rule,
)
from bijmantra.kernel import FieldError, Unprocessable, ValidationFailed

MAX_IMAGE_FILE_SIZE = 8 * 1024 * 1024  # bytes; one gRPC message carries the content


def _fail(
    error: type[ValidationFailed | Unprocessable], message: str, problems: list[FieldError]
) -> None:
    if problems:
        raise error(message, problems)


def _adopt(
    context: WriteContext,
    document: dict[str, Any],
    source: dict[str, Any],
    keys: Iterable[tuple[str, str]],
    problems: list[FieldError],
) -> None:
    """Take ``source``'s values for ``keys`` (local, remote); a differing client DbId is wrong."""
    for local, remote in keys:
        given, actual = document.get(local), source.get(remote)
        if given is not None and actual is not None and given != actual and local.endswith("DbId"):
            problems.append(
                FieldError(f"{context.location(document)}.{local}", f"must be {actual!r}")
            )
        elif actual is not None:
            document[local] = actual


class ObservationUnitRules(NoRules):
    """A unit belongs to a study of the organization; its trial and program are the study's;
    its observation levels form a consistent hierarchy whose named ancestors are units of
    the same study at those levels."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems: list[FieldError] = []
        for document in documents:
            if document.get("studyDbId") is None:
                problems.append(
                    FieldError(f"{context.location(document)}.studyDbId", "is required")
                )
            position = document.get("observationUnitPosition") or {}
            problems += [
                FieldError(
                    f"{context.location(document)}.observationUnitPosition.{p.path}", p.message
                )
                for p in hierarchy_problems(UnitPosition.from_brapi(position))
            ]
        _fail(ValidationFailed, "Invalid ObservationUnit", problems)
        for document in documents:
            _complete_level_orders(document.get("observationUnitPosition") or {})
        studies = await context.store.documents(
            "study", sorted({d["studyDbId"] for d in documents})
        )
        trials = await context.store.documents(
            "trial", sorted({s["trialDbId"] for s in studies.values() if s.get("trialDbId")})
        )
        for document in documents:
            study = studies.get(document["studyDbId"], {})
            _adopt(
                context,
                document,
                study,
                [("trialDbId", "trialDbId"), ("trialName", "trialName")],
                problems,
            )
            trial = trials.get(document.get("trialDbId") or "", {})
            _adopt(
                context,
                document,
                trial,
                [("programDbId", "programDbId"), ("programName", "programName")],
                problems,
            )
        await self._check_ancestors(context, documents, problems)
        _fail(Unprocessable, "ObservationUnit does not fit its study", problems)

    async def _check_ancestors(
        self, context: WriteContext, documents: list[dict[str, Any]], problems: list[FieldError]
    ) -> None:
        sites = [
            (document, index, relation)
            for document in documents
            for index, relation in enumerate(
                (document.get("observationUnitPosition") or {}).get("observationLevelRelationships")
                or []
            )
            if relation and relation.get("observationUnitDbId")
        ]
        ancestors = await context.store.documents(
            "observationunit", sorted({r["observationUnitDbId"] for _, _, r in sites})
        )
        for document, index, relation in sites:
            where = (
                f"{context.location(document)}.observationUnitPosition"
                f".observationLevelRelationships[{index}]"
            )
            ancestor = ancestors.get(relation["observationUnitDbId"])
            if ancestor is None:
                problems.append(
                    FieldError(f"{where}.observationUnitDbId", "unknown observation unit")
                )
                continue
            level = (ancestor.get("observationUnitPosition") or {}).get("observationLevel") or {}
            if ancestor.get("studyDbId") != document.get("studyDbId"):
                problems.append(
                    FieldError(f"{where}.observationUnitDbId", "is a unit of another study")
                )
            elif level.get("levelName") != relation.get("levelName"):
                problems.append(
                    FieldError(
                        f"{where}.levelName", f"the unit is at level {level.get('levelName')!r}"
                    )
                )
            elif relation.get("levelCode") is None:
                relation["levelCode"] = level.get("levelCode")


def _complete_level_orders(position: dict[str, Any]) -> None:
    """Every level of a consistent position carries its hierarchy order."""
    own = position.get("observationLevel")
    for level in [own, *(position.get("observationLevelRelationships") or [])]:
        if level is not None:
            level["levelOrder"] = level_order(level.get("levelName"))


UNIT_KEYS = (
    ("observationUnitName", "observationUnitName"),
    ("studyDbId", "studyDbId"),
    ("germplasmDbId", "germplasmDbId"),
    ("germplasmName", "germplasmName"),
)


class ObservationRules(NoRules):
    """An observation is of a unit and a variable of the organization; its study and germplasm
    are the unit's; its value is a value of the variable's scale. Every item is checked
    before any is stored, and every problem is reported with the item's index."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = [
            FieldError(f"{context.location(d)}.{key}", "is required")
            for d in documents
            for key in ("observationUnitDbId", "observationVariableDbId")
            if d.get(key) is None
        ]
        _fail(ValidationFailed, "Invalid Observation", problems)
        units = await context.store.documents(
            "observationunit", sorted({d["observationUnitDbId"] for d in documents})
        )
        variables = await context.store.documents(
            "variable", sorted({d["observationVariableDbId"] for d in documents})
        )
        rules = {db_id: scale_rule(scale_of(v.get("scale"))) for db_id, v in variables.items()}
        values: list[FieldError] = []
        for document in documents:
            where = context.location(document)
            unit = units.get(document["observationUnitDbId"])
            variable = variables.get(document["observationVariableDbId"])
            if unit is None:
                problems.append(
                    FieldError(f"{where}.observationUnitDbId", "unknown observation unit")
                )
            else:
                _adopt(context, document, unit, UNIT_KEYS, problems)
            if variable is None:
                problems.append(
                    FieldError(f"{where}.observationVariableDbId", "unknown observation variable")
                )
                continue
            document["observationVariableName"] = variable.get("observationVariableName")
            if problem := rules[document["observationVariableDbId"]](document.get("value")):
                values.append(FieldError(f"{where}.value", problem))
        _fail(Unprocessable, "Observations refer to unknown or mismatched entities", problems)
        _fail(ValidationFailed, f"{len(values)} observation value(s) outside their scale", values)


class ScaleRules(NoRules):
    """A scale's bounds are ordered and its category values distinct."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = [
            FieldError(f"{context.location(document)}.validValues{path}", message)
            for document in documents
            for path, message in Scale.from_brapi(document).definition_problems()
        ]
        _fail(ValidationFailed, "Invalid Scale", problems)


class ImageRules(NoRules):
    """An image is ``image/*``, within the size limit, of known units and observations."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = []
        for document in documents:
            where = context.location(document)
            mime = document.get("mimeType")
            if mime is not None and not mime.startswith("image/"):
                problems.append(FieldError(f"{where}.mimeType", "must be an image/* media type"))
            size = document.get("imageFileSize")
            if size is not None and not 0 <= size <= MAX_IMAGE_FILE_SIZE:
                problems.append(
                    FieldError(
                        f"{where}.imageFileSize", f"must be between 0 and {MAX_IMAGE_FILE_SIZE}"
                    )
                )
        _fail(ValidationFailed, "Invalid Image", problems)
        wanted = sorted({o for d in documents for o in d.get("observationDbIds") or [] if o})
        found = await context.store.documents("observation", wanted)
        problems = [
            FieldError(f"{context.location(d)}.observationDbIds", f"unknown observation {o!r}")
            for d in documents
            for o in d.get("observationDbIds") or []
            if o and o not in found
        ]
        _fail(Unprocessable, "Images refer to unknown observations", problems)


@dataclass(frozen=True)
class ImageFiles:
    """``PUT /images/{id}/imagecontent``: raster images up to a size; the document follows."""

    max_bytes: int = MAX_IMAGE_FILE_SIZE

    def check(self, media_type: str, content: bytes) -> None:
        if problem := image_problem(media_type, content, self.max_bytes):
            raise ValidationFailed("Invalid image file", [FieldError("body", problem)])

    def describe(self, document: dict[str, Any], media_type: str, content: bytes) -> None:
        document["mimeType"] = media_type.split(";", 1)[0].strip().lower()
        document["imageFileSize"] = len(content)
        document["imageURL"] = f"/brapi/v2/images/{document['imageDbId']}/imagecontent"
