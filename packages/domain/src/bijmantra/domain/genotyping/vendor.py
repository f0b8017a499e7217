"""Genotyping vendor orders: what a plate submission must hold and how an order's status moves.

A client submits plates of samples (``POST /vendor/plates``) or orders services for them
(``POST /vendor/orders``). The submission must say truthfully how many samples it holds,
name each sample once, and place each in a well its plate format has, once. An order is
``registered`` when placed; the lab then marks it ``received``, ``inProgress`` and
``completed`` in that order, or ``rejected`` at any point before it completes. Completed
and rejected orders never change again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bijmantra.domain.genotyping.plates import (
    Problem,
    Well,
    placement_problems,
    repeated_wells,
    sample_well,
)

MAX_SUBMISSION_SAMPLES = 10_000  # samples in one submission (about a hundred 96-well plates)


class OrderStatus(StrEnum):
    """The v2.1 ``VendorOrderStatus`` enum, in the order an order passes through it."""

    REGISTERED = "registered"
    RECEIVED = "received"
    IN_PROGRESS = "inProgress"
    COMPLETED = "completed"
    REJECTED = "rejected"


NEXT: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.REGISTERED: frozenset({OrderStatus.RECEIVED, OrderStatus.REJECTED}),
    OrderStatus.RECEIVED: frozenset({OrderStatus.IN_PROGRESS, OrderStatus.REJECTED}),
    OrderStatus.IN_PROGRESS: frozenset({OrderStatus.COMPLETED, OrderStatus.REJECTED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: OrderStatus
    at: datetime


def advance(current: OrderStatus, wanted: str, at: datetime) -> StatusChange | Problem:
    """The change to ``wanted`` at ``at``, or why an order in ``current`` cannot make it."""
    try:
        target = OrderStatus(wanted)
    except ValueError:
        known = ", ".join(s.value for s in OrderStatus)
        return Problem("status", f"{wanted!r} is not a status ({known})")
    if target not in NEXT[current]:
        allowed = ", ".join(sorted(s.value for s in NEXT[current])) or "nothing: it is final"
        return Problem("status", f"a {current.value} order can become {allowed}, not {wanted}")
    return StatusChange(target, at)


@dataclass(frozen=True, slots=True)
class SubmittedSample:
    client_sample_id: str | None
    row: str | None
    column: int | None
    well: str | None


@dataclass(frozen=True, slots=True)
class SubmittedPlate:
    plate_format: str | None
    samples: Sequence[SubmittedSample]


def submission_problems(
    number_of_samples: int | None, plates: Sequence[SubmittedPlate]
) -> tuple[list[Problem], list[list[Well | None]]]:
    """What is wrong with a submission, and each sample's well (by plate, by sample)."""
    problems: list[Problem] = []
    wells: list[list[Well | None]] = []
    total = sum(len(plate.samples) for plate in plates)
    if not plates:
        problems.append(Problem("plates", "a submission holds at least one plate"))
    if total > MAX_SUBMISSION_SAMPLES:
        problems.append(Problem("plates", f"at most {MAX_SUBMISSION_SAMPLES} samples"))
    if number_of_samples != total:
        problems.append(Problem("numberOfSamples", f"the plates hold {total} samples"))
    seen: set[str] = set()
    placed: list[tuple[str, str, Well]] = []
    for p, plate in enumerate(plates):
        wells.append([])
        for s, sample in enumerate(plate.samples):
            where = f"plates[{p}].samples[{s}]"
            name = sample.client_sample_id
            if name in seen:
                problems.append(Problem(f"{where}.clientSampleId", f"{name!r} is repeated"))
            seen.add(name or "")
            well, found = sample_well(sample.row, sample.column, sample.well)
            found += placement_problems(plate.plate_format, well)
            problems += [Problem(f"{where}.{x.field}", x.message) for x in found]
            wells[-1].append(well)
            if well is not None:
                placed.append((where, str(p), well))
    for where, (holder, _, well) in repeated_wells(placed).items():
        problems.append(Problem(f"{where}.well", f"{well.name} already holds {holder}"))
    return problems, wells
