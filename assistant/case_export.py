"""A case as a file: Markdown, Word (DOCX) or PDF. The de-identified part is for sharing on
screen in the session; the full record, with the identified part, is for the hub team.

The three formats say the same thing: the wording and order come from the case service
(`case_markdown` and the facts it is built from), so a label changes in the catalogues only.
The functions here are pure: they format what they are given and never read the store.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from docx import Document
from fpdf import FPDF

from assistant.i18n import Translator
from assistant.model import Case, Person
from assistant.services.cases import (
    _deidentified_facts,
    _identified_facts,
    _title,
    case_markdown,
)

CasePart = Literal["deidentified", "full"]
ExportFormat = Literal["md", "docx", "pdf"]
FORMATS: tuple[ExportFormat, ...] = ("md", "docx", "pdf")
MEDIA_TYPES: dict[ExportFormat, str] = {
    "md": "text/markdown",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
# fpdf2 ships no Unicode font and its core fonts (Helvetica) know Latin-1 only. A TrueType
# font from the system is used when there is one (Debian's fonts-dejavu-core puts it here);
# without one the PDF falls back to Helvetica, with typographic marks spelt in Latin-1.
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
     "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
     "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
)
_LATIN_1 = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                          "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u0153": "oe",
                          "\u0152": "OE", "\u202f": " ", "\u2009": " ", "\u2022": "\u00b7"})


@dataclass(frozen=True)
class CaseDocument:
    """What every format shows, in order: title, kind, questions, the de-identified facts and,
    for the full record, the identified ones."""

    title: str
    kind: str
    questions_heading: str
    questions: tuple[str, ...]
    case_heading: str
    facts: tuple[tuple[str, str], ...]
    identified_heading: str = ""
    identified: tuple[tuple[str, str], ...] = ()


def case_document(case: Case, part: CasePart, t: Translator, *, presenter: Person | None = None,
                  session_when: str = "", network_name: str = "") -> CaseDocument:
    content = case.content
    kind = t(f"cases.type.{content.case_type}") + (f" · {network_name}" if network_name else "")
    identified: tuple[tuple[str, str], ...] = ()
    if part == "full":
        identified = tuple(_identified_facts(case, t, presenter, session_when))
    return CaseDocument(
        title=_title(case, t), kind=kind, questions_heading=t("cases.part.questions"),
        questions=content.questions, case_heading=t("cases.part.case"),
        facts=tuple(_deidentified_facts(content, t)),
        identified_heading=t("cases.part.identified") if part == "full" else "",
        identified=identified)


def case_docx(case: Case, part: CasePart, t: Translator, *, presenter: Person | None = None,
              session_when: str = "", network_name: str = "") -> bytes:
    """A Word document: the title, the questions first as a numbered list, then each field
    as a heading and its paragraph."""
    doc = case_document(case, part, t, presenter=presenter, session_when=session_when,
                        network_name=network_name)
    word = Document()
    word.core_properties.title = doc.title
    word.core_properties.language = t.language
    word.add_heading(doc.title, level=0)
    word.add_paragraph().add_run(doc.kind).italic = True
    word.add_heading(doc.questions_heading, level=1)
    for question in doc.questions:
        word.add_paragraph(question, style="List Number")
    word.add_heading(doc.case_heading, level=1)
    for label, value in doc.facts:
        word.add_heading(label, level=2)
        word.add_paragraph(value)
    if doc.identified:
        word.add_heading(doc.identified_heading, level=1)
        for label, value in doc.identified:
            word.add_heading(label, level=2)
            word.add_paragraph(value)
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()


def case_pdf(case: Case, part: CasePart, t: Translator, *, presenter: Person | None = None,
             session_when: str = "", network_name: str = "",
             fonts: Sequence[tuple[str, str]] = FONT_CANDIDATES) -> bytes:
    """An A4 PDF laid out as the Word document. `fonts` are (regular, bold) TrueType files
    tried in turn; with none present the text is set in Helvetica (Latin-1)."""
    doc = case_document(case, part, t, presenter=presenter, session_when=session_when,
                        network_name=network_name)
    pdf = FPDF(format="A4")
    pdf.set_title(doc.title)
    pdf.set_lang(t.language)
    pdf.set_creator("Spoke")
    family, plain = _font(pdf, fonts)
    pdf.add_page()

    def write(text: str, size: float, bold: bool = False, italic: bool = False,
              gap: float = 1.0) -> None:
        pdf.set_font(family, "B" if bold else "I" if italic and family == "helvetica" else "",
                     size)
        pdf.multi_cell(0, size * 0.5, plain(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    write(doc.title, 18, bold=True, gap=2)
    write(doc.kind, 11, italic=True, gap=4)
    write(doc.questions_heading, 14, bold=True)
    for number, question in enumerate(doc.questions, 1):
        write(f"{number}. {question}", 11)
    pdf.ln(3)
    for heading, facts in ((doc.case_heading, doc.facts),
                           (doc.identified_heading, doc.identified)):
        if not facts:
            continue
        write(heading, 14, bold=True)
        for label, value in facts:
            write(label, 11, bold=True, gap=0.5)
            write(value, 11, gap=2)
        pdf.ln(2)
    return bytes(pdf.output())


def _font(pdf: FPDF, fonts: Sequence[tuple[str, str]]) -> tuple[str, Callable[[str], str]]:
    """The font family to use, and what its text must go through first."""
    for regular, bold in fonts:
        if Path(regular).is_file():
            pdf.add_font("case", "", regular)
            pdf.add_font("case", "B", bold if Path(bold).is_file() else regular)
            return "case", _unchanged
    return "helvetica", _latin_1


def _unchanged(text: str) -> str:
    return text


def _latin_1(text: str) -> str:
    """What Helvetica can show: accents stay (é, à, ç are Latin-1), marks become their
    plain spelling, anything else a question mark."""
    text = unicodedata.normalize("NFC", text).translate(_LATIN_1)
    return text.encode("latin-1", "replace").decode("latin-1")


def export_bytes(case: Case, fmt: ExportFormat, part: CasePart, t: Translator, *,
                 presenter: Person | None = None, session_when: str = "",
                 network_name: str = "") -> bytes:
    """The case in one of FORMATS."""
    if fmt == "md":
        return case_markdown(case, part, t, presenter=presenter, session_when=session_when,
                             network_name=network_name).encode("utf-8")
    build = case_docx if fmt == "docx" else case_pdf
    return build(case, part, t, presenter=presenter, session_when=session_when,
                 network_name=network_name)


def export_name(case: Case, part: CasePart, fmt: ExportFormat) -> str:
    """"case-CH-2025-014-deidentified.pdf", or the case number before there is a reference."""
    return f"case-{case.reference or case.id}-{part}.{fmt}"
