"""BrAPI-Germplasm's rules as the write engine runs them: each reads the documents into the
domain's typed values (``bijmantra.domain.germplasm``), asks the domain, and writes back."""

from __future__ import annotations

from typing import Any

from bijmantra.application.brapi.entity import NoRules, WriteContext
from bijmantra.application.brapi.schema import empty
from bijmantra.domain.germplasm import (
    InsufficientSeed,
    PedigreeNode,
    SeedLotTransfer,
    acquisition_date_problem,
    apply_transfers,
    find_cycle,
    pedigree_graph,
    progeny_by_parent,
    stored_amount,
    transfer_problems,
)
from bijmantra.kernel import Conflict, FieldError, Unprocessable, ValidationFailed, new_id

# A pedigree write reads, each in one statement, every node it can change: the nodes naming
# a written node as progeny, and every child of the parents concerned. Not a page: a bound
# there would drop progeny silently.
PARENT_LINK = ("parents", "*", "germplasmDbId")
PROGENY_LINK = ("progeny", "*", "germplasmDbId")


class GermplasmRules(NoRules):
    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = [
            FieldError(f"{context.location(d)}.acquisitionDate", problem)
            for d in documents
            if (
                problem := acquisition_date_problem(
                    d.get("acquisitionDate"), context.clock.now().date()
                )
            )
        ]
        if problems:
            raise ValidationFailed("Invalid Germplasm", problems)


class AttributeRules(NoRules):
    """An attribute's trait, method and scale are identified objects (the spec requires DbIds)."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        for document in documents:
            for part in ("trait", "method", "scale"):
                if isinstance(document.get(part), dict) and not document[part].get(f"{part}DbId"):
                    document[part][f"{part}DbId"] = new_id()


class PedigreeRules(NoRules):
    """Nodes name existing germplasm, none becomes its own ancestor, parents list their progeny."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        own = await context.store.documents("germplasm", [d["germplasmDbId"] for d in documents])
        for document in documents:
            germplasm = own.get(document["germplasmDbId"])
            if germplasm is not None:
                for key in ("germplasmName", "germplasmPUI", "defaultDisplayName"):
                    document[key] = germplasm.get(key)
        problems = [
            FieldError(
                f"{context.location(d)}.germplasmDbId", "not a germplasm of this organization"
            )
            for d in documents
            if d["germplasmDbId"] not in own
        ]
        if problems:
            raise Unprocessable("Pedigree nodes must describe existing germplasm", problems)
        await self._reject_cycles(context, documents)

    async def _reject_cycles(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        """A new cycle passes through a written node, so it lies within the ancestry of the
        written nodes' parents: the stored nodes reachable from them (one statement), with
        the written nodes in place of their stored selves. Not the whole pedigree."""
        nodes = [PedigreeNode.from_brapi(d) for d in documents]
        roots = sorted({p for node in nodes for p in node.parent_ids})
        ancestry = await context.store.reachable("pedigree", roots, PARENT_LINK)
        cycle = find_cycle(ancestry | pedigree_graph(nodes))
        if cycle is not None:
            raise Unprocessable(
                "A germplasm cannot be its own ancestor",
                [FieldError("parents", f"pedigree cycle {cycle}")],
            )

    async def after(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        """Keep ``progeny`` equal to the nodes naming it as a parent: for the new parents, the
        former parents (nodes listing a written node as progeny) and the written nodes.

        A fixed number of statements whatever the batch: each lookup is one statement
        listing every node of the write (``linking``), not one query per node."""
        nodes = [PedigreeNode.from_brapi(d) for d in documents]
        written = [node.germplasm_db_id for node in nodes]
        former = await context.store.linking_ids("pedigree", PROGENY_LINK, written)
        parents = sorted({p for n in nodes for p in n.parent_ids} | set(former) | set(written))
        existing = await context.store.documents("pedigree", parents, for_update=True)
        germplasm = await context.store.documents(
            "germplasm", [p for p in parents if p not in existing]
        )
        children = await context.store.linking("pedigree", PARENT_LINK, parents)
        offspring = progeny_by_parent(map(PedigreeNode.from_brapi, children))
        changed, created = [], []
        for parent in parents:
            progeny = [
                {
                    "germplasmDbId": o.germplasm_db_id,
                    "germplasmName": o.germplasm_name,
                    "parentType": o.parent_type,
                }
                for o in offspring.get(parent, ())
            ]
            if parent in existing:
                node = existing[parent]
                if node.get("progeny") != progeny:
                    node["progeny"] = progeny
                    changed.append((parent, node))
            elif parent in germplasm and progeny:
                node = empty(context.entity.document_schema)
                g = germplasm[parent]
                node.update(
                    germplasmDbId=parent,
                    germplasmName=g["germplasmName"],
                    germplasmPUI=g.get("germplasmPUI"),
                    defaultDisplayName=g.get("defaultDisplayName"),
                    progeny=progeny,
                    parents=[],
                    siblings=[],
                )
                created.append((parent, node))
        await context.save("pedigree", changed, new=False)
        await context.save("pedigree", created, new=True)


class SeedLotRules(NoRules):
    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = [
            FieldError(f"{context.location(d)}.amount", "must not be negative")
            for d in documents
            if (d.get("amount") or 0) < 0
        ]
        if problems:
            raise ValidationFailed("Invalid SeedLot", problems)
        for document in documents:
            document["amount"] = document.get("amount") or 0


class SeedLotTransactionRules(NoRules):
    """Transactions move seed atomically: lots are locked, every balance stays >= 0."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = [
            FieldError(".".join(filter(None, (context.location(d), field))), message)
            for d in documents
            for field, message in transfer_problems(
                d.get("amount"), d.get("fromSeedLotDbId"), d.get("toSeedLotDbId")
            )
        ]
        if problems:
            raise ValidationFailed("Invalid SeedLotTransaction", problems)
        transfers = [
            SeedLotTransfer(d["amount"], d.get("fromSeedLotDbId"), d.get("toSeedLotDbId"))
            for d in documents
        ]
        lot_ids = sorted({lot for t in transfers for lot in t.lots})  # sorted: no deadlocks
        lots = await context.store.documents("seedlot", lot_ids, for_update=True)
        try:
            balances = apply_transfers(
                {i: float(lots[i].get("amount") or 0) for i in lots}, transfers
            )
        except InsufficientSeed as exc:
            raise Conflict(
                "Not enough seed in the lot", [FieldError(f"[{exc.index}].amount", str(exc))]
            ) from None
        for document in documents:
            if document.get("units") is None:
                lot_id = document.get("fromSeedLotDbId") or document.get("toSeedLotDbId")
                lot = lots.get(lot_id) if lot_id else None
                document["units"] = lot.get("units") if lot else None
        changed = []
        for lot_id, balance in balances.items():
            amount = stored_amount(balance)
            if lots[lot_id].get("amount") != amount:
                lots[lot_id]["amount"] = amount
                changed.append((lot_id, lots[lot_id]))
        await context.save("seedlot", changed, new=False)
