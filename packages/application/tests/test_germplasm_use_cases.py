"""Use cases against the in-memory fakes: rules, permissions, events, the relay."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bijmantra.application.events import OutboxRelay
from bijmantra.application.germplasm import CreateGermplasm, GermplasmFilter, GetGermplasm, ListGermplasm
from bijmantra.application.germplasm.dto import GermplasmNewRequest
from bijmantra.kernel import Forbidden, NotFound, PageRequest, Principal, TenantId, ValidationFailed
from bijmantra.testkit.fakes import FakeOutboxStore, FakePublisher, InMemoryDatabase, fake_unit_of_work_factory


def who(tenant: uuid.UUID, *roles: str) -> Principal:
    return Principal(subject="u", tenant_id=TenantId(tenant), roles=frozenset(roles or ("breeder",)))


def request(name: str, **extra: object) -> GermplasmNewRequest:
    return msgspec.convert(
        {"germplasmName": name, "germplasmPUI": f"pui:{name}", "commonCropName": "Rice", **extra},
        GermplasmNewRequest,
    )


async def test_create_stores_all_and_emits_one_event_each() -> None:
    db = InMemoryDatabase()
    tenant = uuid.uuid4()
    docs = await CreateGermplasm(fake_unit_of_work_factory(db))(who(tenant), [request("a"), request("b")])
    assert [msgspec.json.decode(d)["germplasmName"] for d in docs] == ["a", "b"]
    assert [e.type for e in db.outbox] == ["germplasm.created"] * 2
    assert {e.subject for e in db.outbox} == {msgspec.json.decode(d)["germplasmDbId"] for d in docs}


async def test_one_invalid_item_rejects_the_whole_batch() -> None:
    db = InMemoryDatabase()
    with pytest.raises(ValidationFailed) as err:
        await CreateGermplasm(fake_unit_of_work_factory(db))(
            who(uuid.uuid4()), [request("ok"), request(" "), request("x", biologicalStatusOfAccessionCode="1")]
        )
    assert {d.location for d in err.value.details} == {"[1].germplasmName", "[2].biologicalStatusOfAccessionCode"}
    assert db.germplasm == {} and db.outbox == []


async def test_future_acquisition_date_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        await CreateGermplasm(fake_unit_of_work_factory(InMemoryDatabase()))(
            who(uuid.uuid4()), [request("f", acquisitionDate="2999-01-01")]
        )


@pytest.mark.parametrize("roles", [("viewer",), ()])
async def test_writing_needs_the_write_permission(roles: tuple[str, ...]) -> None:
    principal = Principal(subject="u", tenant_id=TenantId(uuid.uuid4()), roles=frozenset(roles))
    with pytest.raises(Forbidden):
        await CreateGermplasm(fake_unit_of_work_factory(InMemoryDatabase()))(principal, [request("a")])


async def test_reading_needs_a_role_and_sees_only_its_tenant() -> None:
    db = InMemoryDatabase()
    uow = fake_unit_of_work_factory(db)
    tenant = uuid.uuid4()
    [doc] = await CreateGermplasm(uow)(who(tenant), [request("a")])
    db_id = msgspec.json.decode(doc)["germplasmDbId"]
    with pytest.raises(Forbidden):
        await GetGermplasm(uow)(Principal(subject="x", tenant_id=TenantId(tenant)), db_id)
    with pytest.raises(NotFound):
        await GetGermplasm(uow)(who(uuid.uuid4(), "viewer"), db_id)


@settings(max_examples=40, deadline=None)
@given(count=st.integers(0, 40), size=st.integers(1, 15))
async def test_pages_partition_the_result(count: int, size: int) -> None:
    db = InMemoryDatabase()
    uow = fake_unit_of_work_factory(db)
    tenant = uuid.uuid4()
    if count:
        await CreateGermplasm(uow)(who(tenant), [request(f"g{i}") for i in range(count)])
    first = await ListGermplasm(uow)(who(tenant), GermplasmFilter(), PageRequest(0, size))
    seen = []
    for number in range(first.total_pages):
        page = await ListGermplasm(uow)(who(tenant), GermplasmFilter(), PageRequest(number, size))
        assert page.total_count == count
        seen += [msgspec.json.decode(d)["germplasmName"] for d in page.items]
    assert sorted(seen) == sorted(f"g{i}" for i in range(count))


async def test_relay_publishes_each_event_once_and_retries_unacked() -> None:
    db = InMemoryDatabase()
    await CreateGermplasm(fake_unit_of_work_factory(db))(who(uuid.uuid4()), [request("a"), request("b")])
    publisher = FakePublisher()
    publisher.fail_ids = {db.outbox[0].id}
    relay = OutboxRelay(FakeOutboxStore(db), publisher)
    assert await relay.relay_once() == 1
    publisher.fail_ids.clear()
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    assert sorted(e.id for e in publisher.published) == sorted(e.id for e in db.outbox)
