"""The distribution context's view of the germplasm context, through its application service
and its store port: germplasm (crop, Annex I), seed lots, and withdrawals written as BrAPI
seed-lot transactions in the caller's transaction. Never its tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.ports import UnitOfWork
from bijmantra.domain.distribution.export import Material
from bijmantra.kernel import FieldError, Principal, Unprocessable


@dataclass(frozen=True)
class Lot:
    seed_lot_id: str
    germplasm_ids: tuple[str, ...]
    amount: Decimal
    units: str


@dataclass(frozen=True)
class Withdrawal:
    seed_lot_id: str
    amount: Decimal
    units: str
    description: str
    dispatch_id: str


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


class GermplasmSeedLots:
    def __init__(self, commands: ResourceCommands) -> None:
        self._commands = commands

    async def material(
        self, uow: UnitOfWork, germplasm_ids: Sequence[str], *, strict: bool = True
    ) -> dict[str, Material]:
        """The named germplasm of the organization; unknown ids are a 422 when ``strict``."""
        found = await uow.resources.documents("germplasm", sorted(set(germplasm_ids)))
        missing = sorted(set(germplasm_ids) - set(found))
        if missing and strict:
            raise Unprocessable(
                "Germplasm not found in this organization",
                [FieldError("germplasm_id", repr(m)) for m in missing],
            )
        return {
            i: Material(
                i,
                _text(d.get("germplasmName")),
                _text(d.get("accessionNumber")),
                _text(d.get("commonCropName")),
                _text(d.get("genus")),
                _text(d.get("species")),
            )
            for i, d in found.items()
        }

    async def lots(self, uow: UnitOfWork, seed_lot_ids: Sequence[str]) -> dict[str, Lot]:
        found = await uow.resources.documents("seedlot", sorted(set(seed_lot_ids)))
        missing = sorted(set(seed_lot_ids) - set(found))
        if missing:
            raise Unprocessable(
                "Seed lots not found in this organization",
                [FieldError("seed_lot_id", repr(m)) for m in missing],
            )
        return {
            i: Lot(
                i,
                tuple(
                    c["germplasmDbId"]
                    for c in d.get("contentMixture") or []
                    if isinstance(c, dict) and isinstance(c.get("germplasmDbId"), str)
                ),
                Decimal(str(d.get("amount") or 0)),
                _text(d.get("units")),
            )
            for i, d in found.items()
        }

    async def withdraw(
        self, uow: UnitOfWork, principal: Principal, withdrawals: Sequence[Withdrawal]
    ) -> list[str]:
        """Debit the lots in the caller's transaction; ``Conflict`` when a lot would go below
        zero (the germplasm context's ledger rule decides, and locks the lots)."""
        items = [
            {
                "fromSeedLotDbId": w.seed_lot_id,
                "amount": int(w.amount) if w.amount == w.amount.to_integral() else float(w.amount),
                "units": w.units or None,
                "transactionDescription": w.description,
                "additionalInfo": {"dispatchId": w.dispatch_id},
            }
            for w in withdrawals
        ]
        created = await self._commands.create_in(uow, principal, "seedlottransaction", items)
        return [str(d["transactionDbId"]) for d in created]
