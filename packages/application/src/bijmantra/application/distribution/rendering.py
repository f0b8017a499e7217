"""What each PDF shows, as a typed page model built from the event that triggers it.

Pure: the worker's PDF library draws a ``Printable`` and nothing else, so what a document
says is decided (and tested) here, and the library can change without changing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bijmantra.application.ports.distribution import DocumentKind


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...]  # fractions of the text width
    right_aligned: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Printable:
    kind: DocumentKind
    owner_id: str
    title: str
    facts: tuple[tuple[str, str], ...]  # label, value
    paragraphs: tuple[str, ...] = ()
    table: Table | None = None
    totals: tuple[tuple[str, str], ...] = ()
    footer: str = ""


def invoice_printable(data: dict[str, Any]) -> Printable:
    invoice, partner = data["invoice"], data["partner"]
    currency = invoice["currency"]
    title = "Credit note" if invoice.get("credit_for") else "Invoice"
    rows = tuple(
        (
            line["description"],
            line["quantity"],
            line["unit_price"],
            f"{line['tax_rate']}",
            line["net"],
            line["tax"],
            line["gross"],
        )
        for line in invoice["lines"]
    )
    facts = [
        ("Number", invoice["number"] or ""),
        ("Issued", (invoice.get("issued_at") or "")[:10]),
        ("Bill to", f"{partner['name']} ({partner['country']})"),
        ("Currency", currency),
    ]
    if invoice.get("credit_for"):
        facts.append(("Corrects invoice", invoice["credit_for"]))
    totals = invoice["totals"]
    return Printable(
        DocumentKind.INVOICE,
        invoice["id"],
        f"{title} {invoice['number']}",
        tuple(facts),
        table=Table(
            ("Description", "Qty", "Unit price", "Tax rate", "Net", "Tax", "Gross"),
            rows,
            (0.31, 0.09, 0.13, 0.1, 0.12, 0.12, 0.13),
            frozenset(range(1, 7)),
        ),
        totals=(
            ("Net", f"{totals['net']} {currency}"),
            ("Tax", f"{totals['tax']} {currency}"),
            ("Total", f"{totals['gross']} {currency}"),
        ),
        footer=f"Invoice id {invoice['id']}",
    )


def agreement_printable(data: dict[str, Any]) -> Printable:
    agreement = data["agreement"]
    text = agreement["text"].rstrip("\n").split("\n")
    parties = tuple(
        (p["role"].title(), f"{p['name']} <{p['email']}>, {p['country']}")
        for p in agreement["parties"]
    )
    return Printable(
        DocumentKind.AGREEMENT,
        agreement["id"],
        text[0],
        (("Type", agreement["type"]), ("Template", agreement["template_version"]), *parties),
        paragraphs=tuple(text[2:]),
        footer=f"SHA-256 of the text to sign: {agreement['document_sha256']}",
    )


def packing_list_printable(data: dict[str, Any]) -> Printable:
    dispatch = data["dispatch"]
    rows = tuple(
        (line["seed_lot_id"], ", ".join(line["germplasm_ids"]), line["amount"], line["units"])
        for line in dispatch["lines"]
    )
    return Printable(
        DocumentKind.PACKING_LIST,
        dispatch["id"],
        "Packing list",
        (
            ("Dispatch", dispatch["id"]),
            ("Ship to", data.get("partner_name", "")),
            ("Seed request", dispatch["request_id"]),
        ),
        table=Table(
            ("Seed lot", "Germplasm", "Amount", "Units"),
            rows,
            (0.3, 0.4, 0.15, 0.15),
            frozenset({2}),
        ),
        footer=f"Dispatch id {dispatch['id']}",
    )


# The kind of record whose event renders each document (what a recipient lookup names).
RENDERED_FOR = {
    "distribution.invoice_issued": "invoice",
    "distribution.agreement_pending_signature": "agreement",
    "distribution.dispatch_packed": "dispatch",
}
# Which event renders which document.
RENDERED_BY = {
    "distribution.invoice_issued": invoice_printable,
    "distribution.agreement_pending_signature": agreement_printable,
    "distribution.dispatch_packed": packing_list_printable,
}
