"""The fonts a distribution PDF is drawn with, chosen per document (ADR 0096).

A document whose text fits Windows-1252 uses the PDF standard fonts (Helvetica): nothing is
embedded, which keeps the common invoice small and fast. Any other document embeds subsets
of Noto Sans (Latin, Greek, Cyrillic, Devanagari) with Noto Sans Tamil and Telugu behind it,
shipped as Python packages (``fontpkg-noto-sans*``, SIL Open Font License): no font is looked
up on the host or downloaded at run time. Each string is split into runs, each drawn with
the first face that has its characters; a character no face has (CJK, Arabic) prints as
``?``. Glyphs are placed one per character, without OpenType shaping: the text extracts
exactly, but conjuncts and reordered vowel signs of Indic scripts are drawn in their
nominal forms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import fontpkg_noto_sans
import fontpkg_noto_sans_tamil
import fontpkg_noto_sans_telugu
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

STANDARD_ENCODING = "cp1252"
NOTO = "NotoSans"
FALLBACKS = (
    ("NotoSansTamil", fontpkg_noto_sans_tamil.ROOT),
    ("NotoSansTelugu", fontpkg_noto_sans_telugu.ROOT),
)
FAKE_BOLD_STROKE = 0.35  # the variable fonts' default instance is the regular weight


@dataclass(frozen=True)
class Typeface:
    """``regular``/``bold``/``italic`` name the main face; ``fallbacks`` cover what it lacks.

    ``embedded`` faces have no bold cut here: bold is drawn filled and stroked."""

    regular: str
    bold: str
    italic: str
    fallbacks: tuple[str, ...] = ()
    embedded: bool = False

    def runs(self, text: str, font: str) -> list[tuple[str, str]]:
        """``text`` as (font, run) pairs; characters no face has become ``?``."""
        if not self.embedded:
            return [(font, _standard(text))]
        font = self.regular if font == self.bold else font
        faces = (font, *self.fallbacks)
        runs: list[tuple[str, str]] = []
        for char in text:
            face = next((f for f in faces if _covers(f, char)), font)
            shown = char if _covers(face, char) else "?"
            if runs and runs[-1][0] == face:
                runs[-1] = (face, runs[-1][1] + shown)
            else:
                runs.append((face, shown))
        return runs

    def width(self, text: str, font: str, size: float) -> float:
        return float(sum(pdfmetrics.stringWidth(run, f, size) for f, run in self.runs(text, font)))

    def wrap(self, text: str, font: str, size: float, width: float) -> list[str]:
        """Greedy word wrap at ``width``; a word longer than a line is cut by characters.
        The standard fonts keep ReportLab's own (faster) splitter."""
        if not self.embedded:
            return simpleSplit(_standard(text), font, size, width) or [""]
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if self.width(candidate, font, size) <= width:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                line = ""
                for char in word:
                    if line and self.width(line + char, font, size) > width:
                        lines.append(line)
                        line = ""
                    line += char
            lines.append(line)
        return lines or [""]

    def draw(self, canvas: Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
        """Left-aligned text at baseline ``y``, run by run."""
        if not self.embedded:
            _set_font(canvas, font, size)
            canvas.drawString(x, y, _standard(text))
            return
        bold = font == self.bold
        shape = canvas.beginText(x, y)
        if bold:
            canvas.setLineWidth(FAKE_BOLD_STROKE)
            shape.setTextRenderMode(2)
        for face, run in self.runs(text, font):
            shape.setFont(face, size)
            shape.textOut(run)
        canvas.drawText(shape)

    def draw_right(
        self, canvas: Canvas, right: float, y: float, text: str, font: str, size: float
    ) -> None:
        if not self.embedded:
            _set_font(canvas, font, size)
            canvas.drawRightString(right, y, _standard(text))
            return
        self.draw(canvas, right - self.width(text, font, size), y, text, font, size)


def _set_font(canvas: Canvas, font: str, size: float) -> None:
    """Only when it changes: each ``setFont`` writes operators into the page."""
    if (canvas._fontname, canvas._fontsize) != (font, size):
        canvas.setFont(font, size)


def _standard(text: str) -> str:
    """The standard fonts cover Windows-1252 (a document is only given them when it fits)."""
    return text.encode(STANDARD_ENCODING, "replace").decode(STANDARD_ENCODING)


STANDARD = Typeface("Helvetica", "Helvetica-Bold", "Helvetica-Oblique")


def _font_file(root: Path, prefix: str) -> str:
    """The package's upright variable font (its default instance is the regular weight)."""
    return str(next(p for p in sorted(root.rglob(f"{prefix}[[]*.ttf")) if "Italic" not in p.name))


@cache
def unicode_typeface() -> Typeface:
    """Noto Sans with its fallbacks behind it, registered with ReportLab once."""
    for name, root in ((NOTO, fontpkg_noto_sans.ROOT), *FALLBACKS):
        pdfmetrics.registerFont(TTFont(name, _font_file(root, name)))
    fallbacks = tuple(name for name, _ in FALLBACKS)
    return Typeface(NOTO, f"{NOTO}#bold", NOTO, fallbacks, embedded=True)


@cache
def _coverage(font: str) -> frozenset[int]:
    return frozenset(pdfmetrics.getFont(font).face.charToGlyph)


def _covers(font: str, char: str) -> bool:
    return ord(char) in _coverage(font)


def typeface_for(texts: Iterable[str]) -> Typeface:
    """The standard fonts when every string fits Windows-1252, else the embedded Noto faces."""
    try:
        for text in texts:
            text.encode(STANDARD_ENCODING)
    except UnicodeEncodeError:
        return unicode_typeface()
    return STANDARD
