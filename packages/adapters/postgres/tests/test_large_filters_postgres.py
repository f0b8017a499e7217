"""Large inputs at PostgreSQL: id lists as one array parameter, failures logged without data."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import msgspec
import pytest
import structlog
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.ports.documents import Range
from bijmantra.kernel import PageRequest, Principal, TenantId
from bijmantra.observability import configure_logging, get_logger
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
OVER_THE_PARAMETER_LIMIT = 66_000  # PostgreSQL's protocol stops at 65,535 parameters


async def test_66000_ids_in_one_filter_are_one_query(engine: AsyncEngine) -> None:
    who = Principal("tester", TenantId(uuid.uuid4()), frozenset({"breeder"}))
    factory = unit_of_work_factory(engine, source="test")
    created = await ResourceCommands(catalog(), factory).create(
        who,
        "germplasm",
        [
            {"germplasmName": f"G{i}", "germplasmPUI": f"doi:t/{i}", "commonCropName": "Cassava"}
            for i in range(3)
        ],
    )
    wanted = [d["germplasmDbId"] for d in msgspec.json.decode(created.documents)][:2]
    ids = [str(uuid.uuid4()) for _ in range(OVER_THE_PARAMETER_LIMIT - 2)] + wanted
    criterion = (tuple({"germplasmDbId": i} for i in ids),)
    async with factory(who.tenant_id) as uow:
        page = await uow.resources.page("germplasm", criterion, PageRequest(0, 10))
        matched = await uow.resources.matching_ids("germplasm", criterion, 10)
    assert page.total_count == 2
    assert sorted(d["germplasmDbId"] for d in msgspec.json.decode(page.documents)) == sorted(wanted)
    assert sorted(matched) == sorted(wanted)


@pytest.fixture
def service_logging() -> Iterator[None]:
    """The services' logging set-up for one test; it binds the stdout of that moment, which
    pytest closes afterwards, so later tests get the defaults back."""
    configure_logging("test")
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


@pytest.mark.usefixtures("service_logging")
async def test_a_failed_statement_is_logged_without_its_parameters_on_a_bounded_line(
    engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed bulk statement was once logged with every parameter: one 44 MB line."""
    secret = "tenant-data-" * 200_000  # 2.4 MB of one organization's data
    async with engine.connect() as connection:
        with pytest.raises(DBAPIError) as unrelated:  # fails whatever the parameter holds
            await connection.execute(text("SELECT CAST(:value AS text), 1 / 0"), {"value": secret})
    assert "tenant-data-" not in str(unrelated.value)  # SQLAlchemy lists no parameters
    async with engine.connect() as connection:
        with pytest.raises(DBAPIError) as quoting:  # PostgreSQL quotes the bad value itself
            await connection.execute(text("SELECT CAST(:value AS integer)"), {"value": secret})
    get_logger("test").error("statement failed", exc_info=quoting.value)
    [line] = [line for line in capsys.readouterr().out.splitlines() if "statement failed" in line]
    assert len(line) < 64 * 1024  # bounded, whatever the exception quotes


async def test_a_range_criterion_keeps_the_numbers_within_it_as_the_fake_does(
    engine: AsyncEngine,
) -> None:
    """``minPosition``/``maxPosition`` at PostgreSQL (a jsonpath) and in the test fake: only
    numbers count (not the text "12", nor true or null)."""
    who = Principal("tester", TenantId(uuid.uuid4()), frozenset({"breeder"}))
    positions: list[object] = [5, 10, 10.5, 20, "12", None, True, 21]
    documents: list[tuple[str, dict[str, object]]] = [
        (f"m{i}", {"position": p}) for i, p in enumerate(positions)
    ]
    documents.append(("m8", {"linkageGroupName": "no position"}))
    bounds = (Range(("position",), 10, 20), Range(("position",), None, 9.9), Range(("position",)))
    factories = (
        unit_of_work_factory(engine, source="test"),
        fake_unit_of_work_factory(InMemoryDatabase()),
    )
    for factory in factories:
        async with factory(who.tenant_id) as uow:
            await uow.resources.insert("markerposition", documents)
            await uow.commit()
        answers = []
        for bound in bounds:
            async with factory(who.tenant_id) as uow:
                found = await uow.resources.matching_ids("markerposition", (bound,), 100)
            answers.append(sorted(found))
        assert answers == [["m1", "m2", "m3"], ["m0"], ["m0", "m1", "m2", "m3", "m7"]]


async def test_matching_each_is_matching_for_each_criteria_in_one_statement(
    engine: AsyncEngine,
) -> None:
    """Each list as ``matching`` gives it (first ``limit`` by id, in PostgreSQL's order), in
    the order asked, an empty one kept in its place; the fake agrees."""
    who = Principal("tester", TenantId(uuid.uuid4()), frozenset({"breeder"}))
    documents: list[tuple[str, dict[str, object]]] = [
        (db_id, {"seedLotDbId": lot, "amount": n})
        for n, (db_id, lot) in enumerate(
            [("t-b", "L1"), ("T-a", "L1"), ("t-c", "L1"), ("t_d", "L2"), ("t-e", "L3")]
        )
    ]
    criteria = [
        (({"seedLotDbId": "L1"},),),
        (({"seedLotDbId": "nothing"},),),
        (({"seedLotDbId": "L2"}, {"seedLotDbId": "L3"}), Range(("amount",), 4, None)),
    ]
    factories = (
        unit_of_work_factory(engine, source="test"),
        fake_unit_of_work_factory(InMemoryDatabase()),
    )
    answers = []
    for factory in factories:
        async with factory(who.tenant_id) as uow:
            await uow.resources.insert("seedlottransaction", documents)
            await uow.commit()
        async with factory(who.tenant_id) as uow:
            each = await uow.resources.matching_each("seedlottransaction", criteria, 2)
            one_by_one = [
                await uow.resources.matching("seedlottransaction", c, 2) for c in criteria
            ]
        assert each == one_by_one
        answers.append([sorted(d["amount"] for d in found) for found in each])
    assert answers[0] == answers[1]
    assert len(answers[0]) == 3
    assert answers[0][1] == []
    assert answers[0][2] == [4]
