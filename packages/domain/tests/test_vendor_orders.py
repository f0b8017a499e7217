"""Vendor orders: the status state machine and what a plate submission must hold."""

from __future__ import annotations

from datetime import UTC, datetime

from bijmantra.domain.genotyping.plates import Problem, Well
from bijmantra.domain.genotyping.vendor import (
    NEXT,
    OrderStatus,
    StatusChange,
    SubmittedPlate,
    SubmittedSample,
    advance,
    submission_problems,
)
from hypothesis import given
from hypothesis import strategies as st

AT = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
LINE = ["registered", "received", "inProgress", "completed"]


def expected_to_allow(current: str, wanted: str) -> bool:
    """The lifecycle as the module's docstring states it, written independently of NEXT."""
    if current in ("completed", "rejected"):
        return False
    return wanted == "rejected" or (
        wanted in LINE and LINE.index(wanted) == LINE.index(current) + 1
    )


@given(st.lists(st.sampled_from([s.value for s in OrderStatus] + ["done"]), max_size=8))
def test_an_order_only_ever_moves_one_step_forward_or_to_rejected(steps: list[str]) -> None:
    current = OrderStatus.REGISTERED
    for wanted in steps:
        change = advance(current, wanted, AT)
        assert isinstance(change, StatusChange) == expected_to_allow(current, wanted)
        if isinstance(change, StatusChange):
            assert change.at == AT
            current = change.status
        else:
            assert change.field == "status"


def test_completed_and_rejected_are_final() -> None:
    for final in (OrderStatus.COMPLETED, OrderStatus.REJECTED):
        assert NEXT[final] == frozenset()
        for wanted in OrderStatus:
            assert isinstance(advance(final, wanted.value, AT), Problem)


def fields(number: int, plates: list[SubmittedPlate]) -> list[str]:
    return [p.field for p in submission_problems(number, plates)[0]]


def plate(*wells: str | None, fmt: str = "PLATE_96") -> SubmittedPlate:
    return SubmittedPlate(
        fmt, [SubmittedSample(f"s{i}-{w}", None, None, w) for i, w in enumerate(wells)]
    )


def test_a_submission_counts_names_and_places_its_samples_truthfully() -> None:
    problems, wells = submission_problems(3, [plate("A1", "b02"), plate(None, fmt="TUBES")])
    assert problems == []
    assert wells == [[Well("A", 1), Well("B", 2)], [None]]
    assert fields(3, [plate("A1")]) == ["numberOfSamples"]
    assert fields(1, []) == ["plates", "numberOfSamples"]
    assert fields(2, [plate("A1", "A01")]) == ["plates[0].samples[1].well"]
    assert fields(1, [plate("M1")]) == ["plates[0].samples[0].row"]
    assert fields(1, [plate("A1", fmt="TUBES")]) == ["plates[0].samples[0].well"]
    repeated = SubmittedPlate("PLATE_96", [SubmittedSample("x", None, None, None)] * 2)
    assert fields(2, [repeated]) == ["plates[0].samples[1].clientSampleId"]
