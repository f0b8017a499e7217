"""Seed lots: amounts move between lots and no lot ever goes below zero."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SeedLotTransfer:
    """``amount`` moves from one lot to another; a missing side is the outside world."""

    amount: float
    from_lot: str | None = None
    to_lot: str | None = None

    @property
    def lots(self) -> tuple[str, ...]:
        return tuple(lot for lot in (self.from_lot, self.to_lot) if lot)


def transfer_problems(
    amount: float | None, from_lot: str | None, to_lot: str | None
) -> list[tuple[str, str]]:
    """(field, message) of a requested transfer ("" for the transfer as a whole): it moves a
    positive amount, from or to a lot, and never from a lot to itself."""
    problems: list[tuple[str, str]] = []
    if amount is None or amount <= 0:
        problems.append(("amount", "must be a positive number"))
    if not from_lot and not to_lot:
        problems.append(("", "needs fromSeedLotDbId or toSeedLotDbId"))
    if from_lot and from_lot == to_lot:
        problems.append(("", "cannot move seed from a lot to itself"))
    return problems


def stored_amount(balance: float) -> float | int:
    """A balance as a lot stores it: whole amounts as integers, as clients sent them."""
    return int(balance) if float(balance).is_integer() else balance


class InsufficientSeed(Exception):
    def __init__(self, lot: str, balance: float, index: int) -> None:
        super().__init__(f"seed lot {lot!r} would go below zero (balance {balance:g})")
        self.lot, self.balance, self.index = lot, balance, index


def apply_transfers(
    balances: Mapping[str, float], transfers: Sequence[SeedLotTransfer]
) -> dict[str, float]:
    """Balances after every transfer in order; ``InsufficientSeed`` on the first overdraft.

    All or nothing: the caller stores the result only if no transfer failed.
    """
    result = dict(balances)
    for index, transfer in enumerate(transfers):
        if transfer.amount < 0:
            raise ValueError("a transfer amount is never negative")
        if transfer.from_lot is not None:
            remaining = result[transfer.from_lot] - transfer.amount
            if remaining < 0:
                raise InsufficientSeed(transfer.from_lot, result[transfer.from_lot], index)
            result[transfer.from_lot] = remaining
        if transfer.to_lot is not None:
            result[transfer.to_lot] = result[transfer.to_lot] + transfer.amount
    return result
