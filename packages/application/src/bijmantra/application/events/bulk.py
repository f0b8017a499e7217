"""Bulk events: the events of a write of many documents, emitted in bulk.

A write that stores n > 1 documents of an entity (a bulk ``POST``/``PUT``, a bulk delete)
records one ``<entity>.<verb>.bulk`` event instead of n ``<entity>.<verb>`` events. Its
``data`` is ``{"ids": [...], "items": [...]}``: the documents' DbIds and the documents, in
request order, each exactly what the single event's ``data`` would be. 10,000 observations
are then tens of outbox rows, stream messages and audit entries rather than 10,000 of each.

Order per aggregate still holds across relays: the outbox splits a bulk event into parts
(``split_bulk``) whose items share one outbox partition, and gives each part the first
item's id as its subject, so a later single event of any item travels in the same
partition, behind the part. A part carries at most ``MAX_BULK_ITEMS`` items whose encoding
takes at most ``MAX_BULK_BYTES`` (a stream message stays under NATS's 1 MB payload limit;
only a single document over it could not travel, as a single event could not).

Consumers see a bulk event under its own type (a subscription to ``observation.created``
also receives ``observation.created.bulk``: ``matches_type``) and find the resources it is
about with ``event_resources``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from bijmantra.application.events.envelope import BULK_SUFFIX, EventEnvelope
from bijmantra.kernel import new_ids

MAX_BULK_ITEMS = 500
MAX_BULK_BYTES = 512 * 1024
_encode = msgspec.json.encode


def bulk_type(event_type: str) -> str:
    return event_type + BULK_SUFFIX


def is_bulk(event_type: str) -> bool:
    return event_type.endswith(BULK_SUFFIX)


def item_type(event_type: str) -> str:
    """``observation.created.bulk`` -> ``observation.created`` (unchanged if not bulk)."""
    return event_type.removesuffix(BULK_SUFFIX)


def bulk_data(items: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {"ids": [db_id for db_id, _ in items], "items": [document for _, document in items]}


def matches_type(pattern: str, event_type: str) -> bool:
    """``*``, ``<context>.*`` or an exact type; an exact type also admits its bulk form."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return item_type(event_type) == pattern


def event_resources(envelope: EventEnvelope) -> list[str]:
    """The ids of the resources an event is about: its subject, or a bulk event's items."""
    if is_bulk(envelope.type):
        return list(envelope.data.get("ids") or ())
    return [envelope.subject]


def _within_bytes(items: Sequence[Any], chunk: list[int]) -> list[list[int]]:
    """``chunk`` halved until each piece's items encode to at most ``MAX_BULK_BYTES``."""
    if len(chunk) == 1 or len(_encode([items[i] for i in chunk])) <= MAX_BULK_BYTES:
        return [chunk]
    half = len(chunk) // 2
    return _within_bytes(items, chunk[:half]) + _within_bytes(items, chunk[half:])


def split_bulk(envelope: EventEnvelope, partitions: Sequence[int]) -> list[EventEnvelope]:
    """The parts of a bulk event, given each item's outbox partition (aligned with ``ids``).

    Items are grouped by partition (groups in order of first appearance, items in request
    order) and cut at ``MAX_BULK_ITEMS`` and ``MAX_BULK_BYTES``; every part gets its own
    event id and the first item's id as subject. Everything else (type, time, actor,
    trace) is the original's."""
    ids, items = envelope.data["ids"], envelope.data["items"]
    if len(partitions) != len(ids):
        raise ValueError(f"{len(partitions)} partitions for {len(ids)} items")
    groups: dict[int, list[int]] = {}
    for index, partition in enumerate(partitions):
        groups.setdefault(partition, []).append(index)
    chunks = [
        fitting
        for members in groups.values()
        for start in range(0, len(members), MAX_BULK_ITEMS)
        for fitting in _within_bytes(items, members[start : start + MAX_BULK_ITEMS])
    ]
    return [
        msgspec.structs.replace(
            envelope,
            id=event_id,
            subject=ids[chunk[0]],
            data={"ids": [ids[i] for i in chunk], "items": [items[i] for i in chunk]},
        )
        for event_id, chunk in zip(new_ids(len(chunks)), chunks, strict=True)
    ]
