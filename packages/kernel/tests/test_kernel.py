import uuid

import pytest
from bijmantra.kernel import (
    Page,
    PageRequest,
    ValidationFailed,
    decimal_integer,
    new_ids,
    uuid7,
    uuid7_many,
)
from bijmantra.kernel.errors import (
    ERRORS_BY_CODE,
    BijmantraError,
    Conflict,
    ErrorCode,
    NotFound,
    error_for,
)
from hypothesis import given
from hypothesis import strategies as st


def test_uuid7_is_version_7_and_monotonic() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids, key=lambda u: u.int)
    assert len(set(ids)) == len(ids)


def test_ids_made_in_bulk_are_version_7_distinct_and_ordered_with_single_ones() -> None:
    before = uuid7()
    bulk = uuid7_many(10_000)
    after = uuid7()
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in bulk)
    assert [before, *bulk, after] == sorted([before, *bulk, after], key=lambda u: u.int)
    assert len({i.int & 0x3FFF_FFFF_FFFF_FFFF for i in bulk}) == len(bulk)  # random bits differ
    assert uuid7_many(0) == []
    assert new_ids(0) == []


def test_ids_made_as_text_are_canonical_uuid7s_in_order_with_uuid_objects() -> None:
    before = uuid7()
    text = new_ids(10_000)
    after = uuid7()
    parsed = [uuid.UUID(i) for i in text]
    assert [str(u) for u in parsed] == text, "canonical lowercase 8-4-4-4-12 form"
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [before, *parsed, after] == sorted([before, *parsed, after], key=lambda u: u.int)
    assert len({u.int & 0x3FFF_FFFF_FFFF_FFFF for u in parsed}) == len(parsed)


@given(total=st.integers(0, 100_000), size=st.integers(1, 10_000), page=st.integers(0, 50))
def test_total_pages_covers_every_item_exactly(total: int, size: int, page: int) -> None:
    p: Page[int] = Page([], PageRequest(page, size), total)
    assert (p.total_pages - 1) * size < total <= p.total_pages * size or total == p.total_pages == 0
    assert PageRequest(page, size).offset == page * size


@pytest.mark.parametrize(("page", "size"), [(-1, 10), (0, 0), (0, 10_001)])
def test_page_request_rejects_out_of_range(page: int, size: int) -> None:
    with pytest.raises(ValidationFailed) as err:
        PageRequest(page, size)
    assert err.value.details


def test_error_round_trips_by_code() -> None:
    err = error_for("not_found", "gone")
    assert isinstance(err, NotFound)
    assert err.code is ErrorCode.NOT_FOUND


def test_every_code_rebuilds_the_kernel_class_that_names_it() -> None:
    assert set(ERRORS_BY_CODE) == set(ErrorCode)
    for code, cls in ERRORS_BY_CODE.items():
        assert cls.code is code
        assert cls.__module__ == "bijmantra.kernel.errors"
        assert type(error_for(code.value, "x")) is cls
    assert ERRORS_BY_CODE[ErrorCode.VALIDATION] is ValidationFailed


def test_a_subclass_keeps_its_parents_code_and_does_not_replace_it() -> None:
    class StaleLot(Conflict):
        """A narrower conflict, still a 409 everywhere."""

    class Renamed(BijmantraError, code=ErrorCode.NOT_FOUND):
        """Names a code a kernel class already has."""

    assert StaleLot.code is ErrorCode.CONFLICT
    assert Renamed.code is ErrorCode.NOT_FOUND
    assert ERRORS_BY_CODE[ErrorCode.CONFLICT] is Conflict
    assert ERRORS_BY_CODE[ErrorCode.NOT_FOUND] is NotFound


def test_a_decimal_integer_is_ascii_digits_with_an_optional_minus() -> None:
    """ADR 0387: what ``int`` reads besides (other scripts' digits, ``+``, ``_``, spaces, a
    trailing newline) is refused; ASCII digits read as ``int`` does."""
    assert [decimal_integer(t) for t in ("0", "42", "-7", "007")] == [0, 42, -7, 7]
    for text in ("\uff11", "\u0663", "\U0001d7d9", "+1", "1_000", " 1", "1\n", "", "-", "1.0"):
        with pytest.raises(ValueError, match="not a decimal integer"):
            decimal_integer(text)
