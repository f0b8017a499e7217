"""The console's page-shaped reads on real PostgreSQL (ADR 0307): a germplasm page's pedigree
N generations deep in one recursive statement, its seed lots with their transactions, a
study's workbench page; the member's permission per entity; another organization's rows
never read."""

from __future__ import annotations

import uuid
from itertools import pairwise
from typing import Any

import msgspec
import pytest
from bijmantra.adapters.postgres import PostgresAuditStore, unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries, StoreReader
from bijmantra.application.console.dashboard import ReadDashboard
from bijmantra.kernel import Forbidden, NotFound, PageRequest, Principal, TenantId
from bijmantra.testkit.fakes import FakeSearchResultStore
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
CATALOG = catalog()


def member(role: str = "breeder", tenant: TenantId | None = None) -> Principal:
    return Principal(
        subject="tester", tenant_id=tenant or TenantId(uuid.uuid4()), roles=frozenset({role})
    )


@pytest.fixture
def engine_api(engine: AsyncEngine) -> tuple[ResourceCommands, ResourceQueries]:
    """The BrAPI engine's writes and reads on the test database."""
    uow = unit_of_work_factory(engine, source="test")
    return ResourceCommands(CATALOG, uow), ResourceQueries(CATALOG, uow, FakeSearchResultStore())


def ids(page: bytes, key: str) -> list[str]:
    return [d[key] for d in msgspec.json.decode(page)]


async def _family(commands: ResourceCommands, who: Principal, names: list[str]) -> list[str]:
    """Germplasm ``names[0]`` whose parent is ``names[1]``, whose parent is ``names[2]``...
    (each pedigree node also names a second, parentless parent ``<name>-m``)."""
    created = await commands.create(
        who,
        "germplasm",
        [
            {"germplasmName": n, "germplasmPUI": f"p:{n}", "commonCropName": "Rice"}
            for name in names
            for n in (name, f"{name}-m")
        ],
    )
    by_name = {
        d["germplasmName"]: d["germplasmDbId"] for d in msgspec.json.decode(created.documents)
    }
    nodes = [
        {
            "germplasmDbId": by_name[child],
            "germplasmName": child,
            "parents": [
                {"germplasmDbId": by_name[parent], "parentType": "FEMALE"},
                {"germplasmDbId": by_name[f"{parent}-m"], "parentType": "MALE"},
            ],
        }
        for child, parent in pairwise(names)
    ]
    await commands.create(who, "pedigree", nodes)
    return [by_name[n] for n in names]


async def test_the_germplasm_page_reads_its_pedigree_n_generations_deep_in_one_read(
    engine_api: tuple[ResourceCommands, ResourceQueries],
) -> None:
    who, other = member(), member()
    commands, queries = engine_api
    chain = await _family(commands, who, ["child", "mother", "grandmother", "great", "great2"])
    await _family(commands, other, ["child", "mother"])  # same names, another organization

    async def page(generations: str) -> dict[str, Any]:
        raw = await queries.view(
            who, "germplasm", chain[0], "console-page", {"generations": [generations]}
        )
        found: dict[str, Any] = msgspec.json.decode(raw)
        return found

    # Generation 1 is the germplasm's own node (naming its parents), generation 2 its
    # parents' nodes, and so on up the chain; at most 5, 3 unless asked.
    names = ["child", "mother", "grandmother", "great", "great2"]
    for asked, generations in (("1", 1), ("2", 2), ("3", 3), ("9", 5), ("x", 3), ("0", 3)):
        found = await page(asked)
        assert found["generations"] == generations
        expected = names[:1] + [n for name in names[1:generations] for n in (name, f"{name}-m")]
        assert sorted(n["germplasmName"] for n in found["pedigree"]) == sorted(expected)
    assert found["germplasm"]["germplasmDbId"] == chain[0]
    mother = await queries.view(who, "germplasm", chain[1], "console-page", {})
    assert [p["germplasmDbId"] for p in msgspec.json.decode(mother)["progeny"]] == [chain[0]]
    # Another organization's DbId is not found; a role without germplasm read is refused.
    with pytest.raises(NotFound):
        await queries.view(other, "germplasm", chain[0], "console-page", {})
    with pytest.raises(Forbidden):
        await queries.view(
            member("no-such-role", who.tenant_id), "germplasm", chain[0], "console-page", {}
        )


async def test_the_germplasm_page_lists_each_seed_lot_with_its_own_transactions(
    engine_api: tuple[ResourceCommands, ResourceQueries],
) -> None:
    who = member()
    commands, queries = engine_api
    (germplasm,) = await _family(commands, who, ["g"])
    content = [{"germplasmDbId": germplasm, "mixturePercentage": 100}]
    lots = ids(
        (
            await commands.create(
                who,
                "seedlot",
                [
                    {
                        "seedLotName": f"L{i}",
                        "amount": 50,
                        "units": "seeds",
                        "contentMixture": content,
                    }
                    for i in range(3)
                ]
                + [{"seedLotName": "unrelated", "amount": 50, "units": "seeds"}],
            )
        ).documents,
        "seedLotDbId",
    )
    await commands.create(
        who,
        "seedlottransaction",
        [{"fromSeedLotDbId": lots[0], "toSeedLotDbId": lots[1], "amount": 5}] * 2
        + [{"fromSeedLotDbId": lots[3], "toSeedLotDbId": lots[2], "amount": 1}],
    )
    raw = await queries.view(who, "germplasm", germplasm, "console-page", {})
    shown = {
        entry["seedLot"]["seedLotName"]: len(entry["transactions"])
        for entry in msgspec.json.decode(raw)["seedLots"]
    }
    assert shown == {"L0": 2, "L1": 2, "L2": 1}


async def test_the_workbench_reads_a_page_of_units_its_variables_and_their_observations(
    engine_api: tuple[ResourceCommands, ResourceQueries],
) -> None:
    who = member()
    commands, queries = engine_api
    study = ids((await commands.create(who, "study", [{"studyName": "S"}])).documents, "studyDbId")[
        0
    ]
    parts = {
        entity: msgspec.json.decode((await commands.create(who, entity, [body])).documents)[0]
        for entity, body in (
            ("scale", {"scaleName": "cm", "dataType": "Numerical"}),
            ("trait", {"traitName": "height", "traitClass": "morphological"}),
            ("method", {"methodName": "ruler", "methodClass": "Measurement"}),
        )
    }
    variable = ids(
        (
            await commands.create(
                who,
                "variable",
                [{"observationVariableName": "height", **parts}],
            )
        ).documents,
        "observationVariableDbId",
    )[0]
    units = ids(
        (
            await commands.create(
                who,
                "observationunit",
                [{"observationUnitName": f"plot{i:02}", "studyDbId": study} for i in range(25)],
            )
        ).documents,
        "observationUnitDbId",
    )
    await commands.create(
        who,
        "observation",
        [
            {"observationUnitDbId": u, "observationVariableDbId": variable, "value": "1"}
            for u in units
        ],
    )

    async def workbench(page: str) -> dict[str, Any]:
        raw = await queries.view(who, "study", study, "console-workbench", {"page": [page]})
        found: dict[str, Any] = msgspec.json.decode(raw)
        return found

    first, second = await workbench("0"), await workbench("1")
    assert (first["totalCount"], first["totalPages"], len(first["units"])) == (25, 2, 20)
    assert (second["page"], len(second["units"])) == (1, 5)
    assert [v["observationVariableDbId"] for v in first["variables"]] == [variable]
    shown = {o["observationUnitDbId"] for o in second["observations"]}
    assert shown == {u["observationUnitDbId"] for u in second["units"]}
    with pytest.raises(NotFound):
        await queries.view(member(), "study", study, "console-workbench", {})


async def test_a_views_reader_checks_the_permission_of_every_entity_it_reads(
    engine: AsyncEngine,
) -> None:
    """The analysis worker's role reads germplasm but not studies: through a view it still
    reads only germplasm."""
    worker = member("analysis-worker")
    async with unit_of_work_factory(engine, source="test")(worker.tenant_id) as uow:
        reader = StoreReader(uow.resources, CATALOG, worker)
        assert (await reader.page("germplasm", {}, PageRequest(0, 1))).total_count == 0
        with pytest.raises(Forbidden):
            await reader.page("study", {}, PageRequest(0, 1))
        with pytest.raises(Forbidden):
            await reader.lineage("observation", "x", "parents.*.germplasmDbId", 2)


async def test_a_views_stored_parts_are_read_with_their_owners_permission(
    engine: AsyncEngine,
) -> None:
    """A reference's blocks of bases are no entity of their own: the bases view reads them
    with the permission to read references, which a member without genotyping lacks."""
    worker, nobody = member("analysis-worker"), member("none")
    async with unit_of_work_factory(engine, source="test")(worker.tenant_id) as uow:
        reader = StoreReader(uow.resources, CATALOG, worker)
        assert await reader.parts("reference", "referencebases", ["r:0"]) == {}
        with pytest.raises(Forbidden):
            await StoreReader(uow.resources, CATALOG, nobody).parts(
                "reference", "referencebases", ["r:0"]
            )


async def test_the_dashboard_counts_exactly_after_each_write_and_only_its_organization(
    engine: AsyncEngine, engine_api: tuple[ResourceCommands, ResourceQueries]
) -> None:
    """ADR 0312: the kept count is used only at the version it was read at."""
    commands, _ = engine_api
    read = ReadDashboard(unit_of_work_factory(engine, source="test"), PostgresAuditStore(engine))
    admin, other = member("admin"), member("admin")
    await _family(commands, other, ["x"])

    async def dashboard(who: Principal) -> dict[str, Any]:
        found: dict[str, Any] = msgspec.json.decode(await read(who, analyses=5, activity=5))
        return found

    assert (await dashboard(admin))["counts"] == [
        {"entity": "germplasm", "count": 0},
        {"entity": "study", "count": 0},
    ]
    await _family(commands, admin, ["a", "b"])  # 4 germplasm, a new version
    first = await dashboard(admin)
    assert first["counts"][0] == {"entity": "germplasm", "count": 4}
    assert first["analyses"] == []
    assert first["activity"] == []  # no audit consumer here: an empty trail, but shown
    assert (await dashboard(admin))["counts"][0]["count"] == 4  # the kept count, same version
    await _family(commands, admin, ["c"])
    assert (await dashboard(admin))["counts"][0]["count"] == 6
    assert (await dashboard(other))["counts"][0]["count"] == 2
    assert (await dashboard(member("viewer", admin.tenant_id)))["activity"] is None
