"""Bulk events: how one event for many documents is split, matched, upcast and read."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import msgspec
from bijmantra.application.events import (
    MAX_BULK_BYTES,
    MAX_BULK_ITEMS,
    EventEnvelope,
    bulk_data,
    event_resources,
    item_type,
    matches_type,
    split_bulk,
    upcast,
)
from hypothesis import given
from hypothesis import strategies as st


def bulk(n: int) -> EventEnvelope:
    documents = [(f"o-{i}", {"observationDbId": f"o-{i}", "value": str(i)}) for i in range(n)]
    return EventEnvelope(
        id="00000000-0000-7000-8000-000000000001",
        type="observation.created.bulk",
        source="domain-api",
        tenant_id="t",
        subject="o-0",
        time=datetime(2026, 7, 1, tzinfo=UTC),
        schema_version=1,
        data=bulk_data(documents),
        actor="field-app",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


@given(st.lists(st.integers(0, 63), min_size=1, max_size=1500))
def test_parts_keep_every_item_once_in_request_order_within_one_partition(
    partitions: list[int],
) -> None:
    event = bulk(len(partitions))
    parts = split_bulk(event, partitions)
    position = {f"o-{i}": i for i in range(len(partitions))}
    assert sorted(i for p in parts for i in p.data["ids"]) == sorted(event.data["ids"])
    assert len({p.id for p in parts} | {event.id}) == len(parts) + 1, "every part has its own id"
    for part in parts:
        indexes = [position[i] for i in part.data["ids"]]
        assert indexes == sorted(indexes)
        assert len({partitions[i] for i in indexes}) == 1
        assert 1 <= len(indexes) <= MAX_BULK_ITEMS
        assert part.subject == part.data["ids"][0]
        assert part.data["items"] == [event.data["items"][i] for i in indexes]
        assert (part.type, part.time, part.actor, part.traceparent) == (
            event.type,
            event.time,
            event.actor,
            event.traceparent,
        )
    per_partition = {p: partitions.count(p) for p in set(partitions)}
    expected_parts = sum(-(-count // MAX_BULK_ITEMS) for count in per_partition.values())
    assert len(parts) == expected_parts


def test_a_bulk_larger_than_a_part_is_cut_into_parts_of_at_most_the_limit() -> None:
    parts = split_bulk(bulk(2 * MAX_BULK_ITEMS + 1), [7] * (2 * MAX_BULK_ITEMS + 1))
    assert [len(p.data["ids"]) for p in parts] == [MAX_BULK_ITEMS, MAX_BULK_ITEMS, 1]


def test_large_documents_are_cut_into_parts_that_fit_a_stream_message() -> None:
    event = bulk(300)
    for document in event.data["items"]:
        document["additionalInfo"] = {"notes": "x" * 10_000}  # 300 x 10 kB: 3 MB in all
    parts = split_bulk(event, [3] * 300)
    assert sorted(i for p in parts for i in p.data["ids"]) == sorted(event.data["ids"])
    assert all(len(msgspec.json.encode(p.data["items"])) <= MAX_BULK_BYTES for p in parts)
    assert len(parts) > 3000 * 1024 // MAX_BULK_BYTES


def test_a_subscription_to_a_type_also_receives_its_bulk_form() -> None:
    assert matches_type("observation.created", "observation.created.bulk")
    assert matches_type("observation.*", "observation.created.bulk")
    assert not matches_type("observation.updated", "observation.created.bulk")
    assert not matches_type("observation.created.bulk.x", "observation.created.bulk")
    assert item_type("observation.created.bulk") == "observation.created"


def test_a_bulk_event_is_about_each_of_its_items() -> None:
    event = bulk(3)
    assert event_resources(event) == ["o-0", "o-1", "o-2"]


def test_upcasting_a_bulk_event_upcasts_each_item_with_its_item_types_chain() -> None:
    rename = {("observation.created", 1): lambda d: {"v": d["value"]}}
    shuffled = bulk(4)
    random.Random(1).shuffle(shuffled.data["items"])
    upcast_event = upcast(shuffled, rename)
    assert upcast_event.schema_version == 2
    assert upcast_event.data["items"] == [{"v": d["value"]} for d in shuffled.data["items"]]
    assert upcast_event.data["ids"] == shuffled.data["ids"]
