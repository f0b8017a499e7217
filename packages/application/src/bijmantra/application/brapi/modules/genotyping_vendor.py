"""BrAPI-Genotyping's ``/vendor`` surface: the organization as a genotyping lab's front desk.

An organization publishes one vendor specification (its services). Clients submit plates
(``POST /vendor/plates``) or order services for them (``POST /vendor/orders``); an order
keeps its plate submission, its plates and a status history. The lab moves the status
with ``POST /vendor/orders/{orderId}/status`` (a Bijmantra extension: BrAPI only reads
it), under the state machine in ``bijmantra.domain.genotyping.vendor``; time is the
engine's clock.
"""

from __future__ import annotations

from typing import Any

from bijmantra.application.brapi.entity import (
    DocumentReader,
    Match,
    NoRules,
    Op,
    View,
    ViewQuery,
    WriteContext,
)
from bijmantra.application.brapi.modules.genotyping_documents import entity
from bijmantra.application.brapi.schema import stored_objects
from bijmantra.domain.genotyping.plates import Problem
from bijmantra.domain.genotyping.vendor import (
    OrderStatus,
    StatusChange,
    SubmittedPlate,
    SubmittedSample,
    advance,
    submission_problems,
)
from bijmantra.kernel import FieldError, Unprocessable, new_ids

MAX_SPECIFICATIONS = 10  # an organization publishes one; a few are read to be safe
PLATE_KEYS = ("clientPlateBarcode", "clientPlateId", "sampleSubmissionFormat", "samples")


def _fail(context: WriteContext, document: dict[str, Any], problems: list[Problem]) -> None:
    if problems:
        where = context.location(document)
        raise Unprocessable(
            "The submission breaks the vendor's rules",
            [FieldError(f"{where}.{p.field}", p.message) for p in problems],
        )


def _check_plates(context: WriteContext, document: dict[str, Any]) -> None:
    """Count, names and wells of a submission; wells are then spelled canonically."""
    plates = [p for p in document.get("plates") or [] if isinstance(p, dict)]
    submitted = [
        SubmittedPlate(
            plate.get("sampleSubmissionFormat"),
            [
                SubmittedSample(
                    s.get("clientSampleId"), s.get("row"), s.get("column"), s.get("well")
                )
                for s in plate.get("samples") or []
            ],
        )
        for plate in plates
    ]
    problems, wells = submission_problems(document.get("numberOfSamples"), submitted)
    _fail(context, document, problems)
    for plate, plate_wells in zip(plates, wells, strict=True):
        for sample, well in zip(plate.get("samples") or [], plate_wells, strict=True):
            if well is not None:
                sample.update(row=well.row, column=well.column, well=well.name)


class SubmissionRules(NoRules):
    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        for document in documents:
            _check_plates(context, document)


def _stamp(change: StatusChange) -> dict[str, str]:
    return {"status": change.status.value, "timestamp": change.at.isoformat()}


class OrderRules(NoRules):
    """A new order names offered services and valid plates and starts ``registered``; a
    status appended later must be a step the state machine allows."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        if context.creating:
            await self._check_new(context, documents)
            return
        for document in documents:
            history = document.get("statusHistory") or []
            current = OrderStatus(document["status"])
            for index, entry in enumerate(history):
                if not isinstance(entry, str):  # recorded before: a {status, timestamp}
                    continue
                change = advance(current, entry, context.clock.now())
                if isinstance(change, Problem):
                    _fail(context, document, [change])
                    return
                history[index] = _stamp(change)
                current = change.status
            document["status"] = current.value

    async def _check_new(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        specifications = await context.store.matching("vendorspecification", (), MAX_SPECIFICATIONS)
        offered = {
            service.get("serviceId")
            for specification in specifications
            for service in stored_objects(specification.get("services"))
        }
        for document in documents:
            _check_plates(context, document)
            unknown = [s for s in document.get("serviceIds") or [] if s not in offered]
            if not document.get("serviceIds") or unknown:
                _fail(
                    context,
                    document,
                    [Problem("serviceIds", f"name services this vendor offers, not {unknown}")],
                )
            registered = StatusChange(OrderStatus.REGISTERED, context.clock.now())
            document["status"] = registered.status.value
            document["statusHistory"] = [_stamp(registered)]

    async def after(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        """The order's plates become its plate submission and its plate list."""
        if not context.creating:
            return
        submissions, plates = [], []
        for document, submission_id in zip(documents, new_ids(len(documents)), strict=True):
            order_plates = document.pop("plates", None) or []
            submission = {
                key: document.get(key) for key in ("clientId", "numberOfSamples", "sampleType")
            }
            submission |= {"plates": order_plates, "orderId": document["orderId"]}
            submissions.append((submission_id, {**submission, "submissionId": submission_id}))
            document["submissionId"] = submission_id
            for plate, plate_id in zip(order_plates, new_ids(len(order_plates)), strict=True):
                kept = {key: plate.get(key) for key in PLATE_KEYS}
                plates.append((plate_id, {**kept, "orderId": document["orderId"]}))
        await context.save("vendorplatesubmission", submissions, new=True)
        await context.save("vendorplate", plates, new=True)
        await context.save("vendororder", [(d["orderId"], d) for d in documents], new=False)


async def _order_status(
    reader: DocumentReader, document: dict[str, Any], _params: ViewQuery
) -> dict[str, Any]:
    return {"status": document.get("status")}


VENDOR_SPECIFICATIONS = entity(
    name="vendorspecification",
    path="vendor/specifications",
    schema="VendorSpecification",
    operations=frozenset({Op.LIST}),
    single=True,
)
VENDOR_SUBMISSIONS = entity(
    name="vendorplatesubmission",
    path="vendor/plates",
    schema="VendorPlateSubmission",
    db_id="submissionId",
    request_schema="VendorPlateSubmissionRequest",
    operations=frozenset({Op.GET, Op.SUBMIT}),
    keeps_request=True,
    rules=SubmissionRules(),
)
ORDER_ID = {"orderId": Match.on("orderId")}
VENDOR_ORDERS = entity(
    name="vendororder",
    path="vendor/orders",
    schema="VendorOrder",
    db_id="orderId",
    request_schema="VendorOrderSubmissionRequest",
    operations=frozenset({Op.LIST, Op.SUBMIT}),
    keeps_request=True,
    filters={**ORDER_ID, "submissionId": Match.on("submissionId")},
    children={"plates": ("vendorplate", "orderId"), "results": ("vendorresult", "orderId")},
    appends={"status": "statusHistory"},
    rules=OrderRules(),
)
# Read only as an order's children (written by ``OrderRules.after`` / the lab).
VENDOR_PLATES = entity(
    name="vendorplate",
    path="vendor/orders/plates",
    schema="VendorPlate",
    operations=frozenset(),
    filters=ORDER_ID,
)
VENDOR_RESULTS = entity(
    name="vendorresult",
    path="vendor/orders/results",
    schema="VendorResultFile",
    db_id="vendorResultDbId",
    operations=frozenset(),
    filters=ORDER_ID,
)

VENDOR_ENTITIES = (
    VENDOR_SPECIFICATIONS,
    VENDOR_SUBMISSIONS,
    VENDOR_ORDERS,
    VENDOR_PLATES,
    VENDOR_RESULTS,
)
VENDOR_VIEWS = (View("vendororder", "status", "VendorOrderStatus", _order_status),)
