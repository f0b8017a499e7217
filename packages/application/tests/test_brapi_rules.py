"""BrAPI engine rules with in-memory fakes: pedigree cycles, references, validation, aliases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.domain.germplasm import find_cycle
from bijmantra.kernel import (
    FixedClock,
    Forbidden,
    PageRequest,
    Principal,
    TenantId,
    Unprocessable,
    ValidationFailed,
)
from bijmantra.testkit.fakes import (
    FakeSearchResultStore,
    InMemoryDatabase,
    fake_unit_of_work_factory,
)
from bijmantra.testkit.reachability import reaches
from hypothesis import given, settings
from hypothesis import strategies as st

CATALOG = catalog()


def principal(tenant: uuid.UUID | None = None) -> Principal:
    return Principal(
        subject="tester", tenant_id=TenantId(tenant or uuid.uuid4()), roles=frozenset({"breeder"})
    )


def engine(db: InMemoryDatabase) -> tuple[ResourceCommands, ResourceQueries]:
    uow = fake_unit_of_work_factory(db)
    return ResourceCommands(CATALOG, uow), ResourceQueries(CATALOG, uow, FakeSearchResultStore())


def documents(page: bytes) -> list[dict[str, Any]]:
    return msgspec.json.decode(page)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 12), st.lists(st.integers(0, 12), max_size=3), max_size=13))
def test_find_cycle_agrees_with_reachability(parents: dict[int, list[int]]) -> None:
    has_cycle = any(reaches(parents, p, node) for node, ps in parents.items() for p in ps)
    graph = {str(k): [str(p) for p in v] for k, v in parents.items()}
    cycle = find_cycle(graph)
    assert (cycle is not None) == has_cycle
    if cycle is not None:  # the reported path is a real cycle of child -> parent edges
        assert cycle.path[0] == cycle.path[-1]
        for child, parent in zip(cycle.path, cycle.path[1:], strict=False):
            assert parent in graph[child]


async def _germplasm(commands: ResourceCommands, who: Principal, n: int) -> list[str]:
    items = [
        {"germplasmName": f"G{i}", "germplasmPUI": f"p:{i}", "commonCropName": "Rice"}
        for i in range(n)
    ]
    return [
        d["germplasmDbId"]
        for d in documents((await commands.create(who, "germplasm", items)).documents)
    ]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=8))
async def test_pedigree_writes_are_refused_exactly_when_they_would_make_a_cycle(
    edges: list[tuple[int, int]],
) -> None:
    commands, queries = engine(InMemoryDatabase())
    who = principal()
    ids = await _germplasm(commands, who, 6)
    accepted: dict[int, list[int]] = {}
    for child, parent in edges:
        proposal = {**accepted, child: [*accepted.get(child, []), parent]}
        node = {
            "germplasmDbId": ids[child],
            "germplasmName": f"G{child}",
            "parents": [
                {"germplasmDbId": ids[p], "parentType": "POPULATION"} for p in proposal[child]
            ],
        }
        cyclic = child == parent or reaches(accepted, parent, child)
        if cyclic:
            with pytest.raises(Unprocessable, match="ancestor"):
                await commands.update_many(who, "pedigree", msgspec.json.encode({ids[child]: node}))
        else:
            await commands.update_many(who, "pedigree", msgspec.json.encode({ids[child]: node}))
            accepted = proposal
    stored = documents((await queries.list(who, "pedigree", {}, PageRequest(0, 100))).documents)
    graph = {d["germplasmDbId"]: [p["germplasmDbId"] for p in d["parents"] or []] for d in stored}
    assert find_cycle(graph) is None
    for child, parents in accepted.items():
        assert graph[ids[child]] == [ids[p] for p in parents]
        for parent in set(parents):  # every parent lists the child among its progeny
            progeny = next(d for d in stored if d["germplasmDbId"] == ids[parent])["progeny"]
            assert ids[child] in {p["germplasmDbId"] for p in progeny}


async def test_references_must_exist_in_the_same_organization() -> None:
    db = InMemoryDatabase()
    commands, _ = engine(db)
    mine, theirs = principal(), principal()
    [foreign] = await _germplasm(commands, theirs, 1)
    [own] = await _germplasm(commands, mine, 1)
    cross = {
        "crossName": "x",
        "parent1": {"germplasmDbId": own},
        "parent2": {"germplasmDbId": foreign},
    }
    with pytest.raises(Unprocessable) as refused:
        await commands.create(mine, "cross", [cross])
    assert [d.location for d in refused.value.details] == ["[0].parent2.germplasmDbId"]
    outbox_before = len(db.outbox)
    cross["parent2"] = {"germplasmDbId": own}
    [stored] = documents((await commands.create(mine, "cross", [cross])).documents)
    assert (
        stored["parent1"]["germplasmName"] == "G0"
    )  # names are copied from the referenced documents
    assert [e.type for e in db.outbox[outbox_before:]] == ["cross.created"]


async def test_a_bad_item_fails_the_whole_batch_and_every_problem_is_named() -> None:
    db = InMemoryDatabase()
    commands, queries = engine(db)
    who = principal()
    batch = [{"programName": "ok"}, {"programName": 5}, {"programType": "BOGUS"}, "not an object"]
    with pytest.raises(ValidationFailed) as refused:
        await commands.create(who, "program", batch)
    assert {d.location for d in refused.value.details} == {
        "[1].programName",
        "[2].programType",
        "[2].programName",
        "[3]",
    }
    assert (await queries.list(who, "program", {}, PageRequest())).total_count == 0
    assert db.outbox == []


async def test_a_null_in_a_list_is_refused_where_it_stands() -> None:
    """Stored, ``synonyms: [null]`` made every read of the germplasm's MCPD a 500: readers
    take a list's items as the schema's type. A property may be null, a list item not."""
    db = InMemoryDatabase()
    commands, queries = engine(db)
    who = principal()
    germplasm = {"germplasmName": "N", "germplasmPUI": "urn:n", "commonCropName": "Rice"}
    lists = {"synonyms": [None], "storageTypes": [{"code": "11"}, None], "taxonIds": None}
    with pytest.raises(ValidationFailed) as refused:
        await commands.create(who, "germplasm", [germplasm | lists])
    assert [d.location for d in refused.value.details] == ["[0].synonyms[0]", "[0].storageTypes[1]"]
    assert db.outbox == []
    with pytest.raises(ValidationFailed, match="Invalid search"):
        await queries.search(who, "germplasm", b'{"germplasmDbIds": ["g1", null]}')
    await commands.create(who, "germplasm", [germplasm])
    assert (await queries.list(who, "germplasm", {}, PageRequest())).total_count == 1


async def test_list_items_appended_follow_the_text_rule_of_every_write() -> None:
    """``POST /lists/{id}/items`` takes bare strings, which skip ``shape``: a NUL reached
    PostgreSQL and answered 500 (found by a schemathesis run)."""
    db = InMemoryDatabase()
    commands, queries = engine(db)
    who = principal()
    [made] = documents(
        (await commands.create(who, "list", [{"listName": "L", "listType": "germplasm"}])).documents
    )
    body = rb'["g1", "bad\u0000nul", "ok", "also\u0000"]'
    with pytest.raises(ValidationFailed) as refused:
        await commands.append(who, "list", made["listDbId"], "items", body)
    assert [(d.location, d.message) for d in refused.value.details] == [
        ("[1]", "must not contain NUL characters"),
        ("[3]", "must not contain NUL characters"),
    ]
    stored = msgspec.json.decode(await queries.get(who, "list", made["listDbId"]))
    assert stored["data"] in ([], None)
    await commands.append(who, "list", made["listDbId"], "items", b'["g1", "g2"]')
    stored = msgspec.json.decode(await queries.get(who, "list", made["listDbId"]))
    assert stored["data"] == ["g1", "g2"]


async def test_a_germplasm_stored_with_nulls_in_its_lists_still_reads_as_mcpd() -> None:
    """Rows written before the edge refused list nulls keep them; the derived reads pass
    over them rather than answer 500."""
    db = InMemoryDatabase()
    commands, queries = engine(db)
    who = principal()
    germplasm = {"germplasmName": "N", "germplasmPUI": "urn:n", "commonCropName": "Rice"}
    [made] = documents((await commands.create(who, "germplasm", [germplasm])).documents)
    key = (who.tenant_id, "germplasm", made["germplasmDbId"])
    legacy = {"synonyms": [None, {"synonym": "S"}], "donors": [None], "storageTypes": [None]}
    db.documents[key] = msgspec.json.encode(made | legacy)
    mcpd = msgspec.json.decode(await queries.view(who, "germplasm", made["germplasmDbId"], "mcpd"))
    assert (mcpd["accessionNames"], mcpd["storageTypeCodes"]) == (["S"], [])
    assert mcpd.get("donorInfo") is None


async def test_both_program_type_spellings_are_accepted_and_the_spec_one_served() -> None:
    commands, queries = engine(InMemoryDatabase())
    who = principal()
    created = await commands.create(
        who,
        "program",
        [
            {"programName": "a", "programType": "STANARD"},
            {"programName": "b", "programType": "STANDARD"},
        ],
    )
    assert [d["programType"] for d in documents(created.documents)] == ["STANARD", "STANARD"]
    for spelling in ("STANARD", "STANDARD"):
        found = await queries.list(who, "program", {"programType": [spelling]}, PageRequest())
        assert found.total_count == 2
    projects = await queries.list(who, "program", {"programType": ["PROJECT"]}, PageRequest())
    assert projects.total_count == 0


async def test_additional_info_external_references_and_dates_round_trip() -> None:
    commands, queries = engine(InMemoryDatabase())
    who = principal()
    sent = {
        "trialName": "t",
        "startDate": "2024-02-29",
        "additionalInfo": {"k": "v"},
        "externalReferences": [{"referenceId": "r1", "referenceSource": "s1"}],
    }
    [trial] = documents((await commands.create(who, "trial", [sent])).documents)
    fetched = msgspec.json.decode(await queries.get(who, "trial", trial["trialDbId"]))
    assert fetched["additionalInfo"] == {"k": "v"}
    assert fetched["startDate"] == "2024-02-29"
    assert fetched["externalReferences"] == [
        {"referenceID": None, "referenceId": "r1", "referenceSource": "s1"}
    ]
    with pytest.raises(ValidationFailed):
        await commands.create(who, "trial", [{"trialName": "t", "startDate": "2023-02-29"}])


async def test_rules_read_time_from_the_clock_they_are_given() -> None:
    """A list is stamped, and a future acquisition date judged, by the injected clock."""
    clock = FixedClock(datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC))
    uow = fake_unit_of_work_factory(InMemoryDatabase())
    commands = ResourceCommands(CATALOG, uow, clock=clock)
    who = principal()
    created = await commands.create(who, "list", [{"listName": "l", "listType": "germplasm"}])
    (stamped,) = documents(created.documents)
    assert stamped["dateCreated"] == stamped["dateModified"] == "2031-05-04T03:02:01+00:00"
    # 2030-01-01 is in the past for this clock, in the future for one set in 2029.
    accepted = await commands.create(
        who,
        "germplasm",
        [
            {
                "germplasmName": "g",
                "germplasmPUI": "p:g",
                "commonCropName": "Rice",
                "acquisitionDate": "2030-01-01",
            }
        ],
    )
    assert documents(accepted.documents)[0]["acquisitionDate"] == "2030-01-01"
    earlier = ResourceCommands(CATALOG, uow, clock=FixedClock(datetime(2029, 12, 31, tzinfo=UTC)))
    with pytest.raises(ValidationFailed, match="Invalid Germplasm"):
        await earlier.create(
            who,
            "germplasm",
            [
                {
                    "germplasmName": "h",
                    "germplasmPUI": "p:h",
                    "commonCropName": "Rice",
                    "acquisitionDate": "2030-01-01",
                }
            ],
        )


async def test_plates_filter_by_their_samples_and_marker_positions_by_range() -> None:
    db = InMemoryDatabase()
    commands, queries = engine(db)
    who = principal()
    [germplasm] = documents(
        (
            await commands.create(
                who,
                "germplasm",
                [{"germplasmName": "G", "germplasmPUI": "doi:g", "commonCropName": "Rice"}],
            )
        ).documents
    )
    plates = documents(
        (
            await commands.create(
                who,
                "plate",
                [{"plateName": n, "plateFormat": "PLATE_96"} for n in ("P1", "P2", "P3")],
            )
        ).documents
    )
    samples = [
        {"sampleName": "S1", "plateDbId": plates[0]["plateDbId"], "well": "A01"},
        {"sampleName": "S2", "plateDbId": plates[1]["plateDbId"], "well": "A01"},
        {"sampleName": "S3", "plateDbId": plates[1]["plateDbId"], "well": "B01"},
    ]
    samples[2]["germplasmDbId"] = germplasm["germplasmDbId"]
    await commands.create(who, "sample", samples)

    async def plate_names(query: dict[str, list[str]]) -> list[str]:
        page = await queries.list(who, "plate", query, PageRequest(0, 10))
        return sorted(p["plateName"] for p in documents(page.documents))

    assert await plate_names({"sampleName": ["S1", "S3"]}) == ["P1", "P2"]
    assert await plate_names({"germplasmDbId": [germplasm["germplasmDbId"]]}) == ["P2"]
    assert await plate_names({"sampleName": ["S1"], "plateName": ["P2"]}) == []
    assert await plate_names({"sampleName": ["nobody"]}) == []
    assert await plate_names({}) == ["P1", "P2", "P3"]
    everything = await queries.search(who, "plate", msgspec.json.encode({"sampleDbIds": []}))
    found = await queries.search_results(who, "plate", everything, PageRequest(0, 10))
    assert len(documents(found.documents)) == 3  # an empty list filters nothing
    search = await queries.search(who, "plate", msgspec.json.encode({"sampleNames": ["S2"]}))
    found = await queries.search_results(who, "plate", search, PageRequest(0, 10))
    assert [p["plateName"] for p in documents(found.documents)] == ["P2"]
    with pytest.raises(ValidationFailed):
        await queries.list(who, "plate", {"germplasmName": ["G"]}, PageRequest(0, 10))

    async with fake_unit_of_work_factory(db)(who.tenant_id) as uow:
        await uow.resources.insert(
            "markerposition",
            [(f"m{p}", {"markerPositionDbId": f"m{p}", "position": p}) for p in (5, 10, 15, 20)],
        )
        await uow.commit()

    async def positions(query: dict[str, list[str]]) -> list[int]:
        page = await queries.list(who, "markerposition", query, PageRequest(0, 10))
        return sorted(p["position"] for p in documents(page.documents))

    assert await positions({"minPosition": ["10"], "maxPosition": ["15"]}) == [10, 15]
    assert await positions({"maxPosition": ["9"]}) == [5]
    search = await queries.search(who, "markerposition", msgspec.json.encode({"minPosition": 16}))
    found = await queries.search_results(who, "markerposition", search, PageRequest(0, 10))
    assert [p["position"] for p in documents(found.documents)] == [20]
    with pytest.raises(ValidationFailed):
        await queries.list(who, "markerposition", {"minPosition": ["ten"]}, PageRequest(0, 10))


async def test_every_write_refuses_a_member_who_may_only_read() -> None:
    db = InMemoryDatabase()
    commands, _ = engine(db)
    viewer = Principal(subject="v", tenant_id=TenantId(uuid.uuid4()), roles=frozenset({"viewer"}))
    body = b'[{"germplasmName": "G"}]'
    writes = [
        commands.create(viewer, "germplasm", body),
        commands.update(viewer, "germplasm", "g1", b'{"germplasmName": "G"}'),
        commands.update_many(viewer, "germplasm", b'{"g1": {"germplasmName": "G"}}'),
        commands.append(viewer, "list", "l1", "items", b'["a"]'),
        commands.delete(viewer, "observation", b'{"observationDbIds": ["o1"]}'),
        commands.admits_content(viewer, "image", 10),
        commands.put_content(viewer, "image", "i1", "image/png", b"\x89PNG"),
    ]
    for write in writes:
        with pytest.raises(Forbidden):
            await write
    assert db.documents == {}
    assert db.contents == {}
    assert db.outbox == []
