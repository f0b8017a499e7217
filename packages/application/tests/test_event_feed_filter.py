"""Who may see which event on the live feed, and what a subscription may ask for."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.events.live_feed import FeedFilter, FeedItem, Subscribe
from bijmantra.application.events.live_feed import feed_filter as filter_with
from bijmantra.application.events.permissions import event_permissions
from bijmantra.kernel import Principal, TenantId, ValidationFailed, uuid7

TENANT = TenantId(uuid.uuid4())
PERMISSIONS = event_permissions((e.name, e.context) for e in catalog().entities.values())


def feed_filter(principal: Principal, request: Subscribe) -> FeedFilter:
    return filter_with(principal, request, PERMISSIONS)


def item(
    event_type: str, subject: str = "g-1", tenant: uuid.UUID = TENANT, data: dict | None = None
) -> FeedItem:
    payload = msgspec.json.encode(
        {"id": "e", "type": event_type, "subject": subject, "data": data or {}}
    )
    return FeedItem("e", str(tenant), event_type, payload)


def member(*roles: str) -> Principal:
    return Principal(subject="u", tenant_id=TENANT, roles=frozenset(roles))


def test_only_the_callers_organization_and_readable_contexts_pass() -> None:
    viewer = feed_filter(member("viewer"), Subscribe())
    assert viewer.admits(item("germplasm.created"))
    assert not viewer.admits(item("germplasm.created", tenant=uuid.uuid4()))
    assert not viewer.admits(item("billing.invoice.issued")), (
        "a context no role grants stays hidden"
    )
    assert not feed_filter(member(), Subscribe()).admits(item("germplasm.created")), (
        "no role, no events"
    )
    assert feed_filter(member("admin"), Subscribe()).admits(item("tenancy.member.added"))


def test_type_patterns_and_resources_narrow_the_feed() -> None:
    narrowed = feed_filter(
        member("breeder"), Subscribe(events=["germplasm.*", "analysis.job.progressed"])
    )
    assert narrowed.admits(item("germplasm.updated"))
    assert narrowed.admits(item("analysis.job.progressed"))
    assert not narrowed.admits(item("analysis.job.completed"))
    assert not narrowed.admits(item("germplasmx.created"))
    one = feed_filter(member("breeder"), Subscribe(resources=["g-7"]))
    assert one.admits(item("germplasm.updated", subject="g-7"))
    assert not one.admits(item("germplasm.updated", subject="g-8"))


def test_a_bulk_event_reaches_subscribers_of_its_item_type_and_of_any_of_its_items() -> None:
    created = {"ids": ["g-1", "g-7", "g-9"], "items": [{}, {}, {}]}
    bulk = item("germplasm.created.bulk", subject="g-1", data=created)
    assert feed_filter(member("breeder"), Subscribe(events=["germplasm.created"])).admits(bulk)
    assert not feed_filter(member("breeder"), Subscribe(events=["germplasm.updated"])).admits(bulk)
    assert feed_filter(member("breeder"), Subscribe(resources=["g-9"])).admits(bulk)
    assert not feed_filter(member("breeder"), Subscribe(resources=["g-8"])).admits(bulk)
    assert not feed_filter(member("breeder"), Subscribe(resources=["g-1"])).admits(
        item("germplasm.created.bulk", subject="g-1", data={"ids": ["g-2"], "items": [{}]})
    ), "a bulk event is about its items, not its subject field"
    assert not feed_filter(member("breeder"), Subscribe(resources=["g-1"])).admits(
        item("germplasm.created.bulk", subject="g-1", data={"count": 3})
    ), "a malformed bulk event is about nothing, and does not break the feed"


@pytest.mark.parametrize(
    "subscription",
    [
        Subscribe(events=["germplasm"]),
        Subscribe(events=["Germplasm.*"]),
        Subscribe(events=["*.created"]),
        Subscribe(events=["germplasm.*"] * 51),
        Subscribe(resources=[""]),
        Subscribe(resources=["x" * 257]),
        Subscribe(resume_from=str(uuid.uuid4())),  # v4, not an event id
        Subscribe(resume_from="not-an-id"),
    ],
)
def test_bad_subscriptions_are_refused(subscription: Subscribe) -> None:
    with pytest.raises(ValidationFailed):
        feed_filter(member("admin"), subscription)


def test_a_resume_point_must_be_an_event_id() -> None:
    assert feed_filter(member("admin"), Subscribe(resume_from=str(uuid7()))).tenant_id == str(
        TENANT
    )


def test_an_operations_event_reaches_viewers_of_its_item_board_plan_and_season() -> None:
    about = {"about": ["task-1", "op-1", "plan-1", "season-1"]}
    changed = item("operations.work_item.updated", subject="task-1", data=about)
    for followed in ("task-1", "op-1", "plan-1", "season-1"):
        assert feed_filter(member("viewer"), Subscribe(resources=[followed])).admits(changed)
    for unrelated in ("task-2", "op-2", "season-2"):
        assert not feed_filter(member("viewer"), Subscribe(resources=[unrelated])).admits(changed)
    # Other contexts' documents are matched by subject only, whatever their data holds.
    brapi = item("germplasm.updated", subject="g-1", data={"about": ["season-1"]})
    assert not feed_filter(member("viewer"), Subscribe(resources=["season-1"])).admits(brapi)
    # Another organization's operations events stay hidden from a subscriber of the same ids.
    foreign = item("operations.work_item.updated", "task-1", uuid.uuid4(), about)
    assert not feed_filter(member("viewer"), Subscribe(resources=["season-1"])).admits(foreign)
