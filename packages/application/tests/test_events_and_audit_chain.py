"""Envelope upcasting and the audit hash chain, without servers."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

from bijmantra.application.compliance import (
    AuditEntry,
    ChainHead,
    ChainVerdict,
    next_entry,
    verify_chain,
)
from bijmantra.application.events import EventEnvelope, decode_envelope, encode_envelope, upcast
from hypothesis import given, settings
from hypothesis import strategies as st

TENANT = str(uuid.uuid4())


def event(n: int) -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid.uuid4()),
        type="germplasm.created",
        source="test",
        tenant_id=TENANT,
        subject=f"g-{n}",
        time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
        schema_version=1,
        data={"n": n},
        actor="u",
    )


def chain(length: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for n in range(length):
        head = ChainHead(entries[-1].position, entries[-1].hash) if entries else None
        e = event(n)
        entries.append(
            next_entry(head, e, encode_envelope(e), datetime(2026, 2, 1, tzinfo=UTC) + timedelta(n))
        )
    return entries


async def _iterate(entries: Iterable[AuditEntry]) -> AsyncIterator[AuditEntry]:
    for entry in entries:
        yield entry


def verdict(entries: list[AuditEntry], head: ChainHead | None) -> ChainVerdict:
    return asyncio.run(verify_chain(TENANT, _iterate(entries), head))


def head_of(entries: list[AuditEntry]) -> ChainHead:
    return ChainHead(entries[-1].position, entries[-1].hash)


def test_upcasters_apply_in_sequence_and_decode_can_keep_the_published_form() -> None:
    published = EventEnvelope(
        id="e",
        type="probe.renamed",
        source="t",
        tenant_id=TENANT,
        subject="s",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        schema_version=1,
        data={"name": "x"},
    )
    steps = {
        ("probe.renamed", 1): lambda d: {"title": d["name"]},
        ("probe.renamed", 2): lambda d: {**d, "language": "en"},
    }
    newest = upcast(published, steps)
    assert newest.schema_version == 3
    assert newest.data == {"title": "x", "language": "en"}
    assert upcast(newest, steps) is newest, "the newest version is left alone"
    raw = decode_envelope(encode_envelope(published), upcasting=False)
    assert raw == published
    assert encode_envelope(raw) == encode_envelope(published)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(2, 8), data=st.data())
def test_any_changed_byte_removed_or_reordered_entry_is_detected(
    length: int, data: st.DataObject
) -> None:
    entries = chain(length)
    assert verdict(entries, head_of(entries)).valid
    index = data.draw(st.integers(0, length - 1))
    kind = data.draw(st.sampled_from(["byte", "remove", "swap", "actor"]))
    tampered = list(entries)
    if kind == "byte":
        blob = bytearray(entries[index].envelope)
        offset = data.draw(st.integers(0, len(blob) - 1))
        blob[offset] ^= data.draw(st.integers(1, 255))
        tampered[index] = dataclasses.replace(entries[index], envelope=bytes(blob))
    elif kind == "remove":
        del tampered[index]
    elif kind == "swap":
        other = (index + 1) % length
        tampered[index], tampered[other] = tampered[other], tampered[index]
    else:
        tampered[index] = dataclasses.replace(entries[index], actor="intruder")
    assert not verdict(tampered, head_of(entries)).valid


def test_a_chain_without_entries_is_valid_and_a_head_beyond_the_log_is_not() -> None:
    assert verdict([], None).valid
    entries = chain(3)
    assert verdict(entries, head_of(entries)).valid
    assert not verdict(entries[:2], head_of(entries)).valid
