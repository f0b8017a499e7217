"""Samples and plates through the engine with in-memory fakes: wells, inheritance, clashes."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.kernel import Principal, TenantId, Unprocessable, ValidationFailed
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory

CATALOG = catalog()


def principal(tenant: uuid.UUID | None = None) -> Principal:
    return Principal(
        subject="tester", tenant_id=TenantId(tenant or uuid.uuid4()), roles=frozenset({"breeder"})
    )


async def create(commands: ResourceCommands, who: Principal, entity: str, *items: Any) -> list[Any]:
    page = await commands.create(who, entity, list(items))
    found: list[Any] = msgspec.json.decode(page.documents)
    return found


async def setting(commands: ResourceCommands, who: Principal) -> dict[str, str]:
    [program] = await create(commands, who, "program", {"programName": "P"})
    [trial] = await create(
        commands, who, "trial", {"trialName": "T", "programDbId": program["programDbId"]}
    )
    [study] = await create(
        commands, who, "study", {"studyName": "S", "trialDbId": trial["trialDbId"]}
    )
    [germplasm] = await create(
        commands,
        who,
        "germplasm",
        {"germplasmName": "G", "germplasmPUI": "p:g", "commonCropName": "Rice"},
    )
    [plate, tubes] = await create(
        commands,
        who,
        "plate",
        {"plateName": "Plate 1", "plateFormat": "PLATE_96", "studyDbId": study["studyDbId"]},
        {"plateName": "Rack", "plateFormat": "TUBES"},
    )
    return {
        "program": program["programDbId"],
        "trial": trial["trialDbId"],
        "study": study["studyDbId"],
        "germplasm": germplasm["germplasmDbId"],
        "plate": plate["plateDbId"],
        "tubes": tubes["plateDbId"],
    }


async def test_a_sample_takes_its_plates_study_line_and_a_canonical_well() -> None:
    commands = ResourceCommands(CATALOG, fake_unit_of_work_factory(InMemoryDatabase()))
    who = principal()
    ids = await setting(commands, who)
    [sample] = await create(
        commands,
        who,
        "sample",
        {
            "sampleName": "S1",
            "germplasmDbId": ids["germplasm"],
            "plateDbId": ids["plate"],
            "well": "a2",
        },
    )
    assert (sample["row"], sample["column"], sample["well"]) == ("A", 2, "A02")
    assert sample["plateName"] == "Plate 1"
    assert (sample["studyDbId"], sample["trialDbId"], sample["programDbId"]) == (
        ids["study"],
        ids["trial"],
        ids["program"],
    )


def sample(ids: dict[str, str], name: str, **fields: Any) -> dict[str, Any]:
    return {"sampleName": name, "germplasmDbId": ids["germplasm"], **fields}


async def test_a_taken_well_or_a_well_the_format_lacks_is_refused_and_nothing_stored() -> None:
    db = InMemoryDatabase()
    commands = ResourceCommands(CATALOG, fake_unit_of_work_factory(db))
    who = principal()
    ids = await setting(commands, who)
    [s1] = await create(
        commands, who, "sample", sample(ids, "S1", plateDbId=ids["plate"], well="A1")
    )
    before = len(db.outbox)
    for items in (
        [sample(ids, "S2", plateDbId=ids["plate"], row="A", column=1)],  # taken by S1
        [
            sample(ids, "S3", plateDbId=ids["plate"], well="B1"),
            sample(ids, "S4", plateDbId=ids["plate"], well="B01"),  # the batch clashes
        ],
        [sample(ids, "S5", plateDbId=ids["plate"], well="H13")],  # no column 13
        [sample(ids, "S6", plateDbId=ids["plate"], well="I1")],  # no row I
        [sample(ids, "S7", plateDbId=ids["tubes"], well="A1")],  # tubes have no wells
        [sample(ids, "S8", well="A1")],  # a well without a plate
        [sample(ids, "S9", plateDbId=ids["plate"], studyDbId="elsewhere")],
    ):
        with pytest.raises(Unprocessable):
            await commands.create(who, "sample", items)
    assert len(db.outbox) == before
    [moved] = await create(
        commands, who, "sample", sample(ids, "S2", plateDbId=ids["plate"], well="A12")
    )
    # Moving S1 away frees A01; a sample written back where it is does not clash with itself.
    await commands.update(who, "sample", s1["sampleDbId"], msgspec.json.encode(s1))
    with pytest.raises(ValidationFailed):  # a well that disagrees with the stated row
        await commands.update(
            who, "sample", s1["sampleDbId"], msgspec.json.encode({**s1, "well": "C3"})
        )
    moved_away = {**s1, "well": "C3", "row": None, "column": None}
    await commands.update(who, "sample", s1["sampleDbId"], msgspec.json.encode(moved_away))
    await commands.update(
        who,
        "sample",
        moved["sampleDbId"],
        msgspec.json.encode({**moved, "well": "A01", "column": 1}),
    )


async def test_a_samples_row_column_and_well_must_agree() -> None:
    commands = ResourceCommands(CATALOG, fake_unit_of_work_factory(InMemoryDatabase()))
    who = principal()
    ids = await setting(commands, who)
    for item in (
        sample(ids, "x", plateDbId=ids["plate"], well="A1", row="B"),
        sample(ids, "x", plateDbId=ids["plate"], row="A"),
        sample(ids, "x", plateDbId=ids["plate"], well="1A"),
    ):
        with pytest.raises(ValidationFailed):
            await commands.create(who, "sample", [item])


async def test_another_organizations_plate_or_germplasm_is_unknown() -> None:
    commands = ResourceCommands(CATALOG, fake_unit_of_work_factory(InMemoryDatabase()))
    mine, theirs = principal(), principal()
    ids = await setting(commands, mine)
    foreign = await setting(commands, theirs)
    for item in (
        sample(ids, "x", plateDbId=foreign["plate"]),
        sample(foreign, "x"),
    ):
        with pytest.raises(Unprocessable, match="not found"):
            await commands.create(mine, "sample", [item])


async def test_a_plate_cannot_change_to_a_format_its_samples_do_not_fit() -> None:
    commands = ResourceCommands(CATALOG, fake_unit_of_work_factory(InMemoryDatabase()))
    who = principal()
    ids = await setting(commands, who)
    await create(commands, who, "sample", sample(ids, "S1", plateDbId=ids["plate"], well="A1"))
    change = {ids["plate"]: {"plateName": "Plate 1", "plateFormat": "TUBES"}}
    with pytest.raises(Unprocessable, match="Plate"):
        await commands.update_many(who, "plate", msgspec.json.encode(change))
    empty = {ids["tubes"]: {"plateName": "Rack", "plateFormat": "PLATE_96"}}
    await commands.update_many(who, "plate", msgspec.json.encode(empty))


@pytest.mark.parametrize(
    ("plates", "fields"),
    [
        ([{"samples": [None, None]}], ["plates[0].samples[0]", "plates[0].samples[1]"]),
        (
            [None, {"samples": [{"clientSampleId": "a", "well": "A01"}, None]}],
            ["plates[0]", "plates[1].samples[1]"],
        ),
    ],
)
async def test_a_vendor_submission_refuses_plates_and_samples_that_are_null(
    plates: list[Any], fields: list[str]
) -> None:
    """A null sample reached the vendor rules' ``.get`` and answered 500 (found by a
    negative-mode schemathesis run); a list's items are values, refused where they are."""
    db = InMemoryDatabase()
    commands = ResourceCommands(CATALOG, fake_unit_of_work_factory(db))
    submission = {"clientId": "c", "numberOfSamples": 2, "sampleType": "Tissue", "plates": plates}
    for entity in ("vendorplatesubmission", "vendororder"):
        with pytest.raises(ValidationFailed) as refused:
            await commands.create(principal(), entity, [submission | {"serviceIds": ["s"]}])
        assert [d.location for d in refused.value.details] == [f"[0].{f}" for f in fields]
    assert db.outbox == []


async def test_an_order_reads_a_specification_stored_with_a_null_service() -> None:
    """A specification written before the edge refused list nulls keeps them; orders pass
    over them rather than answer 500."""
    db = InMemoryDatabase()
    commands = ResourceCommands(CATALOG, fake_unit_of_work_factory(db))
    who = principal()
    await create(
        commands, who, "vendorspecification", {"services": [{"serviceId": "s", "serviceName": "S"}]}
    )
    [(key, stored)] = [(k, v) for k, v in db.documents.items() if k[1] == "vendorspecification"]
    legacy = msgspec.json.decode(stored)
    legacy["services"] = [None, *legacy["services"]]
    db.documents[key] = msgspec.json.encode(legacy)
    sample = {"clientSampleId": "a", "well": "A01"}
    plate = {"sampleSubmissionFormat": "PLATE_96", "samples": [sample]}
    order = {"clientId": "c", "numberOfSamples": 1, "sampleType": "DNA", "plates": [plate]}
    order["serviceIds"] = ["s"]
    [made] = await create(commands, who, "vendororder", order)
    assert made["status"] == "registered"
