"""Non-Latin names in the distribution PDFs: a document outside Windows-1252 embeds the Noto
faces shipped as Python packages, and its text comes back out of the PDF as written; a
Windows-1252 document stays on the standard fonts (nothing embedded)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pypdf
from bijmantra.analytics_worker.documents import render_pdf
from bijmantra.analytics_worker.typefaces import STANDARD, typeface_for, unicode_typeface
from bijmantra.application.distribution.invoices import invoice_document
from bijmantra.application.distribution.rendering import agreement_printable, invoice_printable
from bijmantra.domain.distribution.model import Invoice
from bijmantra.domain.distribution.money import InvoiceLine
from bijmantra.domain.distribution.states import InvoiceStatus

ISSUED = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)
HINDI = "भारतीय कृषि अनुसंधान संस्थान"  # Indian Agricultural Research Institute
TAMIL = "தமிழ்நாடு வேளாண்மைப் பல்கலைக்கழகம்"  # Tamil Nadu Agricultural University
TELUGU = "తెలుగు"
GREEK = "Ελληνικός Γενετικός Τράπεζα"
RUSSIAN = "Всероссийский институт растениеводства"


def _invoice(description: str) -> dict[str, object]:
    invoice = Invoice(
        str(uuid.uuid4()),
        "p",
        "INR",
        (InvoiceLine(description, Decimal("3"), Decimal("12.50"), Decimal("0.18")),),
        InvoiceStatus.ISSUED,
        ISSUED,
        number="2026-000007",
        year=2026,
        issued_at=ISSUED,
    )
    return invoice_document(invoice)


def _text(content: bytes) -> str:
    pages = pypdf.PdfReader(io.BytesIO(content)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def _embedded_fonts(content: bytes) -> set[str]:
    names = set()
    for page in pypdf.PdfReader(io.BytesIO(content)).pages:
        for font in page["/Resources"]["/Font"].values():
            descriptor = font.get_object().get("/FontDescriptor")
            if descriptor is not None and "/FontFile2" in descriptor.get_object():
                names.add(str(font.get_object()["/BaseFont"]))
    return names


def test_an_invoice_in_devanagari_greek_cyrillic_tamil_and_telugu_prints_them() -> None:
    partner = {"name": HINDI, "country": "IN", "id": "p"}
    described = f"{GREEK} / {RUSSIAN} / {TAMIL} / {TELUGU}"
    page = invoice_printable({"invoice": _invoice(described), "partner": partner})
    content = render_pdf(page, ISSUED)
    text = _text(content)
    assert f"{HINDI} (IN)" in text
    for written in (GREEK, RUSSIAN, TAMIL, TELUGU):
        assert written in text
    assert "Invoice 2026-000007" in text
    assert "Total: 44.25 INR" in text
    assert {name.split("+")[-1] for name in _embedded_fonts(content)} == {
        "NotoSans-Regular",
        "NotoSansTamil-Regular",
        "NotoSansTelugu-Regular",
    }


def test_an_agreement_with_a_devanagari_recipient_prints_the_name() -> None:
    agreement = {
        "id": str(uuid.uuid4()),
        "type": "smta",
        "template_version": "2006",
        "text": "Standard Material Transfer Agreement\n\nThe Material is transferred.\n",
        "parties": [
            {"role": "provider", "name": "Genebank", "email": "a@b.example", "country": "DE"},
            {"role": "recipient", "name": HINDI, "email": "c@d.example", "country": "IN"},
        ],
        "document_sha256": "0" * 64,
    }
    text = _text(render_pdf(agreement_printable({"agreement": agreement}), ISSUED))
    assert f"{HINDI} <c@d.example>, IN" in text


def test_a_windows_1252_invoice_embeds_no_font() -> None:
    partner = {"name": "Société Générale de Semences", "country": "FR", "id": "p"}
    content = render_pdf(
        invoice_printable({"invoice": _invoice("Handling, Zürich"), "partner": partner}), ISSUED
    )
    assert _embedded_fonts(content) == set()
    assert "Société Générale de Semences (FR)" in _text(content)


def test_characters_no_face_has_print_as_a_question_mark() -> None:
    face = typeface_for(["稻 IR64"])
    assert face == unicode_typeface()
    assert face.runs("稻 IR64", face.regular) == [(face.regular, "? IR64")]
    assert typeface_for(["Zürich", "naïve"]) == STANDARD


def test_long_words_wrap_within_the_width() -> None:
    face = unicode_typeface()
    word = "अनुसंधान" * 20  # one word wider than the column: cut by characters
    lines = face.wrap(word, face.regular, 10, 120)
    assert len(lines) > 1
    assert "".join(lines) == word
    assert all(face.width(line, face.regular, 10) <= 120 for line in lines)
