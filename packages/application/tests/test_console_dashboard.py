"""The console dashboard in one call (ADR 0312): exact counts, each part only for its readers."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from bijmantra.application.console.dashboard import ReadDashboard
from bijmantra.kernel import Principal, TenantId, ValidationFailed
from bijmantra.testkit.event_fakes import FakeAuditStore
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory

TENANT = TenantId(uuid.UUID(int=1))
OTHER = TenantId(uuid.UUID(int=2))


def _dashboard(db: InMemoryDatabase) -> ReadDashboard:
    return ReadDashboard(fake_unit_of_work_factory(db), FakeAuditStore())


async def _add_germplasm(db: InMemoryDatabase, tenant: TenantId, *db_ids: str) -> None:
    async with fake_unit_of_work_factory(db)(tenant) as uow:
        await uow.resources.insert("germplasm", [(i, {"germplasmDbId": i}) for i in db_ids])
        await uow.commit()


async def _read(read: ReadDashboard, principal: Principal) -> dict[str, object]:
    found: dict[str, object] = msgspec.json.decode(await read(principal, analyses=10, activity=10))
    return found


async def test_a_kept_count_is_never_stale_and_stays_in_its_organization() -> None:
    db = InMemoryDatabase()
    read = _dashboard(db)
    breeder = Principal("b", TENANT, frozenset({"breeder"}))
    await _add_germplasm(db, TENANT, "g1", "g2")
    await _add_germplasm(db, OTHER, "x1")
    assert (await _read(read, breeder))["counts"] == [
        {"entity": "germplasm", "count": 2},
        {"entity": "study", "count": 0},
    ]
    await _add_germplasm(db, TENANT, "g3")  # a write: a new version, so a new count
    counts = (await _read(read, breeder))["counts"]
    assert counts == [{"entity": "germplasm", "count": 3}, {"entity": "study", "count": 0}]
    outsider = Principal("o", OTHER, frozenset({"breeder"}))
    assert (await _read(read, outsider))["counts"] == [
        {"entity": "germplasm", "count": 1},
        {"entity": "study", "count": 0},
    ]


async def test_each_part_is_only_there_for_those_who_may_read_it() -> None:
    read = _dashboard(InMemoryDatabase())
    breeder = await _read(read, Principal("b", TENANT, frozenset({"breeder"})))
    assert breeder["analyses"] == []
    assert breeder["activity"] is None
    admin = await _read(read, Principal("a", TENANT, frozenset({"admin"})))
    assert admin["analyses"] == []
    assert admin["activity"] == []
    worker = await _read(read, Principal("w", TENANT, frozenset({"analysis-worker"})))
    assert worker == {
        "counts": [{"entity": "germplasm", "count": 0}],
        "analyses": [],
        "activity": None,
    }
    nobody = await _read(read, Principal("n", TENANT, frozenset({"former-member"})))
    assert nobody == {"counts": [], "analyses": None, "activity": None}


@pytest.mark.parametrize(("analyses", "activity"), [(101, 0), (0, 101)])
async def test_a_recent_list_is_bounded(analyses: int, activity: int) -> None:
    with pytest.raises(ValidationFailed):
        await _dashboard(InMemoryDatabase())(
            Principal("a", TENANT, frozenset({"admin"})), analyses=analyses, activity=activity
        )
