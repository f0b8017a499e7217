"""PDFs of the distribution context (agreements, packing lists, invoices), drawn with
ReportLab's canvas from the page model the application builds (``Printable``) and stored
through domain-api.

The canvas writes PDF operators directly (no HTML/CSS layout engine, no browser), with a C
accelerator for text metrics: a 20-line invoice renders in a few milliseconds (ADR 0095).
A document in Windows-1252 uses the standard Helvetica fonts; any other (a partner's name in
Devanagari, Greek, Cyrillic) embeds Noto subsets (``typefaces``, ADR 0096).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Awaitable, Callable
from datetime import datetime

import msgspec
from bijmantra.analytics_worker.typefaces import Typeface, typeface_for
from bijmantra.application.distribution.notifications import FindRecipient, tenant_of
from bijmantra.application.distribution.recipients import with_recipient
from bijmantra.application.distribution.rendering import (
    RENDERED_BY,
    RENDERED_FOR,
    Printable,
    Table,
)
from bijmantra.application.events import EventEnvelope, subject_for
from bijmantra.kernel import TenantId
from bijmantra.observability import get_logger
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

log = get_logger(__name__)
DOCUMENTS_CONSUMER = "distribution-documents"
DOCUMENTS_SUBJECTS = tuple(subject_for(t) for t in RENDERED_BY)
MARGIN = 42.0
WIDTH = A4[0] - 2 * MARGIN
TOP = A4[1] - MARGIN
LABEL = 110.0
StoreDocument = Callable[[TenantId, str, str, bytes, str], Awaitable[str]]


class _Page:
    """A top-down cursor over ReportLab's bottom-up canvas, breaking pages as it goes."""

    def __init__(self, canvas: Canvas, typeface: Typeface) -> None:
        self.c = canvas
        self.y = TOP
        self.face = typeface

    def need(self, height: float) -> None:
        if self.y - height < MARGIN:
            self.c.showPage()
            self.y = TOP

    def lines(self, text: str, font: str, size: float, width: float) -> list[str]:
        return self.face.wrap(text, font, size, width)

    def text(self, x: float, y: float, text: str, font: str, size: float) -> None:
        self.face.draw(self.c, x, y, text, font, size)

    def right(self, x: float, y: float, text: str, font: str, size: float) -> None:
        self.face.draw_right(self.c, x, y, text, font, size)

    def paragraph(self, text: str, font: str, size: float = 9.5) -> None:
        for line in self.lines(text, font, size, WIDTH):
            self.need(size * 1.3)
            self.text(MARGIN, self.y - size, line, font, size)
            self.y -= size * 1.3


def _facts(page: _Page, facts: tuple[tuple[str, str], ...]) -> None:
    regular, bold = page.face.regular, page.face.bold
    for label, value in facts:
        lines = page.lines(value, regular, 10, WIDTH - LABEL)
        page.need(12 * len(lines))
        page.text(MARGIN, page.y - 10, label, bold, 10)
        for n, line in enumerate(lines):
            page.text(MARGIN + LABEL, page.y - 10 - 12 * n, line, regular, 10)
        page.y -= 12 * len(lines) + 2


def _table(page: _Page, table: Table) -> None:
    """Ruled rows; a cell wraps within its column and the row grows to its tallest cell."""
    widths = [WIDTH * w for w in table.widths]
    size, leading = 8.5, 10.5

    def row(values: tuple[str, ...], font: str) -> None:
        cells = [page.lines(v, font, size, w - 4) for v, w in zip(values, widths, strict=True)]
        height = leading * max(len(c) for c in cells) + 4
        page.need(height)
        x = MARGIN
        for column, (lines, width) in enumerate(zip(cells, widths, strict=True)):
            for n, line in enumerate(lines):
                baseline = page.y - size - 1 - leading * n
                if column in table.right_aligned:
                    page.right(x + width - 2, baseline, line, font, size)
                else:
                    page.text(x + 2, baseline, line, font, size)
            x += width
        page.y -= height
        page.c.line(MARGIN, page.y, MARGIN + WIDTH, page.y)

    page.c.line(MARGIN, page.y, MARGIN + WIDTH, page.y)
    row(table.header, page.face.bold)
    for values in table.rows:
        row(values, page.face.regular)


def _texts(page: Printable) -> list[str]:
    """Every string the page prints, to choose its typeface."""
    texts = [page.title, page.footer, *page.paragraphs]
    texts += [part for pair in (*page.facts, *page.totals) for part in pair]
    if page.table is not None:
        texts += [*page.table.header, *(cell for row in page.table.rows for cell in row)]
    return texts


def render_pdf(page: Printable, created: datetime) -> bytes:
    """The same page gives the same bytes (``invariant``), so a re-rendering is recognised;
    the document's date is ``created`` (the event's time), not the wall clock."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(page.title)
    canvas.setCreator("Bijmantra")
    canvas.setSubject(f"{page.kind.value} {page.owner_id} {created.isoformat()}")
    face = typeface_for(_texts(page))
    cursor = _Page(canvas, face)
    cursor.paragraph(page.title, face.bold, 16)
    cursor.y -= 6
    _facts(cursor, page.facts)
    cursor.y -= 6
    for paragraph in page.paragraphs:
        cursor.paragraph(paragraph, face.regular)
    if page.table is not None:
        _table(cursor, page.table)
    cursor.y -= 8
    for n, (label, value) in enumerate(page.totals):
        cursor.need(13)
        font = face.bold if n == len(page.totals) - 1 else face.regular
        cursor.right(MARGIN + WIDTH, cursor.y - 10, f"{label}: {value}", font, 10)
        cursor.y -= 13
    if page.footer:
        cursor.y -= 10
        cursor.paragraph(page.footer, face.italic, 7.5)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


class RenderDocuments:
    """Consumer: the event that makes a document renders it; domain-api keeps it (once).
    What the event leaves out of people (names, addresses, the agreement's text, ADR 0389)
    is asked of domain-api through ``recipient``; an older event carries it (its ``email``)."""

    def __init__(self, store: StoreDocument, recipient: FindRecipient | None = None) -> None:
        self._store = store
        self._recipient = recipient

    async def __call__(self, envelope: EventEnvelope) -> None:
        build = RENDERED_BY.get(envelope.type)
        if build is None:
            return
        tenant = tenant_of(envelope)
        data = envelope.data
        if "email" not in data and self._recipient is not None:
            found = await self._recipient(tenant, RENDERED_FOR[envelope.type], envelope.subject)
            data = with_recipient(data, found)
        page = build(data)
        content = render_pdf(page, envelope.time)
        source = hashlib.sha256(msgspec.json.encode(envelope.data)).hexdigest()
        sha256 = await self._store(tenant, page.kind.value, page.owner_id, content, source)
        log.info("document rendered", kind=page.kind.value, owner_id=page.owner_id, sha256=sha256)
