"""The meeting brief as PDF: one A4 page, converted with WeasyPrint and read back with pypdf
(pages counted, their size measured, their text extracted) — the brief of test_gaps, and a
brief as full as a meeting's can be (four gaps of five rows, a dozen long action points)."""

from __future__ import annotations

import datetime as dt
import io

import pypdf
import pytest
from test_gaps import AS_OF, frame, point, row, sample_brief

from exports import brief as briefs
from views import gaps

A4_POINTS = (595.28, 841.89)  # 210 × 297 mm


def pdf_pages(data: bytes) -> list[pypdf.PageObject]:
    assert data.startswith(b"%PDF-")
    return list(pypdf.PdfReader(io.BytesIO(data)).pages)


def assert_one_a4_page(data: bytes) -> str:
    pages = pdf_pages(data)
    assert len(pages) == 1, f"{len(pages)} pages"
    box = pages[0].mediabox
    assert float(box.width) == pytest.approx(A4_POINTS[0], abs=1)
    assert float(box.height) == pytest.approx(A4_POINTS[1], abs=1)
    return pages[0].extract_text()


def test_this_machine_makes_pdfs():
    assert briefs.pdf_problem() is None  # WeasyPrint and Pango are installed (scripts/test.sh)


def test_the_brief_is_one_a4_page_with_its_figures_and_action_points():
    text = assert_one_a4_page(briefs.brief_pdf(sample_brief()))
    for words in ("Committee meeting brief", "Peshawar & Co", "Coverage of the poor",
                  "+10.0 pts", "Clean duplicates", "Closed at this meeting"):
        assert words in text, words


def full_brief() -> briefs.Brief:
    """Every gap with its five rows, twelve open action points of long text, three closed."""
    names = [f"Union council {name}" for name in ("Hayat Kalay", "Haji Banda", "Mahmudzai",
                                                  "Dalazak Khel", "Khadizai", "Sher Dheri")]
    ids = [f"U{i}" for i in range(len(names))]
    coverage = gaps.lowest_coverage(
        frame(*(row("cov.poor_households", a, 10 + i, 20, area_name=n)
                for i, (a, n) in enumerate(zip(ids, names, strict=True)))),
        ids, name_label="Union council")
    exclusion = gaps.highest_exclusion(
        frame(*(row("cov.exclusion", "D1", 5 + i, 40, programme_id=f"p{i}") for i in range(6))),
        "D1", {f"p{i}": f"Programme number {i} with a long name" for i in range(6)})
    overdue = gaps.most_overdue_access_points(
        frame(*(row("ref.overdue", "D1", 3 + i, 9, breakdown=f"access_point=A{i}")
                for i in range(6))),
        "D1", {f"A{i}": f"BISP Facilitation Centre {n}" for i, n in enumerate(names)})
    dipping = gaps.double_dipping(
        frame(row("dup.double_dipping", "D1", 12, 400)),
        frame(*(row("dup.double_dipping", a, 1 + i, 60, area_name=n)
                for i, (a, n) in enumerate(zip(ids, names, strict=True)))),
        "D1", "Peshawar", ids, name_label="Union council")
    text = ("Registration drive in the union councils with the lowest coverage of the poor, "
            "with the tehsil office and the BISP facilitation centre, and a report back")
    open_points = [point(i, AS_OF + dt.timedelta(days=i * 9 - 40), text=f"{text} ({i})")
                   for i in range(1, 13)]
    closed = [point(20 + i, AS_OF, status="closed", text=f"{text} [done {i}]", closed_on=2)
              for i in range(3)]
    return sample_brief(
        gaps=[coverage, exclusion, overdue, dipping],
        open_points=gaps.action_rows(open_points, AS_OF).to_dict("records"),
        closed_points=gaps.action_rows(closed, AS_OF).to_dict("records"))


def test_a_full_brief_is_set_smaller_to_stay_on_one_page():
    brief = full_brief()
    assert all(len(g.table) == gaps.TOP for g in brief.gaps)
    text = assert_one_a4_page(briefs.brief_pdf(brief))
    assert "Programme number 5" in text and "(12)" in text and "[done 2]" in text
    # At the HTML's own type size the same brief needs a second page: the fitting did it.
    from weasyprint import CSS, HTML

    html = HTML(string=briefs.build_brief(brief))
    plain = html.render(stylesheets=[CSS(string=briefs._type_size_css(briefs.FIT_SIZES[0]))])
    assert len(plain.pages) > 1


def test_pdf_file_name():
    assert briefs.file_name("PK626", AS_OF, "pdf") == "meeting-brief-PK626-2026-10-31.pdf"
