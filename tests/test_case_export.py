"""A case as a Word document or a PDF (issue #7), and `spoke admin case export|list`: the
de-identified part says nothing about who presents it or from where; the full record adds it;
the labels come from the reader's catalogue; the operator's exports are audited."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfReader

from assistant.case_export import FONT_CANDIDATES, case_docx, case_pdf, export_name
from assistant.clock import FakeClock
from assistant.i18n import Translator
from assistant.model import Case, Person
from assistant.services.cases import accept_case, case_markdown
from storage.repositories import SqlStore
from tests.command_line import Spoke, in_process
from tests.conftest import url_of
from tests.test_cases import CONTENT, SERVICE_ISSUE, Hub, audit, make_hub

T_EN, T_FR = Translator("en"), Translator("fr")
SUMMARY = "A woman in her 80s with advanced heart failure in a nursing home"
QUESTIONS = ["How can we ease her breathlessness at night?",
             "When should we involve the community palliative team?"]
# What only the hub team may read: the presenter, their organisation and setting, the session.
IDENTIFYING = ("Amira", "Test Care Home", "Hospice", "Presenter", "Spring series",
               "For the hub team only")


@pytest.fixture
def quick(suite_store: SqlStore, clock: FakeClock) -> Hub:
    return make_hub(suite_store, clock)


def presenter_of(hub: Hub, case: Case) -> Person:
    with hub.store.transaction() as uow:
        person = uow.people.get(case.author_id)
    assert person is not None
    return person


def docx_paragraphs(content: bytes) -> list[tuple[str, str]]:
    """(style, text) of each paragraph."""
    return [(p.style.name if p.style is not None else "", p.text)
            for p in Document(io.BytesIO(content)).paragraphs]


def pdf_text(content: bytes) -> str:
    """The PDF's text with its line breaks (where long lines wrap) made spaces."""
    pages = PdfReader(io.BytesIO(content)).pages
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))


# --- Word -------------------------------------------------------------------------------------

def test_the_deidentified_docx_puts_the_questions_first_and_nobody_in_it(quick: Hub) -> None:
    case = quick.submit()
    paragraphs = docx_paragraphs(case_docx(case, "deidentified", T_EN,
                                           network_name="Care Homes ECHO"))

    assert paragraphs[:6] == [
        ("Title", f"Case {case.id}"),
        ("Normal", "Patient case · Care Homes ECHO"),
        ("Heading 1", "Questions for the network"),
        ("List Number", QUESTIONS[0]),
        ("List Number", QUESTIONS[1]),
        ("Heading 1", "The case"),
    ]
    assert paragraphs[6:10] == [("Heading 2", "Summary"), ("Normal", SUMMARY),
                                ("Heading 2", "Age band"), ("Normal", "80-89")]
    assert ("Normal", "Care home (nursing)") in paragraphs
    text = "\n".join(t for _, t in paragraphs)
    for hidden in IDENTIFYING:
        assert hidden not in text, hidden


def test_the_full_docx_adds_the_presenter_setting_session_and_state(quick: Hub) -> None:
    case = quick.submit()
    quick.run("henri", accept_case, case.id)
    case = quick.case(case.id)
    paragraphs = docx_paragraphs(case_docx(case, "full", T_EN, presenter=presenter_of(quick, case),
                                           session_when="Spring series: Thursday 5 June"))

    assert paragraphs[0] == ("Title", "Case CH-2025-001")
    start = paragraphs.index(("Heading 1", "For the hub team only"))
    assert start > paragraphs.index(("Normal", SUMMARY))
    assert paragraphs[start + 1:start + 9] == [
        ("Heading 2", "Presenter"), ("Normal", "Amira Test, Registered nurse, Test Care Home"),
        ("Heading 2", "Presenter's setting"), ("Normal", "Hospice"),
        ("Heading 2", "Case type"), ("Normal", "Patient case"),
        ("Heading 2", "Session"), ("Normal", "Spring series: Thursday 5 June")]
    assert paragraphs[start + 9:start + 11] == [("Heading 2", "Status"), ("Normal", "accepted")]
    assert ("Normal", "CH-2025-001") in paragraphs


def test_a_french_docx_has_french_labels(quick: Hub) -> None:
    case = quick.submit()
    paragraphs = docx_paragraphs(case_docx(case, "full", T_FR, presenter=presenter_of(quick, case)))
    assert paragraphs[:3] == [("Title", f"Cas {case.id}"),
                              ("Normal", "Cas d'une personne soignée"),
                              ("Heading 1", "Questions pour le réseau")]
    assert ("Heading 2", "Résumé") in paragraphs
    assert ("Heading 1", "Réservé à l'équipe du hub") in paragraphs
    assert ("Normal", "Établissement de soins palliatifs") in paragraphs
    assert ("Heading 2", "Summary") not in paragraphs


def test_a_service_issue_has_no_patient_fields(quick: Hub) -> None:
    case = quick.submit(SERVICE_ISSUE)
    headings = [text for style, text in docx_paragraphs(case_docx(case, "deidentified", T_EN))
                if style == "Heading 2"]
    assert headings == ["Summary", "Care setting", "Main symptoms and concerns", "What has been tried"]


# --- PDF --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fonts", [FONT_CANDIDATES, ()], ids=["system font", "helvetica"])
def test_the_deidentified_pdf_holds_the_questions_and_summary_only(
        quick: Hub, fonts: tuple[tuple[str, str], ...]) -> None:
    case = quick.submit()
    content = case_pdf(case, "deidentified", T_EN, network_name="Care Homes ECHO", fonts=fonts)

    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    assert f"Case {case.id} Patient case · Care Homes ECHO Questions for the network" in text
    assert f"1. {QUESTIONS[0]} 2. {QUESTIONS[1]}" in text
    assert f"Summary {SUMMARY}" in text
    assert text.index("Questions for the network") < text.index("Summary")
    for hidden in IDENTIFYING:
        assert hidden not in text, hidden


def test_the_full_french_pdf_keeps_its_accents(quick: Hub) -> None:
    case = quick.submit()
    text = pdf_text(case_pdf(case, "full", T_FR, presenter=presenter_of(quick, case)))
    assert "Questions pour le réseau" in text
    assert "Réservé à l'équipe du hub" in text
    assert "Présenté par Amira Test, Registered nurse, Test Care Home" in text
    assert "Établissement de soins palliatifs" in text


def test_without_a_unicode_font_the_pdf_is_set_in_helvetica(quick: Hub) -> None:
    """No TrueType font on the machine: Latin-1 accents survive, typographic marks are
    spelt plainly, and the PDF still builds."""
    case = quick.submit()
    content = case_pdf(case, "full", T_FR, presenter=presenter_of(quick, case),
                       session_when="Série de printemps : jeudi 5 juin, 13:00\u202fheure — cœur",
                       fonts=[("/nowhere/Regular.ttf", "/nowhere/Bold.ttf")])
    assert content.startswith(b"%PDF-")
    assert b"/BaseFont /Helvetica" in content
    text = pdf_text(content)
    assert "Réservé à l'équipe du hub" in text
    assert "Série de printemps : jeudi 5 juin, 13:00 heure - coeur" in text


def test_the_markdown_export_is_the_services_own(quick: Hub) -> None:
    case = quick.submit()
    assert export_name(case, "deidentified", "md") == f"case-{case.id}-deidentified.md"
    assert case_markdown(case, "deidentified", T_EN).startswith(f"# Case {case.id}\n")


# --- the command line -------------------------------------------------------------------------

@pytest.fixture
def spoke(store_on: SqlStore, clock: FakeClock, tmp_path: Path,
          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Spoke:
    """`spoke ...` in this process, against the hub's database, in an empty folder."""
    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return in_process(url_of(store_on), clock, tmp_path, capsys, monkeypatch)


@pytest.fixture
def hub(store_on: SqlStore, clock: FakeClock) -> Hub:
    return make_hub(store_on, clock)


def test_the_operator_exports_each_format_and_each_export_is_audited(
        hub: Hub, spoke: Spoke) -> None:
    case = hub.submit()
    hub.run("henri", accept_case, case.id)

    ran = spoke("admin", "case", "export", str(case.id), "--format", "md")
    assert (ran.code, ran.out) == (
        0, f"case {case.id} (deidentified) written to case-CH-2025-001-deidentified.md\n")
    text = Path("case-CH-2025-001-deidentified.md").read_text(encoding="utf-8")
    assert text.startswith("# Case CH-2025-001\n\n*Patient case* · Care Homes ECHO\n")
    assert f"- **Summary:** {SUMMARY}" in text and "Amira" not in text

    assert spoke("admin", "case", "export", str(case.id), "--format", "docx").code == 0
    paragraphs = docx_paragraphs(Path("case-CH-2025-001-deidentified.docx").read_bytes())
    assert ("Normal", SUMMARY) in paragraphs

    ran = spoke("admin", "case", "export", str(case.id), "--format", "pdf", "--part", "full",
                "--lang", "fr", "--tz", "Europe/Paris", "--output", "hub.pdf")
    assert (ran.code, ran.out) == (0, f"case {case.id} (full) written to hub.pdf\n")
    text = pdf_text(Path("hub.pdf").read_bytes())
    assert "Présenté par Amira Test, Registered nurse, Test Care Home" in text
    assert "Séance Spring series: jeudi 5 juin, 14 h 00 à 15 h 00" in text  # 12:00 UTC in Paris

    assert audit(hub.store)[-3:] == [
        ("cli", "case.exported", f"case:{case.id}", {"part": "deidentified", "format": "md"}),
        ("cli", "case.exported", f"case:{case.id}", {"part": "deidentified", "format": "docx"}),
        ("cli", "case.exported", f"case:{case.id}", {"part": "full", "format": "pdf"})]


def test_an_export_never_overwrites_a_file_without_force(hub: Hub, spoke: Spoke) -> None:
    case = hub.submit()
    name = f"case-{case.id}-deidentified.pdf"
    Path(name).write_bytes(b"the facilitator's notes")

    ran = spoke("admin", "case", "export", str(case.id), "--format", "pdf")
    assert (ran.code, ran.err) == (1, f"error: {name} already exists: --force replaces it\n")
    assert Path(name).read_bytes() == b"the facilitator's notes"
    assert [row for row in audit(hub.store) if row[1] == "case.exported"] == []

    assert spoke("admin", "case", "export", str(case.id), "--format", "pdf", "--force").code == 0
    assert Path(name).read_bytes().startswith(b"%PDF-")


def test_an_unknown_case_or_option_is_refused(hub: Hub, spoke: Spoke) -> None:
    ran = spoke("admin", "case", "export", "999", "--format", "md")
    assert (ran.code, ran.err) == (1, "error: there is no case 999\n")
    ran = spoke("admin", "case", "export", "seven", "--format", "md")
    assert (ran.code, ran.err) == (1, "error: CASE_ID takes a whole number, not 'seven'\n")
    assert list(Path().iterdir()) == []
    with pytest.raises(SystemExit) as exited:
        spoke("admin", "case", "export", "1", "--format", "odt")
    assert exited.value.code == 2


def test_the_case_list_shows_numbers_and_states_but_no_case_text(hub: Hub, spoke: Spoke) -> None:
    first = hub.submit()
    second = hub.submit(SERVICE_ISSUE, key="draft-2")
    hub.run("henri", accept_case, first.id)

    ran = spoke("admin", "case", "list", "--network", "care-homes")
    assert (ran.code, ran.out) == (0, f"{first.id}  CH-2025-001  accepted  2025-06-02\n"
                                      f"{second.id}  -  submitted  2025-06-02\n"
                                      "2 case(s)\n")
    ran = spoke("admin", "case", "list", "--network", "care-homes", "--state", "submitted")
    assert ran.out == f"{second.id}  -  submitted  2025-06-02\n1 case(s)\n"
    assert CONTENT.summary not in ran.out

    ran = spoke("admin", "case", "list", "--network", "nowhere")
    assert ran.code == 1 and ran.err.startswith("error: ")
