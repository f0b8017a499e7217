"""Bounds on untrusted input: items per bulk write, values per filter, depth, encoding."""

from __future__ import annotations

import contextlib
import json
import tracemalloc
import uuid
from typing import Any

import msgspec
import pytest
from bijmantra.application.brapi.bounds import MAX_WRITE_ITEMS
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.criteria import MAX_FILTER_VALUES
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.application.json_input import check_shape, decode_body, decode_bounded
from bijmantra.kernel import Malformed, PageRequest, Principal, TenantId, ValidationFailed
from bijmantra.testkit.fakes import (
    FakeSearchResultStore,
    InMemoryDatabase,
    fake_unit_of_work_factory,
)
from hypothesis import given, settings
from hypothesis import strategies as st

CATALOG = catalog()
BOMB = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"


def principal() -> Principal:
    return Principal("tester", TenantId(uuid.uuid4()), frozenset({"breeder"}))


def peak_bytes(action: Any) -> int:
    tracemalloc.start()
    with contextlib.suppress(ValidationFailed):
        action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_a_million_item_body_is_refused_before_it_is_built() -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_shape(BOMB, max_items=MAX_WRITE_ITEMS)
    assert refused.value.details[0].message == f"at most {MAX_WRITE_ITEMS} items per request"
    # Against decoding the same body: the refusal allocates a small fraction of it.
    refusing = peak_bytes(lambda: check_shape(BOMB, max_items=MAX_WRITE_ITEMS))
    decoding = peak_bytes(lambda: msgspec.json.decode(BOMB))
    assert refusing * 5 < decoding, (refusing, decoding)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b"[" * 70 + b"]" * 70,
    ],
)
def test_deep_nesting_is_malformed(body: bytes) -> None:
    with pytest.raises(Malformed, match="nests too deeply"):
        decode_bounded(body, "a JSON array")


def test_invalid_utf8_is_malformed() -> None:
    with pytest.raises(Malformed) as refused:
        decode_bounded(b'[{"germplasmName": "\xff\xfe"}]', "a JSON array")
    assert "invalid UTF-8" in refused.value.details[0].message


def test_the_bound_itself_is_allowed() -> None:
    exactly = json.dumps([{}] * 5).encode()
    assert decode_bounded(exactly, "a JSON array", max_items=5) == [{}] * 5
    with pytest.raises(ValidationFailed, match="Too many items"):
        decode_bounded(exactly, "a JSON array", max_items=4)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


awkward_text = st.text(alphabet='a[]{},"\\: \n\u00e9', max_size=6)
json_values = st.recursive(
    st.none() | st.integers() | awkward_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(awkward_text, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(top=st.lists(json_values, max_size=8) | st.dictionaries(awkward_text, json_values))
def test_the_scan_counts_top_level_items_and_depth_like_the_decoder(top: Any) -> None:
    body = json.dumps(top).encode()
    for limit in (max(len(top), 1), len(top) + 1):  # bounds are at least one item
        check_shape(body, max_items=limit, max_depth=100)  # never refuses at or above
    if len(top) >= 2:
        with pytest.raises(ValidationFailed, match="Too many items"):
            check_shape(body, max_items=len(top) - 1, max_depth=100)
    depth = _depth(top)
    check_shape(body, max_depth=depth)
    if depth > 3:  # the scan may see up to two levels less (empty containers go first)
        with pytest.raises(Malformed, match="nests too deeply"):
            check_shape(body, max_depth=depth - 3)


async def test_a_bulk_write_over_the_bound_stores_nothing() -> None:
    db = InMemoryDatabase()
    commands = ResourceCommands(CATALOG, fake_unit_of_work_factory(db))
    who = principal()
    body = json.dumps([{"germplasmName": f"G{i}"} for i in range(MAX_WRITE_ITEMS + 1)]).encode()
    with pytest.raises(ValidationFailed, match="Too many items"):
        await commands.create(who, "germplasm", body)
    queries = ResourceQueries(CATALOG, fake_unit_of_work_factory(db), FakeSearchResultStore())
    page = await queries.list(who, "germplasm", {}, PageRequest(0, 10))
    assert page.total_count == 0


async def test_numbers_past_a_double_and_integers_past_64_bits_store_nothing() -> None:
    """JSON integers are unbounded: a seed lot of 10**400 seeds was stored, and every
    transaction from it was then a 500 (the rules read amounts as doubles; ADR 0326)."""
    db = InMemoryDatabase()
    commands = ResourceCommands(CATALOG, fake_unit_of_work_factory(db))
    who = principal()
    for entity, body, where in (
        ("seedlot", '[{"seedLotName":"S","units":"seeds","amount":1%s}]', "[0].amount"),
        ("season", '[{"seasonName":"S","year":1%s}]', "[0].year"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            await commands.create(who, entity, (body % ("0" * 400)).encode())
        assert [(e.location, e.message[:12]) for e in refused.value.details] == [
            (where, "out of range")
        ]
    assert db.documents == {}
    biggest = f'[{{"seedLotName":"S","units":"seeds","amount":{int(1.7e308)}}}]'
    assert (await commands.create(who, "seedlot", biggest.encode())).total_count == 1


async def test_filters_take_at_most_the_bound_of_values() -> None:
    db = InMemoryDatabase()
    queries = ResourceQueries(CATALOG, fake_unit_of_work_factory(db), FakeSearchResultStore())
    who = principal()
    ids = [str(uuid.uuid4()) for _ in range(MAX_FILTER_VALUES + 1)]
    with pytest.raises(ValidationFailed) as refused:
        await queries.search(who, "germplasm", msgspec.json.encode({"germplasmDbIds": ids}))
    assert refused.value.details[0].location == "germplasmDbIds"
    with pytest.raises(ValidationFailed):
        await queries.list(who, "germplasm", {"germplasmDbId": ids}, PageRequest(0, 10))
    # The bound itself is a valid search.
    await queries.search(who, "germplasm", msgspec.json.encode({"germplasmDbIds": ids[:-1]}))


class _Named(msgspec.Struct, rename="camel"):
    device_name: str
    tags: list[str] = []
    raw: msgspec.Raw = msgspec.Raw(b"null")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"deviceName": "a\\u0000b"}', "body.deviceName"),
        (b'{"deviceName": "a", "tags": ["x", "\\u0000"]}', "body.tags[1]"),
    ],
)
def test_a_string_holding_nul_is_malformed_and_named(body: bytes, where: str) -> None:
    """PostgreSQL text cannot store NUL: a platform body holding one was a 500 at the write."""
    with pytest.raises(Malformed) as refused:
        decode_body(body, _Named, "device")
    assert [d.location for d in refused.value.details] == [where]


def test_an_escaped_backslash_before_u0000_and_raw_parts_are_not_nul() -> None:
    literal = decode_body(b'{"deviceName": "a\\\\u0000b"}', _Named, "device")
    assert literal.device_name == "a\\u0000b"
    raw = decode_body(b'{"deviceName": "a", "raw": ["\\u0000"]}', _Named, "device")
    assert bytes(raw.raw) == b'["\\u0000"]'  # left to the use case that decodes it per item
